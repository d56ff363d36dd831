// Fuzz target: the GPT reader on a disk image held in memory (sector size detected as openDisk does), then the
// slot discovery and the gptprio flag decoding the bootloader rule uses.

import type { FileHandle } from 'node:fs/promises';
import { Disk, type SectorSize } from '../../partition/disk.js';
import { readGpt } from '../../partition/gpt.js';
import { decodeGptprio } from '../../partition/gptprio.js';
import { findSlots } from '../../partition/slots.js';
import { selectBootSlot } from '../../partition/boot-control.js';
import { withinContractAsync, type FuzzContract } from '../contract.js';

export const contract: FuzzContract = {
  codes: ['ERR_NOT_GPT', 'ERR_GPT_CRC', 'ERR_GPT_HEADER', 'ERR_GPT_ENTRIES', 'ERR_GPT_BOTH_CORRUPT', 'ERR_GPT_PARTITION_RANGE', 'ERR_GPT_OVERLAP', 'ERR_DISK_TRUNCATED', 'ERR_SLOT_COUNT'],
  maxLen: 80 * 1024,
  timeoutMs: 10_000,
  maxRssMb: 1024,
  sync: false,
};

/** A read-only Disk over BYTES: the FileHandle's positional read is all Disk uses to read. */
export function memoryDisk(bytes: Buffer): Disk {
  const handle = {
    read(buffer: Buffer, offset: number, length: number, position: number) {
      const n = Math.max(0, Math.min(length, bytes.length - position));
      if (n > 0) bytes.copy(buffer, offset, position, position + n);
      return Promise.resolve({ bytesRead: n, buffer });
    },
  } as unknown as FileHandle;
  let sectorSize: SectorSize = 512;
  for (const candidate of [512, 4096] as const) {
    if (bytes.length >= candidate * 2 && bytes.toString('latin1', candidate, candidate + 8) === 'EFI PART') {
      sectorSize = candidate;
      break;
    }
  }
  return new Disk('fuzz.img', handle, { size: bytes.length, sectorSize, isBlockDevice: false, writable: false });
}

export async function fuzz(data: Buffer): Promise<void> {
  await withinContractAsync(contract.codes, async () => {
    const gpt = await readGpt(memoryDisk(data));
    const slots = findSlots(gpt);
    const candidates = [slots.A, slots.B].map((slot) => {
      const entry = gpt.partitions.find((p) => p.number === slot.partition);
      return { name: slot.name, partition: slot.partition, ...decodeGptprio(entry?.attributes ?? 0n) };
    });
    selectBootSlot(candidates);
  });
}
