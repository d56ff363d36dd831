// ETCD_API=v2 against Debian's etcd with --enable-v2: the same key and JSON as locksmithd (lock/etcd.go), so hosts
// running locksmithd and hosts running abupdate share one reboot lock.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isUpdaterError } from '../../common/errors.js';
import { useEtcdForFile, type EtcdCluster } from '../../fixtures/etcd.js';
import { EtcdV2Client } from './etcd-v2-client.js';
import { lockSemaphore, readSemaphore, semaphoreKey, setSemaphoreMax, unlockSemaphore } from './etcd-semaphore.js';
import { openEtcdStore } from './etcd-store.js';

const getEtcd = useEtcdForFile({ enableV2: true });
const getV3Only = useEtcdForFile();
let etcd: EtcdCluster;

before(async () => {
  etcd = await getEtcd();
});

/** The key as locksmithd's etcd client reads it: GET /v2/keys/<key>. */
async function v2Get(key: string): Promise<{ value: string; modifiedIndex: number } | undefined> {
  const response = await fetch(`${etcd.endpoints[0]}/v2/keys/${key}`);
  const body = (await response.json()) as { node?: { value: string; modifiedIndex: number }; errorCode?: number };
  return body.node;
}

/** What locksmithd's Init writes when the key is missing (lock/semaphore.go newSemaphore, json.Marshal). */
async function locksmithInit(key: string, value = '{"semaphore":1,"max":1,"holders":null}'): Promise<void> {
  const response = await fetch(`${etcd.endpoints[0]}/v2/keys/${key}?prevExist=false`, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ value }).toString(),
  });
  assert.equal(response.status, 201);
}

test('ETCD_API=v2: abupdate takes a lock locksmithd created ("holders": null), at locksmith\'s key, in locksmith\'s JSON', async () => {
  const key = semaphoreKey('mixed');
  assert.equal(key, 'coreos.com/updateengine/rebootlock/groups/mixed/semaphore');
  await locksmithInit(key);
  const client = openEtcdStore({ endpoints: etcd.endpoints, access: { api: 'v2' } });
  assert.ok(client instanceof EtcdV2Client);
  const state = await readSemaphore({ client, group: 'mixed' });
  assert.deepEqual([state.semaphore, state.max, state.holders], [1, 1, []]);
  await lockSemaphore({ client, group: 'mixed' }, 'abupdate-host');
  assert.equal((await v2Get(key))?.value, '{"semaphore":0,"max":1,"holders":["abupdate-host"]}');
  // A locksmithd host now finds the lock full; when it is released, the locksmithd host can take it.
  await assert.rejects(lockSemaphore({ client, group: 'mixed' }, 'locksmith-host'), (error: unknown) => isUpdaterError(error, 'ERR_REBOOT_LOCK'));
  await unlockSemaphore({ client, group: 'mixed' }, 'abupdate-host');
  assert.equal((await v2Get(key))?.value, '{"semaphore":1,"max":1,"holders":[]}');
});

test('ETCD_API=v2: a lock held by a locksmithd host is seen, and set-max moves the free count as locksmithctl does', async () => {
  const key = semaphoreKey();
  await locksmithInit(key, '{"semaphore":0,"max":1,"holders":["locksmith-host"]}');
  const client = openEtcdStore({ endpoints: etcd.endpoints, access: { api: 'v2' } });
  await assert.rejects(lockSemaphore({ client }, 'abupdate-host'), (error: unknown) => isUpdaterError(error, 'ERR_REBOOT_LOCK') && /"locksmith-host"/.test(error.message));
  await setSemaphoreMax({ client }, 2);
  await lockSemaphore({ client }, 'abupdate-host');
  assert.equal((await v2Get(key))?.value, '{"semaphore":0,"max":2,"holders":["abupdate-host","locksmith-host"]}');
});

test('ETCD_API=v2: compare-and-swap on modifiedIndex loses a race instead of overwriting', async () => {
  const client = new EtcdV2Client({ endpoints: etcd.endpoints });
  const key = semaphoreKey('race');
  await readSemaphore({ client, group: 'race' });
  const before = await client.get(key);
  assert.ok(before);
  assert.equal((await client.compareAndSwap(key, before.modRevision, '{"semaphore":1,"max":3,"holders":[]}')).succeeded, true);
  const lost = await client.compareAndSwap(key, before.modRevision, '{"semaphore":1,"max":9,"holders":[]}');
  assert.equal(lost.succeeded, false);
  assert.equal(lost.current?.value, '{"semaphore":1,"max":3,"holders":[]}');
  assert.equal((await client.compareAndSwap(key, undefined, 'x')).succeeded, false, 'create refuses an existing key');
});

test('ETCD_API=v2 against an etcd without --enable-v2 is a clear ERR_ETCD saying so', async () => {
  const plain = await getV3Only();
  const client = openEtcdStore({ endpoints: plain.endpoints, access: { api: 'v2' } });
  await assert.rejects(readSemaphore({ client }), (error: unknown) => isUpdaterError(error, 'ERR_ETCD') && /does not serve the v2 API/.test(error.message) && /--enable-v2/.test(error.hint ?? ''));
});
