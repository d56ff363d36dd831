// Tests of the two update sources against real servers on 127.0.0.1: the Omaha test server and a static file server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isUpdaterError } from '../../common/errors.js';
import { makeKeys } from '../../fixtures/bundle.js';
import { startHttpServer } from '../../fixtures/http-server.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { signChannelIndex } from '../../verify/channel-index.js';
import { loadKeyring } from '../../verify/keyring.js';
import { startOmahaServer } from '../../fixtures/omaha-server.js';
import { createOmahaSource } from './omaha-source.js';
import { channelIndexUrl, createStaticSource } from './static-source.js';

const IDENTITY = { machineId: '592cfdb69c7f4a29a6b361b60cedd954', bootId: '{90b0e235-2b50-4a0e-9619-bc014ca2fcfd}', oem: '', oemVersion: '', board: 'amd64-usr' };
const SHA_HEX = 'c0ffee'.padEnd(64, '0');

test('createOmahaSource() refuses an architecture Nebraska does not serve (it would answer with amd64\'s image) and sends nothing', async (t) => {
  const server = await startOmahaServer({ package: null });
  t.after(() => server.close());
  for (const board of ['riscv64-usr', 'ppc64-usr', '']) {
    assert.throws(
      () => createOmahaSource({ server: server.url, appId: server.appId, group: 'beta', identity: { ...IDENTITY, board }, updaterVersion: 'abupdate-0.1.0' }),
      (error: unknown) => isUpdaterError(error, 'ERR_OMAHA_ARCH') && error.message.includes(`"${board}"`) && /amd64-usr, arm64-usr/.test(error.message) && error.hint !== undefined,
    );
  }
  assert.equal(server.requests.length, 0);
  for (const board of ['amd64-usr', 'arm64-usr']) {
    createOmahaSource({ server: server.url, appId: server.appId, group: 'beta', identity: { ...IDENTITY, board }, updaterVersion: 'abupdate-0.1.0' });
  }
});

test('createOmahaSource() maps an Omaha offer (hex sha256, poll interval in ms) and sends 3/2 with the next check', async (t) => {
  const server = await startOmahaServer({ package: null });
  t.after(() => server.close());
  const source = createOmahaSource({ server: server.url, appId: server.appId, group: 'beta', identity: IDENTITY, updaterVersion: 'abupdate-0.1.0' });
  const ctx = { currentVersion: '1.0.0', interactive: false };
  assert.deepEqual(await source.check(ctx), { offer: null });
  server.setPackage({ version: '2.0.0', urlBase: 'http://127.0.0.1:9/b', name: 'os.bundle', size: 999, sha256: Buffer.from(SHA_HEX, 'hex').toString('base64') });
  server.setPollInterval(60);
  assert.deepEqual(await source.check(ctx), {
    offer: { version: '2.0.0', url: 'http://127.0.0.1:9/b/os.bundle', urls: ['http://127.0.0.1:9/b/os.bundle'], size: 999, sha256: SHA_HEX, source: 'omaha' },
    pollIntervalMs: 60_000,
  });
  await source.report({ kind: 'download-started', version: '2.0.0' }, ctx);
  await source.ping(ctx);
  await source.report({ kind: 'complete-after-reboot', version: '2.0.0', previousVersion: '1.0.0' }, { ...ctx, currentVersion: '2.0.0' });
  assert.equal(server.requests.length, 4, 'complete-after-reboot waits for the next check');
  await source.check({ currentVersion: '2.0.0', interactive: false });
  await source.check({ currentVersion: '2.0.0', interactive: false });
  assert.equal(server.requests[3]?.ping, true, 'ping() sends a ping-only request');
  assert.deepEqual(
    server.requests.map((r) => [r.updatecheck, r.app.track, r.app.version, r.events.map((e) => `${e.type}/${e.result}/${e.previousVersion ?? ''}`).join(',')]),
    [
      [true, 'beta', '1.0.0', ''],
      [true, 'beta', '1.0.0', ''],
      [false, 'beta', '1.0.0', '13/1/'],
      [false, 'beta', '1.0.0', ''],
      [true, 'beta', '2.0.0', '3/2/1.0.0'],
      [true, 'beta', '2.0.0', ''],
    ],
  );
});

