// The daemon's round in the lifecycle's states, seen the way an operator sees it: `abupdate status --json`
// (which reads the daemon's live round through the control socket) while the test Omaha server holds its answer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor, startDaemon, type DaemonEnv } from '../../fixtures/daemon-env.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { followControlEvents } from './control-client.js';

async function status(env: DaemonEnv) {
  const result = await runCli(['status', '--config', env.configPath, '--booted', 'A', '--json'], { env: env.env });
  assert.equal(result.code, 0, result.stderr);
  return result.json();
}

test('daemon round: status --json shows CHECKING_FOR_UPDATE while the daemon checks, then UPDATE_AVAILABLE after an offer', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  env.omaha.setPackage(omahaPackageFor(env));
  await startDaemon(t, env, ['--first-check-delay', '1h']);
  const idle = await status(env);
  assert.deepEqual([idle.state, idle.engineState, idle.daemon.checking], ['IDLE', 'IDLE', 'enabled']);

  const states: string[] = [];
  const follow = new AbortController();
  const following = followControlEvents(env.runDir, (event) => void (event.type === 'state' && states.push(String(event.state))), follow.signal);
  const held = env.omaha.hold((r) => r.updatecheck);
  const check = runCli(['check', ...env.flags, '--json'], { env: env.env });
  await held.arrived;
  // The server has the request and has not answered: the daemon is checking.
  const checking = await status(env);
  assert.equal(checking.state, 'CHECKING_FOR_UPDATE');
  assert.equal(checking.engineState, 'IDLE', 'a round state is never written to state.json');
  assert.equal(checking.daemon.scheduler.activity, 'checking');
  const human = await runCli(['status', '--config', env.configPath, '--booted', 'A'], { env: env.env });
  assert.match(human.stdout, /^Engine state: CHECKING_FOR_UPDATE \(the engine's own: IDLE\)$/m);

  held.release();
  const checked = await check;
  assert.equal(checked.code, 0, checked.stderr);
  assert.deepEqual([checked.json().via, checked.json().outcome], ['daemon', 'available']);
  const available = await status(env);
  assert.equal(available.state, 'UPDATE_AVAILABLE');
  assert.equal(available.engineState, 'IDLE');
  assert.deepEqual([available.offer.version, available.offer.size], ['2.0.0', env.bundleSize]);
  assert.equal(typeof available.lastCheckAt, 'string');
  assert.equal((await cgptFlags(env.disk.path, env.disk.slots.B.partition)).priority, 0, 'a check installs nothing');
  follow.abort();
  await following;
  assert.deepEqual(states, ['CHECKING_FOR_UPDATE', 'UPDATE_AVAILABLE'], 'the /events stream carries each state change');
});

test('daemon round: a failed install shows REPORTING_ERROR_EVENT while the error event is sent, then IDLE', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  env.omaha.setPackage(omahaPackageFor(env));
  // The bundle streams in and verifies, then its whole-file SHA-256 differs from the one the server stated.
  env.omaha.setMode({ kind: 'wrong-sha256' });
  await startDaemon(t, env, ['--first-check-delay', '1h']);
  const held = env.omaha.hold((r) => r.events.some((e) => e.type === 3 && e.result === 0));
  const update = runCli(['update', ...env.flags, '--json'], { env: env.env });
  await held.arrived;
  const reporting = await status(env);
  assert.equal(reporting.state, 'REPORTING_ERROR_EVENT');
  // The engine refused the bundle before the flip and is at rest again, with the error recorded.
  assert.equal(reporting.engineState, 'IDLE');
  assert.equal(reporting.lastError.code, 'ERR_OMAHA_HASH');
  assert.equal(reporting.pendingReboot, false);

  held.release();
  const failed = await update;
  assert.equal(failed.code, 1);
  assert.equal(failed.json().error.code, 'ERR_OMAHA_HASH');
  const after = await status(env);
  assert.equal(after.state, 'IDLE');
  assert.equal(after.daemon.scheduler.state, 'IDLE');
  assert.equal(after.daemon.scheduler.lastCycle.outcome, 'error');
  assert.deepEqual(
    env.omaha.events.map((e) => `${e.type}/${e.result}`),
    ['13/1', '3/0'],
    'download started, then the error event (sent while REPORTING_ERROR_EVENT)',
  );
  assert.equal((await cgptFlags(env.disk.path, env.disk.slots.B.partition)).priority, 0, 'B does not boot');
});
