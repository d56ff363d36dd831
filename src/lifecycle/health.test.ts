// Health checks: executables in the health dir and units that must be active, retried until the deadline.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { makeTempDir } from '../../fixtures/tmp.js';
import { runHealthChecks } from './health.js';

/** Running (a killed process whose parent is gone may stay a zombie where PID 1 does not reap: that is dead). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function script(file: string, body: string, mode = 0o755): Promise<void> {
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, mode);
}

test('runHealthChecks() runs the executables of the health dir in name order and skips other files', async (t) => {
  const dir = await makeTempDir(t);
  const health = path.join(dir, 'health.d');
  await mkdir(health);
  const log = path.join(dir, 'order');
  await script(path.join(health, '20-second'), `echo second >> ${log}`);
  await script(path.join(health, '10-first'), `echo first >> ${log}`);
  await script(path.join(health, 'README'), 'exit 1', 0o644);
  await mkdir(path.join(health, 'subdir'));
  const report = await runHealthChecks({ dir: health, units: [], timeoutMs: 2000 });
  assert.equal(report.ok, true);
  assert.deepEqual(report.results.map((r) => r.name), ['10-first', '20-second']);
  const { readFile } = await import('node:fs/promises');
  assert.equal(await readFile(log, 'utf8'), 'first\nsecond\n');
});

test('runHealthChecks() asks about each unit and fails on one that is not active', async (t) => {
  // systemd does not run on this machine: a stand-in answers like `systemctl is-active --quiet UNIT`.
  const dir = await makeTempDir(t);
  const fake = path.join(dir, 'is-active');
  await script(fake, '[ "$1" = "sshd.service" ] && exit 0; echo inactive; exit 3');
  const report = await runHealthChecks({ dir: null, units: ['sshd.service', 'app.service'], timeoutMs: 1000, retryDelayMs: 50, unitCommand: [fake] });
  assert.equal(report.ok, false);
  assert.deepEqual(
    report.results.map((r) => [r.name, r.kind, r.ok]),
    [
      ['sshd.service', 'unit', true],
      ['app.service', 'unit', false],
    ],
  );
  assert.equal(report.results[0]?.runs, 1, 'a passing check is not run again');
  assert.ok((report.results[1]?.runs ?? 0) >= 2, 'a failing check is retried until the deadline');
  assert.match(report.results[1]?.detail ?? '', /exit code 3: inactive/);
});

test('runHealthChecks() with no checks at all is healthy, and a missing dir means no checks', async (t) => {
  const dir = await makeTempDir(t);
  const report = await runHealthChecks({ dir: path.join(dir, 'absent'), units: [], timeoutMs: 100 });
  assert.deepEqual({ ok: report.ok, results: report.results }, { ok: true, results: [] });
});

test('runHealthChecks() keeps why a check failed when its last rerun is cut off by the overall deadline', async (t) => {
  const dir = await makeTempDir(t);
  const check = path.join(dir, '10-app');
  const count = path.join(dir, 'count');
  // First run: fails at once with a reason. Every later run hangs until it is killed.
  await script(check, `if [ -e "${count}" ]; then exec sleep 30; fi; touch "${count}"; echo "app not listening"; exit 2`);
  const report = await runHealthChecks({ dir, units: [], timeoutMs: 1500, retryDelayMs: 50 });
  assert.equal(report.ok, false);
  assert.equal(report.results[0]?.runs, 2, 'the rerun ran and was cut off');
  assert.equal(report.results[0]?.detail, 'exit code 2: app not listening');
  assert.ok(report.elapsedMs < 5000, 'the hanging rerun was killed at the deadline');
});

test('runHealthChecks(): a check whose child leaves with setsid and keeps stdout open cannot stretch HEALTH_TIMEOUT, and that child is killed', async (t) => {
  const dir = await makeTempDir(t);
  const health = path.join(dir, 'health.d');
  await mkdir(health);
  const pidFile = path.join(dir, 'escaped.pid');
  // The grandchild makes itself a session leader (out of the check's process group and session) and holds stdout.
  await script(path.join(health, '10-hang'), `setsid sh -c 'echo $$ > "${pidFile}"; exec sleep 120' &\necho waiting\nexec sleep 120`);
  const started = Date.now();
  const report = await runHealthChecks({ dir: health, units: [], timeoutMs: 1500, retryDelayMs: 50, scope: 'session' });
  const elapsed = Date.now() - started;
  assert.equal(report.ok, false);
  assert.match(report.results[0]?.detail ?? '', /^timed out after \d+ ms: waiting$/);
  // Not a speed check: the old runner waited for the escaped child's pipe, 120 s.
  assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
  const escaped = Number(await readFile(pidFile, 'utf8'));
  assert.ok(escaped > 0);
  assert.equal(isAlive(escaped), false, 'the escaped grandchild was killed with the check');
});

test('runHealthChecks(): a check that exits 1 while an escaped child keeps its stdout open reports exit code 1, not a timeout', async (t) => {
  const dir = await makeTempDir(t);
  const health = path.join(dir, 'health.d');
  await mkdir(health);
  const pidFile = path.join(dir, 'escaped.pid');
  await script(path.join(health, '10-fail'), `setsid sh -c 'echo $$ > "${pidFile}"; exec sleep 120' &\nwhile [ ! -s "${pidFile}" ]; do sleep 0.05; done\necho "db down"\nexit 1`);
  const report = await runHealthChecks({ dir: health, units: [], timeoutMs: 3000, checkTimeoutMs: 2000, retryDelayMs: 60_000, scope: 'session' });
  assert.equal(report.ok, false);
  assert.equal(report.results[0]?.detail, 'exit code 1: db down');
  assert.equal(report.results[0]?.runs, 1);
  const escaped = Number(await readFile(pidFile, 'utf8'));
  assert.equal(isAlive(escaped), false, 'what the check left running was killed when it ended');
});

test('runHealthChecks() runs only the names run-parts runs: no dots, no editor backups, no package leftovers', async (t) => {
  const dir = await makeTempDir(t);
  const health = path.join(dir, 'health.d');
  await mkdir(health);
  await script(path.join(health, '10-app'), 'exit 0');
  await script(path.join(health, '20_db'), 'exit 0');
  // Each of these would fail the boot if it ran.
  for (const name of ['10-app~', '10-app.bak', '10-app.dpkg-old', '.10-app.swp', '#10-app#', '10-app.sh', 'README.md', '30 space']) {
    await script(path.join(health, name), 'exit 1');
  }
  const report = await runHealthChecks({ dir: health, units: [], timeoutMs: 10_000 });
  assert.deepEqual(report.results.map((r) => r.name), ['10-app', '20_db']);
  assert.equal(report.ok, true, JSON.stringify(report.results));
});

test('runHealthChecks() as root refuses a check that is group- or world-writable or not owned by root, without running it (ERR_HEALTH_CHECK_UNSAFE)', async (t) => {
  const dir = await makeTempDir(t);
  const health = path.join(dir, 'health.d');
  await mkdir(health);
  const ran = path.join(dir, 'ran');
  await script(path.join(health, '10-ok'), 'exit 0');
  await script(path.join(health, '20-group'), `echo group >> ${ran}`, 0o775);
  await script(path.join(health, '30-world'), `echo world >> ${ran}`, 0o757);
  await script(path.join(health, '40-user'), `echo user >> ${ran}`, 0o755);
  await chown(path.join(health, '40-user'), 1000, 1000);
  const report = await runHealthChecks({ dir: health, units: [], timeoutMs: 2000, retryDelayMs: 50, requireRootOwned: true });
  assert.equal(report.ok, false);
  assert.deepEqual(report.results.map((r) => [r.name, r.ok, r.code ?? null, r.runs]), [
    ['10-ok', true, null, 1],
    ['20-group', false, 'ERR_HEALTH_CHECK_UNSAFE', 0],
    ['30-world', false, 'ERR_HEALTH_CHECK_UNSAFE', 0],
    ['40-user', false, 'ERR_HEALTH_CHECK_UNSAFE', 0],
  ]);
  assert.match(report.results[1]?.detail ?? '', /writable by its group \(mode 0775\)/);
  assert.match(report.results[2]?.detail ?? '', /writable by others \(mode 0757\)/);
  assert.match(report.results[3]?.detail ?? '', /owned by uid 1000, not root/);
  await assert.rejects(readFile(ran), { code: 'ENOENT' }, 'none of the refused checks ran');
  // A health dir others can write to makes every check in it unsafe.
  await chmod(health, 0o777);
  const open = await runHealthChecks({ dir: health, units: [], timeoutMs: 2000, requireRootOwned: true });
  assert.ok(open.results.every((r) => r.code === 'ERR_HEALTH_CHECK_UNSAFE'), JSON.stringify(open.results));
});
