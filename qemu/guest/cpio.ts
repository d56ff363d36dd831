// Writes cpio "newc" archives (the initramfs format) in memory, device nodes included, so no root is needed.

import { gzipSync } from 'node:zlib';

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function header(fields: { ino: number; mode: number; size: number; rdevMajor: number; rdevMinor: number; name: string }): Buffer {
  const name = Buffer.from(`${fields.name}\0`, 'utf8');
  const text =
    '070701' +
    hex8(fields.ino) + // c_ino
    hex8(fields.mode) + // c_mode
    hex8(0) + // c_uid
    hex8(0) + // c_gid
    hex8(fields.mode & S_IFDIR ? 2 : 1) + // c_nlink
    hex8(0) + // c_mtime (fixed, so the same inputs give the same bytes)
    hex8(fields.size) + // c_filesize
    hex8(0) + // c_devmajor
    hex8(0) + // c_devminor
    hex8(fields.rdevMajor) + // c_rdevmajor
    hex8(fields.rdevMinor) + // c_rdevminor
    hex8(name.length) + // c_namesize (with the NUL)
    hex8(0); // c_check
  const head = Buffer.concat([Buffer.from(text, 'ascii'), name]);
  return Buffer.concat([head, pad4(head.length)]);
}

/** The archive bytes: entries in the given order (parents before children), then the trailer. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const entry of entries) {
    const name = entry.path.replace(/^\/+/, '');
    let mode: number;
    let data: Buffer = Buffer.alloc(0);
    let rdevMajor = 0;
    let rdevMinor = 0;
    if (entry.type === 'dir') mode = S_IFDIR | (entry.mode ?? 0o755);
    else if (entry.type === 'file') {
      mode = S_IFREG | (entry.mode ?? 0o644);
      data = entry.data;
    } else if (entry.type === 'symlink') {
      mode = S_IFLNK | 0o777;
      data = Buffer.from(entry.target, 'utf8');
    } else {
      mode = S_IFCHR | (entry.mode ?? 0o600);
      rdevMajor = entry.major;
      rdevMinor = entry.minor;
    }
    parts.push(header({ ino: ino++, mode, size: data.length, rdevMajor, rdevMinor, name }), data, pad4(data.length));
  }
  parts.push(header({ ino: 0, mode: 0, size: 0, rdevMajor: 0, rdevMinor: 0, name: 'TRAILER!!!' }));
  return Buffer.concat(parts);
}

/** The archive gzip-compressed, as the kernel unpacks an initramfs. */
export function writeCpioGzip(entries: readonly CpioEntry[]): Buffer {
  return gzipSync(writeCpio(entries), { level: 6 });
}
