// Tests for rebootConfigFromValues (update.conf → RebootConfig through the real config loader) and readMachineId.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isUpdaterError } from '../../common/errors.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { loadConfig } from '../config/load-config.js';
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
    machineId: 'abc',
    group: 'web',
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
    machineId: 'abc',
    group: undefined,
  });
});

test('rebootConfigFromValues() carries FLEETLOCK_URL for fleetlock', async (t) => {
  const config = await load(t, 'REBOOT_STRATEGY=fleetlock\nFLEETLOCK_URL=http://127.0.0.1:9999\n');
  const cfg = rebootConfigFromValues(config.values, { machineId: 'abc' });
  assert.equal(cfg.strategy, 'fleetlock');
  assert.equal(cfg.fleetlockUrl, 'http://127.0.0.1:9999');
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
