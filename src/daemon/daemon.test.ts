// End-to-end tests of `abupdate daemon` against the test Omaha server and a static channel on 127.0.0.1,
// installing through the real engine into a disk image file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor, startDaemon, TEST_BOOT_ID, TEST_MACHINE_ID, type DaemonEnv } from '../../fixtures/daemon-env.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { bootedSnapshot, hashRange } from '../../fixtures/install-env.js';
import { makeRebootRecorder } from '../../fixtures/reboot-recorder.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { simulateBoot } from '../../partition/boot-control.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import { loadEngineState } from '../engine/state-store.js';
import { controlRequest } from './control-client.js';
import { controlSocketPath } from './control.js';

async function imageHash(env: DaemonEnv): Promise<string> {
  const size = (await stat(env.image)).size;
  return hashRange(env.image, 0, size);
}

const APP_ATTRIBUTES = ['appid', 'version', 'track', 'bootid', 'oem', 'oemversion', 'alephversion', 'machineid', 'machinealias', 'lang', 'board', 'hardware_class', 'delta_okay'];

test('daemon with Omaha: no update, then an update appears and is installed through the engine with events 13, 14, 800/1', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const before = await bootedSnapshot(env);
  const daemon = await startDaemon(t, env);
  await waitFor('the first scheduled check', () => env.omaha.requests.length >= 1);
  assert.equal(env.omaha.requests[0]?.answer, 'noupdate');
  assert.equal(env.omaha.requests[0]?.request.installsource, 'scheduler');

  env.omaha.setPackage(omahaPackageFor(env));
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  assert.equal(update.json().outcome, 'installed');
  assert.equal(update.json().via, 'daemon');
  assert.equal(update.json().offer.version, '2.0.0');

  // The engine put the image into slot B and made it boot next; slot A did not change.
  const state = await loadEngineState(env.stateDir);
  assert.equal(state.state, 'UPDATED_NEED_REBOOT');
  assert.equal(state.slots.B?.version, '2.0.0');
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, (await stat(env.image)).size), await imageHash(env));
  assert.deepEqual(await bootedSnapshot(env), before);
  await assert.rejects(stat(`${env.stateDir}/download`), 'no staged copy of the bundle');
  const flagsB = await cgptFlags(env.disk.path, env.disk.slots.B.partition);
  assert.equal(flagsB.tries, 1);
  assert.ok(flagsB.priority > (await cgptFlags(env.disk.path, env.disk.slots.A.partition)).priority);

  // The server saw 13/1, 14/1, 3/1 in order, from version 1.0.0, and every request carried every attribute.
  assert.deepEqual(
    env.omaha.events.map((e) => [e.type, e.result, e.appVersion, e.machineId]),
    [
      [13, 1, '1.0.0', TEST_MACHINE_ID],
      [14, 1, '1.0.0', TEST_MACHINE_ID],
      [800, 1, '1.0.0', TEST_MACHINE_ID],
    ],
  );
  for (const request of env.omaha.requests) {
    assert.deepEqual(Object.keys(request.app).sort(), [...APP_ATTRIBUTES].sort());
    assert.equal(request.request.protocol, '3.0');
    assert.match(request.request.version ?? '', /^abupdate-\d+\.\d+\.\d+/);
    assert.equal(request.request.ismachine, '1');
    assert.equal(request.app.appid, env.omaha.appId);
    assert.equal(request.app.track, 'stable');
    assert.equal(request.app.bootid, `{${TEST_BOOT_ID}}`);
    assert.equal(request.app.machineid, TEST_MACHINE_ID);
    assert.equal(request.app.alephversion, '1.0.0');
    assert.equal(request.contentType, 'text/xml; charset=utf-8');
  }
  const check = env.omaha.requests.find((r) => r.updatecheck && r.request.installsource === 'ondemandupdate');
  assert.ok(check, 'the triggered check went out as ondemandupdate');

  // Status through the control API, then a clean stop.
  const status = await controlRequest<{ engine: { state: string }; scheduler: { lastCycle: { outcome: string } } }>(env.runDir, 'GET', '/status');
  assert.equal(status.engine.state, 'UPDATED_NEED_REBOOT');
  assert.equal(status.scheduler.lastCycle.outcome, 'installed');
  const stopped = await daemon.stop();
  assert.equal(stopped.code, 0, stopped.stderr);
  await assert.rejects(stat(controlSocketPath(env.runDir)));
  assert.match(stopped.stderr, /info: update installed; the new slot boots next version=2\.0\.0/);
});

