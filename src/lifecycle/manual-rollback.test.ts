// Manual rollback: the other slot boots next when it holds a committed image; refused otherwise.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cgptFlags } from '../../fixtures/disk.js';
import { bootedSnapshot, makeInstallEnv, TEST_COMPATIBLE } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { simulateBoot } from '../../partition/boot-control.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import { loadKeyring } from '../../verify/keyring.js';
import { installBundle } from '../engine/install.js';
import { loadEngineState } from '../engine/state-store.js';
import { rollbackToOther } from './manual-rollback.js';
import { runPostBoot } from './post-boot.js';

async function scene(t: { after(fn: () => unknown): void }) {
  const env = await makeInstallEnv(t, await makeTempDir(t));
  const keyring = await loadKeyring([env.keys.keyringDir]);
  const open = async () => (await openGptprioBootControl(env.disk.path)).control;
  const install = async () => {
    const { control, slots } = await openGptprioBootControl(env.disk.path);
    await installBundle({ source: env.url, diskPath: env.disk.path, control, slots, booted: 'A', keyring, compatible: TEST_COMPATIBLE, stateDir: env.stateDir, runDir: env.runDir });
  };
  const postBoot = async (booted: 'A' | 'B') =>
    runPostBoot({ control: await open(), booted, stateDir: env.stateDir, health: { dir: null, units: [], timeoutMs: 1000 }, reboot: async () => {} });
  return { env, open, install, postBoot };
}

test('rollbackToOther() after a committed update boots the old slot next, committed, and marks nothing bad', async (t) => {
  const { env, open, install, postBoot } = await scene(t);
  await install();
  assert.equal((await simulateBoot(await open())).slot, 'B');
  assert.equal((await postBoot('B')).action, 'committed');

  const result = await rollbackToOther({ control: await open(), booted: 'B', stateDir: env.stateDir });
  assert.deepEqual({ from: result.from, to: result.to, mode: result.mode }, { from: 'B', to: 'A', mode: 'committed' });
  assert.deepEqual(await cgptFlags(env.disk.path, 2), { priority: 2, tries: 0, successful: true });
  assert.deepEqual(await cgptFlags(env.disk.path, 3), { priority: 1, tries: 0, successful: true });
  const boot = await simulateBoot(await open());
  assert.deepEqual({ slot: boot.slot, spentTry: boot.spentTry }, { slot: 'A', spentTry: false }, 'no health gate: A boots as a good slot');
  assert.equal((await postBoot('A')).action, 'steady');
  assert.deepEqual((await loadEngineState(env.stateDir)).badVersions, [], 'the rolled-from version is not bad');
});

test('rollbackToOther() refuses an empty, bad or never-committed slot without --force, and changes nothing', async (t) => {
  const { env, open, install } = await scene(t);
  // Fresh disk: B is empty (P0 T0 S0).
  const fresh = await bootedSnapshot(env, 'A');
  const flagsB = await cgptFlags(env.disk.path, 3);
  await assert.rejects(rollbackToOther({ control: await open(), booted: 'A', stateDir: env.stateDir }), { code: 'ERR_ROLLBACK', message: /slot B: it is bad/ });
  assert.deepEqual(await bootedSnapshot(env, 'A'), fresh);
  assert.deepEqual(await cgptFlags(env.disk.path, 3), flagsB);

  // An update waits for its reboot: B is on trial, never committed.
  await install();
  const pending = await cgptFlags(env.disk.path, 3);
  await assert.rejects(rollbackToOther({ control: await open(), booted: 'A', stateDir: env.stateDir }), { code: 'ERR_ROLLBACK', message: /only on trial/ });
  assert.deepEqual(await cgptFlags(env.disk.path, 3), pending);
  assert.equal((await loadEngineState(env.stateDir)).state, 'UPDATED_NEED_REBOOT');
});

test('rollbackToOther({force}) gives a slot that is not committed one trial boot, with the booted slot as fallback', async (t) => {
  const { env, open } = await scene(t);
  const result = await rollbackToOther({ control: await open(), booted: 'A', stateDir: env.stateDir, force: true });
  assert.equal(result.mode, 'trial');
  assert.deepEqual(await cgptFlags(env.disk.path, 3), { priority: 2, tries: 1, successful: false });
  assert.deepEqual(await cgptFlags(env.disk.path, 2), { priority: 1, tries: 0, successful: true });
  assert.equal((await simulateBoot(await open())).slot, 'B');
  assert.equal((await simulateBoot(await open())).slot, 'A', 'B never committed: the bootloader falls back to A');
});
