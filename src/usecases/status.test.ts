// readStatus(): the live progress of the daemon's round is shown while the install runs, and not once state.json
// says the update is installed (a round winding down must not show its last 'flip' progress to one reader only).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedEngineState } from '../../fixtures/engine-state.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { readStatus, type DaemonView, type RoundView } from './status.js';

const view = (phase: string): DaemonView => ({
  checking: 'enabled',
  scheduler: { state: 'DOWNLOADING', activity: 'installing', consecutiveFailures: 0, progress: { phase, bytesDone: 50, bytesTotal: 100 } } as RoundView,
});

test('readStatus() shows the round\'s live progress while installing, and none once the engine is UPDATED_NEED_REBOOT', async (t) => {
  const stateDir = await makeTempDir(t);
  const runDir = await makeTempDir(t);
  await seedEngineState(stateDir, { state: 'DOWNLOADING' }, { fresh: true });
  const downloading = await readStatus({ stateDir, runDir, daemon: async () => view('download') });
  assert.deepEqual(downloading.progress, { phase: 'download', bytesDone: 50, bytesTotal: 100, fraction: 0.5 });
  await seedEngineState(stateDir, { state: 'UPDATED_NEED_REBOOT' });
  const installed = await readStatus({ stateDir, runDir, daemon: async () => view('flip') });
  assert.equal(installed.state, 'UPDATED_NEED_REBOOT');
  assert.equal(installed.progress, null);
});