test('daemon with a static channel index: installs the bundle the signed index names', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const index = await runCli(['bundle', 'index', '--bundle', env.bundle.path, '--url', 'bundle.tar', '--key', env.keys.privatePath, '--out', `${env.dir}/stable.json`]);
  assert.equal(index.code, 0, index.stderr);
  env.serve('stable.json', `${env.dir}/stable.json`);
  env.serve('stable.json.sig', `${env.dir}/stable.json.sig`);
  await env.writeConfig({ PROTOCOL: 'static', SERVER: `${env.server.origin}/` });
  await startDaemon(t, env);
  await waitFor('the first scheduled check', () => env.server.requests.some((r) => r.path === 'stable.json.sig'));
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  assert.equal(update.json().outcome, 'installed');
  assert.equal(update.json().offer.source, 'static');
  const state = await loadEngineState(env.stateDir);
  assert.equal(state.state, 'UPDATED_NEED_REBOOT');
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, (await stat(env.image)).size), await imageHash(env));
  // Streamed into the slot: no copy of the bundle in the state dir, and the bundle went over the wire once.
  await assert.rejects(stat(`${env.stateDir}/download`));
  const bundleBytes = env.server.requests.filter((r) => r.path === 'bundle.tar').reduce((sum, r) => sum + r.bytes, 0);
  assert.equal(bundleBytes, env.bundleSize);
});

test('daemon survives a misbehaving server: each failure is a clear error, a backoff and no install; then it recovers', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const before = await bootedSnapshot(env);
  const slotB = () => hashRange(env.disk.path, env.disk.slots.B.offset, 1024 * 1024);
  let untouchedB = await slotB();
  env.omaha.setPackage(omahaPackageFor(env));
  env.omaha.setMode({ kind: 'hang' });
  await startDaemon(t, env, ['--request-timeout', '500ms']);
  await waitFor('the first (hanging) check to time out', async () => {
    const s = await controlRequest<{ scheduler: { consecutiveFailures: number } }>(env.runDir, 'GET', '/status');
    return s.scheduler.consecutiveFailures >= 1;
  });

  const cases = [
    [{ kind: 'malformed-xml' }, 'ERR_OMAHA_XML'],
    [{ kind: 'app-status', status: 'error-maxUpdatesPerPeriodLimitReached' }, 'ERR_OMAHA_STATUS'],
    [{ kind: 'updatecheck-status', status: 'error-internal' }, 'ERR_OMAHA_STATUS'],
    [{ kind: 'oversized', bytes: 2 * 1024 * 1024 }, 'ERR_RESPONSE_TOO_LARGE'],
    [{ kind: 'wrong-sha256' }, 'ERR_OMAHA_HASH'],
    [{ kind: 'hang' }, 'ERR_TIMEOUT'],
  ] as const;
  let failures = 1;
  for (const [mode, code] of cases) {
    env.omaha.setMode(mode);
    const result = await runCli(['update', ...env.flags, '--json'], { env: env.env });
    assert.equal(result.code, 1, `${mode.kind}: ${result.stdout}`);
    assert.equal(result.json().error.code, code, mode.kind);
    assert.match(result.stderr, new RegExp(`\\[${code}\\]`));
    failures += 1;
    const status = await controlRequest<{ scheduler: { consecutiveFailures: number; nextCheckAt?: number }; engine: { state: string } }>(env.runDir, 'GET', '/status');
    assert.equal(status.scheduler.consecutiveFailures, failures, `${mode.kind}: the failures add up (backoff grows)`);
    assert.notEqual(status.engine.state, 'UPDATED_NEED_REBOOT');
    if (mode.kind === 'wrong-sha256') {
      // Signature and chunks were fine, so the engine streamed the image into slot B; the whole-bundle hash then
      // refused it before the flip: B does not boot, its first chunk is zeros again, the resume state is gone.
      assert.equal((await cgptFlags(env.disk.path, env.disk.slots.B.partition)).priority, 0);
      assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, 65536), createHash('sha256').update(Buffer.alloc(65536)).digest('hex'), 'first chunk of B zeroed');
      assert.equal((await loadEngineState(env.stateDir)).install, null);
      untouchedB = await slotB();
    } else {
      assert.equal(await slotB(), untouchedB, `${mode.kind}: nothing was written to slot B`);
    }
  }
  // The wrong sha256 was reported to the server as an error event (PayloadHashMismatch = 10); no copy of the bundle was staged.
  assert.deepEqual(env.omaha.events.map((e) => `${e.type}/${e.result}/${e.errorCode ?? ''}`), ['13/1/', '3/0/10']);
  await assert.rejects(stat(`${env.stateDir}/download`));
  // The backoff is visible: the next scheduled check is at least the base retry delay away (1 min ± 25%, doubled per failure).
  await waitFor('the loop to schedule the next check', async () => {
    const s = await controlRequest<{ scheduler: { nextCheckAt?: number } }>(env.runDir, 'GET', '/status');
    return s.scheduler.nextCheckAt !== undefined && s.scheduler.nextCheckAt - Date.now() > 45_000;
  });

  env.omaha.setMode({ kind: 'normal' });
  const ok = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.json().outcome, 'installed');
  const status = await controlRequest<{ scheduler: { consecutiveFailures: number } }>(env.runDir, 'GET', '/status');
  assert.equal(status.scheduler.consecutiveFailures, 0, 'a success resets the backoff');
  assert.deepEqual(await bootedSnapshot(env), before);
});

