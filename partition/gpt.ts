// Reads and writes the GUID partition table: both headers, both entry arrays, CRC32 checked, the bad
// copy reported and repaired on the next write (backup first, fsync, then primary, fsync).

import { UpdaterError, isUpdaterError, type ErrorCode } from '../common/errors.js';
import type { Disk } from './disk.js';
import { checkGptHeaderLayout, decodeGptHeader, encodeGptHeader, entryArraySectors, GPT_REVISION, type GptCopy, type GptHeader } from './gpt-header.js';
import { checkGptPartitions, decodeGptEntries, encodeGptEntries, entryArrayCrc, type GptPartition } from './gpt-entries.js';
import { randomGuid } from './guid.js';
import { crc32 } from 'node:zlib';
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

/**
 * One copy as found: `ok`; `damaged` when it cannot be checked (no signature, a bad header size, a CRC that does
 * not match: a torn or rotted write, which the other copy repairs); `invalid` when its CRCs are right but what it
 * says is not (overlapping partitions, past the end of the disk, over the table): written that way on purpose or by
 * a broken tool, so evidence, never overwritten from the other copy.
 */
type CopyResult = { kind: 'ok'; read: CopyRead } | { kind: 'damaged' | 'invalid'; problem: GptCopyProblem };

/** What makes a copy damaged rather than invalid: it never got as far as a checked CRC. */
const DAMAGE_CODES: ReadonlySet<string> = new Set(['ERR_NOT_GPT', 'ERR_GPT_CRC']);

async function readCopy(disk: Disk, copy: GptCopy, lba: bigint, diskSectors: bigint): Promise<CopyResult> {
  if (lba < 1n || lba >= diskSectors) {
    return {
      kind: 'damaged',
      problem: { code: 'ERR_DISK_TRUNCATED', message: `Cannot read the ${copy} GPT header: LBA ${lba} is outside the disk of ${diskSectors} sectors (truncated image?)` },
    };
  }
  const sector = await disk.readSectors(Number(lba), 1);
  // Signature, header size and header CRC first: until they pass, nothing the header says can be trusted or blamed.
  const crcChecked = headerCrcChecked(sector);
  let header: GptHeader;
  try {
    header = decodeGptHeader(sector, copy, lba);
  } catch (error) {
    return { kind: crcChecked ? 'invalid' : 'damaged', problem: problemOf(error) };
  }
  try {
    checkGptHeaderLayout(header, copy, diskSectors, disk.sectorSize);
  } catch (error) {
    return { kind: 'invalid', problem: problemOf(error) };
  }
  const array = await disk.read(Number(header.entriesLba) * disk.sectorSize, header.entryCount * header.entrySize);
  let partitions: GptPartition[];
  try {
    partitions = decodeGptEntries(array, header, copy);
  } catch (error) {
    const problem = problemOf(error);
    return { kind: DAMAGE_CODES.has(problem.code) ? 'damaged' : 'invalid', problem };
  }
  try {
    checkGptPartitions(partitions, header, copy);
  } catch (error) {
    return { kind: 'invalid', problem: problemOf(error) };
  }
  return { kind: 'ok', read: { header, array, partitions } };
}

/** Whether SECTOR has the signature, a usable header size and a matching header CRC32. */
function headerCrcChecked(sector: Buffer): boolean {
  if (sector.toString('latin1', 0, 8) !== 'EFI PART') return false;
  const size = sector.readUInt32LE(0x0c);
  if (size < 92 || size > sector.length) return false;
  const copy = Buffer.from(sector.subarray(0, size));
  copy.writeUInt32LE(0, 0x10);
  return crc32(copy) === sector.readUInt32LE(0x10);
}

function problemOf(error: unknown): GptCopyProblem {
  if (isUpdaterError(error)) return { code: error.code, message: error.message };
  throw error;
}

function sameTable(a: CopyRead, b: CopyRead): boolean {
  const h = (x: GptHeader) => [x.firstUsableLba, x.lastUsableLba, x.diskGuid, x.entryCount, x.entrySize, x.entriesCrc].join(',');
  return h(a.header) === h(b.header) && a.array.equals(b.array);
}

/**
 * How two valid copies differ in anything but the attribute fields (the flags, which a write cut between the two
 * copies leaves different, and which the next write makes equal): header fields, and each entry's other bytes.
 */
function layoutDifferences(a: CopyRead, b: CopyRead): string[] {
  const out: string[] = [];
  for (const field of ['firstUsableLba', 'lastUsableLba', 'diskGuid', 'entryCount', 'entrySize'] as const) {
    if (String(a.header[field]) !== String(b.header[field])) out.push(`${field} ${String(a.header[field])} / ${String(b.header[field])}`);
  }
  if (out.length > 0) return out;
  const size = a.header.entrySize;
  for (let i = 0; i < a.header.entryCount; i++) {
    const x = Buffer.from(a.array.subarray(i * size, (i + 1) * size));
    const y = Buffer.from(b.array.subarray(i * size, (i + 1) * size));
    x.fill(0, 0x30, 0x38); // 0x30 Attributes
    y.fill(0, 0x30, 0x38);
    if (x.equals(y)) continue;
    const p = a.partitions.find((q) => q.number === i + 1) ?? b.partitions.find((q) => q.number === i + 1);
    const describe = (list: GptPartition[]): string => {
      const q = list.find((r) => r.number === i + 1);
      return q ? `LBA ${q.firstLba}..${q.lastLba} type ${q.typeGuid} uuid ${q.uniqueGuid} "${q.name}"` : 'unused';
    };
    out.push(`partition ${i + 1}${p ? ` ("${p.name}")` : ''}: primary ${describe(a.partitions)}, backup ${describe(b.partitions)}`);
  }
  return out;
}

