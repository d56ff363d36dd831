// Tests for `abupdate reboot-lock status|lock|unlock|set-max` against a real etcd.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { freePort, useEtcdForFile } from '../../fixtures/etcd.js';
import { makeTempDir } from '../../fixtures/tmp.js';

const getEtcd = useEtcdForFile();
let endpoints: string;

before(async () => {
  endpoints = (await getEtcd()).endpoints.join(',');
});

async function etcdctlGet(key: string): Promise<string> {
  const { stdout } = await execa('etcdctl', ['--endpoints', endpoints, 'get', '--print-value-only', key], { env: { ETCDCTL_API: '3' } });
  return stdout.trim();
}

const KEY = (group: string): string => `coreos.com/updateengine/rebootlock/groups/${group}/semaphore`;

test('reboot-lock status creates and shows the default key with locksmith\'s defaults', async () => {
  const result = await runCli(['reboot-lock', 'status', '--endpoints', endpoints, '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.json(), {
    key: 'coreos.com/updateengine/rebootlock/semaphore',
    group: '',
    endpoints: endpoints.split(','),
    api: 'v3',
    semaphore: 1,
    max: 1,
    holders: [],
  });
  const human = await runCli(['reboot-lock', 'status', '--endpoints', endpoints]);
  assert.match(human.stdout, /^Reboot lock: coreos\.com\/updateengine\/rebootlock\/semaphore\n/);
  assert.match(human.stdout, /\nMax: +1\nFree: +1\nHolders: +\(none\)\n$/);
});

