// Tests of the update.conf loader: layering, origins, env overrides, and every bad value named by file and line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isUpdaterError } from '../../common/errors.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { CONFIG_KEYS, CONFIG_KEY_NAMES, DEFAULT_APP_ID } from './keys.js';
import { describeOrigin, loadConfig } from './load-config.js';

async function files(t: { after(fn: () => Promise<void>): void }, vendor: string | undefined, etc: string | undefined) {
  const dir = await makeTempDir(t);
  const vendorFile = path.join(dir, 'vendor.conf');
  const etcFile = path.join(dir, 'etc.conf');
  if (vendor !== undefined) await writeFile(vendorFile, vendor);
  if (etc !== undefined) await writeFile(etcFile, etc);
  return { dir, vendorFile, etcFile };
}

test('loadConfig() gives the built-in defaults, each with origin "default", when no file exists', async (t) => {
  const { vendorFile, etcFile } = await files(t, undefined, undefined);
  const config = await loadConfig({ vendorFile, etcFile, env: {} });
  assert.deepEqual(config.files, []);
  assert.equal(config.values.SERVER, null, 'SERVER defaults to disabled');
  assert.equal(config.values.GROUP, 'stable');
  assert.equal(config.values.PROTOCOL, 'omaha');
  assert.equal(config.values.BOOTLOADER, 'gptprio');
  assert.equal(config.values.CHECK_INTERVAL, 45 * 60_000);
  assert.equal(config.values.HEALTH_TIMEOUT, 5 * 60_000);
  assert.equal(config.values.APP_ID, DEFAULT_APP_ID);
  assert.deepEqual(config.values.KEYRING_DIRS, ['/etc/abupdate/keys.d', '/usr/share/abupdate/keys.d']);
  assert.deepEqual(config.values.REBOOT_COMMAND, ['systemctl', 'reboot']);
  assert.deepEqual(config.values.ETCD_ENDPOINTS, ['http://127.0.0.1:2379']);
  assert.equal(config.values.REBOOT_WINDOW_START, null);
  for (const name of CONFIG_KEY_NAMES) assert.deepEqual(config.origins[name], { source: 'default' }, name);
});

test('loadConfig() overlays the /etc file on the vendor file and records file:line origins', async (t) => {
  const { vendorFile, etcFile } = await files(
    t,
    '# vendor\nSERVER=https://vendor.example/v1/update/\nGROUP=stable\nCOMPATIBLE=acme-x86\n',
    'GROUP=beta\n\nCHECK_INTERVAL=90s\nREBOOT_STRATEGY=etcd-lock\nETCD_ENDPOINTS=http://10.0.0.1:2379, http://10.0.0.2:2379\n',
  );
  const config = await loadConfig({ vendorFile, etcFile, env: {} });
  assert.deepEqual(config.files, [vendorFile, etcFile]);
  assert.equal(config.values.SERVER, 'https://vendor.example/v1/update/');
  assert.deepEqual(config.origins.SERVER, { source: 'vendor', file: vendorFile, line: 2 });
  assert.equal(config.values.GROUP, 'beta');
  assert.deepEqual(config.origins.GROUP, { source: 'etc', file: etcFile, line: 1 });
  assert.equal(config.values.COMPATIBLE, 'acme-x86');
  assert.equal(config.values.CHECK_INTERVAL, 90_000);
  assert.equal(describeOrigin(config.origins.CHECK_INTERVAL), `${etcFile}:3`);
  assert.deepEqual(config.values.ETCD_ENDPOINTS, ['http://10.0.0.1:2379', 'http://10.0.0.2:2379']);
  assert.deepEqual(config.origins.PROTOCOL, { source: 'default' });
});

