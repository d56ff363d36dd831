// FLEET_STATUS=etcd through the real update cycle (abupdate update, the daemon) against a real etcd: a paused group
// checks but does not install, a version the gate stopped is skipped without a download, a rollback is marked.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor, startDaemon, type DaemonEnv, TEST_MACHINE_ID } from '../../fixtures/daemon-env.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { useEtcdForFile } from '../../fixtures/etcd.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { saveReportRecord } from '../daemon/report-record.js';
import { loadEngineState } from '../engine/state-store.js';
import { EtcdClient } from '../reboot/etcd-client.js';
import { FleetKeys } from './fleet-keys.js';
import { readHistory } from './history.js';
import { markRollback, pauseGroup, resumeGroup, setGate } from './rollout.js';

const getEtcd = useEtcdForFile();
let endpoints: string[];
let client: EtcdClient;

before(async () => {
  endpoints = (await getEtcd()).endpoints;
  client = new EtcdClient({ endpoints });
});

async function fleetScene(t: { after(fn: () => Promise<void> | void): void }, prefix: string): Promise<DaemonEnv> {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  await env.writeConfig({ FLEET_STATUS: 'etcd', FLEET_PREFIX: prefix, ETCD_ENDPOINTS: endpoints.join(',') });
  env.omaha.setPackage(omahaPackageFor(env, '2.0.0'));
  return env;
}

const bundleRequests = (env: DaemonEnv) => env.server.requests.filter((r) => r.path === 'bundle.tar').length;

test('a host of a paused group checks but does not install; after resume it installs; both are in the history', async (t) => {
  const env = await fleetScene(t, 'f1/fleet');
  const target = { client, keys: new FleetKeys('f1/fleet') };
  await pauseGroup(target, 'stable', 'op');

  const held = await runCli(['update', ...env.flags], { env: env.env });
  assert.equal(held.code, 0, held.stderr);
  assert.match(held.stderr, /fleet: update held: group stable is paused/);
  assert.ok(env.omaha.requests.length > 0, 'the host did check');
  assert.equal(bundleRequests(env), 0, 'nothing downloaded');
  assert.equal((await loadEngineState(env.stateDir)).install, null);
  assert.equal((await cgptFlags(env.disk.path, env.disk.slots.B.partition)).priority, 0);

  await resumeGroup(target, 'stable', 'op');
  const installed = await runCli(['update', ...env.flags, '--json'], { env: env.env });
  assert.equal(installed.code, 0, installed.stderr);
  assert.equal(installed.json().outcome, 'installed');
  const [row] = await readHistory(target, 'stable');
  assert.equal(row?.version, '2.0.0');
  assert.equal(row?.events.offered.hosts, 1);
  assert.equal(row?.events.installed.hosts, 1);
});

test('the gate: once N hosts rolled a version back, a host of the group skips it without downloading', async (t) => {
  const env = await fleetScene(t, 'f2/fleet');
  const target = { client, keys: new FleetKeys('f2/fleet') };
  await setGate(target, 'stable', 2, 'op');
  await markRollback(target, { group: 'stable', version: '2.0.0', machineId: 'peer-1', code: 'ERR_HEALTH_CHECK' });
  await markRollback(target, { group: 'stable', version: '2.0.0', machineId: 'peer-2', code: 'ERR_HEALTH_CHECK' });

  const skipped = await runCli(['update', ...env.flags], { env: env.env });
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /fleet: update skipped: 2\.0\.0 is stopped for group stable after 2 rollback\(s\); not downloading it/);
  assert.equal(bundleRequests(env), 0, 'the stopped version was not downloaded');
  assert.equal((await loadEngineState(env.stateDir)).install, null);
  assert.equal((await cgptFlags(env.disk.path, env.disk.slots.B.partition)).priority, 0, 'slot B untouched');
});

test('the daemon marks its own rollback in etcd at start; with the gate at 1 that stops the version for the group', async (t) => {
  const env = await fleetScene(t, 'f3/fleet');
  const target = { client, keys: new FleetKeys('f3/fleet') };
  await setGate(target, 'stable', 1, 'op');
  env.omaha.setPackage(null);
  // Installed 2.0.0 from 1.0.0 in an earlier boot, and runs 1.0.0 again: the bootloader or post-boot rolled it back.
  await mkdir(env.stateDir, { recursive: true });
  await saveReportRecord(env.stateDir, { previousVersion: '1.0.0', installedVersion: '2.0.0', bootId: 'an-earlier-boot' });
  await startDaemon(t, env);
  await waitFor('the rollback mark in etcd', async () => (await client.get(target.keys.rollback('stable', '2.0.0', TEST_MACHINE_ID))) !== undefined);
  await waitFor('the stop mark in etcd', async () => (await client.get(target.keys.stopped('stable', '2.0.0'))) !== undefined);
  const [row] = await readHistory(target, 'stable');
  assert.equal(row?.events['rolled-back'].hosts, 1);
});
