// Tests of the com.coreos.update1 service on a real dbus-daemon (private address), called with busctl and gdbus.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execa } from 'execa';
import { startTestBus } from '../../fixtures/dbus.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { waitFor } from '../../fixtures/wait.js';
import { createMemoryLogger } from '../log.js';
import { startUpdate1Service, type Update1Handlers } from './service.js';
import { UPDATE1_INTERFACE, UPDATE1_NAME, UPDATE1_PATH, toUpdate1Status, type Update1Status } from './update1.js';

const idle = toUpdate1Status({ state: 'IDLE' });

async function scene(t: { after(fn: () => Promise<void> | void): void }, status: () => Update1Status = () => idle) {
  const dir = await makeTempDir(t);
  const bus = await startTestBus(t, dir);
  const calls: string[] = [];
  const handlers: Update1Handlers = {
    status: async () => status(),
    attemptUpdate: () => void calls.push('attempt'),
    resetStatus: async () => {
      calls.push('reset');
      if (status().currentOperation !== 'UPDATE_STATUS_IDLE') throw new Error('Reset not allowed in this state');
    },
  };
  const logger = createMemoryLogger();
  const service = await startUpdate1Service({ handlers, logger, busAddress: bus.address });
  assert.ok(service, `the service started: ${JSON.stringify(logger.entries)}`);
  t.after(() => service.close());
  return { dir, bus, calls, service, logger };
}

const busctl = (bus: { address: string }, args: string[], opts: Record<string, unknown> = {}) =>
  execa('busctl', [`--address=${bus.address}`, ...args], { reject: false, ...opts });

test('GetStatus on an idle host answers UPDATE_STATUS_IDLE to busctl and gdbus, in update_engine.xml\'s types', async (t) => {
  const { bus } = await scene(t);
  const viaBusctl = await busctl(bus, ['call', UPDATE1_NAME, UPDATE1_PATH, UPDATE1_INTERFACE, 'GetStatus']);
  assert.equal(viaBusctl.exitCode, 0, viaBusctl.stderr);
  assert.equal(viaBusctl.stdout.trim(), 'xdssx 0 0 "UPDATE_STATUS_IDLE" "0.0.0" 0');
  const viaGdbus = await execa('gdbus', ['call', '--address', bus.address, '--dest', UPDATE1_NAME, '--object-path', UPDATE1_PATH, '--method', `${UPDATE1_INTERFACE}.GetStatus`], { reject: false });
  assert.equal(viaGdbus.exitCode, 0, viaGdbus.stderr);
  assert.equal(viaGdbus.stdout.trim(), "(int64 0, 0.0, 'UPDATE_STATUS_IDLE', '0.0.0', int64 0)");
});

test('AttemptUpdate and ResetStatus reach the handlers; a refused reset is a D-Bus error', async (t) => {
  let current = idle;
  const { bus, calls } = await scene(t, () => current);
  const attempt = await busctl(bus, ['call', UPDATE1_NAME, UPDATE1_PATH, UPDATE1_INTERFACE, 'AttemptUpdate']);
  assert.equal(attempt.exitCode, 0, attempt.stderr);
  const reset = await busctl(bus, ['call', UPDATE1_NAME, UPDATE1_PATH, UPDATE1_INTERFACE, 'ResetStatus']);
  assert.equal(reset.exitCode, 0, reset.stderr);
  current = toUpdate1Status({ state: 'DOWNLOADING', download: { done: 1, total: 4 }, newVersion: '2.0.0', newSize: 4 });
  const refused = await busctl(bus, ['call', UPDATE1_NAME, UPDATE1_PATH, UPDATE1_INTERFACE, 'ResetStatus']);
  assert.notEqual(refused.exitCode, 0);
  assert.match(refused.stderr, /Reset not allowed in this state/);
  assert.deepEqual(calls, ['attempt', 'reset', 'reset']);
});

test('StatusUpdate signals carry the five values, as dbus-monitor sees them', async (t) => {
  const { bus, service } = await scene(t);
  const monitor = execa('dbus-monitor', ['--address', bus.address, `type='signal',interface='${UPDATE1_INTERFACE}',member='StatusUpdate'`], { reject: false, buffer: true });
  let seen = '';
  monitor.stdout?.on('data', (b: Buffer) => (seen += b.toString()));
  t.after(() => void monitor.kill());
  await waitFor('dbus-monitor to start', () => seen.includes('member=NameLost'));
  service.emitStatus(toUpdate1Status({ state: 'DOWNLOADING', lastCheckedAt: 1_700_000_000_500, download: { done: 1, total: 4 }, newVersion: '2.0.0', newSize: 4096 }));
  await waitFor('the signal', () => seen.includes('member=StatusUpdate'));
  await waitFor('its body', () => /int64 4096/.test(seen));
  const body = seen.slice(seen.indexOf('member=StatusUpdate'));
  assert.match(body, /int64 1700000000\s+double 0\.25\s+string "UPDATE_STATUS_DOWNLOADING"\s+string "2\.0\.0"\s+int64 4096/);
});

test('bus policy: root owns com.coreos.update1; another user cannot own it nor introspect it, but may call the three methods', async (t) => {
  const { bus } = await scene(t);
  const asNobody = (args: string[]) => execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...args], { reject: false, env: { ...process.env, ...bus.env } });
  // The name is owned already (by root, the service); a second owner is refused for the policy, not for the queue:
  // DO_NOT_QUEUE (4) answers EXISTS (3) to a caller the policy lets own it.
  const own = await asNobody(['gdbus', 'call', '--address', bus.address, '--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.RequestName', UPDATE1_NAME, '4']);
  assert.notEqual(own.exitCode, 0);
  assert.match(own.stderr, /AccessDenied/);
  assert.match(own.stderr, /not allowed to own the service "com\.coreos\.update1"/);
  const rootOwn = await execa('gdbus', ['call', '--address', bus.address, '--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.RequestName', UPDATE1_NAME, '4'], { reject: false });
  assert.equal(rootOwn.stdout.trim(), '(uint32 3,)', `root may own it (EXISTS while the service holds it): ${rootOwn.stderr}`);
  const status = await asNobody(['busctl', `--address=${bus.address}`, 'call', UPDATE1_NAME, UPDATE1_PATH, UPDATE1_INTERFACE, 'GetStatus']);
  assert.equal(status.exitCode, 0, status.stderr);
  assert.match(status.stdout, /UPDATE_STATUS_IDLE/);
  const introspect = await asNobody(['busctl', `--address=${bus.address}`, 'introspect', UPDATE1_NAME, UPDATE1_PATH]);
  assert.notEqual(introspect.exitCode, 0);
  assert.match(introspect.stderr, /Access denied|AccessDenied/i);
});

test('startUpdate1Service() without a bus logs why and returns null', async (t) => {
  const dir = await makeTempDir(t);
  const logger = createMemoryLogger();
  const service = await startUpdate1Service({ logger, busAddress: `unix:path=${path.join(dir, 'no-bus')}`, handlers: { status: async () => idle, attemptUpdate: () => undefined, resetStatus: async () => undefined } });
  assert.equal(service, null);
  assert.match(JSON.stringify(logger.entries), /not started: cannot connect to the system bus/);
});