test('loadConfig() lets ABUPDATE_<KEY> variables override both files', async (t) => {
  const { vendorFile, etcFile } = await files(t, 'GROUP=stable\n', 'GROUP=beta\nCHECK_INTERVAL=5m\n');
  const config = await loadConfig({
    vendorFile,
    etcFile,
    env: { ABUPDATE_GROUP: 'alpha', ABUPDATE_SERVER: 'http://127.0.0.1:8080/v1/update/', ABUPDATE_DEBUG: '1', GROUP: 'ignored' },
  });
  assert.equal(config.values.GROUP, 'alpha');
  assert.deepEqual(config.origins.GROUP, { source: 'env', variable: 'ABUPDATE_GROUP' });
  assert.equal(describeOrigin(config.origins.SERVER), 'env ABUPDATE_SERVER');
  assert.equal(config.values.CHECK_INTERVAL, 5 * 60_000);
});

test('loadConfig() with configFile reads that file instead of the /etc file', async (t) => {
  const { dir, vendorFile, etcFile } = await files(t, 'GROUP=stable\n', 'GROUP=from-etc\n');
  const custom = path.join(dir, 'custom.conf');
  await writeFile(custom, 'GROUP=custom\n');
  const config = await loadConfig({ vendorFile, etcFile, configFile: custom, env: {} });
  assert.equal(config.values.GROUP, 'custom');
  assert.deepEqual(config.files, [vendorFile, custom]);
});

test('loadConfig() refuses a --config file that does not exist', async (t) => {
  const { dir, vendorFile } = await files(t, undefined, undefined);
  await assert.rejects(loadConfig({ vendorFile, configFile: path.join(dir, 'nope.conf'), env: {} }), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_CONFIG'));
    assert.match(error.message, /^Cannot read config .*nope\.conf: ENOENT/);
    return true;
  });
});

test('loadConfig() reads SERVER=disabled as checking turned off', async (t) => {
  const { vendorFile, etcFile } = await files(t, 'SERVER=http://x.example/\n', 'SERVER=disabled\n');
  const config = await loadConfig({ vendorFile, etcFile, env: {} });
  assert.equal(config.values.SERVER, null);
  assert.equal(config.raw.SERVER, 'disabled');
});

const BAD_VALUES: [string, string][] = [
  ['SERVER', 'ftp://x.example/'],
  ['SERVER', 'not a url'],
  ['GROUP', 'has space'],
  ['COMPATIBLE', 'two words'],
  ['PROTOCOL', 'http'],
  ['BOOTLOADER', 'uboot'],
  ['GRUBENV', 'boot/grubenv'],
  ['DISK', 'sda'],
  ['REBOOT_STRATEGY', 'always'],
  ['REBOOT_WINDOW_START', 'Someday 04:00'],
  ['REBOOT_WINDOW_START', '25:00'],
  ['REBOOT_WINDOW_LENGTH', '1 hour'],
  ['REBOOT_COMMAND', ''],
  ['ETCD_ENDPOINTS', 'http://a:2379,unix:///x'],
  ['FLEETLOCK_URL', 'fleetlock.example'],
  ['CHECK_INTERVAL', '5x'],
  ['CHECK_INTERVAL', '1s'],
  ['CHECK_INTERVAL', '300'],
  ['APP_ID', '{not-a-uuid'],
  ['HEALTH_DIR', 'health.d'],
  ['HEALTH_TIMEOUT', '-5m'],
  ['HEALTH_UNITS', 'sshd.service bad/unit'],
  ['STATE_DIR', 'var/lib/abupdate'],
  ['RUN_DIR', ''],
  ['KEYRING_DIRS', '/etc/keys keys.d'],
  ['MACHINE_ID_PATH', 'machine-id'],
];

