// Tests for applyRebootStrategy/releaseRebootLock without etcd: off, reboot, windows, FleetLock, config errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isUpdaterError } from '../../common/errors.js';
import { startFleetlockServer } from '../../fixtures/fleetlock-server.js';
import { makeRebootRecorder } from '../../fixtures/reboot-recorder.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { applyRebootStrategy, releaseRebootLock, type RebootConfig } from './strategy.js';
import { parseRebootWindow } from './window.js';

const FAST = { initialMs: 50, maxMs: 200 };

function base(strategy: RebootConfig['strategy'], rebootCommand: string[]): RebootConfig {
  return { strategy, rebootCommand, etcdEndpoints: [], machineId: 'host-a' };
}

/** A clock that reads `start` now and runs at real speed. */
function clockFrom(start: Date): () => Date {
  const t0 = Date.now();
  return () => new Date(start.getTime() + (Date.now() - t0));
}

test('applyRebootStrategy(off) returns "pending" and runs nothing', async (t) => {
  const recorder = await makeRebootRecorder(await makeTempDir(t));
  const logs: string[] = [];
  assert.equal(await applyRebootStrategy(base('off', recorder.command('host-a')), { log: (l) => logs.push(l) }), 'pending');
  assert.deepEqual(await recorder.rebooted(), []);
  assert.match(logs.join('\n'), /REBOOT_STRATEGY=off, not rebooting/);
  assert.deepEqual(await releaseRebootLock(base('off', [])), { released: false });
});

test('applyRebootStrategy(reboot) runs the reboot command at once when no window is set', async (t) => {
  const recorder = await makeRebootRecorder(await makeTempDir(t));
  assert.equal(await applyRebootStrategy(base('reboot', recorder.command('host-a'))), 'rebooting');
  assert.deepEqual(await recorder.rebooted(), ['host-a']);
  assert.deepEqual(await releaseRebootLock(base('reboot', [])), { released: false });
});

test('applyRebootStrategy(reboot) waits for the window to open before rebooting', async (t) => {
  const recorder = await makeRebootRecorder(await makeTempDir(t));
  const window = parseRebootWindow('Thu 04:00', '1h')!;
  // 800 ms before the window opens (2026-11-26 is a Thursday).
  const now = clockFrom(new Date('2026-11-26T03:59:59.200Z'));
  const logs: string[] = [];
  const started = Date.now();
  const applying = applyRebootStrategy({ ...base('reboot', recorder.command('host-a')), window, windowClock: 'utc' }, { now, log: (l) => logs.push(l) });
  await sleep(300);
  assert.deepEqual(await recorder.rebooted(), [], 'no reboot before the window');
  assert.equal(await applying, 'rebooting');
  assert.ok(Date.now() - started >= 750, `rebooted after ${Date.now() - started} ms`);
  assert.deepEqual(await recorder.rebooted(), ['host-a']);
  // The clock runs on between reading it and logging, so the wait is 800 ms or a few ms less.
  assert.match(logs[0] ?? '', /^reboot: waiting (7[5-9]\d|800)ms for the reboot window \(Thu 04:00 UTC for 1h\)$/);
});

test('applyRebootStrategy() stops waiting for the window when the signal aborts (ERR_ABORTED, no reboot)', async (t) => {
  const recorder = await makeRebootRecorder(await makeTempDir(t));
  const window = parseRebootWindow('04:00', '1h')!;
  const controller = new AbortController();
  const applying = applyRebootStrategy(
    { ...base('reboot', recorder.command('host-a')), window, windowClock: 'utc' },
    { signal: controller.signal, now: clockFrom(new Date('2026-11-26T12:00:00Z')) },
  );
  await sleep(100);
  controller.abort();
  await assert.rejects(applying, (error: unknown) => isUpdaterError(error, 'ERR_ABORTED'));
  assert.deepEqual(await recorder.rebooted(), []);
});

