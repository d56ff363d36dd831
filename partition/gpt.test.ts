// Tests of readGpt/writeGpt on sgdisk-made disks: field values, backup fallback and repair, bad input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open, readFile, writeFile, truncate } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { makeSlotDisk, sgdiskVerify } from '../fixtures/disk.js';
import { openDisk } from './disk.js';
import { readGpt, writeGpt, type Gpt } from './gpt.js';
import { COREOS_USR_TYPE_GUID } from './guid.js';
import { isUpdaterError } from '../common/errors.js';

const SS = 512;

async function withGpt<T>(file: string, fn: (gpt: Gpt) => Promise<T> | T, writable = false): Promise<T> {
  const disk = await openDisk(file, { writable });
  try {
    return await fn(await readGpt(disk));
  } finally {
    await disk.close();
  }
}

async function readGptOf(file: string): Promise<Gpt> {
  return withGpt(file, (g) => g);
}

async function rewrite(file: string): Promise<void> {
  const disk = await openDisk(file, { writable: true });
  try {
    await writeGpt(disk, await readGpt(disk));
  } finally {
    await disk.close();
  }
}

async function patch(file: string, offset: number, bytes: Uint8Array): Promise<void> {
  const h = await open(file, 'r+');
  await h.write(bytes, 0, bytes.length, offset);
  await h.close();
}

async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const h = await open(file, 'r');
  const b = Buffer.alloc(length);
  await h.read(b, 0, length, offset);
  await h.close();
  return b;
}

/** Changes a header field and recomputes that header's CRC, so only the intended check fails. */
async function patchHeader(file: string, lba: number, edit: (header: Buffer) => void): Promise<void> {
  const header = await readAt(file, lba * SS, SS);
  edit(header);
  header.writeUInt32LE(0, 0x10);
  header.writeUInt32LE(crc32(header.subarray(0, header.readUInt32LE(0x0c) <= SS ? header.readUInt32LE(0x0c) : 92)), 0x10);
  await patch(file, lba * SS, header);
}

