// Reads and writes the GUID partition table: both headers, both entry arrays, CRC32 checked, the bad
// copy reported and repaired on the next write (backup first, fsync, then primary, fsync).

import { UpdaterError, isUpdaterError, type ErrorCode } from '../common/errors.js';
import type { Disk } from './disk.js';
import { checkGptHeaderLayout, decodeGptHeader, encodeGptHeader, entryArraySectors, GPT_REVISION, type GptCopy, type GptHeader } from './gpt-header.js';
import { checkGptPartitions, decodeGptEntries, encodeGptEntries, entryArrayCrc, type GptPartition } from './gpt-entries.js';
import { randomGuid } from './guid.js';
import { encodeProtectiveMbr, readMbrKind, type MbrKind } from './mbr.js';

export type { GptPartition } from './gpt-entries.js';
export type { GptHeader, GptCopy } from './gpt-header.js';

/** Why one copy could not be used (or "stale": valid, but different from the copy that was used). */
export interface GptCopyProblem {
  code: ErrorCode | 'STALE';
  message: string;
}

export interface Gpt {
  sectorSize: number;
  diskSectors: bigint;
  diskGuid: string;
  revision: number;
  firstUsableLba: bigint;
  lastUsableLba: bigint;
  entryCount: number;
  entrySize: number;
  primaryEntriesLba: bigint;
  backupLba: bigint;
  backupEntriesLba: bigint;
  /** Used partitions, in entry order. writeGpt writes these back (change `attributes` to flip flags). */
  partitions: GptPartition[];
  /** The entry array as read: unused entries and unknown bytes are written back unchanged. */
  entryArray: Buffer;
  /** The copy this table was read from. */
  source: GptCopy;
  /** Problems of each copy; empty when both are good and equal. A write repairs them. */
  problems: Partial<Record<GptCopy, GptCopyProblem>>;
  mbr: MbrKind;
}

interface CopyRead {
  header: GptHeader;
  array: Buffer;
  partitions: GptPartition[];
}

async function readCopy(disk: Disk, copy: GptCopy, lba: bigint, diskSectors: bigint): Promise<CopyRead> {
  if (lba < 1n || lba >= diskSectors) {
    throw new UpdaterError('ERR_DISK_TRUNCATED', `Cannot read the ${copy} GPT header: LBA ${lba} is outside the disk of ${diskSectors} sectors (truncated image?)`, {
      data: { copy },
    });
  }
  const sector = await disk.readSectors(Number(lba), 1);
  const header = decodeGptHeader(sector, copy, lba);
  checkGptHeaderLayout(header, copy, diskSectors, disk.sectorSize);
  const array = await disk.read(Number(header.entriesLba) * disk.sectorSize, header.entryCount * header.entrySize);
  const partitions = decodeGptEntries(array, header, copy);
  checkGptPartitions(partitions, header, copy);
  return { header, array, partitions };
}

function problemOf(error: unknown): GptCopyProblem {
  if (isUpdaterError(error)) return { code: error.code, message: error.message };
  throw error;
}

function sameTable(a: CopyRead, b: CopyRead): boolean {
  const h = (x: GptHeader) => [x.firstUsableLba, x.lastUsableLba, x.diskGuid, x.entryCount, x.entrySize, x.entriesCrc].join(',');
  return h(a.header) === h(b.header) && a.array.equals(b.array);
}

/** Codes that describe the table itself (same in both copies), not damage to one copy. */
const TABLE_CODES: ReadonlySet<string> = new Set(['ERR_GPT_PARTITION_RANGE', 'ERR_GPT_OVERLAP', 'ERR_GPT_HEADER', 'ERR_GPT_ENTRIES', 'ERR_DISK_TRUNCATED']);

