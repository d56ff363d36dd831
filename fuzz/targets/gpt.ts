// Fuzz target: the GPT reader on a disk image held in memory (sector size detected as openDisk does), then the
// slot discovery and the gptprio flag decoding the bootloader rule uses. The input's first byte says which copies'
// CRCs to recompute before reading (bit 0 the primary, bit 1 the backup): random mutations then get past the CRC
// checks into the header layout, entry range and overlap checks.

import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { Disk, type SectorSize } from '../../partition/disk.js';
import { readGpt } from '../../partition/gpt.js';
import { decodeGptprio } from '../../partition/gptprio.js';
import { findSlots } from '../../partition/slots.js';
import { selectBootSlot } from '../../partition/boot-control.js';
import { withinContractAsync, type FuzzContract } from '../contract.js';

export const contract: FuzzContract = {
  codes: ['ERR_NOT_GPT', 'ERR_GPT_CRC', 'ERR_GPT_HEADER', 'ERR_GPT_ENTRIES', 'ERR_GPT_BOTH_CORRUPT', 'ERR_GPT_PARTITION_RANGE', 'ERR_GPT_OVERLAP', 'ERR_GPT_COPIES_DISAGREE', 'ERR_DISK_TRUNCATED', 'ERR_SLOT_COUNT'],
  maxLen: 80 * 1024 + 1,
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
  return new Disk('fuzz.img', handle, { size: bytes.length, sectorSize: detectSectorSize(bytes), isBlockDevice: false, writable: false });
}

function detectSectorSize(bytes: Buffer): SectorSize {
  for (const candidate of [512, 4096] as const) {
    if (bytes.length >= candidate * 2 && bytes.toString('latin1', candidate, candidate + 8) === 'EFI PART') return candidate;
  }
  return 512;
}

/** Recomputes the entry array CRC (0x58) and the header CRC (0x10) of the header at LBA, where they are in range. */
function fixCrcs(bytes: Buffer, lba: number, sectorSize: number): void {
  const at = lba * sectorSize;
  if (lba < 1 || at + sectorSize > bytes.length) return;
  const header = bytes.subarray(at, at + sectorSize);
  const headerSize = header.readUInt32LE(0x0c); // HeaderSize
  const entriesAt = Number(header.readBigUInt64LE(0x48)) * sectorSize; // PartitionEntryLBA
  const arrayBytes = header.readUInt32LE(0x50) * header.readUInt32LE(0x54); // NumberOfPartitionEntries * SizeOfPartitionEntry
  if (Number.isSafeInteger(entriesAt) && entriesAt + arrayBytes <= bytes.length) header.writeUInt32LE(crc32(bytes.subarray(entriesAt, entriesAt + arrayBytes)), 0x58);
  if (headerSize < 92 || headerSize > sectorSize) return;
  header.writeUInt32LE(0, 0x10);
  header.writeUInt32LE(crc32(header.subarray(0, headerSize)), 0x10);
}

/** The disk image the input describes: byte 0 the CRC fix-up flags, the rest the image. */
export function diskFromInput(data: Buffer): Buffer {
  const flags = data[0] ?? 0;
  const bytes = Buffer.from(data.subarray(1));
  const sectorSize = detectSectorSize(bytes);
  const sectors = Math.floor(bytes.length / sectorSize);
  if (flags & 1) fixCrcs(bytes, 1, sectorSize);
  if (flags & 2 && sectors >= 2) {
    const alternate = bytes.length >= 2 * sectorSize ? Number(bytes.readBigUInt64LE(sectorSize + 0x20)) : 0; // AlternateLBA
    fixCrcs(bytes, alternate > 1 && alternate < sectors ? alternate : sectors - 1, sectorSize);
  }
  return bytes;
}

export async function fuzz(data: Buffer): Promise<void> {
  await withinContractAsync(contract.codes, async () => {
    const gpt = await readGpt(memoryDisk(diskFromInput(data)));
    const slots = findSlots(gpt);
    const candidates = [slots.A, slots.B].map((slot) => {
      const entry = gpt.partitions.find((p) => p.number === slot.partition);
      return { name: slot.name, partition: slot.partition, ...decodeGptprio(entry?.attributes ?? 0n) };
    });
    selectBootSlot(candidates);
  });
}
