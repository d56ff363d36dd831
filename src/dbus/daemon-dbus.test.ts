// The daemon's host API end to end: com.coreos.update1 on a real dbus-daemon (busctl, dbus-monitor), update_engine_client,
// the reboot sentinel and the metrics (promtool), through a real install from the test Omaha server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { daemonMetrics, makeDaemonEnv, omahaPackageFor, startDaemon, type DaemonEnv } from '../../fixtures/daemon-env.js';
import { startTestBus, type TestBus } from '../../fixtures/dbus.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { simulateBoot } from '../../partition/boot-control.js';
import { openGptprioBootControl } from '../../partition/gptprio.js';
import { updateEngineClientMain } from '../cli/update-engine-client.js';
import { controlRequest } from '../daemon/control-client.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import { UPDATE1_INTERFACE, UPDATE1_NAME, UPDATE1_PATH } from './update1.js';

async function scene(t: { after(fn: () => Promise<void> | void): void }) {
  const dir = await makeTempDir(t);
  const bus = await startTestBus(t, dir);
  const env = await makeDaemonEnv(t, dir);
  env.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
  await mkdir(path.join(dir, 'textfile'));
  return { dir, bus, env, sentinel: path.join(dir, 'reboot-required'), textfile: path.join(dir, 'textfile', 'abupdate.prom') };
}

const exists = (file: string) => access(file).then(() => true, () => false);

function busctl(bus: TestBus, member: string) {
  return execa('busctl', [`--address=${bus.address}`, 'call', UPDATE1_NAME, UPDATE1_PATH, UPDATE1_INTERFACE, member], { reject: false });
}

/** Runs update_engine_client in this process with the scene's env. */
async function client(env: DaemonEnv, args: string[], extraEnv: Record<string, string> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await updateEngineClientMain(args, { stdout, stderr, env: { ...process.env, ...env.env, ...extraEnv }, signal: new AbortController().signal });
  return { code, stdout: out, stderr: err };
}

