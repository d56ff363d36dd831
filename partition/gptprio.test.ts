// Tests of the gptprio backend against the real tools: cgpt reads what we write, we read what cgpt
// writes, our operations equal `cgpt add` + `cgpt prioritize`, sgdisk -v stays clean.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { cgptFlags, loopDeviceSkip, makeSlotDisk, sgdiskVerify } from '../fixtures/disk.js';
import { simulateBoot } from './boot-control.js';
import { decodeGptprio, encodeGptprio, openGptprioBootControl } from './gptprio.js';
import { openDisk } from './disk.js';
import { readGpt } from './gpt.js';
import { isUpdaterError } from '../common/errors.js';

/** A small disk (8 MiB, 2 MiB slots) for tests that copy or hash whole images. */
const SMALL = { sizeMiB: 8, slotSizeMiB: 2, espSizeMiB: 1 } as const;

const flags = (priority: number, tries: number, successful: boolean) => ({ priority, tries, successful });

async function cgptSet(disk: string, partition: number, p: number, t: number, s: number): Promise<void> {
  await execa('cgpt', ['add', '-i', String(partition), '-P', String(p), '-T', String(t), '-S', String(s), disk]);
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

test('encodeGptprio() puts priority in bits 48-51, tries in 52-55, successful in 56 and keeps other bits', () => {
  assert.equal(encodeGptprio(0n, flags(1, 0, true)), 0x0101000000000000n);
  assert.equal(encodeGptprio(0n, flags(15, 15, false)), 0x00ff000000000000n);
  const other = (1n << 60n) | (1n << 2n) | (1n << 57n);
  assert.equal(encodeGptprio(other | 0x01ff000000000000n, flags(2, 1, false)), other | 0x0012000000000000n);
  assert.deepEqual(decodeGptprio(0x0123000000000000n), flags(3, 2, true));
});

test('gptprio operations read back identically through cgpt show -P/-T/-S, and sgdisk -v stays clean', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const { control, slots } = await openGptprioBootControl(d.path);
  assert.deepEqual([slots.A.partition, slots.B.partition], [2, 3]);
  const expectCgpt = async (a: ReturnType<typeof flags>, b: ReturnType<typeof flags>, step: string) => {
    assert.deepEqual(await cgptFlags(d.path, 2), a, `A after ${step}`);
    assert.deepEqual(await cgptFlags(d.path, 3), b, `B after ${step}`);
    const v = await sgdiskVerify(d.path);
    assert.ok(v.ok, `sgdisk -v after ${step}: ${v.output}`);
  };
  await expectCgpt(flags(1, 0, true), flags(0, 0, false), 'makeSlotDisk');
  await control.markActive('B');
  await expectCgpt(flags(1, 0, true), flags(2, 1, false), 'mark-active B');
  assert.deepEqual(await simulateBoot(control).then((b) => [b.slot, b.spentTry]), ['B', true]);
  await expectCgpt(flags(1, 0, true), flags(2, 0, false), 'boot of B');
  await control.markGood('B');
  await expectCgpt(flags(1, 0, true), flags(2, 0, true), 'mark-good B');
  await control.markActive('A', 3);
  await expectCgpt(flags(2, 3, false), flags(1, 0, true), 'mark-active A --tries 3');
  await control.markBad('A');
  await expectCgpt(flags(0, 0, false), flags(1, 0, true), 'mark-bad A');
  const status = await control.status();
  assert.deepEqual(status.map((s) => [s.name, s.state]), [['A', 'bad'], ['B', 'good']]);
});

