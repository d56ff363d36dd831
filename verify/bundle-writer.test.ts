// Tests of createBundle(): round trip, GNU tar compatibility, layout offsets, a bundle built by hand with tar + openssl.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { imageBytes, makeBundle, makeImage, makeKeys } from '../fixtures/bundle.js';
import { readBundle, bundleFileSource } from './bundle-reader.js';
import { loadKeyring } from './keyring.js';
import { bundleLayout } from './layout.js';
import { parseManifest } from './manifest.js';

const MiB = 1024 * 1024;

test('createBundle() round trip over a random 8 MiB image: readBundle yields the image byte for byte', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'release');
  const image = await makeImage(path.join(dir, 'image.raw'), 8 * MiB + 1234, 'round-trip');
  const bundle = await makeBundle(dir, { image, version: '1.2.3', compatible: 'acme-box-x86', key: keys });
  const expected = await readFile(image);

  assert.equal(bundle.manifest.image.chunks.length, 9);
  assert.equal(bundle.manifest.image.chunks.at(-1)?.size, 1234);
  assert.equal((await stat(bundle.path)).size, bundle.layout.totalSize);

  const got = Buffer.alloc(expected.length);
  const seen: number[] = [];
  const result = await readBundle(bundleFileSource(bundle.path), {
    keyring: await loadKeyring([keys.keyringDir]),
    onChunk: (chunk) => {
      seen.push(chunk.index);
      chunk.data.copy(got, chunk.imageOffset);
    },
  });
  assert.equal(result.keyId, keys.keyId);
  assert.equal(result.manifest.version, '1.2.3');
  assert.deepEqual(seen, [...Array(9).keys()]);
  assert.ok(got.equals(expected), 'the image read from the bundle equals the original');
  assert.equal(result.manifest.image.sha256, createHash('sha256').update(expected).digest('hex'));
});

test('createBundle() writes a ustar file that GNU tar lists and extracts, at the offsets bundleLayout() gives', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k');
  const image = await makeImage(path.join(dir, 'image.raw'), 300_000, 7);
  const bundle = await makeBundle(dir, { image, version: '2.0.0-rc.1', compatible: 'box', key: keys, chunkSize: 65536 });

  const listing = await execa('tar', ['--list', '--verbose', '--file', bundle.path]);
  const names = listing.stdout.split('\n').map((line) => line.trim().split(/\s+/).at(-1));
  assert.deepEqual(names, ['manifest.json', 'manifest.json.sig', 'image']);
  const extracted = await execa('tar', ['--extract', '--to-stdout', '--file', bundle.path, 'image'], { encoding: 'buffer' });
  assert.ok(Buffer.from(extracted.stdout).equals(imageBytes(300_000, 7)));

  const file = await readFile(bundle.path);
  const manifestBytes = file.subarray(bundle.layout.manifestOffset, bundle.layout.manifestOffset + bundle.layout.manifestSize);
  assert.ok(manifestBytes.equals(bundle.manifestBytes));
  const layout = bundleLayout(parseManifest(manifestBytes), manifestBytes.length);
  assert.deepEqual(layout, bundle.layout);
  for (const chunk of layout.chunks) {
    const bytes = file.subarray(chunk.bundleOffset, chunk.bundleOffset + chunk.size);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), chunk.sha256, `chunk ${chunk.index} sits at bundleOffset`);
  }
  assert.equal(layout.chunks.at(-1)?.size, 300_000 - 4 * 65536);
  const signature = file.subarray(layout.signatureOffset, layout.signatureOffset + 64);
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(keys.publicKey.bytes).toString('base64url') }, format: 'jwk' });
  assert.equal(nodeVerify(null, manifestBytes, publicKey, signature), true, "Node's crypto accepts the bundle's signature");
  assert.ok(file.subarray(layout.signatureOffset + 64, layout.imageHeaderOffset).every((b) => b === 0));
  assert.equal(file.length, layout.totalSize);
});

test('readBundle() accepts a bundle made by hand with GNU tar --format=ustar and openssl, as docs/bundle-format.md describes', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'ops');
  const work = path.join(dir, 'work');
  await execa('mkdir', [work]);
  await makeImage(path.join(work, 'image'), 10_000, 3);
  const image = imageBytes(10_000, 3);
  const chunk0 = image.subarray(0, 8192);
  const chunk1 = image.subarray(8192);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const manifest = {
    format: 1,
    compatible: 'hand-made',
    version: '0.9.0',
    created: '2026-01-01T00:00:00Z',
    image: { size: 10_000, sha256: sha(image), chunks: [{ size: 8192, sha256: sha(chunk0) }, { size: 1808, sha256: sha(chunk1) }] },
    keyId: keys.keyId,
  };
  await writeFile(path.join(work, 'manifest.json'), JSON.stringify(manifest, null, 2));
  // The .key seed as a PKCS#8 PEM for openssl: fixed 16-byte prefix + the 32-byte seed.
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(keys.privateKey.seed)]);
  const pem = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' });
  await writeFile(path.join(dir, 'key.pem'), pem);
  await execa('openssl', ['pkeyutl', '-sign', '-rawin', '-inkey', path.join(dir, 'key.pem'), '-in', path.join(work, 'manifest.json'), '-out', path.join(work, 'manifest.json.sig')]);
  const out = path.join(dir, 'hand.tar');
  await execa('tar', ['--format=ustar', '--create', '--file', out, '--directory', work, 'manifest.json', 'manifest.json.sig', 'image']);

  const got: Buffer[] = [];
  const result = await readBundle(bundleFileSource(out), { keyring: await loadKeyring([keys.keyringDir]), onChunk: (c) => void got.push(c.data) });
  assert.equal(result.keyId, keys.keyId);
  assert.equal(result.manifest.compatible, 'hand-made');
  assert.ok(Buffer.concat(got).equals(image));
  assert.equal((await stat(out)).size % 10240, 0, 'GNU tar pads to 10240-byte records, which readers accept');
});

test('createBundle() refuses a chunk size outside 4 KiB..16 MiB with ERR_MANIFEST_CHUNK_SIZE and writes no file', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k');
  const image = await makeImage(path.join(dir, 'image.raw'), 100_000, 1);
  for (const chunkSize of [4095, 16 * MiB + 1]) {
    await assert.rejects(makeBundle(dir, { image, version: '1.0.0', compatible: 'x', key: keys, chunkSize }), { code: 'ERR_MANIFEST_CHUNK_SIZE' });
  }
  await assert.rejects(stat(path.join(dir, 'bundle-1.0.0.tar')), { code: 'ENOENT' });
  await assert.rejects(stat(path.join(dir, 'bundle-1.0.0.tar.partial')), { code: 'ENOENT' });
});
