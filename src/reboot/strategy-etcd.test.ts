// Tests for the etcd-lock reboot strategy against a real etcd: 20 hosts with max 2, a dead holder, etcd down.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, PROJECT_ROOT } from '../../fixtures/cli.js';
import { useEtcdForFile, watchEtcdKey, type EtcdCluster } from '../../fixtures/etcd.js';
import { makeRebootRecorder } from '../../fixtures/reboot-recorder.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { EtcdClient } from './etcd-client.js';
import { semaphoreKey, setSemaphoreMax, type Semaphore } from './etcd-semaphore.js';
import { applyRebootStrategy, releaseRebootLock, type RebootConfig } from './strategy.js';

const getEtcd = useEtcdForFile();
let etcd: EtcdCluster;

before(async () => {
  etcd = await getEtcd();
});

const FAST = { initialMs: 20, maxMs: 200 };

function config(id: string, group: string, rebootCommand: string[]): RebootConfig {
  return { strategy: 'etcd-lock', rebootCommand, etcdEndpoints: etcd.endpoints, group, machineId: id };
}

test('applyRebootStrategy(etcd-lock) with 20 hosts and max 2: never more than 2 holders, every host reboots and releases', async (t) => {
  const dir = await makeTempDir(t);
  const recorder = await makeRebootRecorder(dir);
  const group = 'fleet20';
  const client = new EtcdClient({ endpoints: etcd.endpoints });
  await setSemaphoreMax({ client, group }, 2);

  // The watcher sees every revision of the key through etcd's watch stream.
  const seen: Semaphore[] = [];
  const watcher = watchEtcdKey(etcd.endpoints[0]!, semaphoreKey(group), (value) => {
    if (value !== undefined) seen.push(JSON.parse(value) as Semaphore);
  });
  t.after(() => watcher.stop());
  await watcher.ready;

  const ids = Array.from({ length: 20 }, (_, i) => `host-${String(i).padStart(2, '0')}`);
  const logs = new Map<string, string[]>(ids.map((id) => [id, []]));
  await Promise.all(
    ids.map(async (id) => {
      const cfg = config(id, group, recorder.command(id));
      const outcome = await applyRebootStrategy(cfg, { backoff: FAST, log: (line) => logs.get(id)!.push(line) });
      assert.equal(outcome, 'rebooting');
      await sleep(20 + Math.random() * 60); // the "reboot"; then the new boot is committed and releases
      assert.deepEqual(await releaseRebootLock(cfg), { released: true });
    }),
  );

  assert.deepEqual((await recorder.rebooted()).sort(), ids);
  await waitFor('the watcher to see the last release', () => seen.at(-1)?.holders.length === 0 && seen.length >= 42, 15_000);
  const maxHolders = Math.max(...seen.map((s) => s.holders.length));
  assert.equal(maxHolders, 2, 'two hosts held the lock at once at some point, never more');
  for (const s of seen) {
    assert.ok(s.holders.length <= 2 && s.semaphore >= 0 && s.semaphore + s.holders.length === 2 || s.max === 1, JSON.stringify(s));
  }
  // Every lock and every unlock was one revision: 20 acquisitions and 20 releases after the resize.
  const afterResize = seen.slice(seen.findIndex((s) => s.max === 2));
  let takes = 0;
  let releases = 0;
  for (let i = 1; i < afterResize.length; i++) {
    const diff = afterResize[i]!.holders.length - afterResize[i - 1]!.holders.length;
    if (diff === 1) takes++;
    else if (diff === -1) releases++;
    else assert.fail(`a revision changed the holders by ${diff}`);
  }
  assert.deepEqual({ takes, releases }, { takes: 20, releases: 20 });
  for (const id of ids) {
    assert.ok(logs.get(id)!.some((l) => l.startsWith(`reboot: took the etcd lock "${semaphoreKey(group)}" as "${id}"`)), `${id}: ${logs.get(id)!.join(' | ')}`);
  }
  const busy = [...logs.values()].flat().filter((l) => l.startsWith('reboot: lock busy, not rebooting'));
  assert.ok(busy.length > 0, 'some hosts had to wait for the lock');
});

test('a holder that dies mid-reboot stays visible in "reboot-lock status" and "reboot-lock unlock ID" frees it for the next host', async (t) => {
  const dir = await makeTempDir(t);
  const recorder = await makeRebootRecorder(dir);
  const group = 'dead';
  const endpoints = etcd.endpoints.join(',');
  // The dying host: takes the lock, then its reboot command hangs until it is killed.
  const dying = config('host-dead', group, ['sleep', '60']);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'fixtures/reboot-host.ts'), JSON.stringify(dying)], {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killGroup = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  t.after(killGroup);
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  await waitFor('the dying host to take the lock', () => output.includes('reboot: running "sleep" "60"'), 20_000);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  killGroup();
  await exited;

  const status = await runCli(['reboot-lock', 'status', '--group', group, '--endpoints', endpoints, '--json']);
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(status.json(), { key: semaphoreKey(group), group, endpoints: etcd.endpoints, api: 'v3', semaphore: 0, max: 1, holders: ['host-dead'] });
  const human = await runCli(['reboot-lock', 'status', '--group', group, '--endpoints', endpoints]);
  assert.match(human.stdout, /Holders: +host-dead/);

  // The next host waits: lock busy, no reboot.
  const logs: string[] = [];
  const next = config('host-next', group, recorder.command('host-next'));
  const waiting = applyRebootStrategy(next, { backoff: { initialMs: 50, maxMs: 100 }, log: (l) => logs.push(l) });
  await waitFor('the next host to find the lock busy', () => logs.filter((l) => l.includes('lock busy')).length >= 2, 15_000);
  assert.deepEqual(await recorder.rebooted(), []);
  assert.match(logs[0]!, /^reboot: lock busy, not rebooting \(attempt 1\): Cannot take the reboot lock for "host-next": all 1 slot\(s\) are held \(holders: "host-dead"\); retrying in 50ms$/);

  const unlock = await runCli(['reboot-lock', 'unlock', 'host-dead', '--group', group, '--endpoints', endpoints]);
  assert.equal(unlock.code, 0, unlock.stderr);
  assert.match(unlock.stdout, /Released the reboot lock held by "host-dead"/);
  assert.equal(await waiting, 'rebooting');
  assert.deepEqual(await recorder.rebooted(), ['host-next']);
  const after = await runCli(['reboot-lock', 'status', '--group', group, '--endpoints', endpoints, '--json']);
  assert.deepEqual(after.json().holders, ['host-next']);
});

