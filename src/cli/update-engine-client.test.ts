// Tests of update_engine_client's flag parsing (gflags style), its output formats and its refusals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { isUpdaterError } from '../../common/errors.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { formatStatusLines, toUpdate1Status } from '../dbus/update1.js';
import { enteredAs } from './main.js';
import { parseClientFlags, updateEngineClientMain } from './update-engine-client.js';

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await updateEngineClientMain(args, { stdout, stderr, env, signal: new AbortController().signal });
  return { code, stdout: out, stderr: err };
}

test('parseClientFlags() takes gflags forms: -flag, --flag, -flag=false, -noflag, string flags with = or a separate value', () => {
  assert.equal(parseClientFlags(['-status']).bools.status, true);
  assert.equal(parseClientFlags(['--status']).bools.status, true);
  assert.equal(parseClientFlags(['-status=false']).bools.status, false);
  assert.equal(parseClientFlags(['-status=1']).bools.status, true);
  assert.equal(parseClientFlags(['-status', '-nostatus']).bools.status, false);
  assert.equal(parseClientFlags(['-check_for_update']).bools.check_for_update, true);
  assert.equal(parseClientFlags(['--watch-for-updates']).bools.watch_for_updates, true);
  assert.equal(parseClientFlags(['-run_dir', '/x']).strings.run_dir, '/x');
  assert.equal(parseClientFlags(['--run_dir=/y']).strings.run_dir, '/y');
});

test('parseClientFlags() refuses an unknown flag, a bad bool value and a stray argument with ERR_USAGE', () => {
  assert.throws(() => parseClientFlags(['-frobnicate']), (e: unknown) => isUpdaterError(e, 'ERR_USAGE') && /unknown command line flag 'frobnicate'/.test(e.message));
  assert.throws(() => parseClientFlags(['-status=maybe']), (e: unknown) => isUpdaterError(e, 'ERR_USAGE') && /illegal value 'maybe'/.test(e.message));
  assert.throws(() => parseClientFlags(['status']), (e: unknown) => isUpdaterError(e, 'ERR_USAGE') && /unexpected argument "status"/.test(e.message));
});

test('formatStatusLines() prints update_engine_client -status\'s five lines (%f with six decimals)', () => {
  const status = toUpdate1Status({ state: 'DOWNLOADING', lastCheckedAt: 1_700_000_123_999, download: { done: 1, total: 3 }, newVersion: '2.0.0', newSize: 3_149_312 });
  assert.equal(formatStatusLines(status), 'LAST_CHECKED_TIME=1700000123\nPROGRESS=0.333333\nCURRENT_OP=UPDATE_STATUS_DOWNLOADING\nNEW_VERSION=2.0.0\nNEW_SIZE=3149312\n');
  assert.equal(formatStatusLines(toUpdate1Status({ state: 'IDLE' })), 'LAST_CHECKED_TIME=0\nPROGRESS=0.000000\nCURRENT_OP=UPDATE_STATUS_IDLE\nNEW_VERSION=0.0.0\nNEW_SIZE=0\n');
  assert.equal(toUpdate1Status({ state: 'HEALTH_CHECK' }).currentOperation, 'UPDATE_STATUS_IDLE', 'after a reboot update_engine is idle');
});

test('update_engine_client without a daemon exits 1 and says where it looked; -help exits 0; no operation prints Done.', async (t) => {
  const dir = await makeTempDir(t);
  const env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path.join(dir, 'no-bus')}`, ABUPDATE_VENDOR_CONFIG: path.join(dir, 'none.conf'), ABUPDATE_RUN_DIR: path.join(dir, 'run') };
  const none = await run(['-status', `-run_dir=${path.join(dir, 'run')}`], env);
  assert.equal(none.code, 1);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /Cannot reach update_engine: no owner of com\.coreos\.update1 on the system bus .* and no daemon on the control socket in .*\/run \[ERR_DAEMON\]/);
  const help = await run(['-help'], env);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /-check_for_update/);
  const nothing = await run([], env);
  assert.equal(nothing.code, 0);
  assert.match(nothing.stderr, /Done\./);
  const bad = await run(['-nope'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown command line flag 'nope'/);
});

test('enteredAs() picks update_engine_client by ABUPDATE_PROGRAM or by the name of the link it was started through', () => {
  assert.equal(enteredAs({ ABUPDATE_PROGRAM: 'update_engine_client' }, '/usr/lib/abupdate/dist/src/cli/main.js'), 'update_engine_client');
  assert.equal(enteredAs({}, '/usr/bin/update_engine_client'), 'update_engine_client');
  assert.equal(enteredAs({}, '/usr/bin/abupdate'), 'abupdate');
});

test('the entry point entered as update_engine_client (ABUPDATE_PROGRAM, as the installed wrapper sets it) runs the client', async () => {
  const { execa } = await import('execa');
  const { CLI_ARGV } = await import('../../fixtures/cli.js');
  const result = await execa(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), '-help'], { env: { ABUPDATE_PROGRAM: 'update_engine_client' }, reject: false });
  assert.equal(result.exitCode, 0, result.stderr);
  assert.match(result.stdout, /^Usage: update_engine_client \[FLAGS\]/);
});

test('update_engine_client exit codes as update_engine_client.cc: a failed AttemptUpdate aborts (134, CHECK_EQ), a failed GetStatus prints zeros and (null) and exits 0, a failed ResetStatus exits 1', async (t) => {
  const { makeDaemonEnv, startDaemon } = await import('../../fixtures/daemon-env.js');
  const dir = await makeTempDir(t);
  const env = await makeDaemonEnv(t, dir);
  // A daemon with checking off answers /status but has no update round: every update_engine call fails on it.
  env.env.ABUPDATE_SERVER = 'disabled';
  await startDaemon(t, env);
  const args = [`-run_dir=${env.runDir}`];
  const check = await run(['-check_for_update', ...args], env.env);
  assert.equal(check.code, 134, check.stderr);
  assert.match(check.stderr, /Check failed: rc == TRUE: Error checking for update/);
  const update = await run(['-update', ...args], env.env);
  assert.equal(update.code, 134, update.stderr);
  const status = await run(['-status', ...args], env.env);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(status.stdout, 'LAST_CHECKED_TIME=0\nPROGRESS=0.000000\nCURRENT_OP=(null)\nNEW_VERSION=(null)\nNEW_SIZE=0\n');
  assert.match(status.stderr, /Error getting status: /);
  const reset = await run(['-reset_status', ...args], env.env);
  assert.equal(reset.code, 1, reset.stderr);
  assert.match(reset.stderr, /ResetStatus failed/);
});
