// Rollout control against a real etcd: pause/resume, the failure gate, rollback marks and the history.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { useEtcdForFile, type EtcdCluster } from '../../fixtures/etcd.js';
import { EtcdClient } from '../reboot/etcd-client.js';
import { FleetKeys } from './fleet-keys.js';
import { readHistory, recordHistory } from './history.js';
import { markRollback, pauseGroup, readGroupControl, resumeGroup, rolloutDecision, setGate, type FleetTarget } from './rollout.js';

const getEtcd = useEtcdForFile();
let etcd: EtcdCluster;
let client: EtcdClient;

before(async () => {
  etcd = await getEtcd();
  client = new EtcdClient({ endpoints: etcd.endpoints });
});

const target = (prefix: string): FleetTarget => ({ client, keys: new FleetKeys(prefix) });

async function etcdctlGet(key: string): Promise<string> {
  const { stdout } = await execa('etcdctl', ['--endpoints', etcd.endpoints.join(','), 'get', '--print-value-only', key], { env: { ETCDCTL_API: '3' } });
  return stdout.trim();
}

test('FleetKeys escapes names so a "/" cannot reach into another part of the schema, and parses its keys back', () => {
  const keys = new FleetKeys('p/fleet/');
  assert.equal(keys.host('ab/../x'), 'p/fleet/hosts/ab%2F..%2Fx');
  assert.deepEqual(keys.parse(keys.host('ab/../x')), { kind: 'host', machineId: 'ab/../x' });
  assert.deepEqual(keys.parse(keys.rollback('web', '1.2.0+b1', 'm1')), { kind: 'rollback', group: 'web', version: '1.2.0+b1', machineId: 'm1' });
  assert.deepEqual(keys.parse(keys.historyEvent('web', '2.0.0', 'rolled-back', 'm1')), { kind: 'history', group: 'web', version: '2.0.0', event: 'rolled-back', machineId: 'm1' });
  assert.equal(keys.parse('p/fleet/hosts/a/b'), undefined);
  assert.equal(keys.parse('other/x'), undefined);
});

test('pauseGroup() and resumeGroup() flip the group switch in etcd; a paused group\'s hosts hold, others install', async () => {
  const t = target('r1/fleet');
  assert.deepEqual(await rolloutDecision(t, 'web', '2.0.0'), { action: 'install' });
  await pauseGroup(t, 'web', 'op@admin');
  const stored = JSON.parse(await etcdctlGet('r1/fleet/groups/web/control')) as { paused: boolean; updatedBy: string };
  assert.equal(stored.paused, true);
  assert.equal(stored.updatedBy, 'op@admin');
  assert.equal((await rolloutDecision(t, 'web', '2.0.0')).action, 'hold');
  assert.deepEqual(await rolloutDecision(t, 'db', '2.0.0'), { action: 'install' }, 'another group is not paused');
  await resumeGroup(t, 'web', 'op@admin');
  assert.equal(JSON.parse(await etcdctlGet('r1/fleet/groups/web/control')).paused, false);
  assert.deepEqual(await rolloutDecision(t, 'web', '2.0.0'), { action: 'install' });
});

test('updateGroupControl() is a compare-and-swap: 20 concurrent changes all land, none lost', async () => {
  const t = target('r2/fleet');
  await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? pauseGroup(t, 'g', `op${i}`) : setGate(t, 'g', 3, `op${i}`))));
  const control = await readGroupControl(t, 'g');
  assert.equal(control.paused, true);
  assert.equal(control.maxFailures, 3);
});

test('the gate stops a version for the group once N hosts rolled it back; other versions and groups go on', async () => {
  const t = target('r3/fleet');
  await setGate(t, 'web', 2, 'op');
  const first = await markRollback(t, { group: 'web', version: '2.0.0', machineId: 'm1', code: 'ERR_HEALTH_CHECK' });
  assert.deepEqual(first, { rollbacks: 1, stopped: false });
  assert.deepEqual(await rolloutDecision(t, 'web', '2.0.0'), { action: 'install' }, 'one rollback is below the gate');
  const second = await markRollback(t, { group: 'web', version: '2.0.0', machineId: 'm2', code: 'ERR_ROLLBACK' });
  assert.deepEqual(second, { rollbacks: 2, stopped: true });
  assert.deepEqual(await rolloutDecision(t, 'web', '2.0.0'), { action: 'skip', reason: 'stopped', rollbacks: 2, maxFailures: 2 });
  // The stop is a key in etcd (what etcdctl reads), and each rollback a mark with its code.
  assert.equal(JSON.parse(await etcdctlGet('r3/fleet/groups/web/stopped/2.0.0')).rollbacks, 2);
  assert.equal(JSON.parse(await etcdctlGet('r3/fleet/groups/web/rollbacks/2.0.0/m1')).code, 'ERR_HEALTH_CHECK');
  assert.deepEqual(await rolloutDecision(t, 'web', '2.0.1'), { action: 'install' }, 'a newer version is not stopped');
  assert.deepEqual(await rolloutDecision(t, 'db', '2.0.0'), { action: 'install' }, 'the gate is per group');
  // A stopped version stays stopped even when the group is also paused (skip wins: nothing to wait for).
  await pauseGroup(t, 'web', 'op');
  assert.equal((await rolloutDecision(t, 'web', '2.0.0')).action, 'skip');
});

