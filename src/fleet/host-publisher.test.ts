// The host's fleet entry against a real etcd: reporting, rate limit, lease expiry of a dead host, etcd down survived.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { execa } from 'execa';
import { useEtcdForFile, type EtcdCluster } from '../../fixtures/etcd.js';
import { sampleReport } from '../../fixtures/fleet-hosts.js';
import { waitFor } from '../../fixtures/wait.js';
import { createMemoryLogger } from '../log.js';
import { EtcdClient } from '../reboot/etcd-client.js';
import { FleetKeys } from './fleet-keys.js';
import { createHostPublisher } from './host-publisher.js';
import { parseHostReport } from './host-report.js';

const getEtcd = useEtcdForFile();
let etcd: EtcdCluster;
let client: EtcdClient;

before(async () => {
  etcd = await getEtcd();
  client = new EtcdClient({ endpoints: etcd.endpoints, timeoutMs: 1000 });
});

/** What etcdctl (the real tool) reads at the key, with its lease. */
async function etcdctl(...args: string[]): Promise<string> {
  const { stdout } = await execa('etcdctl', ['--endpoints', etcd.endpoints.join(','), ...args], { env: { ETCDCTL_API: '3' } });
  return stdout.trim();
}

test('a host publisher writes its report under <prefix>/hosts/<machine id>, bound to a lease etcd keeps alive', async () => {
  const keys = new FleetKeys('t1/fleet');
  const publisher = createHostPublisher({ client, keys, machineId: 'host-1', logger: createMemoryLogger(), ttlSeconds: 3, minIntervalMs: 0 });
  const stop = new AbortController();
  const running = publisher.run(stop.signal);
  publisher.publish(sampleReport({ machineId: 'host-1', group: 'web', version: '1.2.0', other: '1.1.0' }));
  await publisher.flushed();
  const report = parseHostReport(await etcdctl('get', '--print-value-only', 't1/fleet/hosts/host-1'));
  assert.equal(report?.group, 'web');
  assert.equal(report?.version, '1.2.0');
  assert.deepEqual(report?.slots, { A: { version: '1.2.0', state: 'good' }, B: { version: '1.1.0', state: 'good' } });
  assert.equal(report?.state, 'IDLE');
  // Bound to the lease: etcdctl shows the key attached to it.
  const lease = publisher.status().lease!;
  const ttl = await etcdctl('lease', 'timetolive', BigInt(lease).toString(16), '--keys');
  assert.match(ttl, /t1\/fleet\/hosts\/host-1/);
  // Renewed: after more than two TTLs the entry is still there.
  const firstWrites = publisher.status().writes;
  await new Promise((resolve) => setTimeout(resolve, 7000));
  assert.ok((await client.get('t1/fleet/hosts/host-1')) !== undefined, 'the entry outlived its TTL: the lease is renewed');
  assert.equal(publisher.status().writes, firstWrites, 'no rewrite without a change');
  // A clean stop revokes the lease: the entry goes at once.
  stop.abort();
  await running;
  assert.equal(await client.get('t1/fleet/hosts/host-1'), undefined);
});

test('a host publisher writes on change, at most once per interval, and the newest report last', async () => {
  const keys = new FleetKeys('t2/fleet');
  const publisher = createHostPublisher({ client, keys, machineId: 'h2', logger: createMemoryLogger(), ttlSeconds: 5, minIntervalMs: 1500 });
  const stop = new AbortController();
  const running = publisher.run(stop.signal);
  publisher.publish(sampleReport({ machineId: 'h2', state: 'IDLE' }));
  await publisher.flushed();
  for (let percent = 1; percent <= 50; percent++) publisher.publish(sampleReport({ machineId: 'h2', state: 'DOWNLOADING', percent, other: '2.0.0' }));
  publisher.publish(sampleReport({ machineId: 'h2', state: 'UPDATED_NEED_REBOOT', other: '2.0.0' }));
  await publisher.flushed();
  assert.equal(publisher.status().writes, 2, '52 changes in quick succession: the first and the newest written');
  assert.equal(parseHostReport((await client.get('t2/fleet/hosts/h2'))!.value)?.state, 'UPDATED_NEED_REBOOT');
  stop.abort();
  await running;
});

test('a host that dies (killed, no revoke) disappears from the fleet when its lease runs out', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'fixtures/fleet-host-process.ts', etcd.endpoints.join(','), 't3/fleet', 'dead-1', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(line.toString().trim(), 'published');
  assert.ok((await client.get('t3/fleet/hosts/dead-1')) !== undefined);
  child.kill('SIGKILL');
  await once(child, 'exit');
  // Still there just after the kill (the lease is not revoked), gone once it expires: never a stale live entry.
  await waitFor('the dead host\'s entry to expire with its lease', async () => (await client.get('t3/fleet/hosts/dead-1')) === undefined, 15_000);
});

test('a host publisher survives etcd being down and publishes the newest report once it is back', async (t) => {
  const { startEtcd } = await import('../../fixtures/etcd.js');
  const own = await startEtcd(t);
  const ownClient = new EtcdClient({ endpoints: own.endpoints, timeoutMs: 500 });
  const logger = createMemoryLogger();
  const keys = new FleetKeys('t4/fleet');
  const publisher = createHostPublisher({ client: ownClient, keys, machineId: 'h4', logger, ttlSeconds: 2, minIntervalMs: 0, retryMs: 100, maxRetryMs: 300 });
  const stop = new AbortController();
  const running = publisher.run(stop.signal);
  publisher.publish(sampleReport({ machineId: 'h4', state: 'IDLE' }));
  await publisher.flushed();
  const firstLease = publisher.status().lease;
  await own.members[0]!.stop();
  // The host carries on: reports keep coming while etcd is away.
  publisher.publish(sampleReport({ machineId: 'h4', state: 'DOWNLOADING', percent: 10, other: '2.0.0' }));
  await waitFor('the publisher to notice etcd is down', () => publisher.status().failing !== undefined);
  // Longer than the TTL: the lease expires inside etcd while it is down (etcd restores leases with a fresh TTL, then expires them).
  await new Promise((resolve) => setTimeout(resolve, 2500));
  await own.members[0]!.start();
  await publisher.flushed();
  await waitFor('the entry to be back', async () => (await ownClient.get('t4/fleet/hosts/h4').catch(() => undefined)) !== undefined, 15_000);
  assert.equal(parseHostReport((await ownClient.get('t4/fleet/hosts/h4'))!.value)?.state, 'DOWNLOADING');
  assert.ok(logger.entries.some((l) => /fleet: .*carries on/.test(l.message)), 'the outage was logged once as survivable');
  // Wait past a TTL again: the entry stays (whatever lease it has now is renewed).
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.ok((await ownClient.get('t4/fleet/hosts/h4')) !== undefined);
  assert.ok(firstLease !== undefined);
  stop.abort();
  await running;
});
