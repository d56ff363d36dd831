// Seeded mutation fuzzing of whole bundles and of manifest JSON: only typed errors, never a changed bundle accepted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ERROR_CODES, UpdaterError } from '../common/errors.js';
import { makeTempDir } from '../fixtures/tmp.js';
import { bytesSource, imageBytes, makeBundle, makeImage, makeKeys } from '../fixtures/bundle.js';
import { readFile } from 'node:fs/promises';
import { readBundle } from './bundle-reader.js';
import { parseManifest, serializeManifest } from './manifest.js';
import { keyringOf } from './keyring.js';
import { prng } from '../fixtures/prng.js';

const CASES = 2000;
const IMAGE_SIZE = 3 * 4096 + 700;

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its number. */

test('readBundle() under seeded mutation fuzzing (flips in headers, manifest, signature, image, trailer) throws only typed errors and never accepts a changed bundle', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'fuzz', 'fuzz');
  const imagePath = await makeImage(path.join(dir, 'image.raw'), IMAGE_SIZE, 'fuzz');
  const bundle = await makeBundle(dir, { image: imagePath, version: '1.0.0', compatible: 'box', key: keys, chunkSize: 4096, created: new Date('2026-01-01T00:00:00Z') });
  const original = await readFile(bundle.path);
  const image = imageBytes(IMAGE_SIZE, 'fuzz');
  const keyring = keyringOf([keys.publicKey]);
  const { layout } = bundle;
  // [name, start, end, weight]: a changed manifest or signature costs a ~20 ms tweetnacl verify, so they get fewer cases.
  const regions: Array<[string, number, number, number]> = [
    ['manifest header', 0, 512, 3],
    ['manifest', layout.manifestOffset, layout.manifestOffset + layout.manifestSize, 1],
    ['manifest padding', layout.manifestOffset + layout.manifestSize, layout.signatureHeaderOffset, 1],
    ['signature header', layout.signatureHeaderOffset, layout.signatureHeaderOffset + 512, 3],
    ['signature', layout.signatureOffset, layout.signatureOffset + 64, 1],
    ['signature padding', layout.signatureOffset + 64, layout.imageHeaderOffset, 1],
    ['image header', layout.imageHeaderOffset, layout.imageOffset, 3],
    ['image', layout.imageOffset, layout.imageEnd, 4],
    ['trailer', layout.imageEnd, original.length, 3],
  ];
  const weights = regions.reduce((sum, r) => sum + r[3], 0);
  const pickRegion = (x: number): [string, number, number, number] => {
    let left = x * weights;
    for (const r of regions) if ((left -= r[3]) < 0) return r;
    return regions[0] as [string, number, number, number];
  };
  const codes = new Map<string, number>();
  let accepted = 0;
  for (let n = 0; n < CASES; n++) {
    const random = prng(1000 + n);
    const pick = (k: number): number => Math.floor(random() * k);
    const bytes = Buffer.from(original);
    let mutated: Buffer = bytes;
    const kind = pick(10);
    const [region, start, end] = pickRegion(random());
    if (kind < 7) {
      for (let f = 1 + pick(4); f > 0; f--) {
        const at = start + pick(end - start);
        bytes[at] = (bytes[at] ?? 0) ^ (1 + pick(255));
      }
    } else if (kind === 7) {
      mutated = bytes.subarray(0, start + pick(end - start)); // truncation
    } else if (kind === 8) {
      const at = start + pick(end - start);
      mutated = Buffer.concat([bytes.subarray(0, at), Buffer.from([pick(256)]), bytes.subarray(at)]); // insertion
    } else {
      const at = start + pick(end - start);
      mutated = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + pick(600))]); // deletion
    }
    const released: Array<{ imageOffset: number; data: Buffer }> = [];
    let error: unknown;
    let manifestBytes: Buffer | undefined;
    try {
      const result = await readBundle(bytesSource(mutated, 1 + pick(9000)), { keyring, onChunk: (c) => void released.push(c) });
      manifestBytes = result.manifestBytes;
    } catch (caught) {
      error = caught;
    }
    for (const chunk of released) {
      assert.ok(chunk.data.equals(image.subarray(chunk.imageOffset, chunk.imageOffset + chunk.data.length)), `case ${n} (${region}): a released chunk differs from the signed image`);
    }
    if (error === undefined) {
      accepted++;
      assert.ok(manifestBytes?.equals(bundle.manifestBytes), `case ${n} (${region}): accepted with another manifest`);
      assert.equal(released.reduce((sum, c) => sum + c.data.length, 0), IMAGE_SIZE, `case ${n}: accepted without the whole image`);
      continue;
    }
    assert.ok(error instanceof UpdaterError, `case ${n} (${region}, kind ${kind}): untyped error ${String(error)}`);
    assert.ok((ERROR_CODES as readonly string[]).includes(error.code) && error.code !== 'ERR_INTERNAL', `case ${n}: code ${error.code}`);
    codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
  }
  // Mutations that change nothing delivered (a size field's NUL turned into a space, zero-filler appended to a record) may pass.
  t.diagnostic(`accepted ${accepted} of ${CASES} (content unchanged); refused: ${JSON.stringify(Object.fromEntries(codes))}`);
  assert.ok(accepted < CASES / 50, `${accepted} of ${CASES} mutated bundles were accepted`);
  for (const code of ['ERR_BUNDLE_TAR', 'ERR_SIGNATURE', 'ERR_CHUNK_HASH', 'ERR_BUNDLE_TRUNCATED', 'ERR_BUNDLE_TRAILING']) {
    assert.ok((codes.get(code) ?? 0) > 0, `the fuzzer reached ${code}: ${JSON.stringify([...codes])}`);
  }
});

test('parseManifest() under seeded mutation fuzzing of the JSON bytes throws only typed errors, and what it accepts validates again', () => {
  const H = 'c'.repeat(64);
  const text = serializeManifest({
    format: 1,
    compatible: 'box',
    version: '1.2.3-rc.1',
    created: '2026-01-01T00:00:00Z',
    expires: '2027-01-01T00:00:00Z',
    minVersion: '1.0.0',
    image: { size: 8292, sha256: H, chunks: [{ size: 4096, sha256: H }, { size: 4096, sha256: H }, { size: 100, sha256: H }] },
    keyId: '0123456789abcdef',
  });
  const alphabet = Buffer.from('{}[]":,0123456789-+.eE tfnaluxyz\\\u0000\u00ff');
  let accepted = 0;
  for (let n = 0; n < 5000; n++) {
    const random = prng(50_000 + n);
    const pick = (k: number): number => Math.floor(random() * k);
    let bytes = Buffer.from(text);
    for (let f = 1 + pick(3); f > 0; f--) {
      const at = pick(bytes.length);
      const op = pick(3);
      const byte = alphabet[pick(alphabet.length)] ?? 0;
      if (op === 0) bytes[at] = byte;
      else if (op === 1) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)]);
      else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + pick(8))]);
    }
    try {
      const manifest = parseManifest(bytes);
      accepted++;
      assert.deepEqual(parseManifest(serializeManifest(manifest)), manifest, `case ${n}`);
    } catch (error) {
      assert.ok(error instanceof UpdaterError, `case ${n}: untyped ${String(error)} for ${bytes.toString('latin1')}`);
      assert.notEqual(error.code, 'ERR_INTERNAL');
    }
  }
  assert.ok(accepted < 5000);
});
