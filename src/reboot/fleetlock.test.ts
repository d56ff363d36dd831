// Tests for the FleetLock client against the test FleetLock server on 127.0.0.1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { isUpdaterError } from '../../common/errors.js';
import { freePort } from '../../fixtures/etcd.js';
import { startFleetlockServer } from '../../fixtures/fleetlock-server.js';
import { appSpecificId, fleetlockNodeId, ZINCATI_APP_ID } from './fleetlock-id.js';
import { fleetlockBaseDropsSegment, fleetlockPreReboot, fleetlockSteadyState, fleetlockUrl } from './fleetlock.js';

test('fleetlockPreReboot() takes a slot in group "default" and fleetlockSteadyState() gives it back', async (t) => {
  const server = await startFleetlockServer(t, { max: 1 });
  await fleetlockPreReboot({ url: server.url, id: 'host-a' });
  assert.deepEqual(server.holders(), ['host-a']);
  await fleetlockPreReboot({ url: `${server.url}/`, id: 'host-a' });
  assert.deepEqual(server.holders(), ['host-a']);
  await fleetlockSteadyState({ url: server.url, id: 'host-a' });
  assert.deepEqual(server.holders(), []);
  await fleetlockSteadyState({ url: server.url, id: 'host-a' });
  assert.deepEqual(
    server.requests.map((r) => [r.operation, r.id, r.group, r.status]),
    [
      ['pre-reboot', 'host-a', 'default', 200],
      ['pre-reboot', 'host-a', 'default', 200],
      ['steady-state', 'host-a', 'default', 200],
      ['steady-state', 'host-a', 'default', 200],
    ],
  );
});

test('fleetlockPreReboot() when the group is full throws ERR_FLEETLOCK with the server\'s kind and value', async (t) => {
  const server = await startFleetlockServer(t, { max: 1 });
  await fleetlockPreReboot({ url: server.url, id: 'host-a', group: 'web' });
  await fleetlockPreReboot({ url: server.url, id: 'host-b', group: 'db' });
  await assert.rejects(fleetlockPreReboot({ url: server.url, id: 'host-c', group: 'web' }), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_FLEETLOCK'));
    assert.equal(error.data?.kind, 'failed_lock_semaphore_full');
    assert.equal(error.data?.status, 409);
    assert.match(error.message, /^Cannot take the FleetLock reboot slot: the server answered HTTP 409 failed_lock_semaphore_full: "all 1 slots of group web are held"$/);
    return true;
  });
  assert.deepEqual(server.holders('web'), ['host-a']);
  assert.deepEqual(server.holders('db'), ['host-b']);
});

test('fleetlockPreReboot() against a server that does not listen throws ERR_FLEETLOCK kind "unreachable"', async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  await assert.rejects(fleetlockPreReboot({ url, id: 'host-a', timeoutMs: 1000 }), (error: unknown) => {
    assert.ok(isUpdaterError(error, 'ERR_FLEETLOCK'));
    assert.equal(error.data?.kind, 'unreachable');
    assert.match(error.message, /did not answer \(ECONNREFUSED\)/);
    assert.match(error.hint ?? '', /FLEETLOCK_URL/);
    return true;
  });
});

test('fleetlockPreReboot() refuses a group FleetLock does not allow, before any request', async (t) => {
  const server = await startFleetlockServer(t);
  await assert.rejects(fleetlockPreReboot({ url: server.url, id: 'host-a', group: 'my group' }), (error: unknown) => isUpdaterError(error, 'ERR_CONFIG') && /group "my group"/.test(error.message));
  assert.equal(server.requests.length, 0);
});

test('the test FleetLock server refuses requests without the fleet-lock-protocol header', async (t) => {
  const server = await startFleetlockServer(t);
  const response = await fetch(`${server.url}/v1/pre-reboot`, { method: 'POST', body: JSON.stringify({ client_params: { id: 'x', group: 'default' } }) });
  assert.equal(response.status, 400);
  assert.deepEqual(await response.json(), { kind: 'missing_header', value: 'fleet-lock-protocol: true is required' });
  assert.deepEqual(server.holders(), []);
});

