// Tests for the etcd client and locksmith's semaphore against a real etcd (one member for the whole file).

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execa } from 'execa';
import { isUpdaterError } from '../../common/errors.js';
import { freePort, useEtcdForFile, type EtcdCluster } from '../../fixtures/etcd.js';
import { EtcdClient, parseEtcdEndpoints } from './etcd-client.js';
import { lockSemaphore, readSemaphore, semaphoreKey, setSemaphoreMax, unlockSemaphore } from './etcd-semaphore.js';

const getEtcd = useEtcdForFile();
let etcd: EtcdCluster;
let client: EtcdClient;

before(async () => {
  etcd = await getEtcd();
  client = new EtcdClient({ endpoints: etcd.endpoints });
});

/** What etcdctl (the real tool) reads at the key. */
async function etcdctlGet(key: string): Promise<string> {
  const { stdout } = await execa('etcdctl', ['--endpoints', etcd.endpoints.join(','), 'get', '--print-value-only', key], {
    env: { ETCDCTL_API: '3' },
  });
  return stdout.trim();
}

test('semaphoreKey() is locksmith\'s key, with the group query-escaped like Go\'s url.QueryEscape', () => {
  assert.equal(semaphoreKey(), 'coreos.com/updateengine/rebootlock/semaphore');
  assert.equal(semaphoreKey(''), 'coreos.com/updateengine/rebootlock/semaphore');
  assert.equal(semaphoreKey('web'), 'coreos.com/updateengine/rebootlock/groups/web/semaphore');
  assert.equal(semaphoreKey("a b/c!'~"), "coreos.com/updateengine/rebootlock/groups/a+b%2Fc%21%27~/semaphore");
});

test('parseEtcdEndpoints() splits comma lists and refuses non-http URLs', () => {
  assert.deepEqual(parseEtcdEndpoints('http://a:2379/, https://b:2379'), ['http://a:2379', 'https://b:2379']);
  assert.equal(parseEtcdEndpoints(''), undefined);
  assert.equal(parseEtcdEndpoints('a:2379'), undefined);
  assert.equal(parseEtcdEndpoints('unix:///run/etcd.sock'), undefined);
});

test('readSemaphore() creates the key with locksmith\'s default JSON (max 1), as etcdctl sees it', async () => {
  const state = await readSemaphore({ client, group: 'create' });
  assert.deepEqual({ semaphore: state.semaphore, max: state.max, holders: state.holders }, { semaphore: 1, max: 1, holders: [] });
  assert.equal(await etcdctlGet(semaphoreKey('create')), '{"semaphore":1,"max":1,"holders":[]}');
});

test('lockSemaphore() takes a slot, is idempotent for the holder, and refuses others when full', async () => {
  const target = { client, group: 'lock' };
  const first = await lockSemaphore(target, 'host-a');
  assert.equal(first.alreadyHeld, false);
  assert.equal(await etcdctlGet(semaphoreKey('lock')), '{"semaphore":0,"max":1,"holders":["host-a"]}');
  const again = await lockSemaphore(target, 'host-a');
  assert.equal(again.alreadyHeld, true);
  assert.deepEqual(again.state.holders, ['host-a']);
  await assert.rejects(lockSemaphore(target, 'host-b'), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_REBOOT_LOCK'));
    assert.match(error.message, /all 1 slot\(s\) are held \(holders: "host-a"\)/);
    assert.deepEqual(error.data?.holders, ['host-a']);
    return true;
  });
  assert.equal(await etcdctlGet(semaphoreKey('lock')), '{"semaphore":0,"max":1,"holders":["host-a"]}');
});

test('lockSemaphore() keeps holders sorted, as locksmith does', async () => {
  const target = { client, group: 'sorted' };
  await setSemaphoreMax(target, 4);
  for (const id of ['m', 'Z', 'a', 'b0']) await lockSemaphore(target, id);
  assert.equal(await etcdctlGet(semaphoreKey('sorted')), '{"semaphore":0,"max":4,"holders":["Z","a","b0","m"]}');
});

test('unlockSemaphore() frees the holder\'s slot and changes nothing for a non-holder', async () => {
  const target = { client, group: 'unlock' };
  await lockSemaphore(target, 'host-a');
  const other = await unlockSemaphore(target, 'host-b');
  assert.equal(other.released, false);
  assert.equal(await etcdctlGet(semaphoreKey('unlock')), '{"semaphore":0,"max":1,"holders":["host-a"]}');
  const mine = await unlockSemaphore(target, 'host-a');
  assert.equal(mine.released, true);
  assert.equal(await etcdctlGet(semaphoreKey('unlock')), '{"semaphore":1,"max":1,"holders":[]}');
  assert.equal((await unlockSemaphore(target, 'host-a')).released, false);
});

test('setSemaphoreMax() moves the free count with the max and refuses to go below the holders', async () => {
  const target = { client, group: 'max' };
  await setSemaphoreMax(target, 3);
  await lockSemaphore(target, 'h1');
  await lockSemaphore(target, 'h2');
  assert.equal(await etcdctlGet(semaphoreKey('max')), '{"semaphore":1,"max":3,"holders":["h1","h2"]}');
  const { previousMax, state } = await setSemaphoreMax(target, 2);
  assert.equal(previousMax, 3);
  assert.equal(state.semaphore, 0);
  await assert.rejects(setSemaphoreMax(target, 1), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_REBOOT_LOCK'));
    assert.match(error.message, /max to 1: 2 host\(s\) hold it now \("h1", "h2"\), which would leave -1 free slots/);
    assert.match(error.hint ?? '', /reboot-lock unlock ID/);
    return true;
  });
  assert.equal(await etcdctlGet(semaphoreKey('max')), '{"semaphore":0,"max":2,"holders":["h1","h2"]}');
});

