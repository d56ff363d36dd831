// Tests of verifyChunks(): resume from chunk K, trailer modes, wrong offsets, image hash, abort, buffer reuse.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../fixtures/tmp.js';
import { bytesSource, imageBytes, makeBundle, makeImage, makeKeys } from '../fixtures/bundle.js';
import { bundleFileSource } from './bundle-reader.js';
import { ChunkPool } from './chunk-pool.js';
import { verifyChunks, type VerifiedChunk } from './chunk-verifier.js';
import type { Manifest } from './manifest.js';

const SIZE = 10 * 8192 + 3000;

async function small(t: Parameters<typeof makeTempDir>[0]) {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k', 'chunks');
  const image = await makeImage(path.join(dir, 'image.raw'), SIZE, 'chunks');
  const bundle = await makeBundle(dir, { image, version: '1.0.0', compatible: 'box', key: keys, chunkSize: 8192 });
  return { bundle, file: await readFile(bundle.path), image: imageBytes(SIZE, 'chunks') };
}

async function collect(chunks: AsyncGenerator<VerifiedChunk>): Promise<{ released: VerifiedChunk[]; code: string | undefined }> {
  const released: VerifiedChunk[] = [];
  try {
    for await (const chunk of chunks) released.push(chunk);
    return { released, code: undefined };
  } catch (error) {
    return { released, code: (error as { code?: string }).code };
  }
}

test('verifyChunks() resumes at chunk K from a Range body starting at its bundleOffset (trailer tar)', async (t) => {
  const { bundle, file, image } = await small(t);
  const k = 7;
  const start = bundle.layout.chunks[k]?.bundleOffset ?? -1;
  const { released, code } = await collect(verifyChunks(bundleFileSource(bundle.path, start), bundle.manifest, { fromChunk: k, trailer: 'tar' }));
  assert.equal(code, undefined);
  assert.deepEqual(released.map((c) => c.index), [7, 8, 9, 10]);
  for (const chunk of released) {
    assert.equal(chunk.imageOffset, chunk.index * 8192);
    assert.ok(chunk.data.equals(image.subarray(chunk.imageOffset, chunk.imageOffset + chunk.data.length)));
  }
  assert.equal(released.at(-1)?.data.length, 3000);
  assert.equal(file.length - start, SIZE - 7 * 8192 + (512 - (SIZE % 512)) + 1024);
});

test('verifyChunks() with trailer none takes a body that ends at the image end and refuses one byte more', async (t) => {
  const { bundle, file } = await small(t);
  const start = bundle.layout.chunks[3]?.bundleOffset ?? -1;
  const exact = file.subarray(start, bundle.layout.imageEnd);
  const ok = await collect(verifyChunks(bytesSource(exact, 5000), bundle.manifest, { fromChunk: 3, trailer: 'none' }));
  assert.equal(ok.code, undefined);
  assert.deepEqual(ok.released.map((c) => c.index), [3, 4, 5, 6, 7, 8, 9, 10]);
  const more = await collect(verifyChunks(bytesSource(file.subarray(start, bundle.layout.imageEnd + 1), 5000), bundle.manifest, { fromChunk: 3, trailer: 'none' }));
  assert.equal(more.code, 'ERR_BUNDLE_TRAILING');
  assert.equal(more.released.length, 8, 'every chunk before the extra byte was verified');
});

test('verifyChunks() fed the wrong offset (a Range off by one) releases nothing: ERR_CHUNK_HASH', async (t) => {
  const { bundle } = await small(t);
  const start = (bundle.layout.chunks[2]?.bundleOffset ?? 0) + 1;
  const result = await collect(verifyChunks(bundleFileSource(bundle.path, start), bundle.manifest, { fromChunk: 2 }));
  assert.equal(result.code, 'ERR_CHUNK_HASH');
  assert.equal(result.released.length, 0);
});

test('verifyChunks() refuses an empty body with ERR_BUNDLE_TRUNCATED and a chunk index past the end with ERR_USAGE', async (t) => {
  const { bundle } = await small(t);
  const empty = await collect(verifyChunks(bytesSource(Buffer.alloc(0)), bundle.manifest, { fromChunk: 4 }));
  assert.equal(empty.code, 'ERR_BUNDLE_TRUNCATED');
  assert.equal(empty.released.length, 0);
  assert.equal((await collect(verifyChunks(bytesSource(Buffer.alloc(0)), bundle.manifest, { fromChunk: 12 }))).code, 'ERR_USAGE');
});

