// The daemon's reboot after an install, for the strategies other than a plain `reboot`: `off`, a reboot
// window (closed, open), `etcd-lock` against a real etcd (Debian's etcd-server) and `fleetlock` against the
// test FleetLock server, each with the lock held by another host. The reboot command is a recorder script; everything else is the real daemon and engine.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { daemonMetrics, makeDaemonEnv, omahaPackageFor, startDaemon, TEST_MACHINE_ID, type DaemonEnv } from '../../fixtures/daemon-env.js';
import { useEtcdForFile, type EtcdCluster } from '../../fixtures/etcd.js';
import { startFleetlockServer } from '../../fixtures/fleetlock-server.js';
import { makeRebootRecorder, type RebootRecorder } from '../../fixtures/reboot-recorder.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { loadEngineState } from '../engine/state-store.js';
import { fleetlockPreReboot, fleetlockSteadyState } from '../reboot/fleetlock.js';
import { fleetlockNodeId } from '../reboot/fleetlock-id.js';

const getEtcd = useEtcdForFile();
let etcd: EtcdCluster;
before(async () => {
  etcd = await getEtcd();
});

/** A daemon scene whose update.conf has SETTINGS and a recorder as REBOOT_COMMAND, with v2 offered by Omaha. */
async function scene(t: { after(fn: () => Promise<void> | void): void }, settings: Record<string, string>): Promise<{ env: DaemonEnv; recorder: RebootRecorder }> {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const recorder = await makeRebootRecorder(env.dir);
  await env.writeConfig({ REBOOT_COMMAND: recorder.command(TEST_MACHINE_ID).join(' '), ...settings });
  env.omaha.setPackage(omahaPackageFor(env));
  return { env, recorder };
}

async function installed(env: DaemonEnv): Promise<void> {
  await waitFor('the install', async () => (await loadEngineState(env.stateDir)).state === 'UPDATED_NEED_REBOOT', 20_000);
}

/** HH:MM in local time (as the daemon reads REBOOT_WINDOW_START), HOURS from now. */
function localTime(hoursFromNow: number): string {
  const d = new Date(Date.now() + hoursFromNow * 3_600_000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

test('daemon with REBOOT_STRATEGY=off installs and does not reboot; its --json log says the update waits for the next reboot', async (t) => {
  const { env, recorder } = await scene(t, { REBOOT_STRATEGY: 'off' });
  const daemon = await startDaemon(t, env, ['--json']);
  await installed(env);
  await sleep(500);
  const { stderr } = await daemon.stop();
  assert.deepEqual(await recorder.rebooted(), []);
  const entries = stderr.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: string; message: string; fields?: Record<string, unknown> });
  assert.ok(entries.some((e) => e.level === 'info' && e.message === 'reboot: REBOOT_STRATEGY=off, not rebooting; the update takes effect at the next reboot'), stderr);
  assert.ok(entries.some((e) => e.message.startsWith('abupdate daemon starting') && e.fields?.['protocol'] === 'omaha'), stderr);
});

test('daemon with a closed reboot window installs, then waits for the window instead of rebooting', async (t) => {
  const { env, recorder } = await scene(t, { REBOOT_STRATEGY: 'reboot', REBOOT_WINDOW_START: localTime(2), REBOOT_WINDOW_LENGTH: '30m' });
  const daemon = await startDaemon(t, env);
  await installed(env);
  await sleep(500);
  const { stderr } = await daemon.stop();
  assert.deepEqual(await recorder.rebooted(), [], 'no reboot outside the window');
  assert.match(stderr, /reboot: waiting (1h59m\d+s|2h) for the reboot window \(every day \d\d:\d\d local time for 30m\)\n/);
});

test('daemon with an open reboot window reboots right after the install', async (t) => {
  const { env, recorder } = await scene(t, { REBOOT_STRATEGY: 'reboot', REBOOT_WINDOW_START: localTime(-0.5), REBOOT_WINDOW_LENGTH: '2h' });
  await startDaemon(t, env);
  await waitFor('the reboot command', async () => (await recorder.rebooted()).length > 0, 20_000);
  assert.deepEqual(await recorder.rebooted(), [TEST_MACHINE_ID]);
});

