// Tests for `abupdate fleet status|hosts|history|pause|resume|gate` against a real etcd.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { useEtcdForFile } from '../../fixtures/etcd.js';
import { sampleReport } from '../../fixtures/fleet-hosts.js';
import { EtcdClient } from '../reboot/etcd-client.js';
import { lockSemaphore, setSemaphoreMax } from '../reboot/etcd-semaphore.js';
import { FleetKeys } from '../fleet/fleet-keys.js';
import { markRollback } from '../fleet/rollout.js';
import { recordHistory } from '../fleet/history.js';

const getEtcd = useEtcdForFile();
let endpoints: string;
let client: EtcdClient;

before(async () => {
  const etcd = await getEtcd();
  endpoints = etcd.endpoints.join(',');
  client = new EtcdClient({ endpoints: etcd.endpoints });
});

async function etcdctlGet(key: string): Promise<string> {
  const { stdout } = await execa('etcdctl', ['--endpoints', endpoints, 'get', '--print-value-only', key], { env: { ETCDCTL_API: '3' } });
  return stdout.trim();
}

async function putHosts(prefix: string, hosts: Parameters<typeof sampleReport>[0][]): Promise<void> {
  const keys = new FleetKeys(prefix);
  const { id } = await client.grantLease(60);
  for (const h of hosts) await client.put(keys.host(h.machineId), JSON.stringify(sampleReport(h)), { lease: id });
}

test('fleet status shows counts per version and state at the top, then one row per host; --group and --json', async () => {
  await putHosts('c1/fleet', [
    { machineId: 'aaa1', group: 'web', version: '2.0.0' },
    { machineId: 'aaa2', group: 'web', version: '1.9.0', state: 'DOWNLOADING', percent: 40, other: '2.0.0' },
    { machineId: 'bbb1', group: 'db', version: '1.9.0', rebootLock: true },
  ]);
  await setSemaphoreMax({ client, group: 'web' }, 2);
  await lockSemaphore({ client, group: 'web' }, 'aaa1');
  const text = await runCli(['fleet', 'status', '--endpoints', endpoints, '--prefix', 'c1/fleet']);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  assert.equal(lines[0], 'Hosts: 3');
  assert.equal(lines[1], 'Versions: 1.9.0 2, 2.0.0 1');
  assert.equal(lines[2], 'States: IDLE 2, DOWNLOADING 1');
  assert.match(text.stdout, /Reboot lock held by: web: aaa1/);
  assert.match(text.stdout, /^HOST\s+GROUP\s+VERSION\s+STATE\s+LAST CHECK\s+HEALTH$/m);
  assert.match(text.stdout, /^aaa2\s+web\s+1\.9\.0\s+DOWNLOADING 40%/m);
  assert.match(text.stdout, /^bbb1\s+db\s+1\.9\.0\s+IDLE/m);

  const web = (await runCli(['fleet', 'status', '--group', 'web', '--endpoints', endpoints, '--prefix', 'c1/fleet', '--json'])).json();
  assert.deepEqual(web.counts, { hosts: 2, byVersion: { '2.0.0': 1, '1.9.0': 1 }, byState: { IDLE: 1, DOWNLOADING: 1 } });
  assert.deepEqual(web.hosts.map((h: { machineId: string }) => h.machineId), ['aaa1', 'aaa2']);
  assert.deepEqual(web.groups.map((g: { group: string }) => g.group), ['web']);

  const hosts = await runCli(['fleet', 'hosts', '--endpoints', endpoints, '--prefix', 'c1/fleet']);
  assert.match(hosts.stdout, /^aaa2\s+host-aaa2\s+web\s+A\s+1\.9\.0 \(good\)\s+2\.0\.0 \(good\)\s+DOWNLOADING/m);
  assert.match(hosts.stdout, /^bbb1 .* yes /m, 'the reboot-lock holding is shown');
});

