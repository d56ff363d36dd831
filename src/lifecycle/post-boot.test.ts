// The whole update cycle on a disk image, with the bootloader's own step (simulateBoot) between "reboots".

import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { cgptFlags } from '../../fixtures/disk.js';
import { makeBundle, makeImage } from '../../fixtures/bundle.js';
import { bootedSnapshot, makeInstallEnv, TEST_COMPATIBLE, type InstallEnv } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { simulateBoot } from '../../partition/boot-control.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import type { SlotName } from '../../partition/slots.js';
import { loadKeyring } from '../../verify/keyring.js';
import { installBundle } from '../engine/install.js';
import { seedEngineState } from '../../fixtures/engine-state.js';
import { loadEngineState } from '../engine/state-store.js';
import type { UpdateEvent } from '../omaha/events.js';
import type { HealthConfig } from './health.js';
import { runPostBoot, type PostBootOutcome } from './post-boot.js';

interface Host {
  env: InstallEnv;
  healthDir: string;
  events: UpdateEvent[];
  reboots: number;
  lockReleases: number;
  install(source: string, booted: SlotName): Promise<void>;
  /** Power-on: the bootloader picks a slot and spends its try. */
  boot(): Promise<SlotName>;
  postBoot(booted: SlotName, health?: Partial<HealthConfig>): Promise<PostBootOutcome>;
  setHealth(script: string): Promise<void>;
}

async function makeHost(t: { after(fn: () => unknown): void }): Promise<Host> {
  const dir = await makeTempDir(t);
  const env = await makeInstallEnv(t, dir);
  const healthDir = path.join(dir, 'health.d');
  await mkdir(healthDir);
  const keyring = await loadKeyring([env.keys.keyringDir]);
  const open = () => openGptprioBootControl(env.disk.path);
  const host: Host = {
    env,
    healthDir,
    events: [],
    reboots: 0,
    lockReleases: 0,
    async install(source, booted) {
      const { control, slots } = await open();
      await installBundle({ source, diskPath: env.disk.path, control, slots, booted, keyring, compatible: TEST_COMPATIBLE, stateDir: env.stateDir, runDir: env.runDir });
    },
    async boot() {
      const { control } = await open();
      const { slot } = await simulateBoot(control);
      assert.ok(slot, 'the bootloader found a bootable slot');
      return slot;
    },
    async postBoot(booted, health = {}) {
      const { control } = await open();
      return runPostBoot({
        control,
        booted,
        stateDir: env.stateDir,
        health: { dir: healthDir, units: [], timeoutMs: 3000, retryDelayMs: 100, checkTimeoutMs: 2000, ...health },
        reboot: async () => {
          host.reboots += 1;
        },
        releaseLock: async () => {
          host.lockReleases += 1;
        },
        report: async (event) => {
          host.events.push(event);
        },
      });
    },
    async setHealth(script) {
      const file = path.join(healthDir, '50-app');
      await writeFile(file, `#!/bin/sh\n${script}\n`);
      await chmod(file, 0o755);
    },
  };
  return host;
}

test('runPostBoot() commits the new slot when its health checks pass, and the next boot stays on it', async (t) => {
  const host = await makeHost(t);
  await host.setHealth('exit 0');
  await host.install(host.env.url, 'A');
  assert.equal(await host.boot(), 'B');
  assert.deepEqual(await cgptFlags(host.env.disk.path, 3), { priority: 2, tries: 0, successful: false });

  const outcome = await host.postBoot('B');
  assert.equal(outcome.action, 'committed');
  assert.deepEqual(await cgptFlags(host.env.disk.path, 3), { priority: 2, tries: 0, successful: true });
  assert.deepEqual(await cgptFlags(host.env.disk.path, 2), { priority: 1, tries: 0, successful: true });
  const state = await loadEngineState(host.env.stateDir);
  assert.equal(state.state, 'IDLE');
  assert.equal(state.committedVersion, '2.0.0');
  assert.equal(state.floorVersion, '2.0.0');
  assert.equal(state.install, null);
  assert.equal(host.lockReleases, 1);
  assert.deepEqual(host.events, [{ kind: 'complete-after-reboot', version: '2.0.0', previousVersion: '0.0.0' }]);
  assert.equal(host.reboots, 0);

  assert.equal(await host.boot(), 'B', 'a further reboot stays on the committed slot');
  assert.equal((await host.postBoot('B')).action, 'steady');
});

