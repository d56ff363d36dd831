// Tests of bundle format 2: content-defined chunks, the signed binary index, per-chunk zstd, and hostile indexes.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { makeTempDir } from '../fixtures/tmp.js';
import { bytesSource, layeredImage, makeBundle, makeKeys } from '../fixtures/bundle.js';
import { assembleBundle, readBundleParts, withChunkIndex, type BundleParts } from '../fixtures/hostile-tar.js';
import { readBundle, bundleFileSource } from './bundle-reader.js';
import type { VerifiedChunk } from './chunk-verifier.js';
import { encodeChunkIndex, parseChunkIndex } from './chunk-index.js';
import { keyringOf, type Keyring } from './keyring.js';
import type { PrivateKey } from './keys.js';
import type { Manifest, ManifestChunk } from './manifest.js';
import { INDEX_RECORD_BYTES } from './manifest.js';

const SIZE = 1024 * 1024 + 777;

interface Setup {
  dir: string;
  path: string;
  image: Buffer;
  parts: BundleParts;
  chunks: ManifestChunk[];
  keyring: Keyring;
  key: PrivateKey;
}

async function setup(t: TestContext, compress: 'zstd' | 'none' = 'zstd'): Promise<Setup> {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k', 'format2-tests');
  const image = layeredImage(SIZE, 'f2');
  const imagePath = path.join(dir, 'image.raw');
  await writeFile(imagePath, image);
  const bundle = await makeBundle(dir, { image: imagePath, version: '2.0.0', compatible: 'box', key: keys, format: 2, compress, zstdLevel: 3, created: new Date('2026-01-01T00:00:00Z') });
  const parts = await readBundleParts(bundle.path);
  return { dir, path: bundle.path, image, parts, chunks: bundle.manifest.image.chunks, keyring: keyringOf([keys.publicKey]), key: keys.privateKey };
}

async function attempt(bytes: Buffer, keyring: Keyring): Promise<{ code: string | undefined; released: VerifiedChunk[] }> {
  const released: VerifiedChunk[] = [];
  try {
    await readBundle(bytesSource(bytes, 3000), { keyring, onChunk: (c) => void released.push({ ...c, data: Buffer.from(c.data) }) });
    return { code: undefined, released };
  } catch (error) {
    return { code: (error as { code?: string }).code, released };
  }
}

/** The bundle re-signed with a new index (as a hostile publisher holding the key could make it). */
function withIndex(s: Setup, chunks: ManifestChunk[], change?: (m: Manifest) => Manifest): Buffer {
  return withChunkIndex(s.parts, chunks, s.key, change);
}

test('format 2 round trip: content-defined chunks within bounds, some stored compressed, readBundle yields the image byte for byte', async (t) => {
  const s = await setup(t);
  const { manifest } = s.parts;
  assert.equal(manifest.format, 2);
  assert.deepEqual(manifest.image.packed?.chunking, { algorithm: 'fastcdc', min: 4096, avg: 16384, max: 65536 });
  assert.equal(s.chunks.length, manifest.image.packed?.index.chunks);
  const compressed = s.chunks.filter((c) => c.stored!.size < c.size).length;
  const raw = s.chunks.filter((c) => c.stored!.size === c.size).length;
  assert.ok(compressed > 0 && raw > 0, `both kinds of chunk: ${compressed} compressed, ${raw} raw (random runs do not compress)`);
  assert.ok(s.chunks.every((c, i) => c.size <= 65536 && (c.size >= 4096 || i === s.chunks.length - 1)));
  assert.ok(s.parts.image.length < SIZE, 'the stored image is smaller than the image');
  const got = Buffer.alloc(SIZE);
  const result = await readBundle(bundleFileSource(s.path), { keyring: s.keyring, onChunk: (c) => void c.data.copy(got, c.imageOffset) });
  assert.equal(result.manifest.version, '2.0.0');
  assert.ok(got.equals(s.image), 'the image read from the bundle equals the original');
  assert.ok(result.indexBytes?.equals(s.parts.index!), 'the head returns the index bytes');
});

test('format 2 is a ustar archive GNU tar lists (manifest, signature, index, image), each chunk one Range away at its layout offset', async (t) => {
  const s = await setup(t);
  const { stdout } = await execa('tar', ['-tf', s.path]);
  assert.deepEqual(stdout.split('\n'), ['manifest.json', 'manifest.json.sig', 'index', 'image']);
  const file = await readFile(s.path);
  const { bundleLayout } = await import('./layout.js');
  const head = await readBundle(bundleFileSource(s.path), { keyring: s.keyring });
  const layout = bundleLayout(head.manifest, head.manifestBytes.length);
  assert.equal(file.length, layout.totalSize);
  for (const k of [0, 1, Math.floor(s.chunks.length / 2), s.chunks.length - 1]) {
    const at = layout.chunks[k]!;
    const stored = file.subarray(at.bundleOffset, at.bundleOffset + at.storedSize);
    assert.equal(createHash('sha256').update(stored).digest('hex'), s.chunks[k]!.stored!.sha256, `chunk ${k}'s stored bytes are at its bundle offset`);
  }
  await execa('tar', ['-xf', s.path, '-C', s.dir, 'index']);
  assert.ok((await readFile(path.join(s.dir, 'index'))).equals(s.parts.index!));
});