test('setGate() on a group that already has rollbacks stops the versions at the limit at once', async () => {
  const t = target('r4/fleet');
  for (const m of ['a', 'b', 'c']) await markRollback(t, { group: 'edge', version: '3.0.0', machineId: m, code: 'ERR_ROLLBACK' });
  await markRollback(t, { group: 'edge', version: '3.1.0', machineId: 'a', code: 'ERR_ROLLBACK' });
  assert.deepEqual(await rolloutDecision(t, 'edge', '3.0.0'), { action: 'install' }, 'no gate: rollbacks alone stop nothing');
  const { stopped } = await setGate(t, 'edge', 3, 'op');
  assert.deepEqual(stopped, ['3.0.0']);
  assert.equal((await rolloutDecision(t, 'edge', '3.0.0')).action, 'skip');
  assert.equal((await rolloutDecision(t, 'edge', '3.1.0')).action, 'install');
  await assert.rejects(setGate(t, 'edge', 0, 'op'), { code: 'ERR_USAGE' });
});

test('the gate holds when N hosts roll back at the same moment: the version is stopped exactly once', async () => {
  const t = target('r5/fleet');
  await setGate(t, 'g', 5, 'op');
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => markRollback({ client: new EtcdClient({ endpoints: etcd.endpoints }), keys: t.keys }, { group: 'g', version: '4.0.0', machineId: `m${i}`, code: 'ERR_ROLLBACK' })));
  assert.equal(results.filter((r) => r.stopped).length, 1, 'one create-only txn wins');
  assert.equal((await rolloutDecision(t, 'g', '4.0.0')).action, 'skip');
});

test('recordHistory() keeps the first time per host and event; readHistory() counts hosts per version with times', async () => {
  const t = target('r6/fleet');
  const at = (s: string) => new Date(`2026-12-01T${s}Z`);
  await recordHistory(t, { group: 'web', version: '2.0.0', event: 'offered', machineId: 'm1', at: at('10:00:00') });
  assert.equal(await recordHistory(t, { group: 'web', version: '2.0.0', event: 'offered', machineId: 'm1', at: at('11:00:00') }), false, 'a second offer keeps the first time');
  await recordHistory(t, { group: 'web', version: '2.0.0', event: 'offered', machineId: 'm2', at: at('10:05:00') });
  await recordHistory(t, { group: 'web', version: '2.0.0', event: 'installed', machineId: 'm1', at: at('10:10:00') });
  await recordHistory(t, { group: 'web', version: '2.0.0', event: 'committed', machineId: 'm1', at: at('10:20:00') });
  await markRollback(t, { group: 'web', version: '2.0.0', machineId: 'm2', code: 'ERR_HEALTH_CHECK', at: at('10:30:00') });
  await recordHistory(t, { group: 'db', version: '2.0.0', event: 'offered', machineId: 'm9', at: at('09:00:00') });
  const web = await readHistory(t, 'web');
  assert.equal(web.length, 1);
  assert.deepEqual(web[0], {
    group: 'web',
    version: '2.0.0',
    events: {
      offered: { hosts: 2, first: '2026-12-01T10:00:00.000Z', last: '2026-12-01T10:05:00.000Z' },
      installed: { hosts: 1, first: '2026-12-01T10:10:00.000Z', last: '2026-12-01T10:10:00.000Z' },
      committed: { hosts: 1, first: '2026-12-01T10:20:00.000Z', last: '2026-12-01T10:20:00.000Z' },
      'rolled-back': { hosts: 1, first: '2026-12-01T10:30:00.000Z', last: '2026-12-01T10:30:00.000Z' },
    },
  });
  assert.deepEqual((await readHistory(t)).map((r) => r.group), ['db', 'web']);
});
