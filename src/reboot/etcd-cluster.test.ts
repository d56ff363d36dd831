// Tests the etcd-lock strategy against a real 3-member etcd cluster with one member (the leader) stopped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { runCli } from '../../fixtures/cli.js';
import { useEtcdForFile } from '../../fixtures/etcd.js';
import { makeRebootRecorder } from '../../fixtures/reboot-recorder.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { semaphoreKey } from './etcd-semaphore.js';
import { applyRebootStrategy, releaseRebootLock, type RebootConfig } from './strategy.js';

const getCluster = useEtcdForFile({ size: 3 });

/** Asks a member who leads: /v3/maintenance/status answers {leader, header.member_id}. */
async function isLeader(clientUrl: string): Promise<boolean> {
  const response = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}' });
  const body = (await response.json()) as { leader?: string; header?: { member_id?: string } };
  return body.leader !== undefined && body.leader === body.header?.member_id;
}

test('applyRebootStrategy(etcd-lock) on a 3-member cluster with the leader stopped still takes, reboots and releases', async (t) => {
  const cluster = await getCluster();
  const leaders = await Promise.all(cluster.members.map((m) => isLeader(m.clientUrl)));
  const leader = cluster.members[leaders.indexOf(true)];
  assert.ok(leader, 'the cluster has a leader');
  await leader.stop();
  assert.equal(leader.running(), false);
  // The stopped member first, so the client has to fail over.
  const endpoints = [leader.clientUrl, ...cluster.members.filter((m) => m !== leader).map((m) => m.clientUrl)];

  const dir = await makeTempDir(t);
  const recorder = await makeRebootRecorder(dir);
  const logs: string[] = [];
  const cfg: RebootConfig = { strategy: 'etcd-lock', rebootCommand: recorder.command('host-q'), etcdEndpoints: endpoints, machineId: 'host-q' };
  // Until a new leader is elected, attempts may fail; the strategy retries.
  assert.equal(await applyRebootStrategy(cfg, { backoff: { initialMs: 100, maxMs: 500 }, requestTimeoutMs: 2000, log: (l) => logs.push(l) }), 'rebooting');
  assert.deepEqual(await recorder.rebooted(), ['host-q']);

  const status = await runCli(['reboot-lock', 'status', '--endpoints', endpoints.join(','), '--json']);
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(status.json().holders, ['host-q']);

  assert.deepEqual(await releaseRebootLock(cfg, { requestTimeoutMs: 2000 }), { released: true });
  const survivor = endpoints[1]!;
  const { stdout } = await execa('etcdctl', ['--endpoints', survivor, 'get', '--print-value-only', semaphoreKey()], { env: { ETCDCTL_API: '3' } });
  assert.equal(stdout.trim(), '{"semaphore":1,"max":1,"holders":[]}');
});
