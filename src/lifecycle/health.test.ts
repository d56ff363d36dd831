// Health checks: executables in the health dir and units that must be active, retried until the deadline.

import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { makeTempDir } from '../../fixtures/tmp.js';
import { runHealthChecks } from './health.js';

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