test('daemon with REBOOT_STRATEGY=etcd-lock: no reboot while another host holds the only slot; reboots holding the lock once it is freed', async (t) => {
  const endpoints = etcd.endpoints.join(',');
  const lockArgs = ['--endpoints', endpoints, '--json'];
  const other = await runCli(['reboot-lock', 'lock', 'other-host', ...lockArgs]);
  assert.equal(other.code, 0, other.stderr);
  const { env, recorder } = await scene(t, { REBOOT_STRATEGY: 'etcd-lock', ETCD_ENDPOINTS: endpoints });
  const daemon = await startDaemon(t, env);
  await installed(env);
  await sleep(1000);
  assert.deepEqual(await recorder.rebooted(), [], 'no reboot without the lock');
  assert.deepEqual((await runCli(['reboot-lock', 'status', ...lockArgs])).json().holders, ['other-host']);
  // The other host is done: its post-boot releases the lock. The daemon's next attempt (5 s backoff) takes it.
  assert.equal((await runCli(['reboot-lock', 'unlock', 'other-host', ...lockArgs])).code, 0);
  await waitFor('the reboot command', async () => (await recorder.rebooted()).length > 0, 20_000);
  assert.deepEqual(await recorder.rebooted(), [TEST_MACHINE_ID]);
  assert.deepEqual((await runCli(['reboot-lock', 'status', ...lockArgs])).json().holders, [TEST_MACHINE_ID], 'held through the reboot');
  // The wait is in the metrics: one wait, at least the 5 s backoff before the attempt that took the lock.
  const metrics = await daemonMetrics(env);
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  assert.equal(value('abupdate_reboot_lock_waits_total'), 1, metrics);
  const waited = value('abupdate_reboot_lock_wait_seconds_total');
  assert.ok(waited >= 4.5 && waited < 60, `reboot-lock wait ${waited} s`);
  const promtool = await execa('promtool', ['check', 'metrics'], { input: metrics, reject: false });
  assert.equal(promtool.exitCode, 0, `${promtool.stdout}${promtool.stderr}`);
  const { stderr } = await daemon.stop();
  assert.match(stderr, /reboot: lock busy, not rebooting \(attempt 1\): .*other-host.*; retrying in 5s/);
  assert.match(stderr, /reboot: took the etcd lock/);
  // After the reboot, post-boot on the new slot gives the lock back (tested in the lifecycle); here by hand.
  assert.equal((await runCli(['reboot-lock', 'unlock', TEST_MACHINE_ID, ...lockArgs])).code, 0);
});

test('daemon with REBOOT_STRATEGY=fleetlock: no reboot while the group is full; reboots once the other host reports steady-state', async (t) => {
  // The server checks every request is zincati's, byte for byte; the host is known by zincati's node id.
  const server = await startFleetlockServer(t, { max: 1, zincati: true });
  const nodeId = fleetlockNodeId(TEST_MACHINE_ID);
  const otherId = fleetlockNodeId('fedcba9876543210fedcba9876543210');
  await fleetlockPreReboot({ url: server.url, id: otherId, group: 'workers' });
  const { env, recorder } = await scene(t, { REBOOT_STRATEGY: 'fleetlock', FLEETLOCK_URL: `${server.url}/`, FLEETLOCK_GROUP: 'workers' });
  const daemon = await startDaemon(t, env);
  await installed(env);
  await waitFor('a refused pre-reboot', () => server.requests.some((r) => r.operation === 'pre-reboot' && r.id === nodeId && r.status === 409));
  assert.ok(server.requests.every((r) => r.status !== 400), 'every request was zincati\'s');
  assert.deepEqual(await recorder.rebooted(), [], 'no reboot without a slot');
  await fleetlockSteadyState({ url: server.url, id: otherId, group: 'workers' });
  await waitFor('the reboot command', async () => (await recorder.rebooted()).length > 0, 20_000);
  assert.deepEqual(await recorder.rebooted(), [TEST_MACHINE_ID]);
  assert.deepEqual(server.holders('workers'), [nodeId], 'held through the reboot, under the node id, in the configured group');
  const { stderr } = await daemon.stop();
  assert.match(stderr, /reboot: lock busy, not rebooting \(attempt 1\): .*failed_lock_semaphore_full.*; retrying in 5s/);
});
