// Positional, bounds-checked writes into one slot: a partition's byte range of a disk image, or the partition's own node.

import { stat, type FileHandle } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import { nodeFileSystem, type FileSystem } from '../../common/file-system.js';
import { checkSlotNotInUse, openSlotExclusive, partitionNode } from '../../partition/slot-in-use.js';
import type { Slot } from '../../partition/slots.js';

/** What the engine opens to write a slot. */
export interface SlotTarget {
  slot: Slot;
  /** The disk image file, or the partition's block device node (e.g. /dev/vda4). */
  path: string;
  /** Where the slot starts inside `path`: the partition offset for an image file, 0 for a partition node. */
  offset: number;
  /** The slot's size in bytes: nothing is written past it. */
  size: number;
  isBlockDevice: boolean;
}

/** The slot's target: on an image file its byte range; on a block device its partition node (found via sysfs). */
export async function resolveSlotTarget(diskPath: string, slot: Slot, sysfsRoot = '/sys'): Promise<SlotTarget> {
  let info;
  try {
    info = await stat(diskPath);
  } catch (error) {
    throw new UpdaterError('ERR_DISK_NOT_FOUND', `Cannot open disk "${diskPath}": ${(error as Error).message}`, { cause: error });
  }
  if (!info.isBlockDevice()) return { slot, path: diskPath, offset: slot.offset, size: slot.size, isBlockDevice: false };
  const node = await partitionNode(info.rdev, slot.partition, sysfsRoot);
  return { slot, path: node, offset: 0, size: slot.size, isBlockDevice: true };
}

/**
 * Before the first write of an install (flags included): on a block device, the kernel's partition is the GPT entry
 * and nothing has it in use (ERR_SLOT_KERNEL_MISMATCH, ERR_SLOT_IN_USE). An image file has no kernel view to check.
 */
export async function checkSlotTargetFree(target: SlotTarget): Promise<void> {
  if (target.isBlockDevice) await checkSlotNotInUse({ node: target.path, slot: target.slot });
}

/** An open slot: every write is checked to stay inside the slot. */
export class SlotWriter {
  readonly target: SlotTarget;
  readonly #handle: FileHandle;

  private constructor(target: SlotTarget, handle: FileHandle) {
    this.target = target;
    this.#handle = handle;
  }

  /**
   * On a block device the partition node is opened exclusively (ERR_SLOT_IN_USE while mounted or mapped) and held so;
   * an image file through FS (the crash explorer injects one).
   */
  static async open(target: SlotTarget, fs: FileSystem = nodeFileSystem): Promise<SlotWriter> {
    if (target.isBlockDevice) return new SlotWriter(target, await openSlotExclusive(target.path, target.slot));
    try {
      return new SlotWriter(target, await fs.open(target.path, 'r+'));
    } catch (error) {
      throw new UpdaterError('ERR_IO', `Cannot open slot ${target.slot.name} ("${target.path}") for writing: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Writes DATA at byte IMAGE_OFFSET of the slot. */
  async write(imageOffset: number, data: Uint8Array): Promise<void> {
    if (imageOffset < 0 || imageOffset + data.length > this.target.size) {
      throw new UpdaterError('ERR_INTERNAL', `Cannot write ${data.length} bytes at offset ${imageOffset} of slot ${this.target.slot.name}: it has ${this.target.size} bytes`);
    }
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.#handle.write(data, done, data.length - done, this.target.offset + imageOffset + done);
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

/** On a block device, drops the page cache (`blockdev --flushbufs`) so a read-back reads the media. */
export async function flushDeviceBuffers(target: SlotTarget, signal?: AbortSignal): Promise<void> {
  if (!target.isBlockDevice) return;
  // execa (100 modules) imported here: an install into an image file never loads it.
  const { execa } = await import('execa');
  const result = await execa('blockdev', ['--flushbufs', target.path], { reject: false, ...(signal ? { cancelSignal: signal } : {}) });
  if (result.exitCode !== 0) {
    throw new UpdaterError('ERR_TOOL_FAILED', `Cannot flush the buffers of "${target.path}": blockdev exited with ${result.exitCode}: ${result.stderr}`, {
      data: { tool: 'blockdev', exitCode: result.exitCode },
    });
  }
}
