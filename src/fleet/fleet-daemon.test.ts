// FLEET_STATUS=etcd through the real update cycle (abupdate update, the daemon) against a real etcd: a paused group
// checks but does not install, a version the gate stopped is skipped without a download, a rollback is marked (and
// survives a kill before etcd took it); a running daemon is in `abupdate fleet status` and leaves with its lease.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CLI_ARGV, runCli } from '../../fixtures/cli.js';
import { makeDaemonEnv, omahaPackageFor, startDaemon, type DaemonEnv, TEST_MACHINE_ID } from '../../fixtures/daemon-env.js';
import { cgptFlags } from '../../fixtures/disk.js';
import { freePort, useEtcdForFile } from '../../fixtures/etcd.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { saveReportRecord } from '../daemon/report-record.js';
import { loadEngineState } from '../engine/state-store.js';
import { EtcdClient } from '../reboot/etcd-client.js';
import { FleetKeys } from './fleet-keys.js';
import { parseHostReport } from './host-report.js';
import { PENDING_RECORDS_FILE } from './pending-records.js';
import { readHistory } from './history.js';
import { markRollback, pauseGroup, resumeGroup, setGate } from './rollout.js';

const getEtcd = useEtcdForFile();
let endpoints: string[];
let client: EtcdClient;

before(async () => {
  endpoints = (await getEtcd()).endpoints;
  client = new EtcdClient({ endpoints });
});

async function fleetScene(t: { after(fn: () => Promise<void> | void): void }, prefix: string, extra: Record<string, string> = {}): Promise<DaemonEnv> {
  const env = await makeDaemonEnv(t, await makeTempDir(t));
  await env.writeConfig({ FLEET_STATUS: 'etcd', FLEET_PREFIX: prefix, ETCD_ENDPOINTS: endpoints.join(','), ...extra });
  env.omaha.setPackage(omahaPackageFor(env, '2.0.0'));
  return env;
}

const bundleRequests = (env: DaemonEnv) => env.server.requests.filter((r) => r.path === 'bundle.tar').length;

/** `abupdate daemon` as a child process (a test kills it), checking at once. */
function spawnDaemon(t: { after(fn: () => void): void }, env: DaemonEnv) {
  const child = execa(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), 'daemon', ...env.flags, '--first-check-delay', '0s'], { env: env.env, reject: false });
  t.after(() => {
    child.kill('SIGKILL');
  });
  return child;
}

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

