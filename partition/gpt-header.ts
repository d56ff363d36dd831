// The GPT header (UEFI spec 5.3.2): decode with every field bounds-checked, encode with its CRC32.

import { crc32 } from 'node:zlib';
import { UpdaterError } from '../common/errors.js';
import { decodeGuid, encodeGuid } from './guid.js';

export const GPT_SIGNATURE = 'EFI PART';
export const GPT_REVISION = 0x00010000;
export const GPT_HEADER_SIZE = 92;
/** Largest entry array we accept (bytes): keeps a hostile header from making us read gigabytes. */
export const MAX_ENTRY_ARRAY_BYTES = 4 * 1024 * 1024;
export const MAX_ENTRY_SIZE = 4096;

export type GptCopy = 'primary' | 'backup';

export interface GptHeader {
  revision: number;
  headerSize: number;
  myLba: bigint;
  alternateLba: bigint;
  firstUsableLba: bigint;
  lastUsableLba: bigint;
  diskGuid: string;
  entriesLba: bigint;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
}

/** Sectors the entry array occupies. */
export function entryArraySectors(header: Pick<GptHeader, 'entryCount' | 'entrySize'>, sectorSize: number): number {
  return Math.ceil((header.entryCount * header.entrySize) / sectorSize);
}

type HeaderErrorCode = 'ERR_NOT_GPT' | 'ERR_GPT_CRC' | 'ERR_GPT_HEADER' | 'ERR_GPT_ENTRIES' | 'ERR_DISK_TRUNCATED';

function headerError(code: HeaderErrorCode, copy: GptCopy, why: string, data: Record<string, unknown> = {}): UpdaterError {
  return new UpdaterError(code, `Cannot read the ${copy} GPT header: ${why}`, { data: { copy, ...data } });
}

/**
 * Decodes the header in SECTOR (one logical sector read from LBA `expectedLba`) and checks what can be
 * checked without the disk size: signature, size, CRC, reserved field, MyLBA, entry size and count.
 */
export function decodeGptHeader(sector: Buffer, copy: GptCopy, expectedLba: bigint): GptHeader {
  if (sector.length < GPT_HEADER_SIZE) throw headerError('ERR_GPT_HEADER', copy, `sector of ${sector.length} bytes is too small`);
  const view = new DataView(sector.buffer, sector.byteOffset, sector.length);
  // 0x00 Signature
  if (sector.toString('latin1', 0, 8) !== GPT_SIGNATURE) throw headerError('ERR_NOT_GPT', copy, `no "EFI PART" signature at LBA ${expectedLba}`);
  // 0x0C HeaderSize
  const headerSize = view.getUint32(0x0c, true);
  if (headerSize < GPT_HEADER_SIZE || headerSize > sector.length) {
    throw headerError('ERR_GPT_HEADER', copy, `header size ${headerSize} is outside ${GPT_HEADER_SIZE}..${sector.length}`, { headerSize });
  }
  // 0x10 HeaderCRC32, computed over HeaderSize bytes with this field zeroed
  const storedCrc = view.getUint32(0x10, true);
  const copyForCrc = Buffer.from(sector.subarray(0, headerSize));
  copyForCrc.writeUInt32LE(0, 0x10);
  const actualCrc = crc32(copyForCrc);
  if (storedCrc !== actualCrc) {
    throw headerError('ERR_GPT_CRC', copy, `header CRC32 is ${hex(storedCrc)} but the header hashes to ${hex(actualCrc)}`, { storedCrc, actualCrc });
  }
  // 0x08 Revision
  const revision = view.getUint32(0x08, true);
  if (revision >>> 16 !== 1) throw headerError('ERR_GPT_HEADER', copy, `revision ${hex(revision)} is not 1.x`, { revision });
  // 0x14 Reserved (must be zero)
  if (view.getUint32(0x14, true) !== 0) throw headerError('ERR_GPT_HEADER', copy, 'the reserved field at 0x14 is not zero');
  // 0x18 MyLBA
  const myLba = view.getBigUint64(0x18, true);
  if (myLba !== expectedLba) throw headerError('ERR_GPT_HEADER', copy, `MyLBA is ${myLba}, but the header was read from LBA ${expectedLba}`, { myLba: String(myLba) });
  // 0x54 SizeOfPartitionEntry: a multiple of 128 (128 x 2^n in the spec)
  const entrySize = view.getUint32(0x54, true);
  if (entrySize < 128 || entrySize > MAX_ENTRY_SIZE || entrySize % 128 !== 0) {
    throw headerError('ERR_GPT_ENTRIES', copy, `partition entry size ${entrySize} is not a multiple of 128 from 128 to ${MAX_ENTRY_SIZE}`, { entrySize });
  }
  // 0x50 NumberOfPartitionEntries
  const entryCount = view.getUint32(0x50, true);
  if (entryCount < 1 || entryCount * entrySize > MAX_ENTRY_ARRAY_BYTES) {
    throw headerError('ERR_GPT_ENTRIES', copy, `${entryCount} partition entries of ${entrySize} bytes is outside 1..${MAX_ENTRY_ARRAY_BYTES} bytes`, { entryCount, entrySize });
  }
  return {
    revision,
    headerSize,
    myLba,
    alternateLba: view.getBigUint64(0x20, true), // 0x20 AlternateLBA
    firstUsableLba: view.getBigUint64(0x28, true), // 0x28 FirstUsableLBA
    lastUsableLba: view.getBigUint64(0x30, true), // 0x30 LastUsableLBA
    diskGuid: decodeGuid(sector, 0x38), // 0x38 DiskGUID
    entriesLba: view.getBigUint64(0x48, true), // 0x48 PartitionEntryLBA
    entryCount,
    entrySize,
    entriesCrc: view.getUint32(0x58, true), // 0x58 PartitionEntryArrayCRC32
  };
}

