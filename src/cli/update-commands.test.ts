// Tests of `abupdate check` and `abupdate update` without a daemon: human output, exit codes, errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor } from '../../fixtures/daemon-env.js';
import { startHttpServer } from '../../fixtures/http-server.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { loadEngineState } from '../engine/state-store.js';

test('abupdate update prints "No update available." and exits 0 when the server has nothing newer', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const result = await runCli(['update', ...env.flags], { env: env.env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'No update available.\n');
});

test('abupdate update installs with progress on stderr and a one-line result, then only pings while the reboot is pending', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  env.omaha.setPackage(omahaPackageFor(env));
  const result = await runCli(['update', ...env.flags], { env: { ...env.env, ABUPDATE_LOG_LEVEL: 'info' } });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'Installed 2.0.0; the new slot boots next. Reboot to start it.\n');
  assert.match(result.stderr, /^download 100%$/m);
  assert.match(result.stderr, /^info: update available version=2\.0\.0/m);
  assert.equal((await loadEngineState(env.stateDir)).state, 'UPDATED_NEED_REBOOT');
  const again = await runCli(['update', ...env.flags], { env: env.env });
  assert.equal(again.stdout, 'Update 2.0.0 is installed and waits for the reboot; reboot to start it.\n');
  assert.equal(env.omaha.events.length, 3, 'no second download');
  const last = env.omaha.requests.at(-1);
  assert.deepEqual([last?.ping, last?.updatecheck, last?.events.length], [true, false, 0], 'waiting for the reboot, it only pings (as update_engine)');
});

test('abupdate check exits 1 with the error code when the server answers an error status', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  env.omaha.setMode({ kind: 'app-status', status: 'error-updatesDisabled' });
  const result = await runCli(['check', ...env.flags], { env: env.env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /abupdate: Cannot get an update: the server answered app status "error-updatesDisabled" \[ERR_OMAHA_STATUS\]/);
});

test('abupdate check with SERVER=disabled says so (ERR_CONFIG) without contacting anything', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  await env.writeConfig({ SERVER: 'disabled' });
  const result = await runCli(['check', ...env.flags], { env: env.env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Cannot check for updates: SERVER is "disabled" \[ERR_CONFIG\]/);
  assert.equal(env.omaha.requests.length, 0);
});

test('abupdate update falls back to the next Omaha URL when the first one is unreachable', async (t) => {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  const dead = await startHttpServer({});
  const deadOrigin = dead.origin;
  await dead.close();
  env.omaha.setPackage({ ...omahaPackageFor(env), urlBase: deadOrigin, mirrors: [env.server.origin] });
  const result = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.json().outcome, 'installed');
  assert.match(result.stderr, /warn: Cannot download .*; trying the next URL/);
  assert.equal((await loadEngineState(env.stateDir)).state, 'UPDATED_NEED_REBOOT');
});
