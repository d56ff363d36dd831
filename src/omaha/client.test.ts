// Tests of the Omaha client against the test Omaha server on 127.0.0.1: checks, events, and every way a server misbehaves.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUpdaterError, type ErrorCode } from '../../common/errors.js';
import { omahaCheck, omahaSendEvent, type OmahaClientOptions } from './client.js';
import { omahaEventFor } from './events.js';
import type { OmahaClientInfo } from './request.js';
import { startOmahaServer, type OmahaServerMode, type OmahaTestServer } from '../../fixtures/omaha-server.js';

const SHA = Buffer.alloc(32, 9).toString('base64');
const PACKAGE = { version: '2.0.0', urlBase: 'http://127.0.0.1:1/bundles', name: 'os-2.0.0.bundle', size: 123456, sha256: SHA };

function info(server: OmahaTestServer, version = '1.0.0'): OmahaClientInfo {
  return {
    appId: server.appId,
    version,
    track: 'stable',
    machineId: '592cfdb69c7f4a29a6b361b60cedd954',
    bootId: '{90b0e235-2b50-4a0e-9619-bc014ca2fcfd}',
    alephVersion: '1.0.0',
    oem: '',
    oemVersion: '',
    board: 'amd64-usr',
    updaterVersion: 'abupdate-0.1.0',
  };
}

async function withServer(t: { after(fn: () => Promise<void>): void }, mode?: OmahaServerMode): Promise<{ server: OmahaTestServer; options: OmahaClientOptions }> {
  const server = await startOmahaServer({ package: null, ...(mode ? { mode } : {}) });
  t.after(() => server.close());
  return { server, options: { server: server.url, info: info(server), timeoutMs: 2000 } };
}

test('omahaCheck() gets noupdate, then the offer once the server has a newer package; the server saw text/xml requests', async (t) => {
  const { server, options } = await withServer(t);
  assert.deepEqual(await omahaCheck(options, { interactive: false }), { status: 'noupdate' });
  server.setPackage(PACKAGE);
  server.setPollInterval(300);
  assert.deepEqual(await omahaCheck(options, { interactive: true }), {
    status: 'ok',
    version: '2.0.0',
    urls: ['http://127.0.0.1:1/bundles/os-2.0.0.bundle'],
    packageName: 'os-2.0.0.bundle',
    size: 123456,
    sha256: SHA,
    pollInterval: 300,
  });
  assert.equal(server.requests.length, 2);
  const [first, second] = server.requests;
  assert.equal(first?.contentType, 'text/xml; charset=utf-8');
  assert.equal(first?.request.installsource, 'scheduler');
  assert.equal(second?.request.installsource, 'ondemandupdate');
  assert.equal(second?.app.machineid, '592cfdb69c7f4a29a6b361b60cedd954');
  assert.equal(second?.app.track, 'stable');
  assert.deepEqual([first?.answer, second?.answer], ['noupdate', 'ok']);
  assert.ok(first?.ping && first.updatecheck);
});

test('omahaSendEvent() events reach the server in order with the right versions', async (t) => {
  const { server, options } = await withServer(t);
  server.setPackage(PACKAGE);
  for (const kind of ['download-started', 'download-finished', 'installed'] as const) {
    await omahaSendEvent(options, omahaEventFor({ kind, version: '2.0.0' }, server.appId), false);
  }
  await omahaSendEvent(options, omahaEventFor({ kind: 'error', code: 'ERR_SIGNATURE' }, server.appId), false);
  const after = { ...options, info: info(server, '2.0.0') };
  assert.deepEqual(await omahaCheck(after, { interactive: false, event: omahaEventFor({ kind: 'complete-after-reboot', version: '2.0.0', previousVersion: '1.0.0' }, server.appId) }), {
    status: 'noupdate',
  });
  assert.deepEqual(
    server.events.map((e) => [e.type, e.result, e.errorCode, e.previousVersion, e.appVersion]),
    [
      [13, 1, undefined, undefined, '1.0.0'],
      [14, 1, undefined, undefined, '1.0.0'],
      [800, 1, undefined, undefined, '1.0.0'],
      [3, 0, 12, undefined, '1.0.0'],
      [3, 2, undefined, '1.0.0', '2.0.0'],
    ],
  );
  assert.deepEqual(server.requests.map((r) => [r.ping, r.updatecheck]).slice(0, 4), [[false, false], [false, false], [false, false], [false, false]]);
});

const BROKEN: [string, OmahaServerMode, ErrorCode, RegExp][] = [
  ['malformed XML', { kind: 'malformed-xml' }, 'ERR_OMAHA_XML', /malformed XML/],
  ['updatecheck error-internal', { kind: 'updatecheck-status', status: 'error-internal' }, 'ERR_OMAHA_STATUS', /updatecheck status "error-internal"/],
  ['app error-maxUpdatesPerPeriodLimitReached', { kind: 'app-status', status: 'error-maxUpdatesPerPeriodLimitReached' }, 'ERR_OMAHA_STATUS', /app status "error-maxUpdatesPerPeriodLimitReached"/],
  ['HTTP 503', { kind: 'http-status', status: 503 }, 'ERR_HTTP_STATUS', /answered HTTP 503/],
  ['a 2 MiB response', { kind: 'oversized', bytes: 2 * 1024 * 1024 }, 'ERR_RESPONSE_TOO_LARGE', /larger than 1048576 bytes/],
];

for (const [name, mode, code, pattern] of BROKEN) {
  test(`omahaCheck() against a server answering ${name} fails with ${code}`, async (t) => {
    const { server, options } = await withServer(t, mode);
    server.setPackage(PACKAGE);
    await assert.rejects(omahaCheck(options, { interactive: false }), (error: unknown) => {
      assert.ok(isUpdaterError(error, code), String(error));
      assert.match(error.message, pattern);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });
}

test('omahaCheck() against a hanging server fails with ERR_TIMEOUT after the timeout', async (t) => {
  const { server, options } = await withServer(t, { kind: 'hang' });
  const started = Date.now();
  await assert.rejects(omahaCheck({ ...options, timeoutMs: 300 }, { interactive: false }), (error: unknown) => isUpdaterError(error, 'ERR_TIMEOUT'));
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 2000, `took ${elapsed} ms`);
  assert.equal(server.requests[0]?.answer, 'hang');
});

test('omahaCheck() with the wrong app id gets error-unknownApplication from the server', async (t) => {
  const { server, options } = await withServer(t);
  server.setPackage(PACKAGE);
  const wrong = { ...options, info: { ...options.info, appId: '{00000000-0000-0000-0000-000000000000}' } };
  await assert.rejects(omahaCheck(wrong, { interactive: false }), (error: unknown) => isUpdaterError(error, 'ERR_OMAHA_STATUS') && error.data?.status === 'error-unknownApplication');
});

test('omahaCheck() stops when its AbortSignal fires, with ERR_ABORTED', async (t) => {
  const { options } = await withServer(t, { kind: 'hang' });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(omahaCheck({ ...options, signal: controller.signal, timeoutMs: 10_000 }, { interactive: false }), (error: unknown) => isUpdaterError(error, 'ERR_ABORTED'));
});

test('omahaCheck() to a closed port fails with ERR_NETWORK', async (t) => {
  const { server, options } = await withServer(t);
  await server.close();
  await assert.rejects(omahaCheck(options, { interactive: false }), (error: unknown) => isUpdaterError(error, 'ERR_NETWORK'));
});