test('applyRebootStrategy(etcd-lock) with a failing reboot command releases the lock and throws ERR_REBOOT', async (t) => {
  const dir = await makeTempDir(t);
  const recorder = await makeRebootRecorder(dir, { exitCode: 3 });
  const cfg = config('host-fail', 'failing', recorder.command('host-fail'));
  await assert.rejects(applyRebootStrategy(cfg, { backoff: FAST }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'ERR_REBOOT');
    assert.match(error.message, /failed: reboot refused/);
    return true;
  });
  assert.deepEqual(await recorder.rebooted(), ['host-fail']);
  const status = await runCli(['reboot-lock', 'status', '--group', 'failing', '--endpoints', etcd.endpoints.join(','), '--json']);
  assert.deepEqual(status.json().holders, []);
});

// Last in the file: stops and restarts the etcd member.
test('applyRebootStrategy(etcd-lock) with etcd down: no reboot, retries with growing backoff and clear log lines, reboots once etcd is back', { timeout: 120_000 }, async (t) => {
  const dir = await makeTempDir(t);
  const recorder = await makeRebootRecorder(dir);
  const member = etcd.members[0]!;
  await member.stop();
  // Whatever fails below, the retry loop must not outlive the test (it would keep the file's process alive).
  const stop = new AbortController();
  t.after(() => stop.abort());
  const logs: string[] = [];
  const cfg = config('host-offline', 'offline', recorder.command('host-offline'));
  const applying = applyRebootStrategy(cfg, { backoff: { initialMs: 100, maxMs: 400 }, requestTimeoutMs: 1000, log: (l) => logs.push(l), signal: stop.signal });
  applying.catch(() => undefined); // awaited below; an early assertion failure must not leave it unhandled
  await waitFor('four failed attempts', () => logs.length >= 4, 15_000);
  assert.deepEqual(await recorder.rebooted(), [], 'no reboot without the lock');
  const delays = logs.slice(0, 4).map((l) => /retrying in (\w+)$/.exec(l)?.[1]);
  assert.deepEqual(delays, ['100ms', '200ms', '400ms', '400ms']);
  // ECONNRESET when the first attempt goes out on a keep-alive socket left from the earlier tests
  // (Node 20's global agent keeps sockets alive; etcd's exit closes them), ECONNREFUSED on a new one.
  assert.match(
    logs[0]!,
    new RegExp(`^reboot: lock unavailable, not rebooting \\(attempt 1\\): Cannot read key "coreos.com/updateengine/rebootlock/groups/offline/semaphore": no etcd endpoint answered \\(${member.clientUrl}: (ECONNREFUSED|ECONNRESET)\\); retrying in 100ms$`),
  );
  await member.start();
  assert.equal(await applying, 'rebooting');
  assert.deepEqual(await recorder.rebooted(), ['host-offline']);
  assert.ok(logs.some((l) => l.startsWith('reboot: took the etcd lock')), logs.join('\n'));
});

test('applyRebootStrategy(best-effort): with etcd answering it takes the etcd lock first; with etcd down it just reboots', async (t) => {
  const dir = await makeTempDir(t);
  const recorder = await makeRebootRecorder(dir);
  const lines: string[] = [];
  const up: RebootConfig = { ...config('be-host', 'best-effort', recorder.command('be-host')), strategy: 'best-effort' };
  assert.equal(await applyRebootStrategy(up, { log: (l) => lines.push(l), backoff: FAST }), 'rebooting');
  const client = new EtcdClient({ endpoints: etcd.endpoints });
  const held = await client.get(semaphoreKey('best-effort'));
  assert.equal(held?.value, '{"semaphore":0,"max":1,"holders":["be-host"]}');
  assert.ok(lines.some((l) => /best-effort: etcd answers .*using the etcd lock/.test(l)), lines.join('\n'));
  assert.deepEqual(await releaseRebootLock(up, { backoff: FAST }), { released: true });

  const down: RebootConfig = { ...up, machineId: 'be-other', rebootCommand: recorder.command('be-other'), etcdEndpoints: ['http://127.0.0.1:1'] };
  lines.length = 0;
  assert.equal(await applyRebootStrategy(down, { log: (l) => lines.push(l), backoff: FAST, requestTimeoutMs: 1000 }), 'rebooting');
  assert.ok(lines.some((l) => /best-effort: etcd does not answer .*rebooting without a lock/.test(l)), lines.join('\n'));
  assert.deepEqual(await recorder.rebooted(), ['be-host', 'be-other']);
  assert.deepEqual(await releaseRebootLock(down, { backoff: FAST, requestTimeoutMs: 1000 }), { released: false });
});