test('runPostBoot() rolls back when a health check fails until the deadline; the version is not installed again, a newer one is', async (t) => {
  const host = await makeHost(t);
  await host.setHealth('echo "database is down" >&2; exit 3');
  await host.install(host.env.url, 'A');
  assert.equal(await host.boot(), 'B');

  const outcome = await host.postBoot('B', { timeoutMs: 600 });
  assert.equal(outcome.action, 'rolled-back');
  if (outcome.action !== 'rolled-back') return;
  assert.ok(outcome.health.rounds >= 2, 'the failing check was retried');
  assert.match(outcome.health.results[0]?.detail ?? '', /exit code 3: database is down/);
  assert.equal(host.reboots, 1, 'a failed slot reboots whatever the strategy');
  assert.deepEqual(await cgptFlags(host.env.disk.path, 3), { priority: 0, tries: 0, successful: false });
  const state = await loadEngineState(host.env.stateDir);
  assert.equal(state.state, 'ROLLED_BACK');
  assert.deepEqual(state.badVersions, ['2.0.0']);
  assert.equal(state.lastError?.code, 'ERR_HEALTH_CHECK');
  assert.equal(host.events.at(-1)?.kind, 'error');

  const before = await bootedSnapshot(host.env, 'A');
  assert.equal(await host.boot(), 'A', 'the bootloader falls back to the old slot');
  assert.equal((await host.postBoot('A')).action, 'steady');
  await assert.rejects(host.install(host.env.url, 'A'), { code: 'ERR_KNOWN_BAD_VERSION' });
  assert.deepEqual(await bootedSnapshot(host.env, 'A'), before, 'the refused install touched neither slot A nor its flags');

  const image3 = await makeImage(path.join(host.env.dir, 'image3.img'), 2 * 1024 * 1024, '3.0.0');
  const bundle3 = await makeBundle(host.env.dir, { image: image3, version: '3.0.0', compatible: TEST_COMPATIBLE, key: host.env.keys, chunkSize: 65536 });
  await host.install(bundle3.path, 'A');
  assert.equal(await host.boot(), 'B');
  await host.setHealth('exit 0');
  assert.equal((await host.postBoot('B')).action, 'committed');
  assert.equal((await loadEngineState(host.env.stateDir)).committedVersion, '3.0.0');
});

test('runPostBoot() on the old slot detects that the new slot never reached post-boot (tries spent)', async (t) => {
  const host = await makeHost(t);
  await host.install(host.env.url, 'A');
  assert.equal(await host.boot(), 'B'); // the kernel of B panics: no post-boot runs
  assert.equal(await host.boot(), 'A', 'B has no tries left, so the bootloader picks A');

  const outcome = await host.postBoot('A');
  assert.deepEqual(outcome, { action: 'rollback-detected', slot: 'A', badVersion: '2.0.0' });
  const state = await loadEngineState(host.env.stateDir);
  assert.equal(state.state, 'ROLLED_BACK');
  assert.deepEqual(state.badVersions, ['2.0.0']);
  assert.equal(state.lastError?.code, 'ERR_ROLLBACK');
  assert.deepEqual(host.events, [{ kind: 'error', code: 'ERR_ROLLBACK', version: '2.0.0' }]);
  assert.equal(host.lockReleases, 1);
  assert.equal(host.reboots, 0);
  assert.equal((await host.postBoot('A')).action, 'steady', 'a second run reports nothing twice');
  assert.equal(host.events.length, 1);
});

test('runPostBoot() before the reboot leaves an activated update pending', async (t) => {
  const host = await makeHost(t);
  await host.install(host.env.url, 'A');
  assert.deepEqual(await host.postBoot('A'), { action: 'pending-reboot', slot: 'A', next: 'B' });
  assert.deepEqual(await cgptFlags(host.env.disk.path, 3), { priority: 2, tries: 1, successful: false });
});

test('runPostBoot() commits after a check that fails once and then passes', async (t) => {
  const host = await makeHost(t);
  const counter = path.join(host.env.dir, 'runs');
  await host.setHealth(`n=$(cat ${counter} 2>/dev/null || echo 0); echo $((n+1)) > ${counter}; [ "$n" -ge 1 ]`);
  await host.install(host.env.url, 'A');
  await host.boot();
  const outcome = await host.postBoot('B');
  assert.equal(outcome.action, 'committed');
  if (outcome.action === 'committed') assert.equal(outcome.health.results[0]?.runs, 2);
});

test('runPostBoot() counts a hanging check as failed after its own timeout', async (t) => {
  const host = await makeHost(t);
  await host.setHealth('sleep 30');
  await host.install(host.env.url, 'A');
  await host.boot();
  const outcome = await host.postBoot('B', { timeoutMs: 800, checkTimeoutMs: 300 });
  assert.equal(outcome.action, 'rolled-back');
  if (outcome.action === 'rolled-back') assert.match(outcome.health.results[0]?.detail ?? '', /timed out/);
});

test('runPostBoot() keeps a failing slot when the other slot cannot boot, so the host stays bootable', async (t) => {
  const host = await makeHost(t);
  await host.setHealth('exit 1');
  await host.install(host.env.url, 'A');
  await host.boot();
  const { control } = await openGptprioBootControl(host.env.disk.path);
  // Slot A is lost meanwhile (say an operator marked it bad): B is the only slot that can boot.
  await control.markGood('B');
  await control.markBad('A');
  await control.markActive('B', 1);
  await control.spendTry('B');
  const outcome = await host.postBoot('B', { timeoutMs: 300 });
  assert.equal(outcome.action, 'kept-failing');
  assert.deepEqual(await cgptFlags(host.env.disk.path, 3), { priority: 1, tries: 0, successful: true });
  assert.equal(host.reboots, 0);
  assert.equal((await loadEngineState(host.env.stateDir)).lastError?.code, 'ERR_HEALTH_CHECK');
});

test('runPostBoot() finishes a commit whose bookkeeping a power cut interrupted after mark-good', async (t) => {
  const host = await makeHost(t);
  await host.install(host.env.url, 'A');
  await host.boot();
  const { control } = await openGptprioBootControl(host.env.disk.path);
  await control.markGood('B'); // the power went right after this write
  await seedEngineState(host.env.stateDir, { state: 'HEALTH_CHECK' });
  assert.equal((await host.postBoot('B')).action, 'steady');
  const after = await loadEngineState(host.env.stateDir);
  assert.equal(after.state, 'IDLE');
  assert.equal(after.floorVersion, '2.0.0');
  assert.equal(host.lockReleases, 1);
  assert.equal(host.events[0]?.kind, 'complete-after-reboot');
});