test('gptprio status reads flags that cgpt add set', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  await cgptSet(d.path, 2, 1, 0, 1);
  await cgptSet(d.path, 3, 2, 3, 0);
  const { control } = await openGptprioBootControl(d.path);
  const status = await control.status();
  assert.deepEqual(
    status.map((s) => ({ name: s.name, partition: s.partition, priority: s.priority, tries: s.tries, successful: s.successful, state: s.state })),
    [
      { name: 'A', partition: 2, priority: 1, tries: 0, successful: true, state: 'good' },
      { name: 'B', partition: 3, priority: 2, tries: 3, successful: false, state: 'trying' },
    ],
  );
  await cgptSet(d.path, 3, 15, 15, 1);
  assert.deepEqual(await control.status().then((s) => s.map((x) => [x.priority, x.tries, x.successful])), [[1, 0, true], [15, 15, true]]);
});

test('gptprio mark-active and mark-good write the same entry arrays as cgpt add + cgpt prioritize from many start states', async (t) => {
  const dir = await makeTempDir(t);
  const starts: [number, number, number, number, number, number][] = [
    [1, 0, 1, 0, 0, 0],
    [2, 0, 1, 1, 0, 1],
    [1, 0, 1, 2, 0, 0],
    [5, 0, 1, 3, 2, 0],
    [1, 0, 1, 1, 0, 1],
    [0, 0, 0, 1, 0, 1],
  ];
  /** Both entry arrays as on disk: equal arrays mean bit-identical flags (and nothing else touched). */
  const arrays = async (file: string) => {
    const disk = await openDisk(file);
    try {
      const gpt = await readGpt(disk);
      const length = gpt.entryCount * gpt.entrySize;
      return [await disk.read(Number(gpt.primaryEntriesLba) * 512, length), await disk.read(Number(gpt.backupEntriesLba) * 512, length)];
    } finally {
      await disk.close();
    }
  };
  let n = 0;
  for (const [ap, at, as, bp, bt, bs] of starts) {
    const base = await makeSlotDisk(dir, { ...SMALL, name: `base-${n}.img` });
    await cgptSet(base.path, 2, ap, at, as);
    await cgptSet(base.path, 3, bp, bt, bs);
    // Debian's (upstream vboot) cgpt prioritizes ChromeOS kernel partitions only; Flatcar's seismograph
    // also takes the usr type. Same algorithm, so the slots get the kernel type (we find them by label).
    for (const i of ['2', '3']) await execa('cgpt', ['add', '-i', i, '-t', 'kernel', base.path]);
    const [baseArray] = await arrays(base.path);
    for (const [op, target] of [['mark-active', 3], ['mark-good', 3], ['mark-good', 2], ['mark-active', 2]] as const) {
      const ours = `${dir}/ours-${n}.img`;
      const theirs = `${dir}/theirs-${n++}.img`;
      await copyFile(base.path, ours);
      await copyFile(base.path, theirs);
      const { control } = await openGptprioBootControl(ours);
      const name = target === 2 ? 'A' : 'B';
      if (op === 'mark-active') await control.markActive(name, 1);
      else await control.markGood(name);
      const cgptArgs = op === 'mark-active' ? ['-S', '0', '-T', '1'] : ['-S', '1', '-T', '0'];
      await execa('cgpt', ['add', '-i', String(target), ...cgptArgs, theirs]);
      await execa('cgpt', ['prioritize', '-i', String(target), theirs]);
      const start = `A P${ap}T${at}S${as} B P${bp}T${bt}S${bs}, ${op} ${name}`;
      const [oursPrimary, oursBackup] = await arrays(ours);
      const [theirsPrimary, theirsBackup] = await arrays(theirs);
      assert.deepEqual(oursPrimary, theirsPrimary, `primary entry array from ${start}`);
      assert.deepEqual(oursBackup, theirsBackup, `backup entry array from ${start}`);
      if (op === 'mark-active') assert.notDeepEqual(oursPrimary, baseArray, `mark-active changed nothing from ${start}`);
    }
  }
});

