// Tests of the FastCDC chunker: boundaries independent of how the input is split, sizes within min..max,
// an insertion near the start changes only the first chunks, a known answer pinning the gear table and masks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { prng } from '../fixtures/prng.js';
import { cdcMasks, cdcParams, checkCdcParams, chunkStream, GEAR, type CdcParams } from './cdc.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const P16 = cdcParams(16 * KiB); // min 4 KiB, avg 16 KiB, max 64 KiB

function randomBytes(size: number, seed: number): Buffer {
  const next = prng(seed);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) {
    const word = Math.floor(next() * 4294967296);
    for (let b = 0; b < 4 && i + b < size; b++) out[i + b] = (word >>> (8 * b)) & 0xff;
  }
  return out;
}

async function* pieces(data: Buffer, pieceSize: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += pieceSize) yield data.subarray(at, at + pieceSize);
}

interface Cut {
  offset: number;
  size: number;
  sha256: string;
}

async function cuts(data: Buffer, pieceSize: number, params: CdcParams = P16): Promise<Cut[]> {
  const out: Cut[] = [];
  for await (const chunk of chunkStream(pieces(data, pieceSize), params)) {
    assert.equal(createHash('sha256').update(chunk.data).digest('hex'), chunk.sha256, 'data view matches its hash');
    out.push({ offset: chunk.offset, size: chunk.size, sha256: chunk.sha256 });
  }
  return out;
}

test('the boundaries are the same whether the input comes in 1-byte, 4 KiB or 1 MiB pieces', async () => {
  const data = randomBytes(3 * MiB + 12345, 7);
  const big = await cuts(data, MiB);
  const page = await cuts(data, 4 * KiB);
  const odd = await cuts(data, 65537); // larger than max: taken in parts
  const bytes = await cuts(data.subarray(0, 512 * KiB), 1);
  assert.ok(big.length > 100, `content-defined, not one chunk: ${big.length}`);
  assert.deepEqual(page, big);
  assert.deepEqual(odd, big);
  // The 1-byte run covers the first 512 KiB: its chunks up to the last full one equal the big run's.
  const full = bytes.slice(0, -1);
  assert.ok(full.length > 10);
  assert.deepEqual(full, big.slice(0, full.length));
  assert.deepEqual(await cuts(data.subarray(0, 512 * KiB), MiB), bytes);
});

test('the chunks tile the input and every chunk but the last is within min..max', async () => {
  for (const params of [cdcParams(16 * KiB), cdcParams(64 * KiB), { min: 4096, avg: 8192, max: 9000 }]) {
    const data = randomBytes(4 * MiB + 777, 11);
    const list = await cuts(data, 100_000, params);
    let at = 0;
    for (const [k, chunk] of list.entries()) {
      assert.equal(chunk.offset, at);
      at += chunk.size;
      if (k < list.length - 1) {
        assert.ok(chunk.size >= params.min && chunk.size <= params.max, `chunk ${k} size ${chunk.size} outside ${params.min}..${params.max}`);
      }
    }
    assert.equal(at, data.length);
    const sizes = list.slice(0, -1).map((c) => c.size);
    // Normalized chunking: the mean is near avg (not all min, not all max).
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    if (params.max >= 4 * params.avg) assert.ok(mean > params.avg * 0.6 && mean < params.avg * 1.6, `mean ${mean} for avg ${params.avg}`);
    assert.ok(new Set(sizes).size > sizes.length / 4, 'sizes vary with the content');
  }
  // The last chunk may be smaller than min; a short input is one chunk.
  const short = await cuts(randomBytes(1000, 3), 64);
  assert.deepEqual(short.map((c) => c.size), [1000]);
  assert.deepEqual(await cuts(Buffer.alloc(0), 1), []);
});

test('inserting bytes near the start changes only the first one or two chunks; the rest are reused', async () => {
  const v1 = randomBytes(4 * MiB, 21);
  const inserted = randomBytes(300, 22);
  for (const at of [10, 1000, 5000, 20_000]) {
    const v2 = Buffer.concat([v1.subarray(0, at), inserted, v1.subarray(at)]);
    const a = await cuts(v1, MiB);
    const b = await cuts(v2, MiB);
    const have = new Set(a.map((c) => c.sha256));
    const missing = b.filter((c) => !have.has(c.sha256));
    assert.ok(missing.length >= 1 && missing.length <= 2, `insert at ${at}: ${missing.length} new chunks of ${b.length}`);
    for (const chunk of missing) assert.ok(chunk.offset <= at + 300, `a changed chunk at ${chunk.offset}, after the insertion at ${at}`);
    assert.equal(b.length - missing.length >= a.length - 2, true);
  }
  // Also a deletion in the middle: only the chunks around it change.
  const v3 = Buffer.concat([v1.subarray(0, 2 * MiB), v1.subarray(2 * MiB + 100)]);
  const have = new Set((await cuts(v1, MiB)).map((c) => c.sha256));
  const missing = (await cuts(v3, MiB)).filter((c) => !have.has(c.sha256));
  assert.ok(missing.length >= 1 && missing.length <= 2, `${missing.length} new chunks after a deletion`);
});

test('known answer: the gear table, the masks and the cuts of a seeded input (fails if any of them changes)', async () => {
  assert.equal(GEAR.length, 256);
  assert.deepEqual([GEAR[0], GEAR[1], GEAR[255]].map((n) => n!.toString(16).padStart(8, '0')), ['739fd253', 'd47e8f41', '49a11edb']);
  assert.deepEqual(cdcMasks(P16), { small: 0xffff0000, large: 0xfff00000 });
  const list = await cuts(randomBytes(2 * MiB, 2026), 4096);
  const digest = createHash('sha256').update(list.map((c) => `${c.size}:${c.sha256}`).join('\n')).digest('hex');
  assert.deepEqual({ count: list.length, first: list.slice(0, 5).map((c) => c.size), digest }, { count: 113, first: [17011, 18903, 22328, 35061, 19176], digest: '0d4668a50159cc9f00331b7a9ebf965c39d09acb2f409d00e907732d1227d6bb' });
});

test('checkCdcParams() refuses parameters outside the manifest bounds or not min < avg < max', () => {
  const code = (params: CdcParams): string | undefined => {
    try {
      checkCdcParams(params);
      return undefined;
    } catch (error) {
      return (error as { code?: string }).code;
    }
  };
  assert.equal(code({ min: 4096, avg: 16384, max: 65536 }), undefined);
  assert.equal(code({ min: 2048, avg: 8192, max: 65536 }), 'ERR_MANIFEST_CHUNK_SIZE'); // min below 4096
  assert.equal(code({ min: 4096, avg: 12000, max: 65536 }), 'ERR_MANIFEST_CHUNK_SIZE'); // not a power of two
  assert.equal(code({ min: 4096, avg: 16384, max: 32 * MiB }), 'ERR_MANIFEST_CHUNK_SIZE');
  assert.equal(code({ min: 16384, avg: 16384, max: 65536 }), 'ERR_MANIFEST_CHUNK_SIZE');
});