test('abupdate daemon with a bad update.conf exits 78 (EX_CONFIG) naming file and line, before creating the run or state dir', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  await env.writeConfig({ CHECK_INTERVAL: 'often' });
  const result = await runCli(['daemon', ...env.flags], { env: env.env });
  assert.equal(result.code, 78);
  assert.match(result.stderr, new RegExp(`Cannot use config ${env.configPath.replace(/[.]/g, '\\.')}:11: CHECK_INTERVAL="often" is not a duration; allowed: .* \\[ERR_CONFIG\\]`));
  await assert.rejects(stat(env.runDir));
  await assert.rejects(stat(env.stateDir));
  assert.equal(env.omaha.requests.length, 0);
});

test('abupdate check works without a daemon (directly, same requests) and through one', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  env.omaha.setPackage(omahaPackageFor(env));
  const direct = await runCli(['check', ...env.flags, '--json'], { env: env.env });
  assert.equal(direct.code, 0, direct.stderr);
  assert.deepEqual([direct.json().via, direct.json().outcome, direct.json().offer.version], ['direct', 'available', '2.0.0']);
  const human = await runCli(['check', ...env.flags], { env: env.env });
  assert.match(human.stdout, /^Update available: 2\.0\.0 \(.*\) at http:\/\/127\.0\.0\.1:\d+\/bundle\.tar$/m);
  await startDaemon(t, env, ['--first-check-delay', '1h']);
  const via = await runCli(['check', ...env.flags, '--json'], { env: env.env });
  assert.deepEqual([via.json().via, via.json().outcome], ['daemon', 'available']);
  const checks = env.omaha.requests.filter((r) => r.request.installsource === 'ondemandupdate');
  assert.equal(checks.length, 3);
  for (const r of checks) assert.deepEqual(Object.keys(r.app).sort(), [...APP_ATTRIBUTES].sort());
  assert.equal((await loadEngineState(env.stateDir)).state, 'IDLE', 'check installs nothing');
});

