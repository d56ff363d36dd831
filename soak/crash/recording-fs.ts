// A FileSystem (common/file-system.ts) that does every call for real and records each persistent effect in order:
// creates, writes (with their bytes), truncates, fsyncs of files and directories, renames, unlinks, mkdirs.

import type { FileHandle } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { nodeFileSystem, type FileSystem } from '../../common/file-system.js';

export type TraceOp =
  | { op: 'create'; path: string }
  | { op: 'truncate'; path: string; size: number }
  | { op: 'write'; path: string; offset: number; data: Buffer }
  | { op: 'fsync'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }
  | { op: 'mkdir'; path: string };

export interface RecordingFs extends FileSystem {
  trace: TraceOp[];
}

/** Records paths relative to ROOT (the scene's directory), so a trace can be replayed onto a copy of it. */
export function recordingFs(root: string, base: FileSystem = nodeFileSystem): RecordingFs {
  const trace: TraceOp[] = [];
  const rel = (p: unknown) => path.relative(root, path.resolve(String(p)));
  const wrap = (handle: FileHandle, file: string): FileHandle =>
    new Proxy(handle, {
      get(target, key) {
        if (key === 'write') {
          return async (data: Uint8Array | string, ...rest: unknown[]) => {
            if (typeof data === 'string') throw new Error('recordingFs: string writes are not recorded; write a Buffer');
            const [offset = 0, length = data.length - Number(offset), position] = rest as [number?, number?, number?];
            const result = await target.write(data, offset, length, position);
            trace.push({ op: 'write', path: file, offset: Number(position), data: Buffer.from(data.subarray(offset, offset + result.bytesWritten)) });
            return result;
          };
        }
        if (key === 'writeFile') {
          return async (data: string | Uint8Array, encoding?: BufferEncoding) => {
            const bytes = typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : Buffer.from(data);
            await target.writeFile(bytes);
            trace.push({ op: 'write', path: file, offset: 0, data: bytes });
          };
        }
        if (key === 'sync' || key === 'datasync') {
          return async () => {
            await target[key]();
            trace.push({ op: 'fsync', path: file });
          };
        }
        if (key === 'truncate') {
          return async (size = 0) => {
            await target.truncate(size);
            trace.push({ op: 'truncate', path: file, size });
          };
        }
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const fs: RecordingFs = {
    trace,
    open: (async (file: Parameters<FileSystem['open']>[0], flags?: string | number, mode?: number) => {
      const f = String(flags ?? 'r');
      const existed = await stat(String(file)).then(() => true, () => false);
      const handle = await base.open(file, flags, mode);
      if (/[wa]/.test(f) && !existed) trace.push({ op: 'create', path: rel(file) });
      if (/w/.test(f) && existed) trace.push({ op: 'truncate', path: rel(file), size: 0 });
      return wrap(handle, rel(file));
    }) as FileSystem['open'],
    rename: async (from, to) => {
      await base.rename(from, to);
      trace.push({ op: 'rename', from: rel(from), to: rel(to) });
    },
    unlink: async (file) => {
      await base.unlink(file);
      trace.push({ op: 'unlink', path: rel(file) });
    },
    mkdir: (async (dir: string, options?: Parameters<FileSystem['mkdir']>[1]) => {
      const existed = await stat(dir).then(() => true, () => false);
      const result = await base.mkdir(dir, options);
      if (!existed) trace.push({ op: 'mkdir', path: rel(dir) });
      return result;
    }) as FileSystem['mkdir'],
  };
  return fs;
}
