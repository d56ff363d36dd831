// A version recorded as bad (it failed its health check on this host) is neither downloaded nor installed again by a check.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor } from '../../fixtures/daemon-env.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { seedEngineState } from '../../fixtures/engine-state.js';
import { loadEngineState } from '../engine/state-store.js';

test('update cycle skips an offer whose version is in badVersions: no bundle request, no install; a newer one installs', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  await seedEngineState(env.stateDir, { badVersions: ['2.0.0'] });
  env.omaha.setPackage(omahaPackageFor(env, '2.0.0'));

  const skipped = await runCli(['update', ...env.flags], { env: env.env });
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /update skipped: this version failed its health check on this host before version=2\.0\.0/);
  assert.match(skipped.stderr, /checked for updates: none available/);
  assert.equal(env.server.requests.filter((r) => r.path === 'bundle.tar').length, 0, 'the bad version was not downloaded');
  assert.equal((await cgptFlags(env.disk.path, env.disk.slots.B.partition)).priority, 0);
  assert.equal((await loadEngineState(env.stateDir)).install, null);

  // The same bytes offered as a version that is not bad go through (the bundle's own version is 2.0.0, so
  // clear the record first: what counts is that the check, not the engine, held the download back).
  await seedEngineState(env.stateDir, { badVersions: [] });
  const installed = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(installed.code, 0, installed.stderr);
  assert.equal(installed.json().outcome, 'installed');
  assert.ok(env.server.requests.some((r) => r.path === 'bundle.tar'));
});
