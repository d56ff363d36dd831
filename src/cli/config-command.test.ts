// Tests of `abupdate config`: effective values with origins, JSON, and a bad file reported with line and exit code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CLI_ARGV, runCli } from '../../fixtures/cli.js';
import { makeTempDir } from '../../fixtures/tmp.js';

test('abupdate config prints every key with its value and origin', async (t) => {
  const dir = await makeTempDir(t);
  const vendor = path.join(dir, 'vendor.conf');
  const conf = path.join(dir, 'update.conf');
  await writeFile(vendor, 'SERVER=http://127.0.0.1:1/v1/update/\n');
  await writeFile(conf, '# mine\nGROUP=beta\n');
  const result = await runCli(['config', '--config', conf], { env: { ABUPDATE_VENDOR_CONFIG: vendor, ABUPDATE_CHECK_INTERVAL: '10m' } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`^SERVER="http://127.0.0.1:1/v1/update/"\\s+# ${vendor.replace(/[.]/g, '\\.')}:1$`, 'm'));
  assert.match(result.stdout, new RegExp(`^GROUP="beta"\\s+# ${conf.replace(/[.]/g, '\\.')}:2$`, 'm'));
  assert.match(result.stdout, /^CHECK_INTERVAL="10m"\s+# env ABUPDATE_CHECK_INTERVAL$/m);
  assert.match(result.stdout, /^PROTOCOL="omaha"\s+# default$/m);
});

test('abupdate config --json gives value, raw text and origin of each key', async (t) => {
  const dir = await makeTempDir(t);
  const conf = path.join(dir, 'update.conf');
  await writeFile(conf, 'CHECK_INTERVAL=2m\nSERVER=disabled\n');
  const result = await runCli(['config', '--config', conf, '--json'], { env: { ABUPDATE_VENDOR_CONFIG: path.join(dir, 'none.conf') } });
  assert.equal(result.code, 0, result.stderr);
  const json = result.json();
  assert.deepEqual(json.files, [conf]);
  assert.deepEqual(json.keys.CHECK_INTERVAL, { value: 120000, raw: '2m', origin: { source: 'etc', file: conf, line: 1 }, from: `${conf}:1` });
  assert.deepEqual(json.keys.SERVER, { value: null, raw: 'disabled', origin: { source: 'etc', file: conf, line: 2 }, from: `${conf}:2` });
});

test('abupdate config exits 1 with file, line and allowed values on a bad value (child process)', async (t) => {
  const dir = await makeTempDir(t);
  const conf = path.join(dir, 'update.conf');
  await writeFile(conf, 'GROUP=beta\nREBOOT_STRATEGY=sometimes\n');
  const result = await execa(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), 'config', '--config', conf], {
    reject: false,
    env: { ABUPDATE_VENDOR_CONFIG: path.join(dir, 'none.conf') },
  });
  assert.equal(result.exitCode, 1);
  assert.equal(result.stdout, '');
  assert.equal(
    result.stderr.split('\n')[0],
    `abupdate: Cannot use config ${conf}:2: REBOOT_STRATEGY="sometimes" is not a known choice; allowed: one of reboot, off, etcd-lock, best-effort, fleetlock [ERR_CONFIG]`,
  );
});
