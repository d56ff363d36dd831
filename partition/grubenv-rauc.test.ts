// BOOTLOADER=grubenv-rauc writes exactly what Debian's RAUC 1.8 (`rauc status mark-active|mark-good|mark-bad`,
// bootloader=grub) writes to the GRUB environment block, and `rauc status` reads the same slot states from it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { isUpdaterError } from '../common/errors.js';
import { makeSlotDisk } from '../fixtures/disk.js';
import { startRaucService } from '../fixtures/rauc.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { openGptprioBootControl } from './gptprio.js';
import { openGrubenvRaucBootControl } from './grubenv-rauc-boot-control.js';
import type { SlotName } from './slots.js';

/** The variables as grub-editenv lists them. */
async function listed(file: string): Promise<Record<string, string>> {
  const { stdout } = await execa('grub-editenv', [file, 'list']);
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

const SLOT_OF: Record<SlotName, string> = { A: 'rootfs.0', B: 'rootfs.1' };

test('grubenv-rauc: every mark-* leaves the block exactly as rauc status mark-* does, and rauc status reads abupdate\'s states', async (t) => {
  const dir = await makeTempDir(t);
  const disk = await makeSlotDisk(dir, { bootloader: 'grubenv' });
  const { slots } = await openGptprioBootControl(disk.path);
  const ours = path.join(dir, 'ours.grubenv');
  const theirs = path.join(dir, 'rauc.grubenv');
  // A host RAUC installed: A committed and first.
  await execa('grub-editenv', [ours, 'create']);
  await execa('grub-editenv', [ours, 'set', 'ORDER=A B', 'A_OK=1', 'A_TRY=0', 'B_OK=0', 'B_TRY=0']);
  await copyFile(ours, theirs);
  const control = openGrubenvRaucBootControl(ours, slots);
  const rauc = await startRaucService(t, { grubenv: theirs, booted: 'A' });

  const steps: [op: 'mark-active' | 'mark-good' | 'mark-bad' | 'boot', slot: SlotName][] = [
    ['mark-active', 'B'],
    ['boot', 'B'], // the script picks B and sets B_TRY=1
    ['mark-good', 'B'],
    ['mark-active', 'A'],
    ['mark-bad', 'B'],
    ['mark-active', 'B'],
    ['boot', 'B'],
    ['mark-bad', 'B'],
  ];
  for (const [op, slot] of steps) {
    if (op === 'boot') {
      await control.spendTry(slot);
      await execa('grub-editenv', [theirs, 'set', `${slot}_TRY=1`]);
    } else {
      await (op === 'mark-active' ? control.markActive(slot) : op === 'mark-good' ? control.markGood(slot) : control.markBad(slot));
      await rauc.rauc(['status', op, SLOT_OF[slot]]);
    }
    assert.deepEqual(await listed(ours), await listed(theirs), `after ${op} ${slot}`);
    // rauc status, reading abupdate's block, agrees on every slot's boot status and the primary.
    await copyFile(ours, theirs);
    const seen = await rauc.status();
    const ourStatus = await control.status();
    for (const entry of seen.slots) {
      const [, info] = Object.entries(entry)[0]!;
      const mine = ourStatus.find((s) => s.name === info.bootname);
      assert.equal(info.boot_status, mine?.successful ? 'good' : 'bad', `${info.bootname} after ${op} ${slot}`);
    }
    const first = ourStatus.filter((s) => s.priority > 0 && s.successful).sort((a, b) => b.priority - a.priority)[0];
    if (first !== undefined) assert.equal(seen.boot_primary, SLOT_OF[first.name], `primary after ${op} ${slot}`);
  }
});

test('grubenv-rauc: counted tries are refused (RAUC boots an activated slot once), and no write leaves no slot bootable', async (t) => {
  const dir = await makeTempDir(t);
  const disk = await makeSlotDisk(dir, { bootloader: 'grubenv' });
  const { slots } = await openGptprioBootControl(disk.path);
  const file = path.join(dir, 'grubenv');
  await execa('grub-editenv', [file, 'create']);
  await execa('grub-editenv', [file, 'set', 'ORDER=A B', 'A_OK=1', 'A_TRY=0', 'B_OK=0', 'B_TRY=0']);
  const control = openGrubenvRaucBootControl(file, slots);
  const before = await listed(file);
  await assert.rejects(control.markActive('B', 3), (error: unknown) => isUpdaterError(error, 'ERR_USAGE') && /boots an activated slot once/.test(error.message));
  await assert.rejects(control.markBad('A'), (error: unknown) => isUpdaterError(error, 'ERR_NO_BOOTABLE_SLOT'));
  assert.deepEqual(await listed(file), before, 'nothing written');
  const status = await control.markActive('B');
  assert.deepEqual(status.map((s) => [s.name, s.priority, s.successful, s.state]), [['A', 1, true, 'good'], ['B', 2, true, 'good']]);
  // After the boot the script set B_TRY=1: RAUC calls B bad until it is marked good, and the script skips it.
  const booted = await control.spendTry('B');
  assert.deepEqual(booted.map((s) => [s.name, s.successful, s.state]), [['A', true, 'good'], ['B', false, 'bad']]);
});
