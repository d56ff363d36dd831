// The file-system calls abupdate persists through (open, rename, unlink, mkdir), as one injectable object: the real
// node:fs/promises by default; tests pass a recording one (soak/crash/) to see every write, fsync and rename.

import { mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface FileSystem {
  open: typeof open;
  rename: typeof rename;
  unlink: typeof unlink;
  mkdir: typeof mkdir;
}

export const nodeFileSystem: FileSystem = { open, rename, unlink, mkdir };

/** Makes DIR's entries durable (a rename or unlink in it survives a power cut once this returns). */
export async function syncDir(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces FILE with DATA so that a power cut leaves either the old or the new content, never a mix: a temporary
 * file beside it (`.NAME.PID.tmp`, so a reader globbing `*.prom` or `*.json` never sees it), fsync, rename over
 * FILE, fsync of the directory. On failure the temporary file is removed and the error is thrown as it came.
 */
export async function replaceFileDurably(file: string, data: string | Buffer, options: { mode?: number; fs?: FileSystem } = {}): Promise<void> {
  const fs = options.fs ?? nodeFileSystem;
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const handle = await fs.open(temp, 'w', options.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    await syncDir(dir, fs);
  } catch (error) {
    await fs.unlink(temp).catch(() => undefined);
    throw error;
  }
}
