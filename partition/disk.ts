// Opens a disk image file or a whole-disk block device (never truncating it): size, logical sector
// size, positional reads and writes, fsync.

import { readFile, type FileHandle } from 'node:fs/promises';
import { UpdaterError } from '../common/errors.js';
import { nodeFileSystem, type FileSystem } from '../common/file-system.js';

export type SectorSize = 512 | 4096;

export interface OpenDiskOptions {
  /** Open read-write ('r+'). Default: read-only ('r'). Never a truncating or creating flag. */
  writable?: boolean;
  /** Logical sector size of an image file. Default: auto-detect ("EFI PART" at LBA 1), else 512. */
  sectorSize?: SectorSize;
  /** Where sysfs is (tests). Default /sys. */
  sysfsRoot?: string;
  /** The file system the disk is opened through (tests record writes with it). Default: node:fs. */
  fs?: FileSystem;
}

const GPT_SIGNATURE = Buffer.from('EFI PART', 'latin1');

/** An opened disk. Offsets and lengths are bytes; every read is exact or throws ERR_DISK_TRUNCATED. */
export class Disk {
  readonly path: string;
  readonly size: number;
  readonly sectorSize: SectorSize;
  readonly isBlockDevice: boolean;
  readonly writable: boolean;
  readonly #handle: FileHandle;

  constructor(path: string, handle: FileHandle, info: { size: number; sectorSize: SectorSize; isBlockDevice: boolean; writable: boolean }) {
    this.path = path;
    this.#handle = handle;
    this.size = info.size;
    this.sectorSize = info.sectorSize;
    this.isBlockDevice = info.isBlockDevice;
    this.writable = info.writable;
  }

  /** Number of whole logical sectors. */
  get sectorCount(): number {
    return Math.floor(this.size / this.sectorSize);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new UpdaterError('ERR_DISK_TRUNCATED', `Cannot read ${length} bytes at offset ${offset} of "${this.path}": the disk has only ${this.size} bytes`, {
        data: { path: this.path, offset, length, size: this.size },
      });
    }
    const buffer = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new UpdaterError('ERR_DISK_TRUNCATED', `Cannot read ${length} bytes at offset ${offset} of "${this.path}": end of file after ${done} bytes`, {
          data: { path: this.path, offset, length },
        });
      }
      done += bytesRead;
    }
    return buffer;
  }

  async readSectors(lba: number, count: number): Promise<Buffer> {
    return this.read(lba * this.sectorSize, count * this.sectorSize);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (!this.writable) throw new UpdaterError('ERR_INTERNAL', `Cannot write to "${this.path}": it was opened read-only`);
    if (offset < 0 || offset + data.length > this.size) {
      throw new UpdaterError('ERR_DISK_TRUNCATED', `Cannot write ${data.length} bytes at offset ${offset} of "${this.path}": the disk has only ${this.size} bytes`, {
        data: { path: this.path, offset, length: data.length, size: this.size },
      });
    }
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.#handle.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }

  async sync(): Promise<void> {
    await this.#handle.sync();
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

/** Opens PATH (image file or block device) without truncating it. */
export async function openDisk(path: string, options: OpenDiskOptions = {}): Promise<Disk> {
  const writable = options.writable ?? false;
  let handle: FileHandle;
  try {
    handle = await (options.fs ?? nodeFileSystem).open(path, writable ? 'r+' : 'r');
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') {
      throw new UpdaterError('ERR_DISK_NOT_FOUND', `Cannot open disk "${path}": no such file or device`, {
        cause: error,
        hint: 'Pass the whole-disk device or image file with --disk PATH.',
      });
    }
    throw new UpdaterError('ERR_IO', `Cannot open disk "${path}": ${(error as Error).message}`, { cause: error, data: { errno } });
  }
  try {
    const stat = await handle.stat();
    if (stat.isBlockDevice()) {
      const info = await blockDeviceInfo(stat.rdev, options.sysfsRoot ?? '/sys');
      return new Disk(path, handle, { ...info, isBlockDevice: true, writable });
    }
    if (!stat.isFile()) {
      throw new UpdaterError('ERR_IO', `Cannot open disk "${path}": it is neither a regular file nor a block device`);
    }
    const sectorSize = options.sectorSize ?? (await detectSectorSize(handle, stat.size));
    return new Disk(path, handle, { size: stat.size, sectorSize, isBlockDevice: false, writable });
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Finds "EFI PART" at LBA 1 for 512- or 4096-byte sectors; 512 when neither has it. */
async function detectSectorSize(handle: FileHandle, size: number): Promise<SectorSize> {
  for (const candidate of [512, 4096] as const) {
    if (size < candidate * 2) continue;
    const probe = Buffer.alloc(8);
    const { bytesRead } = await handle.read(probe, 0, 8, candidate);
    if (bytesRead === 8 && probe.equals(GPT_SIGNATURE)) return candidate;
  }
  return 512;
}

/** Size (sysfs `size`, always in 512-byte units) and logical block size of a block device. */
async function blockDeviceInfo(rdev: number, sysfsRoot: string): Promise<{ size: number; sectorSize: SectorSize }> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);
  const dir = `${sysfsRoot}/dev/block/${major}:${minor}`;
  try {
    const sectors512 = Number((await readFile(`${dir}/size`, 'utf8')).trim());
    const logical = Number((await readFile(`${dir}/queue/logical_block_size`, 'utf8')).trim());
    if (logical !== 512 && logical !== 4096) {
      throw new UpdaterError('ERR_IO', `Cannot use block device ${major}:${minor}: logical sector size ${logical} is not 512 or 4096`);
    }
    return { size: sectors512 * 512, sectorSize: logical };
  } catch (error) {
    if (error instanceof UpdaterError) throw error;
    throw new UpdaterError('ERR_IO', `Cannot read the size of block device ${major}:${minor} from "${dir}": ${(error as Error).message}`, {
      cause: error,
      hint: 'Pass a whole-disk device (not a partition), or an image file.',
    });
  }
}