for (const [key, value] of BAD_VALUES) {
  test(`loadConfig() refuses ${key}="${value}" naming file, line, key, value and what is allowed`, async (t) => {
    const { vendorFile, etcFile } = await files(t, 'GROUP=stable\n', `# admin\nCOMPATIBLE=acme\n${key}=${JSON.stringify(value)}\n`);
    await assert.rejects(loadConfig({ vendorFile, etcFile, env: {} }), (error: unknown) => {
      assert.ok(isUpdaterError(error, 'ERR_CONFIG'), String(error));
      const allowed = CONFIG_KEYS[key as keyof typeof CONFIG_KEYS].parser.allowed;
      assert.equal(error.message.startsWith(`Cannot use config ${etcFile}:3: ${key}=${JSON.stringify(value)} `), true, error.message);
      assert.equal(error.message.endsWith(`; allowed: ${allowed}`), true, error.message);
      assert.deepEqual(error.data, { file: etcFile, line: 3, key, value, allowed });
      return true;
    });
  });
}

test('loadConfig() refuses a bad value from the environment naming the variable', async (t) => {
  const { vendorFile, etcFile } = await files(t, undefined, undefined);
  await assert.rejects(loadConfig({ vendorFile, etcFile, env: { ABUPDATE_CHECK_INTERVAL: 'soon' } }), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_CONFIG'));
    assert.match(error.message, /^Cannot use config environment variable ABUPDATE_CHECK_INTERVAL: CHECK_INTERVAL="soon" is not a duration; allowed: /);
    assert.equal(error.hint, 'Fix or unset ABUPDATE_CHECK_INTERVAL.');
    return true;
  });
});

test('loadConfig() refuses an unknown key in the vendor file and suggests the closest known key', async (t) => {
  const { vendorFile, etcFile } = await files(t, 'GROUP=stable\nSEVRER=http://x.example/\n', undefined);
  await assert.rejects(loadConfig({ vendorFile, etcFile, env: {} }), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_CONFIG'));
    assert.equal(error.message, `Cannot use config ${vendorFile}:2: unknown key "SEVRER"`);
    assert.match(error.hint ?? '', /^Did you mean SERVER\?/);
    return true;
  });
});

for (const [name, conf, line, key] of [
  ['a window start without a length', 'REBOOT_WINDOW_START="Thu 04:00"\n', 1, 'REBOOT_WINDOW_START'],
  ['a window length without a start', 'GROUP=beta\nREBOOT_WINDOW_LENGTH=1h\n', 2, 'REBOOT_WINDOW_LENGTH'],
  ['fleetlock without FLEETLOCK_URL', 'REBOOT_STRATEGY=fleetlock\n', 1, 'REBOOT_STRATEGY'],
] as const) {
  test(`loadConfig() refuses ${name}, naming the line that set it`, async (t) => {
    const { vendorFile, etcFile } = await files(t, undefined, conf);
    await assert.rejects(loadConfig({ vendorFile, etcFile, env: {} }), (error: unknown) => {
      assert.ok(isUpdaterError(error, 'ERR_CONFIG'));
      assert.ok(error.message.startsWith(`Cannot use config ${etcFile}:${line}: ${key}=`), error.message);
      assert.equal(error.data?.line, line);
      return true;
    });
  });
}

test('loadConfig() accepts a complete reboot window and fleetlock setup', async (t) => {
  const { vendorFile, etcFile } = await files(
    t,
    undefined,
    'REBOOT_STRATEGY=fleetlock\nFLEETLOCK_URL=http://127.0.0.1:9999\nREBOOT_WINDOW_START="thursday 4:00"\nREBOOT_WINDOW_LENGTH=1h30m\nHEALTH_UNITS="sshd.service kubelet.service"\n',
  );
  const config = await loadConfig({ vendorFile, etcFile, env: {} });
  assert.equal(config.values.REBOOT_WINDOW_START, 'thursday 4:00');
  assert.equal(config.values.REBOOT_WINDOW_LENGTH, 90 * 60_000);
  assert.deepEqual(config.values.HEALTH_UNITS, ['sshd.service', 'kubelet.service']);
  assert.equal(config.values.FLEETLOCK_URL, 'http://127.0.0.1:9999');
});
