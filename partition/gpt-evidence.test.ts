// Issue 11 item 8: a GPT copy with valid CRCs is evidence. One that fails the semantic checks (slots overlapping,
// past the end of the disk, over the table), or two valid copies that disagree about the partitions, are refused
// with a typed error and nothing is written (the flags as cgpt reads them unchanged); only a bad CRC is repaired.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { isUpdaterError, type ErrorCode } from '../common/errors.js';
import { cgptFlags, makeSlotDisk, sgdiskVerify, type SlotDisk } from '../fixtures/disk.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { openDisk } from './disk.js';
import { readGpt, writeGpt, type Gpt, type GptCopy } from './gpt.js';
import { openGptprioBootControl } from './gptprio.js';

const SS = 512;

async function readGptOf(file: string): Promise<Gpt> {
  const disk = await openDisk(file);
  try {
    return await readGpt(disk);
  } finally {
    await disk.close();
  }
}

/** Edits entry NUMBER of one copy's array and recomputes that copy's array and header CRCs: the copy stays CRC-valid. */
async function patchEntry(file: string, copy: GptCopy, number: number, edit: (entry: Buffer, gpt: Gpt) => void): Promise<void> {
  const gpt = await readGptOf(file);
  const [headerLba, arrayLba] = copy === 'primary' ? [1n, gpt.primaryEntriesLba] : [gpt.backupLba, gpt.backupEntriesLba];
  const h = await open(file, 'r+');
  try {
    const array = Buffer.alloc(gpt.entryCount * gpt.entrySize);
    await h.read(array, 0, array.length, Number(arrayLba) * SS);
    edit(array.subarray((number - 1) * gpt.entrySize, number * gpt.entrySize), gpt);
    await h.write(array, 0, array.length, Number(arrayLba) * SS);
    const header = Buffer.alloc(SS);
    await h.read(header, 0, SS, Number(headerLba) * SS);
    header.writeUInt32LE(crc32(array), 0x58);
    header.writeUInt32LE(0, 0x10);
    header.writeUInt32LE(crc32(header.subarray(0, 92)), 0x10);
    await h.write(header, 0, SS, Number(headerLba) * SS);
  } finally {
    await h.close();
  }
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** readGpt refuses with CODE; a flag change through the gptprio backend refuses too and no byte of the disk changes. */
async function expectRefusedUnchanged(d: SlotDisk, code: ErrorCode, pattern: RegExp): Promise<void> {
  const bytes = await sha256(d.path);
  const flags = { A: await cgptFlags(d.path, d.slots.A.partition), B: await cgptFlags(d.path, d.slots.B.partition) };
  const check = (e: unknown): boolean => {
    assert.ok(isUpdaterError(e, code), String(e));
    assert.match(e.message, pattern);
    return true;
  };
  await assert.rejects(readGptOf(d.path), check);
  await assert.rejects(
    (async () => {
      const { control } = await openGptprioBootControl(d.path);
      await control.markActive('B', 1);
    })(),
    check,
  );
  assert.equal(await sha256(d.path), bytes, 'no byte written');
  assert.deepEqual({ A: await cgptFlags(d.path, d.slots.A.partition), B: await cgptFlags(d.path, d.slots.B.partition) }, flags, 'flags as cgpt reads them unchanged');
}

test('readGpt() refuses a CRC-valid primary whose USR-B overlaps USR-A (backup fine) with ERR_GPT_OVERLAP; nothing written', async (t) => {
  const d = await makeSlotDisk(await makeTempDir(t));
  const aFirst = BigInt(d.slots.A.offset / SS);
  await patchEntry(d.path, 'primary', d.slots.B.partition, (e) => e.writeBigUInt64LE(aFirst + 8n, 0x20));
  await expectRefusedUnchanged(d, 'ERR_GPT_OVERLAP', /primary GPT.*valid CRCs/);
});

test('readGpt() refuses a CRC-valid primary with a partition past the end of the disk with ERR_GPT_PARTITION_RANGE; nothing written', async (t) => {
  const d = await makeSlotDisk(await makeTempDir(t));
  await patchEntry(d.path, 'primary', d.slots.B.partition, (e, g) => e.writeBigUInt64LE(g.diskSectors + 100n, 0x28));
  await expectRefusedUnchanged(d, 'ERR_GPT_PARTITION_RANGE', /primary GPT.*valid CRCs/);
});

test('readGpt() refuses a CRC-valid primary with a partition over the table itself with ERR_GPT_PARTITION_RANGE; nothing written', async (t) => {
  const d = await makeSlotDisk(await makeTempDir(t));
  await patchEntry(d.path, 'primary', 1, (e) => e.writeBigUInt64LE(2n, 0x20)); // the ESP starts on the primary entry array
  await expectRefusedUnchanged(d, 'ERR_GPT_PARTITION_RANGE', /primary GPT.*valid CRCs/);
});

test('readGpt() refuses a CRC-valid backup that fails the checks (primary fine) too: it is not silently rewritten', async (t) => {
  const d = await makeSlotDisk(await makeTempDir(t));
  const aFirst = BigInt(d.slots.A.offset / SS);
  await patchEntry(d.path, 'backup', d.slots.B.partition, (e) => e.writeBigUInt64LE(aFirst + 8n, 0x20));
  await expectRefusedUnchanged(d, 'ERR_GPT_OVERLAP', /backup GPT.*valid CRCs/);
});

test('readGpt() refuses two valid copies that disagree about a slot with ERR_GPT_COPIES_DISAGREE; nothing written', async (t) => {
  const d = await makeSlotDisk(await makeTempDir(t));
  // Both copies pass every check, but the primary's USR-B is one MiB shorter than the backup's.
  await patchEntry(d.path, 'primary', d.slots.B.partition, (e) => e.writeBigUInt64LE(e.readBigUInt64LE(0x28) - 2048n, 0x28));
  await expectRefusedUnchanged(d, 'ERR_GPT_COPIES_DISAGREE', /partition 3 \("USR-B"\)/);
  // ... and about a slot's identity (another unique GUID)
  const e2 = await makeSlotDisk(await makeTempDir(t), { name: 'guid.img' });
  await patchEntry(e2.path, 'backup', e2.slots.A.partition, (e) => e.fill(0x42, 0x10, 0x20));
  await expectRefusedUnchanged(e2, 'ERR_GPT_COPIES_DISAGREE', /partition 2 \("USR-A"\)/);
});

test('readGpt() still repairs a copy whose CRC is bad, and copies that differ only in the flags (a cut write) are stale, not refused', async (t) => {
  const d = await makeSlotDisk(await makeTempDir(t));
  await patchEntry(d.path, 'backup', d.slots.B.partition, (e) => e.writeBigUInt64LE(0x0012000000000000n, 0x30));
  const stale = await readGptOf(d.path);
  assert.equal(stale.problems.backup?.code, 'STALE');
  // a bad entry-array CRC in the primary (an overlap behind it is never looked at: the copy is damaged, not evidence)
  const aFirst = BigInt(d.slots.A.offset / SS);
  await patchEntry(d.path, 'primary', d.slots.B.partition, (e) => e.writeBigUInt64LE(aFirst + 8n, 0x20));
  const h = await open(d.path, 'r+');
  await h.write(Buffer.from([0x99]), 0, 1, 2 * SS + 0x200 + 0x30); // entry 5 (unused) changes: the array CRC no longer matches
  await h.close();
  const damaged = await readGptOf(d.path);
  assert.equal(damaged.source, 'backup');
  assert.equal(damaged.problems.primary?.code, 'ERR_GPT_CRC');
  const disk = await openDisk(d.path, { writable: true });
  await writeGpt(disk, damaged);
  await disk.close();
  assert.deepEqual((await readGptOf(d.path)).problems, {});
  assert.ok((await sgdiskVerify(d.path)).ok);
});