function invalidCopy(disk: Disk, copy: GptCopy, problem: GptCopyProblem, other: CopyResult | undefined): UpdaterError {
  const why = problem.message.replace(/^Cannot [^:]*: /, '');
  const otherState = other === undefined ? 'missing' : other.kind === 'ok' ? 'valid' : other.problem.message.replace(/^Cannot [^:]*: /, '');
  return new UpdaterError(
    problem.code as ErrorCode,
    `Cannot use the GPT of "${disk.path}": the ${copy} GPT has valid CRCs but ${why} (the ${copy === 'primary' ? 'backup' : 'primary'} copy: ${otherState})`,
    {
      data: { path: disk.path, copy, problem, other: other?.kind ?? 'missing' },
      hint: `Nothing was written. A copy with correct checksums and an impossible layout was written that way (a broken tool, or on purpose): inspect it (sgdisk -v, cgpt show) and restore the right table by hand (sgdisk --load-backup FILE, or "sgdisk -e"/"cgpt repair" once you know which copy is right).`,
    },
  );
}

/** Codes that describe the table itself (same in both copies), not damage to one copy. */
const TABLE_CODES: ReadonlySet<string> = new Set(['ERR_GPT_PARTITION_RANGE', 'ERR_GPT_OVERLAP', 'ERR_GPT_HEADER', 'ERR_GPT_ENTRIES', 'ERR_DISK_TRUNCATED']);

/**
 * Reads the GPT of DISK. A copy that is damaged (no signature, bad CRC) is replaced by the other and reported, for
 * the next write to repair. A copy with valid CRCs that fails the checks, or two valid copies that disagree about
 * anything but the flags (ERR_GPT_COPIES_DISAGREE), is refused: nothing is chosen between them.
 */
export async function readGpt(disk: Disk): Promise<Gpt> {
  const diskSectors = BigInt(disk.sectorCount);
  if (diskSectors < 2n) {
    throw new UpdaterError('ERR_NOT_GPT', `Cannot read the GPT of "${disk.path}": ${disk.size} bytes is too small to hold one`, { data: { path: disk.path } });
  }
  const problems: Partial<Record<GptCopy, GptCopyProblem>> = {};
  const first = await readCopy(disk, 'primary', 1n, diskSectors);
  const primary = first.kind === 'ok' ? first.read : undefined;
  const alternate = primary ? primary.header.alternateLba : await peekAlternateLba(disk);
  if (first.kind !== 'ok') problems.primary = first.problem;
  const backupLbas = [...new Set([alternate, diskSectors - 1n].filter((x): x is bigint => x !== undefined && x > 1n && x < diskSectors))];
  let second: CopyResult | undefined;
  for (const lba of backupLbas) {
    const found = await readCopy(disk, 'backup', lba, diskSectors);
    // The first copy found with a checked CRC is the backup; a damaged one at AlternateLBA lets the end of the disk be tried.
    if (second === undefined || second.kind === 'damaged') second = second?.kind === 'damaged' && found.kind === 'damaged' ? second : found;
    if (found.kind !== 'damaged') break;
  }
  const backup = second?.kind === 'ok' ? second.read : undefined;
  if (!backup) problems.backup = second && second.kind !== 'ok' ? second.problem : { code: 'ERR_NOT_GPT', message: 'Cannot read the backup GPT header: not found' };

  if (first.kind === 'invalid' && second?.kind === 'invalid') throw bothBad(disk, problems);
  if (first.kind === 'invalid') throw invalidCopy(disk, 'primary', first.problem, second);
  if (second?.kind === 'invalid') throw invalidCopy(disk, 'backup', second.problem, first);

  const used = primary ?? backup;
  if (!used) throw bothBad(disk, problems);
  if (primary && backup && !sameTable(primary, backup)) {
    const differences = layoutDifferences(primary, backup);
    if (differences.length > 0) {
      throw new UpdaterError('ERR_GPT_COPIES_DISAGREE', `Cannot use the GPT of "${disk.path}": both copies are valid but disagree: ${differences.join('; ')}`, {
        data: { path: disk.path, differences },
        hint: 'Nothing was written. Two valid tables that place the partitions differently are not a torn write: find out which is right (sgdisk -v, cgpt show, the image your disks were made from) and restore it by hand (sgdisk --load-backup FILE) before updating.',
      });
    }
    problems.backup = { code: 'STALE', message: 'The backup GPT is valid but its flags differ from the primary (a write cut between the two copies); the next write makes it equal' };
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