test('a running daemon publishes its host: in `abupdate fleet status` with its version; a clean stop removes it, a killed daemon leaves with its lease', async (t) => {
  const env = await fleetScene(t, 'f4/fleet', { FLEET_LEASE_TTL: '5s' });
  env.omaha.setPackage(null);
  const keys = new FleetKeys('f4/fleet');
  const key = keys.host(TEST_MACHINE_ID);
  const fleetStatus = (...extra: string[]) => runCli(['fleet', 'status', '--endpoints', endpoints.join(','), '--prefix', 'f4/fleet', ...extra], { env: env.env });

  const first = spawnDaemon(t, env);
  await waitFor('the daemon\'s host in etcd', async () => parseHostReport((await client.get(key))?.value ?? '')?.lastCheck != null, 30_000);
  const json = (await fleetStatus('--json')).json();
  assert.equal(json.counts.hosts, 1);
  assert.deepEqual(json.counts.byVersion, { '1.0.0': 1 });
  const [host] = json.hosts;
  assert.equal(host.machineId, TEST_MACHINE_ID);
  assert.equal(host.group, 'stable');
  assert.equal(host.version, '1.0.0');
  assert.equal(host.booted, 'A');
  assert.equal(host.state, 'IDLE');
  assert.match(host.updaterVersion, /^abupdate-/);
  const text = await fleetStatus();
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^${TEST_MACHINE_ID}\\s+stable\\s+1\\.0\\.0\\s+IDLE\\s+\\d{4}-\\d\\d-\\d\\d`, 'm'));
  // Bound to a lease of FLEET_LEASE_TTL.
  const etcdctl = async (...args: string[]) => (await execa('etcdctl', ['--endpoints', endpoints.join(','), ...args], { env: { ETCDCTL_API: '3' } })).stdout;
  // (The lease id is an int64: read it as text, JSON.parse would round it.)
  const lease = /"lease":(\d+)/.exec(await etcdctl('get', key, '-w', 'json'))?.[1];
  assert.ok(lease !== undefined && lease !== '0', 'the entry is bound to a lease');
  assert.match(await etcdctl('lease', 'timetolive', BigInt(lease).toString(16)), /granted with TTL\(5s\)/);

  // SIGTERM: the daemon revokes its lease on the way out, the entry goes at once.
  first.kill('SIGTERM');
  const stopped = await first;
  assert.equal(stopped.exitCode, 0, String(stopped.stderr));
  assert.equal(await client.get(key), undefined, 'a clean stop removes the host at once');

  // SIGKILL: nothing revokes the lease; the entry stays until it runs out, then the host is gone from the view.
  const second = spawnDaemon(t, env);
  await waitFor('the restarted daemon\'s host in etcd', async () => (await client.get(key)) !== undefined, 30_000);
  second.kill('SIGKILL');
  await second;
  assert.ok((await client.get(key)) !== undefined, 'just after the kill the entry is still there (its lease is not revoked)');
  await waitFor('the killed daemon\'s entry to expire with its lease', async () => (await client.get(key)) === undefined, 20_000);
  assert.equal((await fleetStatus('--json')).json().counts.hosts, 0);
});

test('a rollback mark etcd did not take survives a killed daemon: the next start counts it in etcd and the gate still stops the version', async (t) => {
  const prefix = 'f5/fleet';
  const target = { client, keys: new FleetKeys(prefix) };
  await setGate(target, 'stable', 1, 'op');
  // etcd away: nothing listens on this port.
  const env = await fleetScene(t, prefix, { ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}` });
  env.omaha.setPackage(null);
  await mkdir(env.stateDir, { recursive: true });
  await saveReportRecord(env.stateDir, { previousVersion: '1.0.0', installedVersion: '2.0.0', bootId: 'an-earlier-boot' });
  const pendingFile = path.join(env.stateDir, PENDING_RECORDS_FILE);

  const first = spawnDaemon(t, env);
  await waitFor('the rollback waiting in STATE_DIR', async () => (await readFile(pendingFile, 'utf8').catch(() => '')).includes('rolled-back'), 30_000);
  // The start report is done with: the report record is cleared, so only the waiting record remembers the rollback.
  await waitFor('the report record cleared', async () => (await readFile(path.join(env.stateDir, 'daemon-report.json'), 'utf8')).trim() === 'null', 30_000);
  first.kill('SIGKILL');
  await first;
  assert.equal(await client.get(target.keys.rollback('stable', '2.0.0', TEST_MACHINE_ID)), undefined, 'not in etcd before the restart');

  // etcd answers now; the restarted daemon sends what waited.
  await env.writeConfig({ FLEET_STATUS: 'etcd', FLEET_PREFIX: prefix, ETCD_ENDPOINTS: endpoints.join(',') });
  const second = spawnDaemon(t, env);
  await waitFor('the rollback mark in etcd', async () => (await client.get(target.keys.rollback('stable', '2.0.0', TEST_MACHINE_ID))) !== undefined, 30_000);
  await waitFor('the stop mark in etcd', async () => (await client.get(target.keys.stopped('stable', '2.0.0'))) !== undefined);
  await waitFor('the waiting records cleared', async () => access(pendingFile).then(() => false, () => true));
  second.kill('SIGTERM');
  await second;
  const [row] = await readHistory(target, 'stable');
  assert.equal(row?.events['rolled-back'].hosts, 1);

  // The gate applies: offered 2.0.0 again, the host skips it without downloading.
  env.omaha.setPackage(omahaPackageFor(env, '2.0.0'));
  const skipped = await runCli(['update', ...env.flags], { env: env.env });
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /fleet: update skipped: 2\.0\.0 is stopped for group stable after 1 rollback\(s\); not downloading it/);
  assert.equal(bundleRequests(env), 0);
});
