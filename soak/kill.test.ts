// A short run of the kill soak: eight timer-chosen SIGKILLs over install, post-boot and the mark-* commands, and
// after each one the bootloader rule (cgpt) still picks a verified version, the booted slot is unchanged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKillSoak } from './kill.js';

test('soak:kill with 8 kills finds every state bootable, the booted slot unchanged and the floor never lower', async () => {
  const report = await runKillSoak({ count: 8, seed: 7 });
  assert.equal(report.kills, 8);
  assert.deepEqual(report.problems, []);
  assert.equal(report.unbootable, 0);
  assert.ok(report.cycles >= 1 && report.operations > report.kills, `ran ${report.operations} operations in ${report.cycles} cycles`);
  assert.ok(Object.keys(report.byPhase).length >= 2, `kills landed in ${Object.keys(report.byPhase).join(', ')}`);
});
