// The lifecycle commands end to end through the CLI: install, "reboot", post-boot, rollback, clear-bad.

import assert from 'node:assert/strict';
import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../../fixtures/cli.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { makeInstallEnv } from '../../fixtures/install-env.js';
import { holdRunLock } from '../../fixtures/lock-holder.js';
import { makeRebootRecorder } from '../../fixtures/reboot-recorder.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { simulateBoot } from '../../partition/boot-control.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';

async function scene(t: { after(fn: () => unknown): void }, healthScript: string) {
  const dir = await makeTempDir(t);
  const env = await makeInstallEnv(t, dir);
  const healthDir = path.join(dir, 'health.d');
  await mkdir(healthDir);
  await writeFile(path.join(healthDir, '10-app'), `#!/bin/sh\n${healthScript}\n`);
  await chmod(path.join(healthDir, '10-app'), 0o755);
  const recorder = await makeRebootRecorder(dir);
  const conf = path.join(dir, 'update.conf');
  await writeFile(conf, [`HEALTH_DIR=${healthDir}`, 'HEALTH_TIMEOUT=1s', `REBOOT_COMMAND=${recorder.command('host').join(' ')}`, ''].join('\n'));
  // --booted comes last so a test can override it for the next "boot".
  const common = (booted: 'A' | 'B') => ['--disk', env.disk.path, '--state-dir', env.stateDir, '--run-dir', env.runDir, '--config', conf, '--booted', booted];
  const boot = async () => (await simulateBoot((await openGptprioBootControl(env.disk.path)).control)).slot;
  return { env, recorder, common, boot };
}

