// The node_exporter textfile (METRICS_TEXTFILE): replaced atomically, so the collector never reads half a file.

import { open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `text` to `file` through a temporary file in the same directory and a rename. Returns false (and writes
 * nothing) when the directory does not exist: node_exporter's textfile collector is not set up on this host.
 */
export async function writeMetricsTextfile(file: string, text: string): Promise<boolean> {
  const dir = path.dirname(file);
  const exists = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!exists) return false;
  // node_exporter reads only *.prom: the temporary name must not end so.
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  return true;
}