test('format 2 with --compress none stores every chunk raw', async (t) => {
  const s = await setup(t, 'none');
  assert.equal(s.parts.manifest.image.packed?.compression, 'none');
  assert.ok(s.chunks.every((c) => c.stored!.size === c.size && c.stored!.sha256 === c.sha256));
  assert.ok(s.parts.image.equals(s.image));
});

test('a hostile format 2 bundle is refused with its code, and no chunk it concerns is released', async (t) => {
  const s = await setup(t);
  const good = assembleBundle(s.parts);
  assert.equal((await attempt(good, s.keyring)).code, undefined, 'the untouched bundle reads');
  const compressedAt = s.chunks.findIndex((c, i) => c.stored!.size < c.size && s.chunks[i + 1] !== undefined && s.chunks[i + 1]!.stored!.size < s.chunks[i + 1]!.size);
  assert.ok(compressedAt >= 0, 'two compressed chunks in a row to craft with');
  const rawAt = s.chunks.findIndex((c) => c.stored!.size === c.size);
  const copy = (): ManifestChunk[] => s.chunks.map((c) => ({ size: c.size, sha256: c.sha256, stored: { ...c.stored! } }));

  const flipped = Buffer.from(s.parts.index!);
  flipped[5 * INDEX_RECORD_BYTES + 10]! ^= 1;
  const cases: Array<[string, Buffer, string, number]> = [
    ['index bytes changed after signing', assembleBundle({ ...s.parts, index: flipped }), 'ERR_INDEX_HASH', 0],
    ['index member missing', assembleBundle({ manifestBytes: s.parts.manifestBytes, signature: s.parts.signature, image: s.parts.image }), 'ERR_BUNDLE_ORDER', 0],
    ['index member cut short', assembleBundle({ ...s.parts, index: s.parts.index!.subarray(0, INDEX_RECORD_BYTES * 3) }), 'ERR_BUNDLE_SIZE', 0],
  ];
  {
    // A chunk declared one byte smaller than its frame inflates to (the next one byte larger, so the sizes still add up).
    const chunks = copy();
    chunks[compressedAt]!.size -= 1;
    chunks[compressedAt + 1]!.size += 1;
    cases.push(['a compressed chunk that inflates past its size', withIndex(s, chunks), 'ERR_CHUNK_INFLATE', compressedAt]);
  }
  {
    const chunks = copy();
    chunks[rawAt]!.stored!.size += 1;
    chunks[rawAt]!.size += 1;
    chunks.at(-1)!.size -= 1;
    cases.push(['stored chunks that run past the image member (offsets leave the bundle)', withIndex(s, chunks), 'ERR_INDEX', 0]);
  }
  {
    const chunks = copy();
    chunks[compressedAt]!.stored!.size = chunks[compressedAt]!.size + 1;
    cases.push(['a chunk stored larger than itself', withIndex(s, chunks), 'ERR_INDEX', 0]);
  }
  {
    const chunks = copy();
    chunks[rawAt]!.stored!.sha256 = '0'.repeat(64);
    cases.push(['a raw chunk whose stored hash differs from its hash', withIndex(s, chunks), 'ERR_INDEX', 0]);
  }
  {
    const chunks = copy();
    chunks[compressedAt]!.stored!.sha256 = createHash('sha256').update('other').digest('hex');
    cases.push(['a compressed chunk whose stored bytes do not match the signed index', withIndex(s, chunks), 'ERR_CHUNK_HASH', compressedAt]);
  }
  cases.push(['compression "none" with compressed chunks', withIndex(s, copy(), (m) => ({ ...m, image: { ...m.image, packed: { ...m.image.packed!, compression: 'none' } } })), 'ERR_INDEX', 0]);
  {
    const image = Buffer.from(s.parts.image);
    const layoutAt = s.chunks.slice(0, compressedAt).reduce((sum, c) => sum + c.stored!.size, 0);
    image[layoutAt + 3]! ^= 0x40;
    cases.push(['a stored byte changed in the image member', assembleBundle({ ...s.parts, image }), 'ERR_CHUNK_HASH', compressedAt]);
  }
  for (const [what, bytes, code, firstBad] of cases) {
    const { code: got, released } = await attempt(bytes, s.keyring);
    assert.equal(got, code, what);
    assert.equal(released.length, firstBad, `${what}: only the ${firstBad} chunks before the bad one are released`);
    for (const chunk of released) assert.ok(chunk.data.equals(s.image.subarray(chunk.imageOffset, chunk.imageOffset + chunk.data.length)), `${what}: released chunks are the real image`);
  }
});

test('parseChunkIndex() checks the hash before it reads a record', () => {
  const chunks: ManifestChunk[] = [{ size: 5000, sha256: 'a'.repeat(64), stored: { size: 5000, sha256: 'a'.repeat(64) } }];
  const index = encodeChunkIndex(chunks);
  const packed = { chunking: { algorithm: 'fastcdc' as const, min: 4096, avg: 16384, max: 65536 }, compression: 'zstd' as const, storedSize: 5000, index: { chunks: 1, size: 72, sha256: createHash('sha256').update(index).digest('hex') } };
  assert.deepEqual(parseChunkIndex(index, packed, 5000), chunks);
  const bad = Buffer.from(index);
  bad.writeUInt32LE(1 << 30, 0); // a record that would be refused, but the hash is wrong first
  assert.throws(() => parseChunkIndex(bad, packed, 5000), { code: 'ERR_INDEX_HASH' });
});