async function staticSetup(t: { after(fn: () => Promise<void>): void }, fields: Partial<Parameters<typeof signChannelIndex>[0]> = {}) {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'release', 'static-source');
  const signed = signChannelIndex(
    { channel: 'stable', version: '2.0.0', compatible: 'acme', url: '../bundles/os-2.0.0.bundle', size: 1234, sha256: SHA_HEX, created: '2026-11-25T00:00:00Z', ...fields },
    keys.privateKey,
  );
  const indexPath = path.join(dir, 'stable.json');
  await writeFile(indexPath, signed.bytes);
  await writeFile(`${indexPath}.sig`, signed.signature);
  const http = await startHttpServer({ 'channels/stable.json': indexPath, 'channels/stable.json.sig': `${indexPath}.sig` });
  t.after(() => http.close());
  const source = createStaticSource({ server: `${http.origin}/channels`, channel: 'stable', keyring: () => loadKeyring([keys.keyringDir]), compatible: 'acme' });
  return { dir, keys, http, source, indexPath, signed };
}

test('createStaticSource() offers the indexed bundle (URL relative to the index) only when it is newer', async (t) => {
  const { http, source } = await staticSetup(t);
  assert.equal(channelIndexUrl(`${http.origin}/channels`, 'stable'), `${http.origin}/channels/stable.json`);
  assert.deepEqual(await source.check({ currentVersion: '1.5.0', interactive: false }), {
    offer: { version: '2.0.0', url: `${http.origin}/bundles/os-2.0.0.bundle`, urls: [`${http.origin}/bundles/os-2.0.0.bundle`], size: 1234, sha256: SHA_HEX, source: 'static' },
  });
  assert.deepEqual(await source.check({ currentVersion: '2.0.0', interactive: false }), { offer: null });
  assert.deepEqual(http.requests.map((r) => r.path), ['channels/stable.json', 'channels/stable.json.sig', 'channels/stable.json', 'channels/stable.json.sig']);
});

test('createStaticSource() refuses a tampered index (ERR_SIGNATURE) and makes no offer', async (t) => {
  const { source, indexPath, signed } = await staticSetup(t);
  await writeFile(indexPath, signed.bytes.toString('utf8').replace('"2.0.0"', '"2.0.1"'));
  await assert.rejects(source.check({ currentVersion: '1.0.0', interactive: false }), (e: unknown) => isUpdaterError(e, 'ERR_SIGNATURE'));
});

test('createStaticSource() refuses an index for other hardware (ERR_INCOMPATIBLE) and an older replayed index (ERR_CHANNEL)', async (t) => {
  const other = await staticSetup(t, { compatible: 'other-board' });
  await assert.rejects(other.source.check({ currentVersion: '1.0.0', interactive: false }), (e: unknown) => isUpdaterError(e, 'ERR_INCOMPATIBLE'));

  const { source, indexPath, keys } = await staticSetup(t);
  await source.check({ currentVersion: '1.0.0', interactive: false });
  const older = signChannelIndex(
    { channel: 'stable', version: '1.9.0', compatible: 'acme', url: 'x.bundle', size: 1, sha256: SHA_HEX, created: '2026-11-01T00:00:00Z' },
    keys.privateKey,
  );
  await writeFile(indexPath, older.bytes);
  await writeFile(`${indexPath}.sig`, older.signature);
  await assert.rejects(source.check({ currentVersion: '1.0.0', interactive: false }), (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL') && /before an index already seen/.test(e.message));
});

test('createStaticSource() turns a missing index into ERR_HTTP_STATUS 404 and an oversized signature into ERR_RESPONSE_TOO_LARGE', async (t) => {
  const { http, source, indexPath } = await staticSetup(t);
  http.faults.status = { code: 404, times: 1 };
  await assert.rejects(source.check({ currentVersion: '1.0.0', interactive: false }), (e: unknown) => isUpdaterError(e, 'ERR_HTTP_STATUS') && e.data?.status === 404);
  await writeFile(`${indexPath}.sig`, Buffer.alloc(65));
  await assert.rejects(source.check({ currentVersion: '1.0.0', interactive: false }), (e: unknown) => isUpdaterError(e, 'ERR_RESPONSE_TOO_LARGE'));
});

test('createStaticSource() with seenFile refuses an older index after a restart too', async (t) => {
  const { dir, http, indexPath, keys } = await staticSetup(t);
  const seenFile = path.join(dir, 'seen.json');
  const make = () => createStaticSource({ server: `${http.origin}/channels`, channel: 'stable', keyring: () => loadKeyring([keys.keyringDir]), seenFile });
  assert.equal((await make().check({ currentVersion: '1.0.0', interactive: false })).offer?.version, '2.0.0');
  const older = signChannelIndex(
    { channel: 'stable', version: '1.9.0', compatible: 'acme', url: 'x.bundle', size: 1, sha256: SHA_HEX, created: '2026-11-01T00:00:00Z' },
    keys.privateKey,
  );
  await writeFile(indexPath, older.bytes);
  await writeFile(`${indexPath}.sig`, older.signature);
  await assert.rejects(make().check({ currentVersion: '1.0.0', interactive: false }), (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL') && /before an index already seen/.test(e.message));
});