test('reboot-lock lock/unlock take and free slots by --id, positional ID or the machine id file', async (t) => {
  const dir = await makeTempDir(t);
  const machineId = path.join(dir, 'machine-id');
  await writeFile(machineId, '0123456789abcdef0123456789abcdef\n');
  const g = ['--group', 'cli', '--endpoints', endpoints];
  await runCli(['reboot-lock', 'set-max', '2', ...g]);

  const mine = await runCli(['reboot-lock', 'lock', '--machine-id-file', machineId, ...g]);
  assert.equal(mine.code, 0, mine.stderr);
  assert.match(mine.stdout, /^Took the reboot lock for "0123456789abcdef0123456789abcdef" \(1 of 2 slot\(s\) free/);
  const other = await runCli(['reboot-lock', 'lock', '--id', 'host-b', ...g, '--json']);
  assert.equal(other.code, 0, other.stderr);
  assert.deepEqual(other.json(), { key: KEY('cli'), id: 'host-b', alreadyHeld: false, semaphore: 0, max: 2, holders: ['0123456789abcdef0123456789abcdef', 'host-b'] });
  const again = await runCli(['reboot-lock', 'lock', 'host-b', ...g]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /^"host-b" already holds the reboot lock/);

  const full = await runCli(['reboot-lock', 'lock', '--id', 'host-c', ...g]);
  assert.equal(full.code, 1);
  assert.match(full.stderr, /^abupdate: Cannot take the reboot lock for "host-c": all 2 slot\(s\) are held \(holders: "0123456789abcdef0123456789abcdef", "host-b"\) \[ERR_REBOOT_LOCK\]\n/);
  assert.equal(await etcdctlGet(KEY('cli')), '{"semaphore":0,"max":2,"holders":["0123456789abcdef0123456789abcdef","host-b"]}');

  const freed = await runCli(['reboot-lock', 'unlock', 'host-b', ...g]);
  assert.equal(freed.code, 0, freed.stderr);
  assert.match(freed.stdout, /^Released the reboot lock held by "host-b" \(1 of 2 slot\(s\) free; holders: 0123456789abcdef0123456789abcdef\)/);
  const notHeld = await runCli(['reboot-lock', 'unlock', 'host-b', ...g, '--json']);
  assert.equal(notHeld.code, 1);
  assert.equal(notHeld.json().error.code, 'ERR_REBOOT_LOCK');
  assert.match(notHeld.json().error.message, /"host-b": it does not hold it \(holders: "0123456789abcdef0123456789abcdef"\)/);
  const mineFreed = await runCli(['reboot-lock', 'unlock', '--machine-id-file', machineId, ...g]);
  assert.equal(mineFreed.code, 0, mineFreed.stderr);
  assert.equal(await etcdctlGet(KEY('cli')), '{"semaphore":2,"max":2,"holders":[]}');
});

test('reboot-lock set-max moves the free count and refuses to go below the holders', async () => {
  const g = ['--group', 'setmax', '--endpoints', endpoints];
  await runCli(['reboot-lock', 'lock', '--id', 'h1', ...g]);
  const up = await runCli(['reboot-lock', 'set-max', '3', ...g, '--json']);
  assert.equal(up.code, 0, up.stderr);
  assert.deepEqual(up.json(), { key: KEY('setmax'), previousMax: 1, semaphore: 2, max: 3, holders: ['h1'] });
  const zero = await runCli(['reboot-lock', 'set-max', '0', ...g]);
  assert.equal(zero.code, 1);
  assert.match(zero.stderr, /Cannot set the reboot lock max to 0: 1 host\(s\) hold it now \("h1"\), which would leave -1 free slots \[ERR_REBOOT_LOCK\]/);
  assert.match(zero.stderr, /reboot-lock unlock ID/);
  assert.equal(await etcdctlGet(KEY('setmax')), '{"semaphore":2,"max":3,"holders":["h1"]}');
  const bad = await runCli(['reboot-lock', 'set-max', 'two', ...g]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /"two" is not a whole number, 0 or more \[ERR_USAGE\]/);
  const missing = await runCli(['reboot-lock', 'set-max', ...g]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /N is required \[ERR_USAGE\]/);
});

test('reboot-lock status takes ETCD_ENDPOINTS from --config, and ABUPDATE_ETCD_ENDPOINTS overrides it', async (t) => {
  const dir = await makeTempDir(t);
  const conf = path.join(dir, 'update.conf');
  await writeFile(conf, `REBOOT_STRATEGY=etcd-lock\nETCD_ENDPOINTS=${endpoints}\n`);
  const vendor = { ABUPDATE_VENDOR_CONFIG: path.join(dir, 'absent.conf') };
  const fromFile = await runCli(['reboot-lock', 'status', '--config', conf, '--json'], { env: vendor });
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.deepEqual(fromFile.json().endpoints, endpoints.split(','));
  const dead = `http://127.0.0.1:${await freePort()}`;
  const fromEnv = await runCli(['reboot-lock', 'status', '--config', conf, '--json'], { env: { ...vendor, ABUPDATE_ETCD_ENDPOINTS: dead } });
  assert.equal(fromEnv.code, 1);
  assert.equal(fromEnv.json().error.code, 'ERR_ETCD');
  assert.match(fromEnv.stderr, new RegExp(`no etcd endpoint answered \\(${dead}: ECONNREFUSED\\) \\[ERR_ETCD\\]`));
  assert.match(fromEnv.stderr, /abupdate: Check that etcd runs/);
});

test('reboot-lock refuses bad endpoints and unreadable machine ids with usage and IO errors', async (t) => {
  const bad = await runCli(['reboot-lock', 'status', '--endpoints', 'etcd.example:2379']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Cannot use the etcd endpoints "etcd\.example:2379": expected comma-separated http:\/\/ or https:\/\/ URLs \[ERR_USAGE\]/);
  const dir = await makeTempDir(t);
  const noId = await runCli(['reboot-lock', 'lock', '--endpoints', endpoints, '--machine-id-file', path.join(dir, 'absent')]);
  assert.equal(noId.code, 1);
  assert.match(noId.stderr, /Cannot read the machine id: .*absent.* \[ERR_IO\]/);
  assert.match(noId.stderr, /--id ID/);
  assert.equal(await etcdctlGet('coreos.com/updateengine/rebootlock/semaphore'), '{"semaphore":1,"max":1,"holders":[]}');
});

test('reboot-lock --help documents every subcommand\'s usage and options', async () => {
  for (const [sub, usage] of [
    ['status', 'Usage: abupdate reboot-lock status'],
    ['lock', 'Usage: abupdate reboot-lock lock [ID | --id ID]'],
    ['unlock', 'Usage: abupdate reboot-lock unlock [ID | --id ID]'],
    ['set-max', 'Usage: abupdate reboot-lock set-max N'],
  ] as const) {
    const result = await runCli(['reboot-lock', sub, '--help']);
    assert.equal(result.code, 0);
    assert.ok(result.stdout.startsWith(usage), result.stdout);
    assert.match(result.stdout, /--endpoints URLS/);
  }
  const group = await runCli(['reboot-lock', '--help']);
  assert.equal(group.code, 0);
  assert.match(group.stdout, /reboot-lock set-max/);
});