test('fleet pause / resume change the group switch in etcd; fleet gate sets and removes the gate', async () => {
  const pause = await runCli(['fleet', 'pause', 'web', '--endpoints', endpoints, '--prefix', 'c2/fleet', '--json']);
  assert.equal(pause.code, 0, pause.stderr);
  assert.equal(JSON.parse(await etcdctlGet('c2/fleet/groups/web/control')).paused, true);
  assert.equal(pause.json().control.paused, true);
  const status = await runCli(['fleet', 'status', '--endpoints', endpoints, '--prefix', 'c2/fleet']);
  assert.match(status.stdout, /^Group web: PAUSED, no gate$/m);
  await runCli(['fleet', 'resume', 'web', '--endpoints', endpoints, '--prefix', 'c2/fleet']);
  assert.equal(JSON.parse(await etcdctlGet('c2/fleet/groups/web/control')).paused, false);
  const gate = await runCli(['fleet', 'gate', 'web', '--max-failures', '3', '--endpoints', endpoints, '--prefix', 'c2/fleet']);
  assert.equal(gate.code, 0, gate.stderr);
  assert.match(gate.stdout, /stop a version after 3 rollback\(s\)/);
  assert.equal(JSON.parse(await etcdctlGet('c2/fleet/groups/web/control')).maxFailures, 3);
  await runCli(['fleet', 'gate', 'web', '--off', '--endpoints', endpoints, '--prefix', 'c2/fleet']);
  assert.equal(JSON.parse(await etcdctlGet('c2/fleet/groups/web/control')).maxFailures, null);
});

test('fleet gate and pause refuse bad arguments with ERR_USAGE and write nothing', async () => {
  for (const args of [['gate', 'web'], ['gate', 'web', '--max-failures', '0'], ['gate', 'web', '--max-failures', '2', '--off'], ['pause'], ['pause', 'a/b']]) {
    const result = await runCli(['fleet', ...args, '--endpoints', endpoints, '--prefix', 'c3/fleet']);
    assert.equal(result.code, 2, args.join(' '));
    assert.match(result.stderr, /^abupdate: Cannot .*\[ERR_USAGE\]$/m);
  }
  assert.equal((await client.range('c3/fleet/', { prefix: true })).count, 0, 'nothing written under the prefix');
});

test('fleet history lists per version offered, installed, committed and rolled back with the first time', async () => {
  const t = { client, keys: new FleetKeys('c4/fleet') };
  await recordHistory(t, { group: 'web', version: '2.0.0', event: 'offered', machineId: 'm1', at: new Date('2026-12-01T10:00:00Z') });
  await recordHistory(t, { group: 'web', version: '2.0.0', event: 'installed', machineId: 'm1', at: new Date('2026-12-01T10:05:00Z') });
  await markRollback(t, { group: 'web', version: '2.0.0', machineId: 'm1', code: 'ERR_HEALTH_CHECK', at: new Date('2026-12-01T10:09:00Z') });
  const result = await runCli(['fleet', 'history', '--endpoints', endpoints, '--prefix', 'c4/fleet']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^GROUP\s+VERSION\s+OFFERED\s+INSTALLED\s+COMMITTED\s+ROLLED BACK$/m);
  assert.match(result.stdout, /^web\s+2\.0\.0\s+1 \(first 2026-12-01 10:00:00\)\s+1 \(first 2026-12-01 10:05:00\)\s+-\s+1 \(first 2026-12-01 10:09:00\)$/m);
  const json = (await runCli(['fleet', 'history', '--json', '--endpoints', endpoints, '--prefix', 'c4/fleet'])).json();
  assert.equal(json.history[0].events['rolled-back'].hosts, 1);
});

test('every fleet command takes --help', async () => {
  for (const verb of ['status', 'hosts', 'history', 'pause', 'resume', 'gate', 'serve']) {
    const result = await runCli(['fleet', verb, '--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, new RegExp(`^Usage: abupdate fleet ${verb}`));
  }
});
