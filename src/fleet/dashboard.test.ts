// The dashboard's HTTP side against a real etcd: the JSON API matches etcd, SSE follows etcd watches, and an
// action without the token (or on a read-only dashboard) is refused and changes nothing.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useEtcdForFile, type EtcdCluster } from '../../fixtures/etcd.js';
import { sampleReport } from '../../fixtures/fleet-hosts.js';
import { waitFor } from '../../fixtures/wait.js';
import { createMemoryLogger } from '../log.js';
import { EtcdClient } from '../reboot/etcd-client.js';
import { startDashboard, parseListen } from './dashboard-server.js';
import { FleetKeys } from './fleet-keys.js';

const getEtcd = useEtcdForFile();
let etcd: EtcdCluster;
let client: EtcdClient;
const TOKEN = 'test-token-0123456789abcdef';

before(async () => {
  etcd = await getEtcd();
  client = new EtcdClient({ endpoints: etcd.endpoints });
});

async function dashboard(t: { after(fn: () => Promise<void>): void }, prefix: string, token: string | undefined) {
  const stop = new AbortController();
  const d = await startDashboard({ client, keys: new FleetKeys(prefix), host: '127.0.0.1', port: 0, token, logger: createMemoryLogger(), signal: stop.signal, batchMs: 20 });
  t.after(() => d.close());
  await d.ready;
  return d;
}

test('parseListen() takes HOST:PORT and [v6]:PORT and refuses the rest', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  for (const bad of ['8080', '127.0.0.1', 'x:99999', ':80']) assert.throws(() => parseListen(bad), { code: 'ERR_USAGE' });
});

test('GET /api/fleet shows the hosts in etcd; SSE sends a host that appears and one whose key goes', async (t) => {
  const keys = new FleetKeys('d1/fleet');
  await client.put(keys.host('m1'), JSON.stringify(sampleReport({ machineId: 'm1', group: 'web', version: '2.0.0' })));
  const d = await dashboard(t, 'd1/fleet', TOKEN);
  const fleet = (await (await fetch(`${d.url}/api/fleet`)).json()) as { hosts: { machineId: string; version: string }[]; counts: { hosts: number } };
  assert.deepEqual(fleet.hosts.map((h) => [h.machineId, h.version]), [['m1', '2.0.0']]);

  const controller = new AbortController();
  t.after(() => controller.abort());
  const response = await fetch(`${d.url}/api/events`, { signal: controller.signal });
  assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  let text = '';
  void (async () => {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString();
  })().catch(() => undefined);
  await waitFor('the first snapshot', () => text.includes('event: snapshot'));
  await client.put(keys.host('m2'), JSON.stringify(sampleReport({ machineId: 'm2', group: 'db', version: '1.9.0' })));
  await waitFor('the new host on the stream', () => /event: hosts\ndata: .*"m2":\{"machineId":"m2"/.test(text));
  await client.delete(keys.host('m1'));
  await waitFor('the gone host on the stream', () => text.includes('"m1":null'));
  const after = (await (await fetch(`${d.url}/api/fleet`)).json()) as { hosts: { machineId: string }[] };
  assert.deepEqual(after.hosts.map((h) => h.machineId), ['m2']);
});

test('an action without the token, or with a wrong one, is refused (401 ERR_FLEET_TOKEN) and etcd is unchanged; the right token pauses', async (t) => {
  const d = await dashboard(t, 'd2/fleet', TOKEN);
  const post = (authorization?: string) =>
    fetch(`${d.url}/api/groups/web/pause`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: '{}' });
  for (const auth of [undefined, 'Bearer wrong', `Basic ${TOKEN}`]) {
    const res = await post(auth);
    assert.equal(res.status, 401, String(auth));
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_FLEET_TOKEN');
  }
  assert.equal(await client.get('d2/fleet/groups/web/control'), undefined, 'nothing written');
  const ok = await post(`Bearer ${TOKEN}`);
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse((await client.get('d2/fleet/groups/web/control'))!.value).paused, true);
  const gate = await fetch(`${d.url}/api/groups/web/gate`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"maxFailures":"3"}' });
  assert.equal(gate.status, 400, 'a gate that is not a number is refused');
  assert.equal(JSON.parse((await client.get('d2/fleet/groups/web/control'))!.value).maxFailures, null);
});

test('a dashboard started without a token file is read-only: actions are refused with 403 and etcd is unchanged', async (t) => {
  const d = await dashboard(t, 'd3/fleet', undefined);
  const res = await fetch(`${d.url}/api/groups/web/resume`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{}' });
  assert.equal(res.status, 403);
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'ERR_FLEET_TOKEN');
  assert.match(body.error.message, /read-only/);
  assert.equal(await client.get('d3/fleet/groups/web/control'), undefined);
  assert.equal(((await (await fetch(`${d.url}/api/summary`)).json()) as { actions: boolean }).actions, false);
});

test('the page is served with a strict content security policy; its script and style are separate files', async (t) => {
  const d = await dashboard(t, 'd4/fleet', undefined);
  const page = await fetch(`${d.url}/`);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = await page.text();
  assert.match(html, /<script src="\/dashboard.js" defer><\/script>/);
  assert.doesNotMatch(html, /<script>[^<]/, 'no inline script');
  assert.equal((await fetch(`${d.url}/dashboard.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await fetch(`${d.url}/nothing`)).status, 404);
});