/** Reads the GPT of DISK, using the backup when the primary is bad (and reporting which copy was bad). */
export async function readGpt(disk: Disk): Promise<Gpt> {
  const diskSectors = BigInt(disk.sectorCount);
  if (diskSectors < 2n) {
    throw new UpdaterError('ERR_NOT_GPT', `Cannot read the GPT of "${disk.path}": ${disk.size} bytes is too small to hold one`, { data: { path: disk.path } });
  }
  let primary: CopyRead | undefined;
  let backup: CopyRead | undefined;
  const problems: Partial<Record<GptCopy, GptCopyProblem>> = {};
  let alternate: bigint | undefined;
  try {
    primary = await readCopy(disk, 'primary', 1n, diskSectors);
    alternate = primary.header.alternateLba;
  } catch (error) {
    problems.primary = problemOf(error);
    alternate = await peekAlternateLba(disk);
  }
  const backupLbas = [...new Set([alternate, diskSectors - 1n].filter((x): x is bigint => x !== undefined && x > 1n && x < diskSectors))];
  let backupProblem: GptCopyProblem | undefined;
  for (const lba of backupLbas) {
    try {
      backup = await readCopy(disk, 'backup', lba, diskSectors);
      break;
    } catch (error) {
      backupProblem ??= problemOf(error);
    }
  }
  if (!backup) problems.backup = backupProblem ?? { code: 'ERR_NOT_GPT', message: 'Cannot read the backup GPT header: not found' };

  const used = primary ?? backup;
  if (!used) throw bothBad(disk, problems);
  if (primary && backup && !sameTable(primary, backup)) {
    problems.backup = { code: 'STALE', message: 'The backup GPT is valid but differs from the primary; the next write makes it equal' };
  }
  const h = used.header;
  const arraySectors = BigInt(entryArraySectors(h, disk.sectorSize));
  const backupLba = primary ? primary.header.alternateLba : (backup as CopyRead).header.myLba;
  return {
    sectorSize: disk.sectorSize,
    diskSectors,
    diskGuid: h.diskGuid,
    revision: h.revision,
    firstUsableLba: h.firstUsableLba,
    lastUsableLba: h.lastUsableLba,
    entryCount: h.entryCount,
    entrySize: h.entrySize,
    primaryEntriesLba: primary ? primary.header.entriesLba : 2n,
    backupLba,
    backupEntriesLba: backup ? backup.header.entriesLba : backupLba - arraySectors,
    partitions: used.partitions,
    entryArray: used.array,
    source: primary ? 'primary' : 'backup',
    problems,
    mbr: await readMbrKind(disk),
  };
}

/** The primary header's AlternateLBA when only its signature and field are readable (CRC bad). */
async function peekAlternateLba(disk: Disk): Promise<bigint | undefined> {
  const sector = await disk.readSectors(1, 1);
  if (sector.toString('latin1', 0, 8) !== 'EFI PART') return undefined;
  return sector.readBigUInt64LE(0x20);
}

function bothBad(disk: Disk, problems: Partial<Record<GptCopy, GptCopyProblem>>): UpdaterError {
  const p = problems.primary;
  const b = problems.backup;
  const data = { path: disk.path, primary: p, backup: b };
  if (p?.code === 'ERR_NOT_GPT' && b?.code === 'ERR_NOT_GPT') {
    return new UpdaterError('ERR_NOT_GPT', `Cannot read the GPT of "${disk.path}": no GPT header at LBA 1 or at the end of the disk`, {
      data,
      hint: 'Check the --disk path; it must be a whole disk (or image) with a GUID partition table.',
    });
  }
  for (const [one, other] of [[p, b], [b, p]] as const) {
    if (one && TABLE_CODES.has(one.code) && (other?.code === one.code || other?.code === 'ERR_NOT_GPT')) {
      return new UpdaterError(one.code as ErrorCode, `Cannot read the GPT of "${disk.path}": ${one.message.replace(/^Cannot [^:]*: /, '')}`, { data });
    }
  }
  return new UpdaterError('ERR_GPT_BOTH_CORRUPT', `Cannot read the GPT of "${disk.path}": both copies are bad (primary: ${p?.message ?? 'ok'}; backup: ${b?.message ?? 'ok'})`, {
    data,
    hint: 'Nothing was written. Restore the partition table (for example `sgdisk --load-backup`) before updating.',
  });
}

