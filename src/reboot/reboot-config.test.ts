// Tests for rebootConfigFromValues (update.conf → RebootConfig through the real config loader) and readMachineId.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isUpdaterError } from '../../common/errors.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { loadConfig } from '../config/load-config.js';
import { fleetlockNodeId } from './fleetlock-id.js';
import { readMachineId, rebootConfigFromValues } from './reboot-config.js';

async function load(t: Parameters<typeof makeTempDir>[0], text: string) {
  const dir = await makeTempDir(t);
  const configFile = path.join(dir, 'update.conf');
  await writeFile(configFile, text);
  return loadConfig({ configFile, vendorFile: path.join(dir, 'absent.conf'), env: {} });
}

test('rebootConfigFromValues() maps an etcd-lock update.conf with a window onto RebootConfig', async (t) => {
  const config = await load(
    t,
    'REBOOT_STRATEGY=etcd-lock\nETCD_ENDPOINTS=http://10.0.0.1:2379,http://10.0.0.2:2379\nREBOOT_WINDOW_START="sat 23:30"\nREBOOT_WINDOW_LENGTH=1h30m\nREBOOT_COMMAND="/sbin/reboot -f"\n',
  );
  assert.deepEqual(rebootConfigFromValues(config.values, { machineId: 'abc', group: 'web', windowClock: 'utc' }), {
    strategy: 'etcd-lock',
    rebootCommand: ['/sbin/reboot', '-f'],
    etcdEndpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
    etcd: { api: 'v3', tls: {} },
    machineId: 'abc',
    group: 'web',
    fleetlockGroup: 'default',
    window: { weekday: 6, hour: 23, minute: 30, lengthMs: 5_400_000 },
    windowClock: 'utc',
  });
});

test('rebootConfigFromValues() with the defaults is "reboot" now with "systemctl reboot" and no window', async (t) => {
  const config = await load(t, '');
  assert.deepEqual(rebootConfigFromValues(config.values, { machineId: 'abc' }), {
    strategy: 'reboot',
    rebootCommand: ['systemctl', 'reboot'],
    etcdEndpoints: ['http://127.0.0.1:2379'],
    etcd: { api: 'v3', tls: {} },
    machineId: 'abc',
    group: undefined,
    fleetlockGroup: 'default',
  });
});

test('rebootConfigFromValues() carries FLEETLOCK_URL for fleetlock', async (t) => {
  const config = await load(t, 'REBOOT_STRATEGY=fleetlock\nFLEETLOCK_URL=http://127.0.0.1:9999\n');
  const cfg = rebootConfigFromValues(config.values, { machineId: '0123456789abcdef0123456789abcdef' });
  assert.equal(cfg.strategy, 'fleetlock');
  assert.equal(cfg.fleetlockUrl, 'http://127.0.0.1:9999');
  assert.equal(cfg.fleetlockId, fleetlockNodeId('0123456789abcdef0123456789abcdef'), 'zincati\'s node id, not the machine id');
  assert.equal(cfg.fleetlockGroup, 'default');
});

test('rebootConfigFromValues() maps the locksmith keys: LOCKSMITHD_ENDPOINT over ETCD_ENDPOINTS, ETCD_API, TLS files, user, group', async (t) => {
  const config = await load(
    t,
    'REBOOT_STRATEGY=best-effort\nETCD_ENDPOINTS=http://10.0.0.9:2379\nLOCKSMITHD_ENDPOINT=https://10.0.0.1:2379,https://10.0.0.2:2379\nETCD_API=v2\n' +
      'LOCKSMITHD_ETCD_CAFILE=/etc/ssl/etcd/ca.pem\nLOCKSMITHD_ETCD_CERTFILE=/etc/ssl/etcd/c.pem\nLOCKSMITHD_ETCD_KEYFILE=/etc/ssl/etcd/c.key\n' +
      'LOCKSMITHD_ETCD_USERNAME=host\nLOCKSMITHD_ETCD_PASSWORD="p w"\nLOCKSMITHD_GROUP=workers\nFLEETLOCK_GROUP=web-1\n',
  );
  const cfg = rebootConfigFromValues(config.values, { machineId: 'abc' });
  assert.equal(cfg.strategy, 'best-effort');
  assert.deepEqual(cfg.etcdEndpoints, ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
  assert.deepEqual(cfg.etcd, { api: 'v2', tls: { caFile: '/etc/ssl/etcd/ca.pem', certFile: '/etc/ssl/etcd/c.pem', keyFile: '/etc/ssl/etcd/c.key' }, username: 'host', password: 'p w' });
  assert.equal(cfg.group, 'workers');
  assert.equal(cfg.fleetlockGroup, 'web-1');
  await assert.rejects(load(t, 'FLEETLOCK_GROUP="my group"\n'), (error: unknown) => isUpdaterError(error, 'ERR_CONFIG'));
  await assert.rejects(load(t, 'ETCD_API=v4\n'), (error: unknown) => isUpdaterError(error, 'ERR_CONFIG'));
  // A bad password value is reported by where it is, never by what it is.
  await assert.rejects(load(t, 'LOCKSMITHD_ETCD_PASSWORD="bad\tpassword"\n'), (error: unknown) => isUpdaterError(error, 'ERR_CONFIG') && !error.message.includes('password"') && error.message.includes('(hidden)'));
});

test('readMachineId() trims the file and names a missing or empty file in ERR_IO', async (t) => {
  const dir = await makeTempDir(t);
  const file = path.join(dir, 'machine-id');
  await writeFile(file, '0123456789abcdef0123456789abcdef\n');
  assert.equal(await readMachineId(file), '0123456789abcdef0123456789abcdef');
  await writeFile(file, '\n');
  await assert.rejects(readMachineId(file), (error: unknown) => isUpdaterError(error, 'ERR_IO') && error.message.includes(`"${file}" is empty`));
  await assert.rejects(readMachineId(path.join(dir, 'absent')), (error: unknown) => isUpdaterError(error, 'ERR_IO') && /ENOENT/.test(error.message) && error.data?.file === path.join(dir, 'absent'));
});
