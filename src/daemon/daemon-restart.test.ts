// The daemon as a child process: SIGTERM in the middle of a download stops it cleanly, and after a restart the
// engine resumes (HTTP Range from the first chunk it lacks) and the install completes. Status shows live progress.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { execa } from 'execa';
import { CLI_ARGV, runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor, type DaemonEnv } from '../../fixtures/daemon-env.js';
import { hashRange } from '../../fixtures/install-env.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { ChunkBitmap } from '../engine/chunk-bitmap.js';
import { loadEngineState } from '../engine/state-store.js';
import { controlRequest, isDaemonRunning } from './control-client.js';

interface Status {
  scheduler: { activity: string; progress?: { phase: string; bytesDone?: number; bytesTotal?: number } };
}

function spawnDaemon(env: DaemonEnv) {
  return execa(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), 'daemon', ...env.flags, '--first-check-delay', '1h'], { env: env.env, reject: false });
}

test('daemon stopped by SIGTERM mid-download resumes the download after a restart and completes the install', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  env.omaha.setPackage(omahaPackageFor(env));
  // Slow the bundle down so the SIGTERM lands in the middle: 64 KiB every 40 ms.
  env.server.faults.throttle = { bytes: 64 * 1024, ms: 40 };

  const first = spawnDaemon(env);
  t.after(() => {
    first.kill('SIGKILL');
  });
  await waitFor('the daemon to listen', () => isDaemonRunning(env.runDir), 20_000);
  const pending = controlRequest(env.runDir, 'POST', '/update').catch((error: unknown) => error);
  let live: Status | undefined;
  const imageSize = (await stat(env.image)).size;
  await waitFor('a third of the download', async () => {
    live = await controlRequest<Status>(env.runDir, 'GET', '/status');
    return live.scheduler.progress?.phase === 'download' && (live.scheduler.progress.bytesDone ?? 0) > imageSize / 3;
  }, 20_000);
  assert.equal(live?.scheduler.activity, 'installing');
  assert.equal(live?.scheduler.progress?.bytesTotal, imageSize);
  // `abupdate status` shows the running daemon's live progress, next to the engine's own state.
  const status = await runCli(['status', '--config', env.configPath, '--booted', 'A', '--json'], { env: env.env });
  assert.equal(status.code, 0, status.stderr);
  assert.equal(status.json().daemon.scheduler.activity, 'installing');
  assert.ok(status.json().daemon.scheduler.progress.bytesDone > imageSize / 3);
  const human = await runCli(['status', '--config', env.configPath, '--booted', 'A'], { env: env.env });
  assert.match(human.stdout, /^Daemon: installing 2\.0\.0: download \d+% \(.+ of .+\)$/m);

  first.kill('SIGTERM');
  const stopped = await first;
  assert.equal(stopped.exitCode, 0, String(stopped.stderr));
  assert.match(String(stopped.stderr), /abupdate daemon stopped/);
  await pending;
  // What was written and synced is recorded in the engine's chunk bitmap; no copy of the bundle was staged.
  const stopped1 = await loadEngineState(env.stateDir);
  assert.notEqual(stopped1.state, 'UPDATED_NEED_REBOOT');
  const record = stopped1.install;
  assert.ok(record, 'the engine kept its resume state');
  const done = ChunkBitmap.fromBase64(record.chunkCount, record.chunksDone);
  assert.ok(done.size() > 0 && done.size() < record.chunkCount, `chunks kept: ${done.size()} of ${record.chunkCount}`);
  await assert.rejects(stat(`${env.stateDir}/download`));
  const servedBefore = env.server.totalBytes();

  delete env.server.faults.throttle;
  const second = spawnDaemon(env);
  t.after(() => {
    second.kill('SIGKILL');
  });
  await waitFor('the restarted daemon to listen', () => isDaemonRunning(env.runDir), 20_000);
  const result = await controlRequest<{ outcome: string }>(env.runDir, 'POST', '/update');
  assert.equal(result.outcome, 'installed');
  const state = await loadEngineState(env.stateDir);
  assert.equal(state.state, 'UPDATED_NEED_REBOOT');
  assert.equal(await hashRange(env.disk.path, env.disk.slots.B.offset, imageSize), await hashRange(env.image, 0, imageSize));
  // The restart read the head again, then asked only for the chunks it lacked: little more than one bundle in total.
  const keptBytes = done.size() * (imageSize / record.chunkCount);
  assert.ok(env.server.totalBytes() - servedBefore < env.bundleSize - keptBytes / 2, `fetched ${env.server.totalBytes() - servedBefore} bytes again, ${keptBytes} were kept`);
  assert.ok(env.server.totalBytes() < env.bundleSize * 1.5, `served ${env.server.totalBytes()} bytes for a ${env.bundleSize}-byte bundle`);
  await assert.rejects(stat(`${env.stateDir}/download`));
  assert.deepEqual(env.omaha.events.map((e) => `${e.type}/${e.result}`), ['13/1', '13/1', '14/1', '800/1']);

  second.kill('SIGTERM');
  assert.equal((await second).exitCode, 0);
});
