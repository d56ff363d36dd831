// Tests of verifySlotReadback() on a disk image file holding a slot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../fixtures/tmp.js';
import { imageBytes, makeBundle, makeImage, makeKeys } from '../fixtures/bundle.js';
import { ChunkPool } from './chunk-pool.js';
import { verifySlotReadback } from './readback.js';

const SLOT_OFFSET = 1024 * 1024;
const SIZE = 6 * 65536 + 777;

async function setup(t: Parameters<typeof makeTempDir>[0]) {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k', 'readback');
  const image = await makeImage(path.join(dir, 'image.raw'), SIZE, 'readback');
  const { manifest } = await makeBundle(dir, { image, version: '1.0.0', compatible: 'box', key: keys, chunkSize: 65536 });
  const disk = path.join(dir, 'disk.img');
  const bytes = Buffer.alloc(SLOT_OFFSET + SIZE + 4096, 0x55);
  imageBytes(SIZE, 'readback').copy(bytes, SLOT_OFFSET);
  await writeFile(disk, bytes);
  return { manifest, disk };
}

async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  const one = Buffer.alloc(1);
  await handle.read(one, 0, 1, offset);
  one[0] = (one[0] ?? 0) ^ 0xff;
  await handle.write(one, 0, 1, offset);
  await handle.close();
}

test('verifySlotReadback() reports no bad chunk for a slot holding the image, and names the chunks whose bytes differ', async (t) => {
  const { manifest, disk } = await setup(t);
  assert.deepEqual(await verifySlotReadback({ path: disk, offset: SLOT_OFFSET }, manifest), { badChunks: [], checked: 7 });
  await flipByte(disk, SLOT_OFFSET + 3 * 65536 + 100);
  await flipByte(disk, SLOT_OFFSET + SIZE - 1);
  assert.deepEqual(await verifySlotReadback({ path: disk, offset: SLOT_OFFSET }, manifest), { badChunks: [3, 6], checked: 7 });
  assert.deepEqual(await verifySlotReadback({ path: disk, offset: SLOT_OFFSET }, manifest, { chunks: [5, 0, 1] }), { badChunks: [], checked: 3 });
  const handle = await open(disk, 'r');
  try {
    assert.deepEqual((await verifySlotReadback({ path: handle.fd, offset: SLOT_OFFSET }, manifest, { chunks: [3, 4] })).badChunks, [3]);
  } finally {
    await handle.close();
  }
  assert.deepEqual((await verifySlotReadback({ path: disk, offset: SLOT_OFFSET + 1 }, manifest)).badChunks, [0, 1, 2, 3, 4, 5, 6], 'wrong slot offset');
});

test('verifySlotReadback() refuses a slot shorter than the image with ERR_READBACK and a chunk index out of range with ERR_USAGE', async (t) => {
  const { manifest, disk } = await setup(t);
  await assert.rejects(verifySlotReadback({ path: disk, offset: SLOT_OFFSET + 8192 }, manifest), { code: 'ERR_READBACK' });
  await assert.rejects(verifySlotReadback({ path: disk, offset: SLOT_OFFSET }, manifest, { chunks: [7] }), { code: 'ERR_USAGE' });
  await assert.rejects(verifySlotReadback({ path: path.join(disk, 'nope'), offset: 0 }, manifest), { code: 'ERR_IO' });
});

test('verifySlotReadback() reports the bytes read back after each chunk, ending at the bytes of the chunks asked for', async (t) => {
  const { manifest, disk } = await setup(t);
  const seen: number[] = [];
  await verifySlotReadback({ path: disk, offset: SLOT_OFFSET }, manifest, { onProgress: (bytes) => seen.push(bytes) });
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6].map((n) => n * 65536).concat(SIZE));
  const some: number[] = [];
  await verifySlotReadback({ path: disk, offset: SLOT_OFFSET }, manifest, { chunks: [6, 2], onProgress: (bytes) => some.push(bytes) });
  assert.deepEqual(some, [65536, 65536 + 777]);
});

test('verifySlotReadback() with a pool (reads outstanding, chunk hashes in libuv\'s pool) names the same bad chunks and feeds hashInto the same bytes', async (t) => {
  const { manifest, disk } = await setup(t);
  await flipByte(disk, SLOT_OFFSET + 65536 + 5);
  await flipByte(disk, SLOT_OFFSET + 5 * 65536);
  const serialHash = createHash('sha256');
  const serial = await verifySlotReadback({ path: disk, offset: SLOT_OFFSET }, manifest, { hashInto: serialHash });
  const pooledHash = createHash('sha256');
  const progress: number[] = [];
  const pool = new ChunkPool(2, 65536);
  const pooled = await verifySlotReadback({ path: disk, offset: SLOT_OFFSET }, manifest, { hashInto: pooledHash, pool, onProgress: (bytes) => progress.push(bytes) });
  assert.deepEqual(serial, { badChunks: [1, 5], checked: 7 });
  assert.deepEqual(pooled, serial);
  assert.equal(pooledHash.digest('hex'), serialHash.digest('hex'));
  assert.deepEqual(progress, [1, 2, 3, 4, 5, 6].map((k) => k * 65536).concat([SIZE]));
  // A slot cut short fails as without a pool, and the pool gets both buffers back.
  const short = await verifySlotReadback({ path: disk, offset: SLOT_OFFSET + 8192 }, manifest, { pool }).catch((error: { code?: string }) => error.code);
  assert.equal(short, 'ERR_READBACK');
  const timeout = new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 200));
  assert.notEqual(await Promise.race([Promise.all([pool.take(), pool.take()]), timeout]), 'waited');
});
