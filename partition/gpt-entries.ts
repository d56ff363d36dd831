// The GPT partition entry array (UEFI spec 5.3.3): decode, validate ranges and overlaps, encode.

import { crc32 } from 'node:zlib';
import { UpdaterError } from '../common/errors.js';
import { decodeGuid, encodeGuid, isZeroGuid } from './guid.js';
import type { GptCopy, GptHeader } from './gpt-header.js';

export const NAME_BYTES = 72;

export interface GptPartition {
  /** Partition number, 1-based: the entry's index in the array plus one (what sgdisk/cgpt call -i N). */
  number: number;
  typeGuid: string;
  uniqueGuid: string;
  firstLba: bigint;
  lastLba: bigint;
  /** The 64-bit attribute field; bits 48-56 hold gptprio's priority, tries and successful. */
  attributes: bigint;
  /** PartitionName, UTF-16LE, up to 36 code units. */
  name: string;
}

/** Checks the array's CRC32 against the header and decodes every used (non-zero type) entry. */
export function decodeGptEntries(array: Buffer, header: GptHeader, copy: GptCopy): GptPartition[] {
  const length = header.entryCount * header.entrySize;
  const actual = crc32(array.subarray(0, length));
  if (actual !== header.entriesCrc) {
    throw new UpdaterError('ERR_GPT_CRC', `Cannot read the ${copy} GPT entry array: its CRC32 is 0x${actual.toString(16)}, the header says 0x${header.entriesCrc.toString(16)}`, {
      data: { copy, storedCrc: header.entriesCrc, actualCrc: actual },
    });
  }
  const partitions: GptPartition[] = [];
  for (let i = 0; i < header.entryCount; i++) {
    const at = i * header.entrySize;
    // 0x00 PartitionTypeGUID: all zero means the entry is unused
    if (isZeroGuid(array, at)) continue;
    const nameBytes = array.subarray(at + 0x38, at + 0x38 + NAME_BYTES);
    let nameEnd = 0;
    while (nameEnd < NAME_BYTES && (nameBytes[nameEnd] !== 0 || nameBytes[nameEnd + 1] !== 0)) nameEnd += 2;
    partitions.push({
      number: i + 1,
      typeGuid: decodeGuid(array, at + 0x00),
      uniqueGuid: decodeGuid(array, at + 0x10), // 0x10 UniquePartitionGUID
      firstLba: array.readBigUInt64LE(at + 0x20), // 0x20 StartingLBA
      lastLba: array.readBigUInt64LE(at + 0x28), // 0x28 EndingLBA (inclusive)
      attributes: array.readBigUInt64LE(at + 0x30), // 0x30 Attributes
      name: nameBytes.subarray(0, nameEnd).toString('utf16le'), // 0x38 PartitionName
    });
  }
  return partitions;
}

/** Every used partition lies inside the usable range, and no two overlap. */
export function checkGptPartitions(partitions: readonly GptPartition[], header: GptHeader, copy: GptCopy): void {
  for (const p of partitions) {
    if (p.firstLba > p.lastLba || p.firstLba < header.firstUsableLba || p.lastLba > header.lastUsableLba) {
      throw new UpdaterError(
        'ERR_GPT_PARTITION_RANGE',
        `Cannot read the ${copy} GPT: partition ${p.number} ("${p.name}") spans LBA ${p.firstLba}..${p.lastLba}, outside the usable range ${header.firstUsableLba}..${header.lastUsableLba}`,
        { data: { copy, partition: p.number, firstLba: String(p.firstLba), lastLba: String(p.lastLba) } },
      );
    }
  }
  const sorted = [...partitions].sort((a, b) => (a.firstLba < b.firstLba ? -1 : a.firstLba > b.firstLba ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const next = sorted[i];
    if (prev && next && next.firstLba <= prev.lastLba) {
      throw new UpdaterError(
        'ERR_GPT_OVERLAP',
        `Cannot read the ${copy} GPT: partitions ${prev.number} (LBA ${prev.firstLba}..${prev.lastLba}) and ${next.number} (LBA ${next.firstLba}..${next.lastLba}) overlap`,
        { data: { copy, partitions: [prev.number, next.number] } },
      );
    }
  }
}

/**
 * Writes PARTITIONS into a copy of BASE (the array as read, so unused entries and bytes beyond the
 * 128 known ones stay as they were) and returns it. Each partition's entry is rewritten whole.
 */
export function encodeGptEntries(base: Buffer, partitions: readonly GptPartition[], entryCount: number, entrySize: number): Buffer {
  const array = Buffer.alloc(entryCount * entrySize);
  base.copy(array, 0, 0, Math.min(base.length, array.length));
  for (const p of partitions) {
    if (p.number < 1 || p.number > entryCount) {
      throw new UpdaterError('ERR_INTERNAL', `Cannot write GPT entry ${p.number}: the array has ${entryCount} entries`);
    }
    const at = (p.number - 1) * entrySize;
    encodeGuid(p.typeGuid).copy(array, at + 0x00);
    encodeGuid(p.uniqueGuid).copy(array, at + 0x10);
    array.writeBigUInt64LE(p.firstLba, at + 0x20);
    array.writeBigUInt64LE(p.lastLba, at + 0x28);
    array.writeBigUInt64LE(p.attributes, at + 0x30);
    const name = Buffer.from(p.name, 'utf16le');
    if (name.length > NAME_BYTES) throw new UpdaterError('ERR_USAGE', `Cannot name partition ${p.number} "${p.name}": longer than 36 UTF-16 code units`);
    array.fill(0, at + 0x38, at + 0x38 + NAME_BYTES);
    name.copy(array, at + 0x38);
  }
  return array;
}

/** CRC32 of the entry array as stored in the header's PartitionEntryArrayCRC32. */
export function entryArrayCrc(array: Buffer): number {
  return crc32(array);
}
