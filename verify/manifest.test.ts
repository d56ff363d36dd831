// Tests of manifest validation: every refusal with its own error code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CHUNKS, parseManifest, serializeManifest, type Manifest } from './manifest.js';

const H = 'a'.repeat(64);

function base(): Manifest {
  return {
    format: 1,
    compatible: 'acme-box',
    version: '1.2.3',
    created: '2026-01-01T00:00:00Z',
    image: { size: 4096 * 2 + 10, sha256: H, chunks: [{ size: 4096, sha256: H }, { size: 4096, sha256: H }, { size: 10, sha256: H }] },
    keyId: '0123456789abcdef',
  };
}

function bytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function refuses(value: unknown, code: string, what: string): void {
  assert.throws(() => parseManifest(typeof value === 'string' ? Buffer.from(value) : bytes(value)), { code }, what);
}

test('parseManifest() accepts what serializeManifest() writes, optional fields included', () => {
  const m: Manifest = { ...base(), expires: '2030-01-01T00:00:00+02:00', minVersion: '1.0.0-rc.1' };
  assert.deepEqual(parseManifest(serializeManifest(m)), m);
  assert.deepEqual(parseManifest(bytes(base())), base());
});

test('parseManifest() refuses an unknown or missing format with ERR_MANIFEST_FORMAT', () => {
  refuses({ ...base(), format: 3 }, 'ERR_MANIFEST_FORMAT', 'format 3');
  refuses({ ...base(), format: '1' }, 'ERR_MANIFEST_FORMAT', 'format as string');
  const { format: _f, ...noFormat } = base();
  refuses(noFormat, 'ERR_MANIFEST_FORMAT', 'no format');
  refuses([], 'ERR_MANIFEST_FORMAT', 'array');
});

test('parseManifest() refuses bytes that are not UTF-8 JSON with ERR_MANIFEST_JSON', () => {
  refuses('{"format":1', 'ERR_MANIFEST_JSON', 'cut JSON');
  assert.throws(() => parseManifest(Buffer.from([0x7b, 0xff, 0x7d])), { code: 'ERR_MANIFEST_JSON' });
  assert.throws(() => parseManifest(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(base())])), { code: 'ERR_MANIFEST_JSON' }, 'BOM');
});

test('parseManifest() refuses missing, ill-typed and unknown fields with ERR_MANIFEST_FIELD', () => {
  const b = base();
  const cases: Array<[string, unknown]> = [
    ['no compatible', { ...b, compatible: undefined }],
    ['empty compatible', { ...b, compatible: '' }],
    ['compatible with a newline', { ...b, compatible: 'a\nb' }],
    ['compatible as number', { ...b, compatible: 5 }],
    ['no created', { ...b, created: undefined }],
    ['created not RFC 3339', { ...b, created: 'yesterday' }],
    ['expires not a time', { ...b, expires: '2030-13-45' }],
    ['expires on a day that does not exist (Date.parse rolls it over to March 3)', { ...b, expires: '2026-02-31T00:00:00Z' }],
    ['expires at 24:00 (Date.parse reads the next day)', { ...b, expires: '2026-06-30T24:00:00Z' }],
    ['created on a day that does not exist', { ...b, created: '2026-04-31T00:00:00Z' }],
    ['expires as number', { ...b, expires: 1234 }],
    ['no image', { ...b, image: undefined }],
    ['image as string', { ...b, image: 'x' }],
    ['image.size as string', { ...b, image: { ...b.image, size: '8202' } }],
    ['image.size fractional', { ...b, image: { ...b.image, size: 8202.5 } }],
    ['image.sha256 uppercase', { ...b, image: { ...b.image, sha256: H.toUpperCase() } }],
    ['no chunks', { ...b, image: { size: 1, sha256: H } }],
    ['chunks as object', { ...b, image: { ...b.image, chunks: {} } }],
    ['empty chunks', { ...b, image: { ...b.image, chunks: [] } }],
    ['chunk without sha256', { ...b, image: { ...b.image, chunks: [{ size: 8202 }] } }],
    ['chunk sha256 short', { ...b, image: { ...b.image, chunks: [{ size: 8202, sha256: 'ab' }] } }],
    ['chunk size zero', { ...b, image: { ...b.image, chunks: [{ size: 8202, sha256: H }, { size: 0, sha256: H }] } }],
    ['chunk with extra field', { ...b, image: { ...b.image, chunks: [{ size: 8202, sha256: H, offset: 0 }] } }],
    ['unknown top-level field', { ...b, script: 'rm -rf /' }],
    ['unknown image field', { ...b, image: { ...b.image, url: 'http://x' } }],
    ['keyId not hex', { ...b, keyId: 'not-a-key-id!!!!' }],
    ['no keyId', { ...b, keyId: undefined }],
  ];
  for (const [what, value] of cases) refuses(value, 'ERR_MANIFEST_FIELD', what);
});

test('parseManifest() refuses bad semver in version and minVersion with ERR_BAD_VERSION', () => {
  for (const version of ['1.2', 'v1.2.3', '01.2.3', '1.2.3-01', '1.2.3-', '1.2.3+', '1.2.3.4', '']) {
    refuses({ ...base(), version }, 'ERR_BAD_VERSION', version);
  }
  refuses({ ...base(), minVersion: '1.x' }, 'ERR_BAD_VERSION', 'minVersion');
  refuses({ ...base(), version: 123 }, 'ERR_MANIFEST_FIELD', 'version as number');
});

test('parseManifest() refuses chunk sizes that do not add up (ERR_MANIFEST_CHUNKS) or break the bounds (ERR_MANIFEST_CHUNK_SIZE)', () => {
  const b = base();
  refuses({ ...b, image: { ...b.image, size: 8203 } }, 'ERR_MANIFEST_CHUNKS', 'sum too small');
  refuses({ ...b, image: { ...b.image, size: 8201 } }, 'ERR_MANIFEST_CHUNKS', 'sum too large');
  refuses({ ...b, image: { size: 4095 + 10, sha256: H, chunks: [{ size: 4095, sha256: H }, { size: 10, sha256: H }] } }, 'ERR_MANIFEST_CHUNK_SIZE', 'small chunk that is not last');
  const big = 16 * 1024 * 1024 + 1;
  refuses({ ...b, image: { size: big, sha256: H, chunks: [{ size: big, sha256: H }] } }, 'ERR_MANIFEST_CHUNK_SIZE', 'chunk over 16 MiB');
  assert.equal(parseManifest(bytes({ ...b, image: { size: 100, sha256: H, chunks: [{ size: 100, sha256: H }] } })).image.chunks.length, 1, 'a single short chunk is fine');
});

test('parseManifest() refuses too many chunks, too large images and manifests over the byte limit', () => {
  const b = base();
  const chunks = Array.from({ length: MAX_CHUNKS + 1 }, () => ({ size: 4096, sha256: H }));
  refuses({ ...b, image: { size: 4096 * chunks.length, sha256: H, chunks } }, 'ERR_MANIFEST_LIMIT', 'too many chunks');
  const huge = 16 * 1024 * 1024;
  const many = Array.from({ length: 513 }, () => ({ size: huge, sha256: H }));
  refuses({ ...b, image: { size: huge * many.length, sha256: H, chunks: many } }, 'ERR_MANIFEST_LIMIT', 'image over 8 GiB');
  assert.throws(() => parseManifest(Buffer.alloc(8 * 1024 * 1024 + 1, 0x20)), { code: 'ERR_MANIFEST_TOO_LARGE' });
  assert.throws(() => parseManifest(bytes(b), 50), { code: 'ERR_MANIFEST_TOO_LARGE' });
});
