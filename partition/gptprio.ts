// The gptprio boot-control backend: ChromeOS/CoreOS GPT attribute bits on the slot partitions
// (priority 48-51, tries 52-55, successful 56), byte-compatible with cgpt and sgdisk.

import { UpdaterError } from '../common/errors.js';
import type { BootControl, FlagsBySlot, SlotFlags } from './boot-control.js';
import { createBootControl, type FlagStore } from './boot-operations.js';
import { openDisk, type OpenDiskOptions } from './disk.js';
import { readGpt, writeGpt } from './gpt.js';
import { findSlots, type Slots } from './slots.js';

const PRIORITY_SHIFT = 48n;
const TRIES_SHIFT = 52n;
const SUCCESSFUL_SHIFT = 56n;
const NIBBLE = 0xfn;
/** Bits 48-56; every other attribute bit is preserved on write. */
const GPTPRIO_MASK = (NIBBLE << PRIORITY_SHIFT) | (NIBBLE << TRIES_SHIFT) | (1n << SUCCESSFUL_SHIFT);

export const GPTPRIO_MAX = 15;

export function decodeGptprio(attributes: bigint): SlotFlags {
  return {
    priority: Number((attributes >> PRIORITY_SHIFT) & NIBBLE),
    tries: Number((attributes >> TRIES_SHIFT) & NIBBLE),
    successful: ((attributes >> SUCCESSFUL_SHIFT) & 1n) === 1n,
  };
}

/** ATTRIBUTES with bits 48-56 replaced by FLAGS; other bits unchanged. */
export function encodeGptprio(attributes: bigint, flags: SlotFlags): bigint {
  for (const [name, value] of [['priority', flags.priority], ['tries', flags.tries]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > GPTPRIO_MAX) {
      throw new UpdaterError('ERR_INTERNAL', `Cannot encode gptprio ${name} ${value}: must be 0..${GPTPRIO_MAX}`);
    }
  }
  return (
    (attributes & ~GPTPRIO_MASK) |
    (BigInt(flags.priority) << PRIORITY_SHIFT) |
    (BigInt(flags.tries) << TRIES_SHIFT) |
    ((flags.successful ? 1n : 0n) << SUCCESSFUL_SHIFT)
  );
}

export interface GptprioOptions {
  /** Sector size of an image file when auto-detection is not wanted. */
  sectorSize?: OpenDiskOptions['sectorSize'];
  /** The file system the disk is opened through (tests record the GPT writes with it). */
  fs?: OpenDiskOptions['fs'];
}

/** The flag store on DISK_PATH: every read and write opens the disk, reads (and repairs) the GPT. */
export function gptprioStore(diskPath: string, slots: Slots, options: GptprioOptions = {}): FlagStore {
  const diskOptions = (writable: boolean): OpenDiskOptions => ({
    writable,
    ...(options.sectorSize ? { sectorSize: options.sectorSize } : {}),
    ...(options.fs ? { fs: options.fs } : {}),
  });
  return {
    kind: 'gptprio',
    location: diskPath,
    maxTries: GPTPRIO_MAX,
    async read() {
      const disk = await openDisk(diskPath, diskOptions(false));
      try {
        const gpt = await readGpt(disk);
        const flags = {} as FlagsBySlot;
        for (const slot of [slots.A, slots.B]) {
          const p = gpt.partitions.find((x) => x.number === slot.partition);
          if (!p) throw new UpdaterError('ERR_SLOT_UNKNOWN', `Cannot read the flags of slot ${slot.name}: partition ${slot.partition} is gone from "${diskPath}"`);
          flags[slot.name] = decodeGptprio(p.attributes);
        }
        return { flags, present: { A: true, B: true } };
      } finally {
        await disk.close();
      }
    },
    async write(flags) {
      const disk = await openDisk(diskPath, diskOptions(true));
      try {
        const gpt = await readGpt(disk);
        for (const slot of [slots.A, slots.B]) {
          const p = gpt.partitions.find((x) => x.number === slot.partition);
          if (!p) throw new UpdaterError('ERR_SLOT_UNKNOWN', `Cannot write the flags of slot ${slot.name}: partition ${slot.partition} is gone from "${diskPath}"`);
          p.attributes = encodeGptprio(p.attributes, flags[slot.name]);
        }
        await writeGpt(disk, gpt);
      } finally {
        await disk.close();
      }
    },
  };
}

/** Opens the gptprio boot control of the disk at DISK_PATH (finds its slots first). */
export async function openGptprioBootControl(diskPath: string, options: GptprioOptions = {}): Promise<{ control: BootControl; slots: Slots }> {
  const disk = await openDisk(diskPath, options.sectorSize ? { sectorSize: options.sectorSize } : {});
  let slots: Slots;
  try {
    slots = findSlots(await readGpt(disk), `"${diskPath}"`);
  } finally {
    await disk.close();
  }
  return { control: createBootControl(gptprioStore(diskPath, slots, options), slots), slots };
}