test('lockSemaphore() from 30 concurrent clients with max 3 lets exactly 3 in (compare-and-swap under contention)', async () => {
  const target = { client: new EtcdClient({ endpoints: etcd.endpoints }), group: 'race' };
  await setSemaphoreMax(target, 3);
  const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => lockSemaphore({ ...target, client: new EtcdClient({ endpoints: etcd.endpoints }) }, `h${i}`)));
  const won = results.filter((r) => r.status === 'fulfilled').length;
  assert.equal(won, 3);
  for (const r of results) if (r.status === 'rejected') assert.ok(isUpdaterError(r.reason, 'ERR_REBOOT_LOCK'), String(r.reason));
  const stored = JSON.parse(await etcdctlGet(semaphoreKey('race'))) as { semaphore: number; holders: string[] };
  assert.equal(stored.semaphore, 0);
  assert.equal(stored.holders.length, 3);
});

test('readSemaphore() refuses a value that is not semaphore JSON, naming the key', async () => {
  await client.put(semaphoreKey('garbage'), '{"semaphore":"one"}');
  await assert.rejects(readSemaphore({ client, group: 'garbage' }), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_REBOOT_LOCK'));
    assert.match(error.message, /groups\/garbage\/semaphore" is not a semaphore/);
    return true;
  });
});

test('EtcdClient fails over to the next endpoint when the first refuses connections', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const failover = new EtcdClient({ endpoints: [dead, ...etcd.endpoints], timeoutMs: 2000 });
  await failover.put('failover/key', 'v1');
  assert.equal((await failover.get('failover/key'))?.value, 'v1');
});

test('EtcdClient fails over past a member that accepts but never answers (timeout) and one that answers 503', async (t) => {
  const silent = net.createServer(() => {
    // accept the connection, say nothing
  });
  const unavailable = http.createServer((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'etcdserver: no leader', message: 'etcdserver: no leader', code: 14 }));
  });
  for (const server of [silent, unavailable]) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      if (server instanceof http.Server) server.closeAllConnections();
      server.close();
    });
  }
  const url = (server: net.Server): string => `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const failover = new EtcdClient({ endpoints: [url(silent), url(unavailable), ...etcd.endpoints], timeoutMs: 300 });
  await failover.put('failover/slow', 'v2');
  assert.equal((await failover.get('failover/slow'))?.value, 'v2');
  const none = new EtcdClient({ endpoints: [url(silent), url(unavailable)], timeoutMs: 300 });
  await assert.rejects(none.get('x'), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_ETCD'));
    assert.ok(error.message.includes(`${url(silent)}: no answer within 300 ms`), error.message);
    assert.ok(error.message.includes(`${url(unavailable)}: HTTP 503 "etcdserver: no leader"`), error.message);
    return true;
  });
});

test('EtcdClient reports ERR_ETCD naming every endpoint when none answers', async () => {
  const dead1 = `http://127.0.0.1:${await freePort()}`;
  const dead2 = `http://127.0.0.1:${await freePort()}`;
  const none = new EtcdClient({ endpoints: [dead1, dead2], timeoutMs: 1000 });
  await assert.rejects(none.get('x'), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_ETCD'));
    assert.match(error.message, /^Cannot read key "x": no etcd endpoint answered/);
    assert.ok(error.message.includes(`${dead1}: ECONNREFUSED`) && error.message.includes(`${dead2}: ECONNREFUSED`), error.message);
    assert.match(error.hint ?? '', /ETCD_ENDPOINTS/);
    return true;
  });
});

test('EtcdClient.compareAndSwap() only writes over the revision it read', async () => {
  await client.put('cas/key', 'a');
  const read = await client.get('cas/key');
  assert.ok(read);
  await client.put('cas/key', 'b');
  const lost = await client.compareAndSwap('cas/key', read.modRevision, 'c');
  assert.equal(lost.succeeded, false);
  assert.equal(lost.current?.value, 'b');
  const won = await client.compareAndSwap('cas/key', lost.current?.modRevision, 'c');
  assert.equal(won.succeeded, true);
  assert.equal(await etcdctlGet('cas/key'), 'c');
  assert.equal((await client.compareAndSwap('cas/key', undefined, 'd')).succeeded, false);
});

test('readSemaphore() and lockSemaphore() accept locksmith\'s initial value with "holders": null', async () => {
  const key = semaphoreKey('null-holders');
  await client.put(key, '{"semaphore":1,"max":1,"holders":null}');
  const state = await readSemaphore({ client, group: 'null-holders' });
  assert.deepEqual([state.semaphore, state.max, state.holders], [1, 1, []]);
  await lockSemaphore({ client, group: 'null-holders' }, 'host-a');
  assert.equal(await etcdctlGet(key), '{"semaphore":0,"max":1,"holders":["host-a"]}');
  // Anything else that is not a list of strings is still refused.
  await client.put(key, '{"semaphore":1,"max":1,"holders":[1]}');
  await assert.rejects(readSemaphore({ client, group: 'null-holders' }), (error: unknown) => isUpdaterError(error, 'ERR_REBOOT_LOCK'));
});