/** Changes an entry of both arrays and fixes both arrays' CRCs in both headers. */
async function patchEntryBothCopies(file: string, number: number, edit: (entry: Buffer) => void): Promise<void> {
  const gpt = await readGptOf(file);
  for (const [headerLba, arrayLba] of [[1n, gpt.primaryEntriesLba], [gpt.backupLba, gpt.backupEntriesLba]] as const) {
    const array = await readAt(file, Number(arrayLba) * SS, gpt.entryCount * gpt.entrySize);
    edit(array.subarray((number - 1) * gpt.entrySize, number * gpt.entrySize));
    await patch(file, Number(arrayLba) * SS, array);
    await patchHeader(file, Number(headerLba), (h) => h.writeUInt32LE(crc32(array), 0x58));
  }
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function expectCode(file: string, code: string): Promise<void> {
  await assert.rejects(readGptOf(file), (e: unknown) => {
    assert.ok(isUpdaterError(e), `expected an UpdaterError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test('readGpt() reads what sgdisk wrote: partitions, GUIDs, LBAs, names, attributes', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const gpt = await readGptOf(d.path);
  assert.equal(gpt.source, 'primary');
  assert.deepEqual(gpt.problems, {});
  assert.equal(gpt.mbr, 'protective');
  assert.deepEqual(gpt.partitions.map((p) => p.name), ['EFI-SYSTEM', 'USR-A', 'USR-B', 'STATE']);
  const info = (await execa('sgdisk', ['-i', '3', d.path])).stdout;
  const b = gpt.partitions[2]!;
  assert.match(info, new RegExp(`Partition unique GUID: ${b.uniqueGuid}`));
  assert.match(info, new RegExp(`Partition GUID code: ${COREOS_USR_TYPE_GUID}`));
  assert.match(info, new RegExp(`First sector: ${b.firstLba} `));
  assert.match(info, new RegExp(`Last sector: ${b.lastLba} `));
  const disk = (await execa('sgdisk', ['-p', d.path])).stdout;
  assert.match(disk, new RegExp(`Disk identifier \\(GUID\\): ${gpt.diskGuid}`));
  assert.equal(gpt.partitions[1]!.attributes, 0x0101000000000000n); // USR-A P1 S1 as set by sgdisk -A
});

test('writeGpt() of an unchanged table leaves both copies byte-identical to what sgdisk wrote', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { sizeMiB: 8, slotSizeMiB: 2, espSizeMiB: 1 });
  const before = await sha256(d.path);
  await rewrite(d.path);
  assert.equal(await sha256(d.path), before);
});

test('readGpt() uses the backup header when the primary CRC is wrong, and writeGpt() repairs it', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const good = await readGptOf(d.path);
  await patch(d.path, SS + 0x30, Buffer.from([0x99])); // LastUsableLBA byte, CRC now wrong
  const gpt = await readGptOf(d.path);
  assert.equal(gpt.source, 'backup');
  assert.equal(gpt.problems.primary?.code, 'ERR_GPT_CRC');
  assert.deepEqual(gpt.partitions, good.partitions);
  assert.match((await execa('cgpt', ['show', d.path])).stderr, /Primary GPT header is invalid/);
  await rewrite(d.path);
  const repaired = await readGptOf(d.path);
  assert.equal(repaired.source, 'primary');
  assert.deepEqual(repaired.problems, {});
  const v = await sgdiskVerify(d.path);
  assert.ok(v.ok, v.output);
});

test('readGpt() uses the backup when the primary entry array is corrupt, and writeGpt() repairs it', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const good = await readGptOf(d.path);
  await patch(d.path, 2 * SS + 128 + 0x38, Buffer.from('XX', 'utf16le')); // rename partition 2 in the primary array only
  const gpt = await readGptOf(d.path);
  assert.equal(gpt.source, 'backup');
  assert.equal(gpt.problems.primary?.code, 'ERR_GPT_CRC');
  assert.equal(gpt.partitions[1]!.name, 'USR-A');
  assert.deepEqual(gpt.partitions, good.partitions);
  await rewrite(d.path);
  assert.deepEqual((await readGptOf(d.path)).problems, {});
  const v = await sgdiskVerify(d.path);
  assert.ok(v.ok, v.output);
});

test('readGpt() reports a corrupt backup, reads the primary, and writeGpt() repairs the backup', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const gpt0 = await readGptOf(d.path);
  await patch(d.path, Number(gpt0.backupLba) * SS, Buffer.alloc(SS)); // backup header zeroed
  await patch(d.path, Number(gpt0.backupEntriesLba) * SS, Buffer.alloc(SS, 0xab));
  const gpt = await readGptOf(d.path);
  assert.equal(gpt.source, 'primary');
  assert.equal(gpt.problems.backup?.code, 'ERR_NOT_GPT');
  await rewrite(d.path);
  assert.deepEqual((await readGptOf(d.path)).problems, {});
  const v = await sgdiskVerify(d.path);
  assert.ok(v.ok, v.output);
  const cgpt = await execa('cgpt', ['show', d.path]);
  assert.doesNotMatch(cgpt.stderr, /invalid/i);
});

test('readGpt() with both copies corrupt throws ERR_GPT_BOTH_CORRUPT and a write attempt changes no byte', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { sizeMiB: 8, slotSizeMiB: 2, espSizeMiB: 1 });
  const gpt0 = await readGptOf(d.path);
  await patch(d.path, SS + 0x28, Buffer.from([0x77]));
  await patch(d.path, Number(gpt0.backupLba) * SS + 0x28, Buffer.from([0x77]));
  const before = await sha256(d.path);
  await expectCode(d.path, 'ERR_GPT_BOTH_CORRUPT');
  await assert.rejects(rewrite(d.path), (e: unknown) => isUpdaterError(e, 'ERR_GPT_BOTH_CORRUPT'));
  assert.equal(await sha256(d.path), before);
});

test('readGpt() of a file that is not GPT throws ERR_NOT_GPT (zeros, text, tiny file, MBR-only disk)', async (t) => {
  const dir = await makeTempDir(t);
  await writeFile(`${dir}/zeros.img`, Buffer.alloc(1024 * 1024));
  await expectCode(`${dir}/zeros.img`, 'ERR_NOT_GPT');
  await writeFile(`${dir}/text.img`, 'hello, this is not a disk\n');
  await expectCode(`${dir}/text.img`, 'ERR_NOT_GPT');
  await writeFile(`${dir}/empty.img`, '');
  await expectCode(`${dir}/empty.img`, 'ERR_NOT_GPT');
  const mbr = Buffer.alloc(1024 * 1024);
  mbr[0x1fe] = 0x55;
  mbr[0x1ff] = 0xaa;
  mbr[0x1be + 4] = 0x83;
  await writeFile(`${dir}/mbr.img`, mbr);
  await expectCode(`${dir}/mbr.img`, 'ERR_NOT_GPT');
});

test('readGpt() of a truncated image throws ERR_DISK_TRUNCATED', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  await truncate(d.path, 32 * 1024 * 1024);
  await expectCode(d.path, 'ERR_DISK_TRUNCATED');
  await truncate(d.path, 8 * SS); // header present, entry array cut off
  await expectCode(d.path, 'ERR_DISK_TRUNCATED');
});

test('readGpt() refuses entry counts and sizes out of range with ERR_GPT_ENTRIES', async (t) => {
  const dir = await makeTempDir(t);
  for (const [field, value] of [[0x50, 0], [0x50, 0x7fffffff], [0x54, 100], [0x54, 0], [0x54, 1 << 20]] as const) {
    const d = await makeSlotDisk(dir, { name: `e${field}-${value}.img` });
    const gpt = await readGptOf(d.path);
    await patchHeader(d.path, 1, (h) => h.writeUInt32LE(value, field));
    await patchHeader(d.path, Number(gpt.backupLba), (h) => h.writeUInt32LE(value, field));
    await expectCode(d.path, 'ERR_GPT_ENTRIES');
  }
});

test('readGpt() refuses header sizes out of range with ERR_GPT_HEADER', async (t) => {
  const dir = await makeTempDir(t);
  for (const size of [0, 91, 513, 0xffffffff]) {
    const d = await makeSlotDisk(dir, { name: `h${size}.img` });
    const gpt = await readGptOf(d.path);
    for (const lba of [1, Number(gpt.backupLba)]) {
      const header = await readAt(d.path, lba * SS, SS);
      header.writeUInt32LE(size, 0x0c);
      await patch(d.path, lba * SS, header);
    }
    await expectCode(d.path, 'ERR_GPT_HEADER');
  }
});

test('readGpt() refuses overlapping partitions with ERR_GPT_OVERLAP', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const gpt = await readGptOf(d.path);
  const aFirst = gpt.partitions[1]!.firstLba;
  await patchEntryBothCopies(d.path, 3, (e) => e.writeBigUInt64LE(aFirst + 10n, 0x20)); // B starts inside A
  await expectCode(d.path, 'ERR_GPT_OVERLAP');
});

test('readGpt() refuses partitions outside the usable range or reversed with ERR_GPT_PARTITION_RANGE', async (t) => {
  const dir = await makeTempDir(t);
  const cases: [string, (e: Buffer, g: Gpt) => void][] = [
    ['past the end', (e, g) => e.writeBigUInt64LE(g.diskSectors + 100n, 0x28)],
    ['over the backup', (e, g) => e.writeBigUInt64LE(g.lastUsableLba + 1n, 0x28)],
    ['over the primary array', (e) => e.writeBigUInt64LE(3n, 0x20)],
    ['reversed', (e) => e.writeBigUInt64LE(e.readBigUInt64LE(0x20) - 1n, 0x28)],
  ];
  for (const [name, edit] of cases) {
    const d = await makeSlotDisk(dir, { name: `${name.replaceAll(' ', '-')}.img` });
    const gpt = await readGptOf(d.path);
    await patchEntryBothCopies(d.path, 4, (e) => edit(e, gpt));
    await expectCode(d.path, 'ERR_GPT_PARTITION_RANGE');
  }
});

test('readGpt() refuses a header whose usable range or entry array lies outside the disk', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const gpt = await readGptOf(d.path);
  for (const lba of [1, Number(gpt.backupLba)]) await patchHeader(d.path, lba, (h) => h.writeBigUInt64LE(1n << 40n, 0x48));
  await expectCode(d.path, 'ERR_GPT_HEADER');
});

test('readGpt() after a write cut between backup and primary sees the old table whole, or the new one if the primary is torn', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { sizeMiB: 8, slotSizeMiB: 2, espSizeMiB: 1 });
  const old = await readFile(d.path);
  const disk = await openDisk(d.path, { writable: true });
  const gpt = await readGpt(disk);
  gpt.partitions[2]!.attributes = 0x0012000000000000n; // B: P2 T1 S0
  await writeGpt(disk, gpt);
  await disk.close();
  const next = await readFile(d.path);
  const backupStart = Number(gpt.backupEntriesLba) * SS;
  // power cut after the backup was written and synced, before the primary: old primary + new backup
  await writeFile(d.path, Buffer.concat([old.subarray(0, backupStart), next.subarray(backupStart)]));
  const cut = await readGptOf(d.path);
  assert.equal(cut.source, 'primary');
  assert.equal(cut.partitions[2]!.attributes, 0n);
  assert.equal(cut.problems.backup?.code, 'STALE');
  await rewrite(d.path);
  assert.deepEqual((await readGptOf(d.path)).problems, {});
  assert.ok((await sgdiskVerify(d.path)).ok);
  // power cut in the middle of the primary header sector: its CRC fails, the new backup is used
  const torn = Buffer.concat([old.subarray(0, backupStart), next.subarray(backupStart)]);
  next.copy(torn, SS, SS, SS + 0x40);
  await writeFile(d.path, torn);
  const fromBackup = await readGptOf(d.path);
  assert.equal(fromBackup.source, 'backup');
  assert.equal(fromBackup.partitions[2]!.attributes, 0x0012000000000000n);
});