/** The StatusUpdate bodies dbus-monitor printed, in order. */
function statusUpdates(monitorText: string): Array<{ last: number; progress: number; op: string; version: string; size: number }> {
  const found: Array<{ last: number; progress: number; op: string; version: string; size: number }> = [];
  const re = /member=StatusUpdate\n\s+int64 (-?\d+)\n\s+double ([\d.e+-]+)\n\s+string "([^"]*)"\n\s+string "([^"]*)"\n\s+int64 (-?\d+)/g;
  for (const m of monitorText.matchAll(re)) found.push({ last: Number(m[1]), progress: Number(m[2]), op: m[3] ?? '', version: m[4] ?? '', size: Number(m[5]) });
  return found;
}

async function promtool(text: string) {
  const r = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
  return { code: r.exitCode, output: `${r.stdout}${r.stderr}` };
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

test('daemon on D-Bus: GetStatus idle, then AttemptUpdate runs a round whose StatusUpdate signals go CHECKING_FOR_UPDATE .. UPDATED_NEED_REBOOT; sentinel, metrics and counters follow', async (t) => {
  const { bus, env, sentinel, textfile } = await scene(t);
  await startDaemon(t, env);
  await waitFor('the first check', () => env.omaha.requests.length >= 1);
  await waitFor('the daemon on the bus', async () => (await busctl(bus, 'GetStatus')).exitCode === 0);
  await waitFor('the first round to end', async () => !/"UPDATE_STATUS_CHECKING_FOR_UPDATE"/.test((await busctl(bus, 'GetStatus')).stdout));
  const idle = await busctl(bus, 'GetStatus');
  assert.match(idle.stdout.trim(), /^xdssx \d+ 0 "UPDATE_STATUS_IDLE" "0\.0\.0" 0$/);
  assert.equal(await exists(sentinel), false, 'no sentinel while nothing waits for a reboot');
  const before = await daemonMetrics(env);
  assert.equal(metric(before, 'abupdate_installs_total'), 0);
  assert.equal(metric(before, 'abupdate_downloaded_bytes_total'), 0);

  const monitor = execa('dbus-monitor', ['--address', bus.address, `type='signal',interface='${UPDATE1_INTERFACE}',member='StatusUpdate'`], { reject: false });
  let seen = '';
  monitor.stdout?.on('data', (b: Buffer) => (seen += b.toString()));
  t.after(() => void monitor.kill());
  await waitFor('dbus-monitor to start', () => seen.includes('member=NameLost'));

  env.omaha.setPackage(omahaPackageFor(env));
  const attempt = await busctl(bus, 'AttemptUpdate');
  assert.equal(attempt.exitCode, 0, attempt.stderr);
  await waitFor('UPDATED_NEED_REBOOT on the bus', () => seen.includes('"UPDATE_STATUS_UPDATED_NEED_REBOOT"'), 120_000);

  const updates = statusUpdates(seen);
  const ops = updates.map((u) => u.op).filter((op, i, all) => op !== all[i - 1]);
  assert.deepEqual(ops, [
    'UPDATE_STATUS_CHECKING_FOR_UPDATE',
    'UPDATE_STATUS_UPDATE_AVAILABLE',
    'UPDATE_STATUS_DOWNLOADING',
    'UPDATE_STATUS_VERIFYING',
    'UPDATE_STATUS_FINALIZING',
    'UPDATE_STATUS_UPDATED_NEED_REBOOT',
  ]);
  const progress = updates.filter((u) => u.op === 'UPDATE_STATUS_DOWNLOADING').map((u) => u.progress);
  assert.ok(progress.length >= 3, `several progress signals: ${progress.join(', ')}`);
  for (let i = 1; i < progress.length; i++) assert.ok((progress[i] ?? 0) >= (progress[i - 1] ?? 0), `progress rises: ${progress.join(', ')}`);
  assert.ok((progress.at(-1) ?? 0) > (progress[0] ?? 1), 'and does move');
  const last = updates.at(-1);
  assert.equal(last?.version, '2.0.0');
  assert.equal(last?.size, env.bundleSize);
  assert.ok((last?.last ?? 0) > 0, 'last_checked_time is set');

  await waitFor('the sentinel', () => exists(sentinel));
  await waitFor('the round counted', async () => metric(await daemonMetrics(env), 'abupdate_installs_total') === 1);
  const after = await daemonMetrics(env);
  const checked = await promtool(after);
  assert.equal(checked.code, 0, checked.output);
  assert.equal(metric(after, 'abupdate_installs_total'), 1);
  assert.ok(metric(after, 'abupdate_downloaded_bytes_total') >= env.bundleSize - 65536 * 2, 'the bundle bytes were counted');
  assert.match(after, /^abupdate_engine_state\{state="UPDATED_NEED_REBOOT"\} 1$/m);
  assert.match(after, /^abupdate_reboot_needed 1$/m);
  await waitFor('the textfile', async () => /abupdate_installs_total 1/.test(await readFile(textfile, 'utf8').catch(() => '')));
  const fileChecked = await promtool(await readFile(textfile, 'utf8'));
  assert.equal(fileChecked.code, 0, fileChecked.output);
});

test('update_engine_client -update against a test server installs and exits 0; -status matches update_engine_client.cc\'s printf byte for byte, over D-Bus and over the control socket', async (t) => {
  const { dir, bus, env, sentinel } = await scene(t);
  await startDaemon(t, env);
  await waitFor('the daemon on the bus', async () => (await busctl(bus, 'GetStatus')).exitCode === 0);
  env.omaha.setPackage(omahaPackageFor(env));
  const update = await client(env, ['-update']);
  assert.equal(update.code, 0, update.stderr);
  assert.match(update.stdout, /^CURRENT_OP=UPDATE_STATUS_UPDATED_NEED_REBOOT$/m);
  assert.match(update.stderr, /Update succeeded -- reboot needed\./);
  assert.equal(await exists(sentinel), true);

  // The original's printf, compiled, fed the values busctl reads from the same daemon.
  const values = /^xdssx (-?\d+) ([\d.e+-]+) "([^"]*)" "([^"]*)" (-?\d+)$/.exec((await busctl(bus, 'GetStatus')).stdout.trim());
  assert.ok(values, 'busctl read the status');
  const source = path.join(dir, 'status.c');
  await writeFile(
    source,
    `#include <inttypes.h>\n#include <stdio.h>\n#include <stdlib.h>\nint main(int argc, char** argv) {\n  int64_t last_checked_time = strtoll(argv[1], 0, 10);\n  double progress = strtod(argv[2], 0);\n  const char* current_op = argv[3];\n  const char* new_version = argv[4];\n  int64_t new_size = strtoll(argv[5], 0, 10);\n  printf("LAST_CHECKED_TIME=%" PRIi64 "\\nPROGRESS=%f\\nCURRENT_OP=%s\\n"\n         "NEW_VERSION=%s\\nNEW_SIZE=%" PRIi64 "\\n",\n         last_checked_time,\n         progress,\n         current_op,\n         new_version,\n         new_size);\n  return 0;\n}\n`,
  );
  await execa('gcc', ['-o', path.join(dir, 'status'), source]);
  const original = await execa(path.join(dir, 'status'), values.slice(1));
  const viaBus = await client(env, ['-status']);
  assert.equal(viaBus.code, 0, viaBus.stderr);
  assert.equal(viaBus.stdout, `${original.stdout}\n`);
  assert.match(viaBus.stdout, /^CURRENT_OP=UPDATE_STATUS_UPDATED_NEED_REBOOT\nNEW_VERSION=2\.0\.0\n/m);
  // Without a bus: the same answer from the control socket.
  const viaSocket = await client(env, ['--status', `-run_dir=${env.runDir}`], { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path.join(dir, 'no-bus')}` });
  assert.equal(viaSocket.code, 0, viaSocket.stderr);
  assert.equal(viaSocket.stdout, viaBus.stdout);

  // ResetStatus in UPDATED_NEED_REBOOT: the update is dropped and the boot flags go back to the booted slot A (cgpt reads them).
  assert.deepEqual(await cgptFlags(env.disk.path, 3), { priority: 2, tries: 1, successful: false }, 'B boots next, on trial');
  const reset = await client(env, ['-reset_status']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.deepEqual(await cgptFlags(env.disk.path, 3), { priority: 0, tries: 0, successful: false }, 'nothing of the dropped update boots');
  assert.equal((await cgptFlags(env.disk.path, 2)).successful, true);
  assert.ok((await cgptFlags(env.disk.path, 2)).priority > 0, 'the booted, committed slot A is the one that boots');
  assert.match((await busctl(bus, 'GetStatus')).stdout, /"UPDATE_STATUS_IDLE" "0\.0\.0" 0/);
  assert.equal(await exists(sentinel), false, 'the sentinel went with the update');
  const status = await runCli(['status', '--config', env.configPath, '--booted', 'A', '--json'], { env: env.env });
  assert.equal(status.code, 0, status.stderr);
  assert.equal(status.json().state, 'IDLE');
  assert.equal(status.json().pendingReboot, false);
});

test('ResetStatus after a failed round leaves the daemon idle; the failure is counted by error code', async (t) => {
  const { bus, env } = await scene(t);
  await startDaemon(t, env);
  await waitFor('the daemon on the bus', async () => (await busctl(bus, 'GetStatus')).exitCode === 0);
  // The server states a SHA-256 the bundle does not have: the round fails.
  env.omaha.setPackage({ ...omahaPackageFor(env), sha256: Buffer.alloc(32, 7).toString('base64') });
  const update = await client(env, ['-update']);
  // update_engine_client.cc's CompleteUpdateSource() exits 0 at UPDATE_STATUS_IDLE, which is how a failed round ends.
  assert.equal(update.code, 0, `${update.stdout}${update.stderr}`);
  assert.match(update.stdout, /^CURRENT_OP=UPDATE_STATUS_REPORTING_ERROR_EVENT$/m);
  assert.match(update.stderr, /The update round failed/);
  const reset = await client(env, ['-reset_status']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.match((await busctl(bus, 'GetStatus')).stdout, /"UPDATE_STATUS_IDLE" "0\.0\.0" 0/);
  const text = await daemonMetrics(env);
  assert.match(text, /^abupdate_failures_total\{code="ERR_OMAHA_HASH"\} 1$/m);
  assert.equal((await promtool(text)).code, 0);
});

test('the reboot sentinel appears after an install and disappears after the commit (post-boot in the new slot)', async (t) => {
  const { env, sentinel } = await scene(t);
  const daemon = await startDaemon(t, env);
  env.omaha.setPackage(omahaPackageFor(env));
  const update = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(update.code, 0, update.stderr);
  await waitFor('the sentinel', () => exists(sentinel));
  await daemon.stop();
  // The reboot: the bootloader picks B and spends its try; post-boot in B runs the (empty) health checks and commits.
  assert.equal((await simulateBoot((await openGptprioBootControl(env.disk.path)).control)).slot, 'B');
  assert.equal(await exists(sentinel), true, 'a sentinel on a persistent path outlives the "reboot"');
  const healthDir = await makeTempDir(t);
  const postBoot = await runCli(['post-boot', '--config', env.configPath, '--booted', 'B', '--json'], { env: { ...env.env, ABUPDATE_HEALTH_DIR: healthDir } });
  assert.equal(postBoot.code, 0, postBoot.stderr);
  assert.equal(postBoot.json().action, 'committed');
  assert.equal(await exists(sentinel), false, 'the sentinel is gone once the new slot is committed');
  const counters = JSON.parse(await readFile(path.join(env.stateDir, 'metrics.json'), 'utf8'));
  assert.equal(counters.healthChecks.passed, 1);
});

test('update_engine_client -watch_for_updates prints each StatusUpdate as the original logs it; -check_for_update starts the round', async (t) => {
  const { bus, env } = await scene(t);
  await startDaemon(t, env);
  await waitFor('the daemon on the bus', async () => (await busctl(bus, 'GetStatus')).exitCode === 0);
  env.omaha.setPackage(omahaPackageFor(env));
  const stop = new AbortController();
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const watching = updateEngineClientMain(['-watch_for_updates'], { stdout, stderr, env: { ...process.env, ...env.env }, signal: stop.signal });
  await waitFor('the watch to subscribe', () => err.includes('Watching for status updates.'));
  const check = await client(env, ['-check_for_update']);
  assert.equal(check.code, 0, check.stderr);
  await waitFor('UPDATED_NEED_REBOOT in the watch', () => out.includes('current_operation: UPDATE_STATUS_UPDATED_NEED_REBOOT'), 120_000);
  stop.abort(Object.assign(new Error('stopped by SIGINT'), { data: { signal: 'SIGINT' } }));
  assert.equal(await watching, 130, 'it "should never return": the original ends only by the signal (128 + SIGINT)');
  assert.match(out, /^Got status update:\n  last_checked_time: \d+\n  progress: 0\n  current_operation: UPDATE_STATUS_CHECKING_FOR_UPDATE\n  new_version: 0\.0\.0\n  new_size: 0$/m);
  assert.match(out, /  progress: 0\.\d+\n  current_operation: UPDATE_STATUS_DOWNLOADING\n  new_version: 2\.0\.0\n/);
});

/** One reading of the three views of the status, taken one after the other while the round stands still. */
async function threeViews(bus: TestBus, env: DaemonEnv) {
  const call = await busctl(bus, 'GetStatus');
  assert.equal(call.exitCode, 0, call.stderr);
  const m = /^xdssx (-?\d+) ([\d.e+-]+) "([^"]*)" "([^"]*)" (-?\d+)$/.exec(call.stdout.trim());
  assert.ok(m, `busctl printed the five values: ${call.stdout}`);
  const dbus = { lastCheckedTime: Number(m[1]), progress: Number(m[2]), currentOperation: m[3], newVersion: m[4], newSize: Number(m[5]) };
  const socket = await controlRequest<DaemonStatus>(env.runDir, 'GET', '/status');
  const cli = await runCli(['status', '--config', env.configPath, '--booted', 'A', '--json'], { env: env.env });
  assert.equal(cli.code, 0, cli.stderr);
  return { dbus, socket, cli: cli.json() as DaemonStatus };
}

/** The three views agree: the five values, the state they name, the running version, the offer and the progress. */
function assertAgree(views: Awaited<ReturnType<typeof threeViews>>, expected: { op: string; newVersion: string; progress?: 'moving' }) {
  const { dbus, socket, cli } = views;
  const at = expected.op;
  assert.equal(dbus.currentOperation, `UPDATE_STATUS_${expected.op}`, at);
  assert.equal(socket.state, expected.op, `GET /status state at ${at}`);
  assert.equal(cli.state, expected.op, `status --json state at ${at}`);
  assert.deepEqual(socket.update1, cli.update1, `GET /status and status --json: the same five values at ${at}`);
  assert.ok(socket.update1, at);
  assert.deepEqual({ ...socket.update1, progress: 0 }, { ...dbus, progress: 0 }, `D-Bus and GET /status: the same values at ${at}`);
  assert.ok(Math.abs(socket.update1.progress - dbus.progress) < 1e-5, `progress ${socket.update1.progress} vs busctl's ${dbus.progress} at ${at}`);
  assert.equal(dbus.newVersion, expected.newVersion, at);
  assert.deepEqual([socket.currentVersion, cli.currentVersion], ['1.0.0', '1.0.0'], `the running version at ${at}`);
  assert.equal(socket.offer?.version ?? null, cli.offer?.version ?? null, `the offer at ${at}`);
  assert.deepEqual(socket.progress, cli.progress, `the live progress at ${at}`);
  if (expected.progress === 'moving') {
    assert.ok(dbus.progress > 0 && dbus.progress < 1, `the download is part-way: ${dbus.progress}`);
    assert.equal(socket.update1.progress, socket.progress?.fraction, 'D-Bus progress is the live download fraction');
  } else {
    assert.equal(dbus.progress, 0, at);
  }
}

test('one status reader: GetStatus (busctl), GET /status and abupdate status --json agree on state, versions and progress at each point of a real round', async (t) => {
  const { bus, env } = await scene(t);
  await startDaemon(t, env, ['--first-check-delay', '1h']);
  await waitFor('the daemon on the bus', async () => (await busctl(bus, 'GetStatus')).exitCode === 0);
  assertAgree(await threeViews(bus, env), { op: 'IDLE', newVersion: '0.0.0' });

  // A check-only round, held by the server while the daemon checks: CHECKING_FOR_UPDATE, then UPDATE_AVAILABLE.
  env.omaha.setPackage(omahaPackageFor(env));
  const held = env.omaha.hold((r) => r.updatecheck);
  const check = runCli(['check', ...env.flags, '--json'], { env: env.env });
  await held.arrived;
  assertAgree(await threeViews(bus, env), { op: 'CHECKING_FOR_UPDATE', newVersion: '0.0.0' });
  held.release();
  assert.equal((await check).code, 0);
  const available = await threeViews(bus, env);
  assertAgree(available, { op: 'UPDATE_AVAILABLE', newVersion: '2.0.0' });
  assert.ok(available.dbus.lastCheckedTime > 0, 'last_checked_time is set after a check');
  assert.equal(available.dbus.newSize, env.bundleSize);

  // AttemptUpdate; the bundle server stops half-way through the bundle until released: DOWNLOADING, part-way.
  let release!: () => void;
  env.server.faults = { pause: { afterBytes: Math.floor(env.bundleSize / 2), released: new Promise<void>((resolve) => (release = resolve)) } };
  t.after(() => release());
  assert.equal((await busctl(bus, 'AttemptUpdate')).exitCode, 0);
  let last = '';
  await waitFor('the download to stand still part-way', async () => {
    const s = await controlRequest<DaemonStatus>(env.runDir, 'GET', '/status');
    const now = JSON.stringify([s.update1, s.progress]);
    const still = s.update1?.currentOperation === 'UPDATE_STATUS_DOWNLOADING' && (s.update1?.progress ?? 0) > 0 && now === last;
    last = now;
    if (!still) await new Promise((resolve) => setTimeout(resolve, 300));
    return still;
  }, 60_000);
  assertAgree(await threeViews(bus, env), { op: 'DOWNLOADING', newVersion: '2.0.0', progress: 'moving' });
  release();
  await waitFor('the install to end', async () => /"UPDATE_STATUS_UPDATED_NEED_REBOOT"/.test((await busctl(bus, 'GetStatus')).stdout), 120_000);
  const installed = await threeViews(bus, env);
  assertAgree(installed, { op: 'UPDATED_NEED_REBOOT', newVersion: '2.0.0' });
  assert.equal(installed.cli.pendingReboot, true);

  // ResetStatus drops the update: all three are idle again.
  assert.equal((await busctl(bus, 'ResetStatus')).exitCode, 0);
  assertAgree(await threeViews(bus, env), { op: 'IDLE', newVersion: '0.0.0' });
});