/**
 * Checks the header's LBAs against the disk: the header, its entry array and the usable range all lie
 * inside the disk and do not overlap each other. DISK_SECTORS is the disk size in logical sectors.
 */
export function checkGptHeaderLayout(header: GptHeader, copy: GptCopy, diskSectors: bigint, sectorSize: number): void {
  const last = diskSectors - 1n;
  const arraySectors = BigInt(entryArraySectors(header, sectorSize));
  const arrayEnd = header.entriesLba + arraySectors - 1n;
  const fail = (code: 'ERR_GPT_HEADER' | 'ERR_DISK_TRUNCATED', why: string): UpdaterError =>
    headerError(code, copy, why, { diskSectors: String(diskSectors) });
  if (header.alternateLba > last || header.myLba > last) {
    throw fail('ERR_DISK_TRUNCATED', `it places the ${copy === 'primary' ? 'backup' : 'primary'} header at LBA ${header.alternateLba}, past the last LBA ${last} of the disk (truncated image?)`);
  }
  if (header.alternateLba === header.myLba || header.alternateLba < 1n) throw fail('ERR_GPT_HEADER', `AlternateLBA ${header.alternateLba} is not a valid header location`);
  if (header.firstUsableLba > header.lastUsableLba + 1n) throw fail('ERR_GPT_HEADER', `usable range ${header.firstUsableLba}..${header.lastUsableLba} is empty or reversed`);
  if (header.lastUsableLba > last) throw fail('ERR_DISK_TRUNCATED', `last usable LBA ${header.lastUsableLba} is past the last LBA ${last} of the disk (truncated image?)`);
  if (header.firstUsableLba < 2n) throw fail('ERR_GPT_HEADER', `first usable LBA ${header.firstUsableLba} overlaps the MBR or header`);
  if (header.entriesLba < 1n || arrayEnd > last) throw fail('ERR_GPT_HEADER', `the entry array at LBA ${header.entriesLba}..${arrayEnd} is outside the disk`);
  const headerLbas = [header.myLba, header.alternateLba];
  const overlapsArray = (lba: bigint): boolean => lba >= header.entriesLba && lba <= arrayEnd;
  if (headerLbas.some(overlapsArray)) throw fail('ERR_GPT_HEADER', `the entry array at LBA ${header.entriesLba}..${arrayEnd} overlaps a header`);
  if (header.entriesLba <= header.lastUsableLba && arrayEnd >= header.firstUsableLba) {
    throw fail('ERR_GPT_HEADER', `the entry array at LBA ${header.entriesLba}..${arrayEnd} overlaps the usable range ${header.firstUsableLba}..${header.lastUsableLba}`);
  }
  if (headerLbas.some((lba) => lba >= header.firstUsableLba && lba <= header.lastUsableLba)) {
    throw fail('ERR_GPT_HEADER', `a header LBA lies inside the usable range ${header.firstUsableLba}..${header.lastUsableLba}`);
  }
}

/** Encodes HEADER into one sector of SECTOR_SIZE bytes (zero-filled after the header) with its CRC32. */
export function encodeGptHeader(header: GptHeader, sectorSize: number): Buffer {
  const sector = Buffer.alloc(sectorSize);
  const view = new DataView(sector.buffer, sector.byteOffset, sector.length);
  sector.write(GPT_SIGNATURE, 0x00, 'latin1'); // 0x00 Signature
  view.setUint32(0x08, header.revision, true); // 0x08 Revision
  view.setUint32(0x0c, GPT_HEADER_SIZE, true); // 0x0C HeaderSize
  // 0x10 HeaderCRC32 (below), 0x14 Reserved = 0
  view.setBigUint64(0x18, header.myLba, true); // 0x18 MyLBA
  view.setBigUint64(0x20, header.alternateLba, true); // 0x20 AlternateLBA
  view.setBigUint64(0x28, header.firstUsableLba, true); // 0x28 FirstUsableLBA
  view.setBigUint64(0x30, header.lastUsableLba, true); // 0x30 LastUsableLBA
  encodeGuid(header.diskGuid).copy(sector, 0x38); // 0x38 DiskGUID
  view.setBigUint64(0x48, header.entriesLba, true); // 0x48 PartitionEntryLBA
  view.setUint32(0x50, header.entryCount, true); // 0x50 NumberOfPartitionEntries
  view.setUint32(0x54, header.entrySize, true); // 0x54 SizeOfPartitionEntry
  view.setUint32(0x58, header.entriesCrc, true); // 0x58 PartitionEntryArrayCRC32
  view.setUint32(0x10, crc32(sector.subarray(0, GPT_HEADER_SIZE)), true);
  return sector;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