test('applyRebootStrategy(fleetlock) when pre-reboot is refused waits and retries; when granted reboots; release sends steady-state', async (t) => {
  const recorder = await makeRebootRecorder(await makeTempDir(t));
  const server = await startFleetlockServer(t, { max: 1 });
  server.setRefuse(true);
  const cfg: RebootConfig = { ...base('fleetlock', recorder.command('host-a')), fleetlockUrl: server.url, group: 'web' };
  const logs: string[] = [];
  const applying = applyRebootStrategy(cfg, { backoff: FAST, log: (l) => logs.push(l) });
  while (server.requests.length < 3) await sleep(20);
  assert.deepEqual(await recorder.rebooted(), [], 'no reboot while refused');
  assert.match(logs[0]!, /^reboot: lock unavailable, not rebooting \(attempt 1\): Cannot take the FleetLock reboot slot: the server answered HTTP 409 failed_lock_refused: "the operator paused reboots"; retrying in 50ms$/);
  server.setRefuse(false);
  assert.equal(await applying, 'rebooting');
  assert.deepEqual(await recorder.rebooted(), ['host-a']);
  assert.deepEqual(server.holders('web'), ['host-a']);
  assert.ok(logs.includes(`reboot: took the FleetLock slot (group "web" at ${server.url}) as "host-a"`), logs.join('\n'));

  assert.deepEqual(await releaseRebootLock(cfg), { released: true });
  assert.deepEqual(server.holders('web'), []);
  const statuses = server.requests.map((r) => `${r.operation} ${r.status}`);
  assert.equal(statuses.at(-1), 'steady-state 200');
  assert.equal(statuses.at(-2), 'pre-reboot 200');
  assert.ok(statuses.slice(0, -2).every((s) => s === 'pre-reboot 409'), statuses.join(', '));
});

test('applyRebootStrategy(fleetlock) with max 1: the second host reboots only after the first sends steady-state', async (t) => {
  const dir = await makeTempDir(t);
  const recorder = await makeRebootRecorder(dir);
  const server = await startFleetlockServer(t, { max: 1 });
  const a: RebootConfig = { ...base('fleetlock', recorder.command('host-a')), fleetlockUrl: server.url };
  const b: RebootConfig = { ...a, machineId: 'host-b', rebootCommand: recorder.command('host-b') };
  assert.equal(await applyRebootStrategy(a, { backoff: FAST }), 'rebooting');
  const second = applyRebootStrategy(b, { backoff: FAST });
  await sleep(300);
  assert.deepEqual(await recorder.rebooted(), ['host-a']);
  assert.ok(server.requests.some((r) => r.id === 'host-b' && r.status === 409));
  await releaseRebootLock(a);
  assert.equal(await second, 'rebooting');
  assert.deepEqual(await recorder.rebooted(), ['host-a', 'host-b']);
});

test('applyRebootStrategy(fleetlock) with a window asks for the slot only once the window is open', async (t) => {
  const recorder = await makeRebootRecorder(await makeTempDir(t));
  const server = await startFleetlockServer(t);
  const window = parseRebootWindow('23:30', '90m')!;
  const cfg: RebootConfig = { ...base('fleetlock', recorder.command('host-a')), fleetlockUrl: server.url, window, windowClock: 'utc' };
  const applying = applyRebootStrategy(cfg, { now: clockFrom(new Date('2026-12-31T23:29:59.500Z')) });
  await sleep(250);
  assert.equal(server.requests.length, 0, 'no pre-reboot outside the window');
  assert.equal(await applying, 'rebooting');
  assert.deepEqual(server.requests.map((r) => r.operation), ['pre-reboot']);
});

test('applyRebootStrategy() refuses incomplete configs with ERR_CONFIG before doing anything', async () => {
  const cases: [RebootConfig, RegExp][] = [
    [{ ...base('fleetlock', ['true']) }, /FLEETLOCK_URL is not set/],
    [{ ...base('etcd-lock', ['true']) }, /ETCD_ENDPOINTS is empty/],
    [{ ...base('reboot', []) }, /REBOOT_COMMAND is empty/],
    [{ ...base('etcd-lock', ['true']), etcdEndpoints: ['http://127.0.0.1:1'], machineId: ' ' }, /machine id is empty/],
    [{ ...base('sometimes' as RebootConfig['strategy'], ['true']) }, /"sometimes" is not one of reboot, off, etcd-lock, best-effort, fleetlock/],
  ];
  for (const [cfg, message] of cases) {
    await assert.rejects(applyRebootStrategy(cfg), (error: unknown) => isUpdaterError(error, 'ERR_CONFIG') && message.test(error.message), String(message));
  }
});

test('applyRebootStrategy(reboot) with a failing reboot command throws ERR_REBOOT with its stderr', async (t) => {
  const recorder = await makeRebootRecorder(await makeTempDir(t), { exitCode: 1 });
  await assert.rejects(applyRebootStrategy(base('reboot', recorder.command('host-a'))), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_REBOOT'));
    assert.match(error.message, /failed: reboot refused$/);
    return true;
  });
});