test('abupdate post-boot commits a healthy new slot and says so', async (t) => {
  const { env, common, boot, recorder } = await scene(t, 'exit 0');
  assert.equal((await runCli(['install', env.url, ...env.options])).code, 0);
  assert.equal(await boot(), 'B');
  // On trial: the boot spent B's one try, B is not committed; status calls it trying, not bad.
  const trial = await runCli(['status', ...common('B'), '--json']);
  assert.deepEqual(trial.json().slots.map((s: { name: string; state: string }) => [s.name, s.state]), [['A', 'good'], ['B', 'trying']]);
  assert.equal(trial.json().daemon, null);
  assert.match((await runCli(['status', ...common('B')])).stdout, /Daemon: not running/);
  const result = await runCli(['post-boot', ...common('B'), '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.json().action, 'committed');
  assert.equal(result.json().version, '2.0.0');
  assert.deepEqual(await cgptFlags(env.disk.path, 3), { priority: 2, tries: 0, successful: true });
  assert.deepEqual(await recorder.rebooted(), []);
  const human = await runCli(['post-boot', ...common('B')]);
  assert.match(human.stdout, /Slot B \(version 2\.0\.0\) is committed; nothing to do\./);
});

const exists = (file: string) => access(file).then(() => true, () => false);

test('kured\'s sentinel without a daemon: "abupdate install" creates REBOOT_SENTINEL once the new slot boots next, post-boot\'s commit removes it; a rollback of a waiting update removes it too', async (t) => {
  const { env, common, boot } = await scene(t, 'exit 0');
  const sentinel = path.join(env.dir, 'reboot-required');
  const withSentinel = { env: { ABUPDATE_REBOOT_SENTINEL: sentinel } };
  assert.equal(await exists(sentinel), false);
  const installed = await runCli(['install', env.url, ...env.options], withSentinel);
  assert.equal(installed.code, 0, installed.stderr);
  assert.equal(await exists(sentinel), true, 'the CLI install created the sentinel (no daemon runs)');
  assert.equal(await boot(), 'B');
  const committed = await runCli(['post-boot', ...common('B'), '--json'], withSentinel);
  assert.equal(committed.code, 0, committed.stderr);
  assert.equal(committed.json().action, 'committed');
  assert.equal(await exists(sentinel), false, 'the commit removed it');

  // Path two: an update installed and waiting, dropped by "abupdate rollback" (the booted slot B stays first).
  const dir2 = await makeTempDir(t);
  const second = await makeInstallEnv(t, dir2);
  assert.equal((await runCli(['install', second.url, ...second.options], withSentinel)).code, 0);
  assert.equal(await exists(sentinel), true);
  const rolled = await runCli(['rollback', '--disk', second.disk.path, '--state-dir', second.stateDir, '--run-dir', second.runDir, '--booted', 'A', '--force', '--json'], withSentinel);
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.equal(await exists(sentinel), false, 'dropping the waiting update removed it');
});

test('abupdate post-boot rolls a failing slot back, reboots, and the version is refused until cleared', async (t) => {
  const { env, common, boot, recorder } = await scene(t, 'echo "app is not answering"; exit 1');
  assert.equal((await runCli(['install', env.url, ...env.options])).code, 0);
  assert.equal(await boot(), 'B');
  const result = await runCli(['post-boot', ...common('B')]);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /failed its health check and is marked bad; rebooting into the other slot/);
  assert.match(result.stdout, /10-app \(exit code 1: app is not answering\)/);
  assert.deepEqual(await recorder.rebooted(), ['host'], 'REBOOT_COMMAND ran although REBOOT_STRATEGY is not set to reboot now');
  assert.equal(await boot(), 'A');

  const again = await runCli(['install', env.url, ...env.options]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /ERR_KNOWN_BAD_VERSION/);

  const status = await runCli(['status', ...common('A'), '--json']);
  assert.deepEqual(status.json().badVersions, ['2.0.0']);
  assert.match((await runCli(['status', ...common('A')])).stdout, /Bad versions \(not installed again\): 2\.0\.0; "abupdate clear-bad" forgets them/);
  const cleared = await runCli(['clear-bad', '2.0.0', '--state-dir', env.stateDir, '--run-dir', env.runDir, '--json']);
  assert.deepEqual(cleared.json(), { cleared: ['2.0.0'], badVersions: [] });
  assert.deepEqual((await runCli(['status', ...common('A'), '--json'])).json().badVersions, []);
  const unknown = await runCli(['clear-bad', '9.9.9', '--state-dir', env.stateDir, '--run-dir', env.runDir]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Cannot clear version "9\.9\.9": it is not recorded as bad/);
  assert.equal((await runCli(['install', env.url, ...env.options])).code, 0, 'installable again once cleared');
});

test('abupdate rollback refuses an empty other slot, and after a commit brings the old slot back with --reboot', async (t) => {
  const { env, common, boot, recorder } = await scene(t, 'exit 0');
  const refused = await runCli(['rollback', ...common('A'), '--json']);
  assert.equal(refused.code, 1);
  assert.equal(refused.json().error.code, 'ERR_ROLLBACK');
  assert.deepEqual(await cgptFlags(env.disk.path, 3), { priority: 0, tries: 0, successful: false });

  assert.equal((await runCli(['install', env.url, ...env.options])).code, 0);
  assert.equal(await boot(), 'B');
  assert.equal((await runCli(['post-boot', ...common('B')])).code, 0);
  const rolled = await runCli(['rollback', ...common('B'), '--reboot']);
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.match(rolled.stdout, /Slot A boots next; slot B stays the fallback\.\nRebooting now\./);
  assert.deepEqual(await recorder.rebooted(), ['host']);
  assert.equal(await boot(), 'A');
  assert.deepEqual(await cgptFlags(env.disk.path, 2), { priority: 2, tries: 0, successful: true });
});

test('while an install holds the run lock, mark-bad, rollback --force and clear-bad wait, then refuse with ERR_LOCKED naming it; flags unchanged; they run once it is gone', async (t) => {
  const { env, common } = await scene(t, 'exit 0');
  assert.equal((await runCli(['install', env.url, ...env.options])).code, 0);
  const before = [await cgptFlags(env.disk.path, 2), await cgptFlags(env.disk.path, 3)];
  assert.deepEqual(before[1], { priority: 2, tries: 1, successful: false });
  const markArgs = ['--disk', env.disk.path, '--booted', 'A', '--run-dir', env.runDir];
  // A live process that is not us holds the lock, as a running install would.
  const holder = await holdRunLock(env.runDir, 'install http://updates/b.bundle');
  t.after(() => holder.kill());
  const refused = await Promise.all([
    runCli(['mark-bad', 'B', ...markArgs, '--json']),
    runCli(['rollback', '--force', ...common('A'), '--json']),
    runCli(['clear-bad', '--state-dir', env.stateDir, '--run-dir', env.runDir, '--json']),
  ]);
  for (const r of refused) {
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.json().error.code, 'ERR_LOCKED');
    assert.match(r.json().error.message, new RegExp(`held by pid ${holder.pid} \\("install http://updates/b\\.bundle"\\)`));
  }
  assert.deepEqual([await cgptFlags(env.disk.path, 2), await cgptFlags(env.disk.path, 3)], before, 'no flag written while locked');
  // A holder that goes away within the wait: the command waits for it, then runs.
  const waiting = runCli(['mark-bad', 'B', ...markArgs, '--json']);
  setTimeout(() => holder.kill(), 1000);
  const done = await waiting;
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(await cgptFlags(env.disk.path, 3), { priority: 0, tries: 0, successful: false });
});
