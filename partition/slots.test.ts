// Tests of findSlots(): by label, by the CoreOS usr type GUID, byte ranges, and the ERR_SLOT_COUNT refusals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { makeSlotDisk } from '../fixtures/disk.js';
import { openDisk } from './disk.js';
import { readGpt } from './gpt.js';
import { COREOS_USR_TYPE_GUID, LINUX_DATA_TYPE_GUID } from './guid.js';
import { findSlots, type Slots } from './slots.js';
import { isUpdaterError } from '../common/errors.js';

async function slotsOf(file: string): Promise<Slots> {
  const disk = await openDisk(file);
  try {
    return findSlots(await readGpt(disk), file);
  } finally {
    await disk.close();
  }
}

test('findSlots() finds USR-A and USR-B with the byte range sgdisk reports', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir);
  const slots = await slotsOf(d.path);
  for (const slot of [slots.A, slots.B]) {
    const info = (await execa('sgdisk', ['-i', String(slot.partition), d.path])).stdout;
    const first = Number(/First sector: (\d+)/.exec(info)?.[1]);
    const last = Number(/Last sector: (\d+)/.exec(info)?.[1]);
    assert.equal(slot.offset, first * 512);
    assert.equal(slot.size, (last - first + 1) * 512);
    assert.match(info, new RegExp(`Partition unique GUID: ${slot.uuid}`));
    assert.match(info, new RegExp(`Partition name: '${slot.label}'`));
  }
  assert.deepEqual([slots.A.name, slots.A.partition, slots.B.name, slots.B.partition], ['A', 2, 'B', 3]);
  assert.equal(slots.A.size, 16 * 1024 * 1024);
});

test('findSlots() goes by label even when USR-B comes first in the table', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { labels: ['USR-B', 'USR-A'] });
  const slots = await slotsOf(d.path);
  assert.deepEqual([slots.A.partition, slots.B.partition], [3, 2]);
});

test('findSlots() takes two unlabelled usr-typed partitions as A (first) and B (second)', async (t) => {
  const dir = await makeTempDir(t);
  const d = await makeSlotDisk(dir, { labels: ['', ''] });
  const slots = await slotsOf(d.path);
  assert.deepEqual([slots.A.partition, slots.B.partition, slots.A.label], [2, 3, '']);
  assert.equal(slots.A.typeGuid, COREOS_USR_TYPE_GUID);
});

test('findSlots() refuses three usr-typed partitions, one, or a lone label with ERR_SLOT_COUNT', async (t) => {
  const dir = await makeTempDir(t);
  const three = await makeSlotDisk(dir, { name: 'three.img', labels: ['', ''] });
  await execa('sgdisk', ['-t', `4:${COREOS_USR_TYPE_GUID}`, three.path]);
  const one = await makeSlotDisk(dir, { name: 'one.img', labels: ['', ''] });
  await execa('sgdisk', ['-t', `3:${LINUX_DATA_TYPE_GUID}`, one.path]);
  const lone = await makeSlotDisk(dir, { name: 'lone.img' });
  await execa('sgdisk', ['-c', '3:DATA', lone.path]);
  for (const file of [three.path, one.path, lone.path]) {
    await assert.rejects(slotsOf(file), (e: unknown) => {
      assert.ok(isUpdaterError(e, 'ERR_SLOT_COUNT'), String(e));
      assert.match(e.hint ?? '', /USR-A/);
      return true;
    });
  }
});