test('fleetlockNodeId() is systemd\'s app-specific id with zincati\'s app id: the same as systemd-id128 computes', async () => {
  // systemd-id128 derives app-specific ids from the boot id the same way (sd_id128_get_app_specific) as from the
  // machine id, and the boot id always exists, so the real tool checks our HMAC, truncation and v4 bits.
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  const { stdout } = await execa('systemd-id128', ['boot-id', `--app-specific=${ZINCATI_APP_ID}`]);
  assert.equal(appSpecificId(bootId, ZINCATI_APP_ID), stdout.trim());
  const uuid = await execa('systemd-id128', ['boot-id', '--uuid', `--app-specific=${ZINCATI_APP_ID}`]);
  assert.match(uuid.stdout.trim(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a v4 UUID');
  assert.equal(uuid.stdout.trim().replace(/-/g, ''), stdout.trim());
  // zincati's app id and its own test vector's shape (lower_hex: 32 digits, no dashes).
  assert.equal(ZINCATI_APP_ID, 'de35106b6ec24688b63afddaa156679b');
  const id = fleetlockNodeId('0123456789abcdef0123456789abcdef');
  assert.match(id, /^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
  assert.notEqual(id, '0123456789abcdef0123456789abcdef', 'not the raw machine id');
  assert.throws(() => fleetlockNodeId('host-a'), (error: unknown) => isUpdaterError(error, 'ERR_CONFIG'));
});

test('fleetlockPreReboot() sends exactly zincati\'s request: header, no content-type, pretty body, node id; group configurable', async (t) => {
  const server = await startFleetlockServer(t, { max: 1, zincati: true });
  const id = fleetlockNodeId('0123456789abcdef0123456789abcdef');
  await fleetlockPreReboot({ url: server.url, id, group: 'workers' });
  await fleetlockSteadyState({ url: server.url, id, group: 'workers' });
  assert.deepEqual(server.requests.map((r) => [r.path, r.status, r.contentType]), [
    ['/v1/pre-reboot', 200, undefined],
    ['/v1/steady-state', 200, undefined],
  ]);
  assert.equal(server.requests[0]?.body, `{\n  "client_params": {\n    "id": "${id}",\n    "group": "workers"\n  }\n}`);
  // The strict server does refuse what is not zincati's: a raw machine id, a compact body.
  await assert.rejects(fleetlockPreReboot({ url: server.url, id: 'host-a' }), (error: unknown) => isUpdaterError(error, 'ERR_FLEETLOCK') && error.data?.kind === 'not_zincati_id');
  const compact = await fetch(`${server.url}/v1/pre-reboot`, { method: 'POST', headers: { 'fleet-lock-protocol': 'true' }, body: JSON.stringify({ client_params: { id, group: 'workers' } }) });
  assert.equal(compact.status, 400);
  assert.equal(((await compact.json()) as { kind: string }).kind, 'not_zincati_body');
});

test('fleetlockUrl() joins the base as zincati does (Url::join): a base path needs its trailing slash', async (t) => {
  assert.equal(fleetlockUrl('http://h:8080', 'pre-reboot'), 'http://h:8080/v1/pre-reboot');
  assert.equal(fleetlockUrl('http://h:8080/', 'pre-reboot'), 'http://h:8080/v1/pre-reboot');
  assert.equal(fleetlockUrl('http://h/lock/', 'steady-state'), 'http://h/lock/v1/steady-state');
  assert.equal(fleetlockUrl('http://h/lock', 'pre-reboot'), 'http://h/v1/pre-reboot');
  assert.equal(fleetlockBaseDropsSegment('http://h/lock'), true);
  assert.equal(fleetlockBaseDropsSegment('http://h/lock/'), false);
  assert.equal(fleetlockBaseDropsSegment('http://h:8080'), false);
  // Against a server behind a path: with the slash the lock is taken; without it the request misses, as zincati's would.
  const server = await startFleetlockServer(t, { zincati: true, basePath: '/lock/' });
  const id = fleetlockNodeId('0123456789abcdef0123456789abcdef');
  await fleetlockPreReboot({ url: `${server.url}/lock/`, id });
  assert.deepEqual(server.holders(), [id]);
  await assert.rejects(fleetlockSteadyState({ url: `${server.url}/lock`, id }), (error: unknown) => isUpdaterError(error, 'ERR_FLEETLOCK') && error.data?.status === 404);
  assert.equal(server.requests.at(-1)?.path, '/v1/steady-state');
});