test('daemon after the reboot reports 3/2 with previousversion; back on the old version it reports a rollback (3/0, 44)', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  env.omaha.setPackage(omahaPackageFor(env));
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  assert.equal(update.json().via, 'direct');
  assert.deepEqual(env.omaha.events.map((e) => `${e.type}/${e.result}`), ['13/1', '14/1', '800/1']);

  // Same boot: nothing to report yet, and the check is a ping only.
  const same = await runCli(['check', ...env.flags, '--json'], { env: env.env });
  assert.deepEqual([same.json().outcome, same.json().pendingVersion], ['reboot-pending', '2.0.0']);
  assert.equal(env.omaha.events.length, 3);

  // "Reboot" into slot B (new boot id; the bootloader spends B's one try).
  await writeFile(env.bootIdPath, '99999999-2222-3333-4444-555555555555\n');
  assert.equal((await simulateBoot((await openGptprioBootControl(env.disk.path)).control)).slot, 'B');
  const flagsB = env.flags.map((f) => (f === 'A' ? 'B' : f));
  // On trial, not committed yet: the daemon reports nothing (the health check may still fail).
  const before = env.omaha.requests.length;
  const early = await startDaemon(t, { ...env, flags: flagsB });
  await waitFor('the first check on trial', () => env.omaha.requests.length > before);
  assert.equal(env.omaha.events.length, 3, 'no 3/2 before post-boot commits the slot');
  await early.stop();
  // post-boot commits B (no health checks here); the next daemon start carries 3/2 previousversion=1.0.0, once.
  const healthDir = await makeTempDir(t);
  const committed = await runCli(['post-boot', '--config', env.configPath, '--booted', 'B', '--json'], { env: { ...env.env, ABUPDATE_HEALTH_DIR: healthDir } });
  assert.equal(committed.json().action, 'committed', committed.stderr);
  await startDaemon(t, { ...env, flags: flagsB });
  await waitFor('the first check after the commit', () => env.omaha.events.length >= 4);
  const complete = env.omaha.requests.find((r) => r.events.some((e) => e.type === 3 && e.result === 2));
  assert.ok(complete?.updatecheck, 'the 3/2 event rides on an update check, as update_engine sends it');
  assert.deepEqual(complete?.events, [{ type: 3, result: 2, previousVersion: '1.0.0', appVersion: '2.0.0', machineId: TEST_MACHINE_ID }]);
  assert.equal(complete?.answer, 'noupdate');
  assert.equal(complete?.app.alephversion, '1.0.0', 'alephversion stays the first version this host ran');
});

test('daemon reports a rollback (3/0 errorcode 44) when the host is back on the old version after a reboot', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  env.omaha.setPackage(omahaPackageFor(env));
  assert.equal((await runCli(['update', ...env.flags], { env: env.env })).code, 0);
  await writeFile(env.bootIdPath, '88888888-2222-3333-4444-555555555555\n');
  env.omaha.setPackage(null);
  await startDaemon(t, env);
  await waitFor('the rollback report', () => env.omaha.events.length >= 4);
  assert.deepEqual(env.omaha.events.map((e) => `${e.type}/${e.result}/${e.errorCode ?? ''}`), ['13/1/', '14/1/', '800/1/', '3/0/44']);
});

test('daemon applies REBOOT_STRATEGY=reboot after an install: REBOOT_COMMAND runs once', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const recorder = await makeRebootRecorder(env.dir);
  await env.writeConfig({ REBOOT_STRATEGY: 'reboot', REBOOT_COMMAND: recorder.command('host-1').join(' ') });
  env.omaha.setPackage(omahaPackageFor(env));
  await startDaemon(t, env);
  await waitFor('the reboot command', async () => (await recorder.rebooted()).length > 0);
  assert.deepEqual(await recorder.rebooted(), ['host-1']);
  assert.equal((await loadEngineState(env.stateDir)).state, 'UPDATED_NEED_REBOOT', 'the reboot comes after the install');
});

test('daemon with BOOTLOADER=grubenv installs and flips the GRUB environment block (as grub-editenv reads it)', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const grubenv = `${env.dir}/grubenv`;
  await execa('grub-editenv', [grubenv, 'create']);
  await execa('grub-editenv', [grubenv, 'set', 'ORDER=A', 'A_OK=1', 'A_TRY=0']);
  await env.writeConfig({ BOOTLOADER: 'grubenv', GRUBENV: grubenv });
  env.omaha.setPackage(omahaPackageFor(env));
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  assert.equal(update.json().outcome, 'installed');
  const vars = Object.fromEntries((await execa('grub-editenv', [grubenv, 'list'])).stdout.split('\n').map((l) => l.split('=', 2)));
  assert.equal(vars.ORDER, 'B A');
  assert.equal(vars.A_OK, '1');
  assert.equal(vars.B_TRY, '1');
  assert.notEqual(vars.B_OK, '1');
});

test('daemon with SERVER=disabled keeps answering status; check and update through it say checking is disabled', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  await env.writeConfig({ SERVER: 'disabled' });
  await startDaemon(t, env);
  const status = await controlRequest<{ checking: string; engine: { state: string } }>(env.runDir, 'GET', '/status');
  assert.deepEqual([status.checking, status.engine.state], ['disabled', 'IDLE']);
  const check = await runCli(['check', ...env.flags], { env: env.env });
  assert.equal(check.code, 1);
  assert.match(check.stderr, /Cannot check for updates: SERVER is "disabled" \[ERR_CONFIG\]/);
  assert.equal(env.omaha.requests.length, 0);
});