function headersOf(gpt: Gpt, entriesCrc: number): { primary: GptHeader; backup: GptHeader } {
  const common = {
    revision: gpt.revision,
    headerSize: 92,
    firstUsableLba: gpt.firstUsableLba,
    lastUsableLba: gpt.lastUsableLba,
    diskGuid: gpt.diskGuid,
    entryCount: gpt.entryCount,
    entrySize: gpt.entrySize,
    entriesCrc,
  };
  return {
    primary: { ...common, myLba: 1n, alternateLba: gpt.backupLba, entriesLba: gpt.primaryEntriesLba },
    backup: { ...common, myLba: gpt.backupLba, alternateLba: 1n, entriesLba: gpt.backupEntriesLba },
  };
}

/**
 * Writes GPT (with its possibly changed partitions) to DISK: backup array and header, fsync, then
 * primary array and header, fsync. Both copies are rewritten, which repairs a bad or stale one.
 * Returns the table as now on disk.
 */
export async function writeGpt(disk: Disk, gpt: Gpt): Promise<Gpt> {
  if (disk.sectorSize !== gpt.sectorSize) {
    throw new UpdaterError('ERR_INTERNAL', `Cannot write the GPT to "${disk.path}": it was read with ${gpt.sectorSize}-byte sectors, the disk has ${disk.sectorSize}`);
  }
  const array = encodeGptEntries(gpt.entryArray, gpt.partitions, gpt.entryCount, gpt.entrySize);
  const { primary, backup } = headersOf(gpt, entryArrayCrc(array));
  const diskSectors = BigInt(disk.sectorCount);
  checkGptHeaderLayout(primary, 'primary', diskSectors, disk.sectorSize);
  checkGptHeaderLayout(backup, 'backup', diskSectors, disk.sectorSize);
  checkGptPartitions(decodeGptEntries(array, primary, 'primary'), primary, 'primary');
  const ss = disk.sectorSize;
  if (gpt.mbr === 'missing') await disk.write(0, encodeProtectiveMbr(diskSectors, ss));
  await disk.write(Number(backup.entriesLba) * ss, array);
  await disk.write(Number(backup.myLba) * ss, encodeGptHeader(backup, ss));
  await disk.sync();
  await disk.write(Number(primary.entriesLba) * ss, array);
  await disk.write(ss, encodeGptHeader(primary, ss));
  await disk.sync();
  return { ...gpt, partitions: gpt.partitions.map((p) => ({ ...p })), entryArray: array, source: 'primary', problems: {}, mbr: gpt.mbr === 'missing' ? 'protective' : gpt.mbr };
}

export interface CreateGptOptions {
  partitions: GptPartition[];
  entryCount?: number;
  diskGuid?: string;
}

/**
 * Writes a new GPT (protective MBR, both copies; 128 entries of 128 bytes by default) to DISK.
 * Used by fixtures where sgdisk cannot help (4096-byte sectors on an image file).
 */
export async function createGpt(disk: Disk, options: CreateGptOptions): Promise<Gpt> {
  const entryCount = options.entryCount ?? 128;
  const entrySize = 128;
  const diskSectors = BigInt(disk.sectorCount);
  const arraySectors = BigInt(entryArraySectors({ entryCount, entrySize }, disk.sectorSize));
  const backupLba = diskSectors - 1n;
  const gpt: Gpt = {
    sectorSize: disk.sectorSize,
    diskSectors,
    diskGuid: options.diskGuid ?? randomGuid(),
    revision: GPT_REVISION,
    firstUsableLba: 2n + arraySectors,
    lastUsableLba: backupLba - arraySectors - 1n,
    entryCount,
    entrySize,
    primaryEntriesLba: 2n,
    backupLba,
    backupEntriesLba: backupLba - arraySectors,
    partitions: options.partitions,
    entryArray: Buffer.alloc(entryCount * entrySize),
    source: 'primary',
    problems: {},
    mbr: 'missing',
  };
  return writeGpt(disk, gpt);
}

/** The partition numbered N (1-based), or undefined. */
export function findPartition(gpt: Gpt, number: number): GptPartition | undefined {
  return gpt.partitions.find((p) => p.number === number);
}
