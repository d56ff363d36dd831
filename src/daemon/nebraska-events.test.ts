// The events abupdate sends, replayed through Nebraska's own rules (fixtures/nebraska-rules.ts): the instance
// status Nebraska's dashboard shows must follow the update, for a custom app id and for Flatcar's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor, TEST_MACHINE_ID, type DaemonEnv } from '../../fixtures/daemon-env.js';
import { createNebraskaModel, type NebraskaModel } from '../../fixtures/nebraska-rules.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { simulateBoot } from '../../partition/boot-control.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import { FLATCAR_APP_ID } from '../omaha/events.js';

const CUSTOM_APP_ID = '{3b0b1d5e-6a57-4c61-9f0e-5f7a2b8c9d41}';

async function scene(t: Parameters<typeof makeDaemonEnv>[0], appId: string): Promise<{ env: DaemonEnv; nebraska: NebraskaModel }> {
  const nebraska = createNebraskaModel();
  const env = await makeDaemonEnv(t, await makeTempDir(t), {}, { appId, nebraska });
  env.omaha.setPackage(omahaPackageFor(env));
  return { env, nebraska };
}

/** Installs 2.0.0 (update), checks once on the same boot, then reboots into slot B. */
async function installAndReboot(env: DaemonEnv): Promise<string[]> {
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  const same = await runCli(['check', ...env.flags, '--json'], { env: env.env });
  assert.equal(same.json().outcome, 'reboot-pending', same.stderr);
  await writeFile(env.bootIdPath, '99999999-2222-3333-4444-555555555555\n');
  assert.equal((await simulateBoot((await openGptprioBootControl(env.disk.path)).control)).slot, 'B');
  return env.flags.map((f) => (f === 'A' ? 'B' : f));
}

async function commitAndCheck(t: Parameters<typeof makeDaemonEnv>[0], env: DaemonEnv, flagsB: string[]): Promise<void> {
  const healthDir = await makeTempDir(t);
  const committed = await runCli(['post-boot', '--config', env.configPath, '--booted', 'B', '--json'], { env: { ...env.env, ABUPDATE_HEALTH_DIR: healthDir } });
  assert.equal(committed.json().action, 'committed', committed.stderr);
  const check = await runCli(['check', ...flagsB.map((f) => (f === '1.0.0' ? '2.0.0' : f)), '--json'], { env: env.env });
  assert.equal(check.code, 0, check.stderr);
}

const summary = (nebraska: NebraskaModel) => nebraska.events.map((e) => `${e.type}/${e.result} ${e.outcome} -> ${e.statusAfter}`);

test('custom app id through Nebraska\'s rules: Downloading, Downloaded, Installed (800/1), then Complete on 3/2 after the commit', async (t) => {
  const { env, nebraska } = await scene(t, CUSTOM_APP_ID);
  const flagsB = await installAndReboot(env);
  // While the update waits for the reboot the instance is Installed and the update still in progress.
  assert.equal(nebraska.instances.get(TEST_MACHINE_ID)?.status, 'Installed');
  assert.equal(nebraska.instances.get(TEST_MACHINE_ID)?.updateInProgress, true);
  await commitAndCheck(t, env, flagsB);
  assert.deepEqual(summary(nebraska), ['13/1 ok -> Downloading', '14/1 ok -> Downloaded', '800/1 ok -> Installed', '3/2 ok -> Complete']);
  const instance = nebraska.instances.get(TEST_MACHINE_ID);
  assert.deepEqual(instance?.history, ['UpdateGranted', 'Downloading', 'Downloaded', 'Installed', 'Complete']);
  assert.equal(instance?.version, '2.0.0');
  assert.equal(instance?.updateInProgress, false);
  // Nothing abupdate sent was refused (no ErrNoUpdateInProgress), and the ping-only request on the same boot
  // avoided Nebraska's error-updateInProgressOnInstance.
  assert.ok(env.omaha.requests.every((r) => r.answer !== 'error-updateInProgressOnInstance'));
});

test('custom app id through Nebraska\'s rules: a rollback (3/0 errorcode 44) reaches Nebraska and the instance shows Error', async (t) => {
  const { env, nebraska } = await scene(t, CUSTOM_APP_ID);
  await runCli(['update', ...env.flags], { env: env.env });
  // Rebooted, but back on 1.0.0 (slot B failed): the first check reports the rollback.
  await writeFile(env.bootIdPath, '88888888-2222-3333-4444-555555555555\n');
  env.omaha.setPackage(null);
  const check = await runCli(['check', ...env.flags, '--json'], { env: env.env });
  assert.equal(check.code, 0, check.stderr);
  assert.deepEqual(summary(nebraska), ['13/1 ok -> Downloading', '14/1 ok -> Downloaded', '800/1 ok -> Installed', '3/0 ok -> Error']);
  assert.equal(env.omaha.events.at(-1)?.errorCode, 44);
  assert.equal(nebraska.instances.get(TEST_MACHINE_ID)?.updateInProgress, false);
});

test('a custom app id sending 3/1 after the install (the old sequence) is marked Complete early and its rollback is dropped by Nebraska\'s rules', () => {
  // The responder really applies the rule that made 800/1 necessary.
  const nebraska = createNebraskaModel();
  const app = { machineId: 'm', appId: CUSTOM_APP_ID, version: '1.0.0', versionAtLeast: () => false };
  nebraska.ping(app);
  assert.equal(nebraska.updateCheck(app, '2.0.0'), 'ok');
  for (const [type, result] of [[13, 1], [14, 1], [3, 1], [3, 0]] as const) nebraska.event(app, { type, result, appVersion: '1.0.0', machineId: 'm' });
  assert.deepEqual(summary(nebraska), ['13/1 ok -> Downloading', '14/1 ok -> Downloaded', '3/1 ok -> Complete', '3/0 ErrNoUpdateInProgress -> Complete']);
});

test('Flatcar\'s app id through Nebraska\'s rules: 3/1 after the install changes nothing, 3/2 with previousversion completes', async (t) => {
  const { env, nebraska } = await scene(t, `{${FLATCAR_APP_ID}}`);
  const flagsB = await installAndReboot(env);
  assert.equal(nebraska.instances.get(TEST_MACHINE_ID)?.status, 'Downloaded');
  await commitAndCheck(t, env, flagsB);
  assert.deepEqual(summary(nebraska), ['13/1 ok -> Downloading', '14/1 ok -> Downloaded', '3/1 ok -> Downloaded', '3/2 ok -> Complete']);
  assert.equal(nebraska.events.at(-1)?.previousVersion, '1.0.0');
  assert.deepEqual(nebraska.instances.get(TEST_MACHINE_ID)?.history, ['UpdateGranted', 'Downloading', 'Downloaded', 'Complete']);
});