test('gptprio operations keep the other attribute bits that sgdisk set', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  await execa('sgdisk', ['-A', '3:set:60', '-A', '3:set:2', d.path]);
  const { control } = await openGptprioBootControl(d.path);
  await control.markActive('B', 2);
  const attrs = (await execa('sgdisk', ['-A', '3:show', d.path])).stdout;
  assert.match(attrs, /3:2:1/);
  assert.match(attrs, /3:60:1/);
  assert.deepEqual(await cgptFlags(d.path, 3), flags(2, 2, false));
});

test('gptprio refuses an operation that breaks the invariant and changes no byte of the disk', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, SMALL);
  const { control } = await openGptprioBootControl(d.path);
  const before = await sha256(d.path);
  await assert.rejects(control.markBad('A'), (e: unknown) => isUpdaterError(e, 'ERR_NO_BOOTABLE_SLOT'));
  assert.equal(await sha256(d.path), before);
  await control.markActive('B');
  const active = await sha256(d.path);
  await assert.rejects(control.markBad('A'), (e: unknown) => isUpdaterError(e, 'ERR_GOOD_SLOT_DEMOTED'));
  await assert.rejects(control.markActive('B', 16), (e: unknown) => isUpdaterError(e, 'ERR_USAGE'));
  await assert.rejects(control.markActive('B', 0), (e: unknown) => isUpdaterError(e, 'ERR_USAGE'));
  assert.equal(await sha256(d.path), active);
});

test('gptprio lifecycle: a trial that is never committed falls back to the good slot on the next boot', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const { control } = await openGptprioBootControl(d.path);
  assert.equal((await simulateBoot(control)).slot, 'A');
  await control.markActive('B', 2);
  const boots = [];
  for (let i = 0; i < 4; i++) boots.push((await simulateBoot(control)).slot);
  assert.deepEqual(boots, ['B', 'B', 'A', 'A']);
  assert.deepEqual(await cgptFlags(d.path, 3), flags(2, 0, false));
  await control.markGood('A'); // what A's post-boot does after the fallback
  assert.deepEqual(await cgptFlags(d.path, 2), flags(2, 0, true));
  assert.deepEqual(await cgptFlags(d.path, 3), flags(1, 0, false));
});

test('gptprio on a 4096-byte-sector image: sector size detected, operations work, GPT stays valid', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { sectorSize: 4096 });
  assert.equal(d.slots.A.offset % 4096, 0);
  const { control, slots } = await openGptprioBootControl(d.path);
  assert.equal(slots.A.size, 16 * 1024 * 1024);
  await control.markActive('B');
  await simulateBoot(control);
  await control.markGood('B');
  const disk = await openDisk(d.path);
  t.after(() => disk.close());
  assert.equal(disk.sectorSize, 4096);
  const gpt = await readGpt(disk);
  assert.deepEqual(gpt.problems, {});
  assert.deepEqual(decodeGptprio(gpt.partitions[2]!.attributes), flags(2, 0, true));
  assert.deepEqual(decodeGptprio(gpt.partitions[1]!.attributes), flags(1, 0, true));
});

test('gptprio on a 4096-byte-sector loop device: sgdisk -v clean and cgpt reads our flags', { skip: await loopDeviceSkip() }, async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { sectorSize: 4096 });
  const loop = (await execa('losetup', ['-b', '4096', '--show', '-f', d.path])).stdout.trim();
  t.after(() => execa('losetup', ['-d', loop], { reject: false }));
  const { control } = await openGptprioBootControl(loop);
  const disk = await openDisk(loop);
  const sectorSize = disk.sectorSize;
  await disk.close();
  assert.equal(sectorSize, 4096);
  await control.markActive('B', 3);
  assert.deepEqual(await cgptFlags(loop, 3), flags(2, 3, false));
  assert.deepEqual(await cgptFlags(loop, 2), flags(1, 0, true));
  const v = await sgdiskVerify(loop);
  assert.ok(v.ok, v.output);
  assert.match((await execa('sgdisk', ['-p', loop])).stdout, /Sector size \(logical\/physical\): 4096/);
});
