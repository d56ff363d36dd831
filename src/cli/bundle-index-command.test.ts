// Tests of `abupdate bundle index`: the written index describes the bundle, its .sig verifies, bad input is refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeBundle, makeImage, makeKeys } from '../../fixtures/bundle.js';
import { runCli } from '../../fixtures/cli.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { verifyChannelIndex } from '../../verify/channel-index.js';
import { loadKeyring } from '../../verify/keyring.js';

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dir = await makeTempDir(t);
  const keyDir = path.join(dir, 'keys');
  await mkdir(keyDir);
  const keys = await makeKeys(keyDir, 'release', 'bundle-index');
  const image = await makeImage(path.join(dir, 'image'), 256 * 1024, 'bundle-index');
  const bundle = await makeBundle(dir, { image, version: '2.0.0', compatible: 'acme-x86', key: keys, chunkSize: 64 * 1024 });
  return { dir, keys, bundlePath: path.join(dir, 'bundle-2.0.0.tar'), bundle };
}

test('abupdate bundle index writes stable.json + .sig that verify and describe the bundle file', async (t) => {
  const { dir, keys, bundlePath } = await setup(t);
  const out = path.join(dir, 'stable.json');
  const result = await runCli(['bundle', 'index', '--bundle', bundlePath, '--url', 'bundle-2.0.0.tar', '--key', keys.privatePath, '--out', out, '--expires', '30d', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const bytes = await readFile(out);
  const signature = await readFile(`${out}.sig`);
  const { index, keyId } = verifyChannelIndex(bytes, signature, await loadKeyring([keys.keyringDir]), { channel: 'stable' });
  assert.equal(keyId, keys.keyId);
  assert.equal(index.version, '2.0.0');
  assert.equal(index.compatible, 'acme-x86');
  assert.equal(index.url, 'bundle-2.0.0.tar');
  assert.equal(index.size, (await stat(bundlePath)).size);
  assert.equal(index.sha256, createHash('sha256').update(await readFile(bundlePath)).digest('hex'));
  const expires = Date.parse(index.expires ?? '');
  assert.ok(Math.abs(expires - (Date.now() + 30 * 86_400_000)) < 60_000);
  assert.deepEqual(result.json().index, index);
});

test('abupdate bundle index --channel names the channel; a bundle signed by another key is refused', async (t) => {
  const { dir, keys, bundlePath } = await setup(t);
  const out = path.join(dir, 'idx.json');
  const ok = await runCli(['bundle', 'index', '--bundle', bundlePath, '--url', 'http://127.0.0.1:1/b.tar', '--key', keys.privatePath, '--out', out, '--channel', 'beta']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(await readFile(out, 'utf8')).channel, 'beta');

  const otherDir = path.join(dir, 'other');
  await mkdir(otherDir);
  const other = await makeKeys(otherDir, 'other', 'other');
  const refused = await runCli(['bundle', 'index', '--bundle', bundlePath, '--url', 'b.tar', '--key', other.privatePath, '--out', path.join(dir, 'x.json')]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /Cannot index bundle .*its signature does not verify with key .* \[ERR_SIGNATURE\]/);
  await assert.rejects(stat(path.join(dir, 'x.json')));
  const withKeyring = await runCli(['bundle', 'index', '--bundle', bundlePath, '--url', 'b.tar', '--key', other.privatePath, '--keyring', keys.keyringDir, '--out', path.join(dir, 'x.json')]);
  assert.equal(withKeyring.code, 0, withKeyring.stderr);
});

test('abupdate bundle index without --url is a usage error (exit 2)', async (t) => {
  const { dir, keys, bundlePath } = await setup(t);
  const result = await runCli(['bundle', 'index', '--bundle', bundlePath, '--key', keys.privatePath, '--out', path.join(dir, 's.json')]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--url is required \[ERR_USAGE\]/);
});