test('verifyChunks() checkImageHash refuses an image whose chunks match but image.sha256 does not (ERR_IMAGE_HASH)', async (t) => {
  const { bundle, file } = await small(t);
  const manifest: Manifest = { ...bundle.manifest, image: { ...bundle.manifest.image, sha256: '0'.repeat(64) } };
  const body = file.subarray(bundle.layout.imageOffset);
  const result = await collect(verifyChunks(bytesSource(body), manifest, { checkImageHash: true }));
  assert.equal(result.code, 'ERR_IMAGE_HASH');
  const fine = await collect(verifyChunks(bytesSource(body), bundle.manifest, { checkImageHash: true }));
  assert.equal(fine.code, undefined);
  assert.equal(fine.released.length, 11);
});

test('verifyChunks() stops with the abort reason when the signal fires mid-stream', async (t) => {
  const { bundle, file } = await small(t);
  const controller = new AbortController();
  const released: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const chunk of verifyChunks(bytesSource(file.subarray(bundle.layout.imageOffset), 8192), bundle.manifest, { signal: controller.signal })) {
        released.push(chunk.index);
        if (chunk.index === 1) controller.abort();
      }
    })(),
    { name: 'AbortError' },
  );
  assert.deepEqual(released, [0, 1]);
});

test('verifyChunks() copies pieces as they arrive: a source that reuses one buffer still yields correct, independent chunks', async (t) => {
  const { bundle, image } = await small(t);
  const source = bundleFileSource(bundle.path, bundle.layout.imageOffset, { reuseBuffer: true, pieceSize: 3000 });
  const { released, code } = await collect(verifyChunks(source, bundle.manifest));
  assert.equal(code, undefined);
  assert.equal(released.length, 11);
  for (const chunk of released) assert.ok(chunk.data.equals(image.subarray(chunk.imageOffset, chunk.imageOffset + chunk.data.length)), `chunk ${chunk.index}`);
});

test('verifyChunks() with reuseBuffer hands out one buffer: each chunk is right when it is yielded', async (t) => {
  const { bundle, image } = await small(t);
  const seen = new Set<ArrayBufferLike>();
  let count = 0;
  for await (const chunk of verifyChunks(bundleFileSource(bundle.path, bundle.layout.imageOffset, { reuseBuffer: true }), bundle.manifest, { reuseBuffer: true })) {
    assert.ok(chunk.data.equals(image.subarray(chunk.imageOffset, chunk.imageOffset + chunk.data.length)), `chunk ${chunk.index}`);
    seen.add(chunk.data.buffer);
    count++;
  }
  assert.equal(count, 11);
  assert.equal(seen.size, 1, 'one buffer for every chunk');
});

test('verifyChunks() with a pool: each chunk in a pool buffer until released, buffers reused, none lost when a chunk is refused', async (t) => {
  const { bundle, image } = await small(t);
  const pool = new ChunkPool(2, 8192);
  const seen = new Set<ArrayBufferLike>();
  const held: VerifiedChunk[] = [];
  let count = 0;
  for await (const chunk of verifyChunks(bundleFileSource(bundle.path, bundle.layout.imageOffset, { pieceSize: 3000 }), bundle.manifest, { pool })) {
    held.push(chunk);
    seen.add(chunk.data.buffer);
    count++;
    // Held one chunk back: it must still be right while the next one was received into the other buffer.
    if (held.length === 2) {
      const older = held.shift() as VerifiedChunk;
      assert.ok(older.data.equals(image.subarray(older.imageOffset, older.imageOffset + older.data.length)), `chunk ${older.index} intact while the next arrived`);
      older.release?.();
    }
  }
  held.shift()?.release?.();
  assert.equal(count, 11);
  assert.ok(seen.size <= 2, `at most the pool's 2 buffers (saw ${seen.size})`);
  // A refused chunk: nothing of it comes out, and its buffer went back (both can be taken without waiting).
  const start = (bundle.layout.chunks[2]?.bundleOffset ?? 0) + 1;
  const refused = await collect(verifyChunks(bundleFileSource(bundle.path, start), bundle.manifest, { fromChunk: 2, pool }));
  assert.equal(refused.code, 'ERR_CHUNK_HASH');
  assert.equal(refused.released.length, 0);
  const timeout = new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 200));
  assert.notEqual(await Promise.race([Promise.all([pool.take(), pool.take()]), timeout]), 'waited');
  assert.throws(() => new ChunkPool(1, 8192), /at least 2/);
});
