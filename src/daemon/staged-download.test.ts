// Tests of the staged download: size and SHA-256 checked against the offer, partial files resumed with Range.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isUpdaterError } from '../../common/errors.js';
import { imageBytes } from '../../fixtures/bundle.js';
import { startHttpServer } from '../../fixtures/http-server.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import type { Offer } from '../sources/source.js';
import { downloadOffer } from './staged-download.js';

async function scene(t: { after(fn: () => Promise<void>): void }) {
  const dir = await makeTempDir(t);
  const bytes = imageBytes(1024 * 1024 + 123 * 16, 'staged');
  const file = path.join(dir, 'b.bundle');
  await writeFile(file, bytes);
  const server = await startHttpServer({ 'b.bundle': file });
  t.after(() => server.close());
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const offer: Offer = { version: '2.0.0', url: server.url('b.bundle'), urls: [server.url('b.bundle')], size: bytes.length, sha256, source: 'omaha' };
  return { dir, bytes, server, offer, stage: path.join(dir, 'stage') };
}

test('downloadOffer() fetches the bundle, checks size and SHA-256, and leaves exactly one finished file', async (t) => {
  const { bytes, offer, stage } = await scene(t);
  const progress: number[] = [];
  const result = await downloadOffer(offer, { dir: stage, onProgress: (done) => progress.push(done) });
  assert.equal(result.path, path.join(stage, `${offer.sha256}.bundle`));
  assert.deepEqual(await readFile(result.path), bytes);
  assert.deepEqual(await readdir(stage), [`${offer.sha256}.bundle`]);
  assert.equal(progress.at(-1), bytes.length);
  const again = await downloadOffer(offer, { dir: stage });
  assert.equal(again.bytesDownloaded, 0, 'a finished download is not fetched again');
});

test('downloadOffer() refuses a file whose SHA-256 differs (ERR_OMAHA_HASH; ERR_CHANNEL for a static offer) and deletes it', async (t) => {
  const { offer, stage } = await scene(t);
  const wrong = { ...offer, sha256: 'ee'.repeat(32) };
  await assert.rejects(downloadOffer(wrong, { dir: stage }), (e: unknown) => isUpdaterError(e, 'ERR_OMAHA_HASH') && /its SHA-256 is [0-9a-f]{64}, the update server stated e{64}/.test(e.message));
  assert.deepEqual(await readdir(stage), []);
  await assert.rejects(downloadOffer({ ...wrong, source: 'static' }, { dir: stage }), (e: unknown) => isUpdaterError(e, 'ERR_CHANNEL'));
});

test('downloadOffer() refuses a file larger or smaller than stated, and an impossible size before any request', async (t) => {
  const { offer, stage, server } = await scene(t);
  await assert.rejects(downloadOffer({ ...offer, size: offer.size - 16 }, { dir: stage }), (e: unknown) => isUpdaterError(e, 'ERR_OMAHA_HASH') && /larger than the/.test(e.message));
  await assert.rejects(downloadOffer({ ...offer, size: offer.size + 16 }, { dir: stage }), (e: unknown) => isUpdaterError(e, 'ERR_OMAHA_HASH') && /has \d+ bytes, the update server stated/.test(e.message));
  assert.deepEqual(await readdir(stage), []);
  const requests = server.requests.length;
  await assert.rejects(downloadOffer({ ...offer, size: 2 ** 40 }, { dir: stage }), (e: unknown) => isUpdaterError(e, 'ERR_OMAHA_HASH') && /not a possible bundle size/.test(e.message));
  assert.equal(server.requests.length, requests);
});

test('downloadOffer() continues a partial file with a Range request and fetches only the rest', async (t) => {
  const { bytes, offer, stage, server } = await scene(t);
  await mkdir(stage);
  const kept = 300_000;
  await writeFile(path.join(stage, `${offer.sha256}.part`), bytes.subarray(0, kept));
  await writeFile(path.join(stage, `${'ab'.repeat(32)}.part`), 'an older offer');
  const result = await downloadOffer(offer, { dir: stage });
  assert.equal(result.resumedBytes, kept);
  assert.equal(result.bytesDownloaded, bytes.length - kept);
  assert.deepEqual(await readFile(result.path), bytes);
  assert.equal(server.requests[0]?.range, `bytes=${kept}-${bytes.length}`);
  assert.equal(server.totalBytes(), bytes.length - kept);
  assert.deepEqual(await readdir(stage), [`${offer.sha256}.bundle`], 'the partial file of the other offer was pruned');
});
