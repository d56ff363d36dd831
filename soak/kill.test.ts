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

test('soak:kill stopped by SIGTERM finishes its cycle and prints the report so far, exit 0 (it was killed by its own signal-exit cleanup before)', async () => {
  const { execa } = await import('execa');
  const child = execa('node', ['--import', 'tsx', 'soak/kill.ts', '--count', '1000', '--seed', '5'], { reject: false, forceKillAfterDelay: false }); // execa's default SIGKILLs 5 s after the SIGTERM: a loaded machine's cycle takes longer
  // the first update cycle has started once the soak's first bundle is served; a few seconds in is enough
  await new Promise((resolve) => setTimeout(resolve, 12_000));
  child.kill('SIGTERM');
  const result = await child;
  assert.equal(result.signal, undefined, `the soak died of ${result.signal}: ${result.stderr}`);
  assert.equal(result.exitCode, 0, result.stderr);
  assert.match(result.stdout, /soak:kill: stopped by a signal after \d+ of 1000 kills/);
  assert.match(result.stdout, /^unbootable: 0$/m);
});
