// Tests of the metrics exposition (checked by promtool), the persisted counters and the atomic textfile.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir } from '../../fixtures/tmp.js';
import { countFailure, emptyCounters, loadCounters, recordCounters } from './counters.js';
import { renderMetrics } from './metrics.js';
import { writeMetricsTextfile } from './textfile.js';

async function promtoolCheck(text: string): Promise<{ exitCode: number; output: string }> {
  const result = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
  return { exitCode: result.exitCode ?? -1, output: `${result.stdout}${result.stderr}` };
}

test('renderMetrics() output passes promtool check metrics and shows state, versions and counters', async () => {
  const counters = emptyCounters();
  counters.installs = 2;
  counters.bytesDownloaded = 12345;
  countFailure(counters, 'ERR_NETWORK');
  countFailure(counters, 'ERR_NETWORK');
  countFailure(counters, 'ERR_CHUNK_HASH');
  counters.lastSuccessfulCheckAt = 1_700_000_000_000;
  counters.healthChecks.durations.push({ result: 'passed', seconds: 0.2 }, { result: 'passed', seconds: 7 }, { result: 'failed', seconds: 300 });
  const text = await renderMetrics({ state: 'UPDATED_NEED_REBOOT', bootedSlot: 'A', bootedVersion: '1.0.0', committedVersion: '1.0.0', pendingVersion: '2.0.0', counters });
  const checked = await promtoolCheck(text);
  assert.equal(checked.exitCode, 0, checked.output);
  assert.equal(checked.output.trim(), '', 'no lint warnings either');
  assert.match(text, /^abupdate_engine_state\{state="UPDATED_NEED_REBOOT"\} 1$/m);
  assert.match(text, /^abupdate_engine_state\{state="IDLE"\} 0$/m);
  assert.match(text, /^abupdate_version_info\{booted_slot="A",booted_version="1\.0\.0",committed_version="1\.0\.0",pending_version="2\.0\.0"\} 1$/m);
  assert.match(text, /^abupdate_installs_total 2$/m);
  assert.match(text, /^abupdate_failures_total\{code="ERR_NETWORK"\} 2$/m);
  assert.match(text, /^abupdate_failures_total\{code="ERR_CHUNK_HASH"\} 1$/m);
  assert.match(text, /^abupdate_downloaded_bytes_total 12345$/m);
  assert.match(text, /^abupdate_last_successful_check_timestamp_seconds 1700000000$/m);
  assert.match(text, /^abupdate_reboot_needed 1$/m);
  // Health-check durations: a histogram (cumulative buckets, _sum and _count) per result, rebuilt from the recorded runs.
  assert.match(text, /^# TYPE abupdate_health_check_duration_seconds histogram$/m);
  assert.match(text, /^abupdate_health_check_duration_seconds_bucket\{le="0\.5",result="passed"\} 1$/m);
  assert.match(text, /^abupdate_health_check_duration_seconds_bucket\{le="10",result="passed"\} 2$/m);
  assert.match(text, /^abupdate_health_check_duration_seconds_sum\{result="passed"\} 7\.2$/m);
  assert.match(text, /^abupdate_health_check_duration_seconds_count\{result="passed"\} 2$/m);
  assert.match(text, /^abupdate_health_check_duration_seconds_bucket\{le="120",result="failed"\} 0$/m);
  assert.match(text, /^abupdate_health_check_duration_seconds_bucket\{le="300",result="failed"\} 1$/m);
  assert.match(text, /^abupdate_health_check_duration_seconds_count\{result="failed"\} 1$/m);
});

test('promtool check metrics rejects a broken exposition (the check can fail)', async () => {
  const checked = await promtoolCheck('abupdate_installs_total{code="x" 1\n');
  assert.notEqual(checked.exitCode, 0);
});

test('recordCounters() persists changes in order; a corrupt file starts from zero', async (t) => {
  const dir = await makeTempDir(t);
  await Promise.all([recordCounters(dir, (c) => void (c.installs += 1)), recordCounters(dir, (c) => void (c.installs += 1)), recordCounters(dir, (c) => countFailure(c, 'ERR_TIMEOUT'))]);
  const counters = await loadCounters(dir);
  assert.equal(counters.installs, 2);
  assert.deepEqual(counters.failures, { ERR_TIMEOUT: 1 });
  await writeFile(path.join(dir, 'metrics.json'), '{oops');
  assert.deepEqual(await loadCounters(dir), emptyCounters());
});

test('writeMetricsTextfile() replaces the file whole and leaves no temporary file; without the directory it writes nothing', async (t) => {
  const dir = await makeTempDir(t);
  const file = path.join(dir, 'abupdate.prom');
  assert.equal(await writeMetricsTextfile(file, 'a 1\n'), true);
  assert.equal(await writeMetricsTextfile(file, 'a 2\n'), true);
  assert.equal(await readFile(file, 'utf8'), 'a 2\n');
  assert.deepEqual(await readdir(dir), ['abupdate.prom']);
  assert.equal(await writeMetricsTextfile(path.join(dir, 'missing', 'abupdate.prom'), 'a 1\n'), false);
  assert.deepEqual(await readdir(dir), ['abupdate.prom']);
});
