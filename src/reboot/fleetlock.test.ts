// Tests for the FleetLock client against the test FleetLock server on 127.0.0.1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUpdaterError } from '../../common/errors.js';
import { freePort } from '../../fixtures/etcd.js';
import { startFleetlockServer } from '../../fixtures/fleetlock-server.js';
import { fleetlockPreReboot, fleetlockSteadyState } from './fleetlock.js';

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
