// The bundle manifest (formats 1 and 2): its type, limits, strict validation, and its serialization for the writer.

import { UpdaterError } from '../common/errors.js';
import { isKeyId } from './keys.js';
import { parseVersion } from './version.js';
import { isTimestamp } from './timestamp.js';

export interface ManifestChunk {
  size: number;
  sha256: string;
  /** Format 2: the chunk's bytes as the bundle stores them (from the signed index): raw when `size` equals the chunk's, else one zstd frame. */
  stored?: { size: number; sha256: string };
}

/** Format 2: how the image was cut and stored, and the signed binary chunk index (docs/bundle-format.md). */
export interface PackedImage {
  chunking: { algorithm: 'fastcdc'; min: number; avg: number; max: number };
  compression: 'zstd' | 'none';
  /** Bytes of the `image` member: the stored chunks, in image order, back to back. */
  storedSize: number;
  /** The `index` member: `chunks` records of INDEX_RECORD_BYTES, its SHA-256. */
  index: { chunks: number; size: number; sha256: string };
}

export interface Manifest {
  format: 1 | 2;
  compatible: string;
  version: string;
  /** RFC 3339 time the bundle was made. */
  created: string;
  /** RFC 3339 time after which the bundle must not be installed. */
  expires?: string;
  /** The oldest committed version that may install this bundle. */
  minVersion?: string;
  /** Format 1 lists the chunks in the JSON; format 2 has them from the index member (empty until attachChunkIndex). */
  image: { size: number; sha256: string; chunks: ManifestChunk[]; packed?: PackedImage };
  keyId: string;
}

export const MANIFEST_FORMAT = 1;
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
export const MIN_CHUNK_SIZE = 4096;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
export const MAX_CHUNKS = 65536;
/** Format 2: 16 GiB at the default 16 KiB average; the index is then 72 MiB. */
export const MAX_CHUNKS_V2 = 1024 * 1024;
/** Format 2: one record of the binary chunk index (verify/chunk-index.ts). */
export const INDEX_RECORD_BYTES = 72;
/** The largest size a ustar size field holds (11 octal digits): 8 GiB - 1. */
export const MAX_IMAGE_SIZE = 0o77777777777;
/** Format 2: the image itself may be larger than its member (the stored chunks, still at most MAX_IMAGE_SIZE). */
export const MAX_IMAGE_SIZE_V2 = 64 * 1024 * 1024 * 1024;
const MAX_COMPATIBLE_LENGTH = 256;

const TOP_KEYS = new Set(['format', 'compatible', 'version', 'created', 'expires', 'minVersion', 'image', 'keyId']);
const IMAGE_KEYS = new Set(['size', 'sha256', 'chunks']);
const PACKED_IMAGE_KEYS = new Set(['size', 'sha256', 'chunking', 'compression', 'stored', 'index']);
const CHUNKING_KEYS = new Set(['algorithm', 'min', 'avg', 'max']);
const INDEX_KEYS = new Set(['chunks', 'size', 'sha256']);
const CHUNK_KEYS = new Set(['size', 'sha256']);
const SHA256_HEX = /^[0-9a-f]{64}$/;
// Strict RFC 3339 (no rolled-over Feb 31 or 24:00): one parser for manifests, channel indexes and the CLI.
export { isTimestamp };

function fieldError(field: string, why: string): UpdaterError {
  return new UpdaterError('ERR_MANIFEST_FIELD', `Cannot accept manifest: field "${field}" ${why}`, { data: { field } });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(object: Record<string, unknown>, allowed: Set<string>, where: string, format: number = 1): void {
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) throw fieldError(`${where}${key}`, `is not part of manifest format ${format}`);
  }
}

function requireString(object: Record<string, unknown>, key: string, where = ''): string {
  const value = object[key];
  if (value === undefined) throw fieldError(`${where}${key}`, 'is missing');
  if (typeof value !== 'string') throw fieldError(`${where}${key}`, `must be a string, not ${JSON.stringify(value)?.slice(0, 40)}`);
  return value;
}

function requireSize(object: Record<string, unknown>, key: string, where: string): number {
  const value = object[key];
  if (value === undefined) throw fieldError(`${where}${key}`, 'is missing');
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw fieldError(`${where}${key}`, `must be a whole number above 0, not ${JSON.stringify(value)?.slice(0, 40)}`);
  }
  return value;
}

function requireSha256(object: Record<string, unknown>, key: string, where: string): string {
  const value = requireString(object, key, where);
  if (!SHA256_HEX.test(value)) throw fieldError(`${where}${key}`, `must be 64 lowercase hex digits, not "${value.slice(0, 80)}"`);
  return value;
}

function parseChunks(image: Record<string, unknown>, imageSize: number): ManifestChunk[] {
  const raw = image.chunks;
  if (raw === undefined) throw fieldError('image.chunks', 'is missing');
  if (!Array.isArray(raw)) throw fieldError('image.chunks', 'must be an array');
  if (raw.length === 0) throw fieldError('image.chunks', 'must list at least one chunk');
  if (raw.length > MAX_CHUNKS) {
    throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot accept manifest: ${raw.length} chunks, more than the limit of ${MAX_CHUNKS}`, {
      data: { chunks: raw.length, limit: MAX_CHUNKS },
      hint: 'Make the bundle with a larger --chunk-size.',
    });
  }
  const chunks: ManifestChunk[] = [];
  let sum = 0;
  for (let index = 0; index < raw.length; index++) {
    const entry: unknown = raw[index];
    const where = `image.chunks[${index}].`;
    if (!isObject(entry)) throw fieldError(`image.chunks[${index}]`, 'must be an object {size, sha256}');
    checkKeys(entry, CHUNK_KEYS, where);
    const size = requireSize(entry, 'size', where);
    const sha256 = requireSha256(entry, 'sha256', where);
    const last = index === raw.length - 1;
    if (size > MAX_CHUNK_SIZE || (size < MIN_CHUNK_SIZE && !last)) {
      throw new UpdaterError(
        'ERR_MANIFEST_CHUNK_SIZE',
        `Cannot accept manifest: chunk ${index} has ${size} bytes, outside ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE} (only the last chunk may be smaller)`,
        { data: { index, size, min: MIN_CHUNK_SIZE, max: MAX_CHUNK_SIZE } },
      );
    }
    sum += size;
    chunks.push({ size, sha256 });
  }
  if (sum !== imageSize) {
    throw new UpdaterError('ERR_MANIFEST_CHUNKS', `Cannot accept manifest: the chunk sizes add up to ${sum} bytes, but image.size is ${imageSize}`, {
      data: { sum, imageSize },
    });
  }
  return chunks;
}

function requireObject(object: Record<string, unknown>, key: string, where: string, shape: string): Record<string, unknown> {
  const value = object[key];
  if (value === undefined) throw fieldError(`${where}${key}`, 'is missing');
  if (!isObject(value)) throw fieldError(`${where}${key}`, `must be an object ${shape}`);
  return value;
}

/** Format 2's image: sizes, chunking, compression and the index's size and hash (the chunks come from the index). */
function parsePackedImage(image: Record<string, unknown>): { size: number; sha256: string; packed: PackedImage } {
  checkKeys(image, PACKED_IMAGE_KEYS, 'image.', 2);
  const size = requireSize(image, 'size', 'image.');
  if (size > MAX_IMAGE_SIZE_V2) {
    throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot accept manifest: image.size ${size} is above the limit of ${MAX_IMAGE_SIZE_V2} bytes`, { data: { size, limit: MAX_IMAGE_SIZE_V2 } });
  }
  const sha256 = requireSha256(image, 'sha256', 'image.');
  const chunking = requireObject(image, 'chunking', 'image.', '{algorithm, min, avg, max}');
  checkKeys(chunking, CHUNKING_KEYS, 'image.chunking.', 2);
  if (chunking.algorithm !== 'fastcdc') throw fieldError('image.chunking.algorithm', `must be "fastcdc", not ${JSON.stringify(chunking.algorithm)?.slice(0, 40)}`);
  const min = requireSize(chunking, 'min', 'image.chunking.');
  const avg = requireSize(chunking, 'avg', 'image.chunking.');
  const max = requireSize(chunking, 'max', 'image.chunking.');
  if (!(MIN_CHUNK_SIZE <= min && min < avg && avg < max && max <= MAX_CHUNK_SIZE) || (avg & (avg - 1)) !== 0) {
    throw new UpdaterError('ERR_MANIFEST_CHUNK_SIZE', `Cannot accept manifest: chunking min ${min}, avg ${avg}, max ${max} is not ${MIN_CHUNK_SIZE} <= min < avg < max <= ${MAX_CHUNK_SIZE} with avg a power of two`, {
      data: { min, avg, max },
    });
  }
  const compression = image.compression;
  if (compression !== 'zstd' && compression !== 'none') throw fieldError('image.compression', `must be "zstd" or "none", not ${JSON.stringify(compression)?.slice(0, 40)}`);
  const storedSize = requireSize(image, 'stored', 'image.');
  if (storedSize > MAX_IMAGE_SIZE) {
    throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot accept manifest: image.stored ${storedSize} is above the ustar limit of ${MAX_IMAGE_SIZE} bytes`, { data: { storedSize, limit: MAX_IMAGE_SIZE } });
  }
  const index = requireObject(image, 'index', 'image.', '{chunks, size, sha256}');
  checkKeys(index, INDEX_KEYS, 'image.index.', 2);
  const chunks = requireSize(index, 'chunks', 'image.index.');
  const indexSize = requireSize(index, 'size', 'image.index.');
  if (chunks > MAX_CHUNKS_V2) {
    throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot accept manifest: ${chunks} chunks, more than the limit of ${MAX_CHUNKS_V2}`, {
      data: { chunks, limit: MAX_CHUNKS_V2 },
      hint: 'Make the bundle with a larger --avg-chunk.',
    });
  }
  if (indexSize !== chunks * INDEX_RECORD_BYTES) {
    throw new UpdaterError('ERR_MANIFEST_CHUNKS', `Cannot accept manifest: image.index.size ${indexSize} is not ${chunks} records of ${INDEX_RECORD_BYTES} bytes`, { data: { chunks, size: indexSize } });
  }
  if (chunks > Math.ceil(size / MIN_CHUNK_SIZE) || chunks < Math.ceil(size / max)) {
    throw new UpdaterError('ERR_MANIFEST_CHUNKS', `Cannot accept manifest: ${chunks} chunks cannot cut ${size} bytes into pieces of ${min}..${max}`, { data: { chunks, size, min, max } });
  }
  const packed: PackedImage = {
    chunking: { algorithm: 'fastcdc', min, avg, max },
    compression,
    storedSize,
    index: { chunks, size: indexSize, sha256: requireSha256(index, 'sha256', 'image.index.') },
  };
  return { size, sha256, packed };
}

/** Validates an already-parsed JSON value as a format 1 or 2 manifest (format 2's chunks: attachChunkIndex). */
export function validateManifest(value: unknown): Manifest {
  if (!isObject(value)) throw new UpdaterError('ERR_MANIFEST_FORMAT', 'Cannot accept manifest: it is not a JSON object');
  if (value.format !== MANIFEST_FORMAT && value.format !== 2) {
    throw new UpdaterError('ERR_MANIFEST_FORMAT', `Cannot accept manifest: format ${JSON.stringify(value.format)?.slice(0, 40)} is not supported (this reader knows formats 1 and 2)`, {
      data: { format: value.format === undefined ? null : String(value.format).slice(0, 40) },
      hint: 'Update abupdate to a version that reads this bundle format.',
    });
  }
  const format: 1 | 2 = value.format === 2 ? 2 : 1;
  checkKeys(value, TOP_KEYS, '', format);
  const compatible = requireString(value, 'compatible');
  if (compatible.length === 0 || compatible.length > MAX_COMPATIBLE_LENGTH || /[\u0000-\u001f\u007f]/.test(compatible)) {
    throw fieldError('compatible', `must be 1 to ${MAX_COMPATIBLE_LENGTH} printable characters`);
  }
  const version = requireString(value, 'version');
  parseVersion(version, 'manifest version');
  const created = requireString(value, 'created');
  if (!isTimestamp(created)) throw fieldError('created', `must be an RFC 3339 time, not "${created.slice(0, 80)}"`);
  const manifest: Manifest = { format, compatible, version, created, image: { size: 0, sha256: '', chunks: [] }, keyId: '' };
  if (value.expires !== undefined) {
    const expires = requireString(value, 'expires');
    if (!isTimestamp(expires)) throw fieldError('expires', `must be an RFC 3339 time, not "${expires.slice(0, 80)}"`);
    manifest.expires = expires;
  }
  if (value.minVersion !== undefined) {
    const minVersion = requireString(value, 'minVersion');
    parseVersion(minVersion, 'manifest minVersion');
    manifest.minVersion = minVersion;
  }
  const image = requireObject(value, 'image', '', format === 2 ? '{size, sha256, chunking, compression, stored, index}' : '{size, sha256, chunks}');
  if (format === 2) {
    const { size, sha256, packed } = parsePackedImage(image);
    manifest.image = { size, sha256, chunks: [], packed };
  } else {
    checkKeys(image, IMAGE_KEYS, 'image.');
    const size = requireSize(image, 'size', 'image.');
    if (size > MAX_IMAGE_SIZE) {
      throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot accept manifest: image.size ${size} is above the limit of ${MAX_IMAGE_SIZE} bytes`, {
        data: { size, limit: MAX_IMAGE_SIZE },
      });
    }
    manifest.image = { size, sha256: requireSha256(image, 'sha256', 'image.'), chunks: parseChunks(image, size) };
  }
  const keyId = requireString(value, 'keyId');
  if (!isKeyId(keyId)) throw fieldError('keyId', `must be 16 lowercase hex digits, not "${keyId.slice(0, 80)}"`);
  manifest.keyId = keyId;
  return manifest;
}

/** Parses and validates the exact bytes of manifest.json. */
export function parseManifest(bytes: Uint8Array, maxBytes = MAX_MANIFEST_BYTES): Manifest {
  if (bytes.length > maxBytes) {
    throw new UpdaterError('ERR_MANIFEST_TOO_LARGE', `Cannot accept manifest: ${bytes.length} bytes, more than the limit of ${maxBytes}`, {
      data: { size: bytes.length, limit: maxBytes },
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch (error) {
    throw new UpdaterError('ERR_MANIFEST_JSON', `Cannot parse manifest: ${(error as Error).message}`, { cause: error });
  }
  return validateManifest(value);
}

/** The bytes the writer puts into manifest.json (and signs): compact JSON in field order, one newline. */
export function serializeManifest(manifest: Manifest): Buffer {
  const ordered: Record<string, unknown> = {
    format: manifest.format,
    compatible: manifest.compatible,
    version: manifest.version,
    created: manifest.created,
  };
  if (manifest.expires !== undefined) ordered.expires = manifest.expires;
  if (manifest.minVersion !== undefined) ordered.minVersion = manifest.minVersion;
  const { packed } = manifest.image;
  ordered.image = packed
    ? {
        size: manifest.image.size,
        sha256: manifest.image.sha256,
        chunking: { ...packed.chunking },
        compression: packed.compression,
        stored: packed.storedSize,
        index: { ...packed.index },
      }
    : { size: manifest.image.size, sha256: manifest.image.sha256, chunks: manifest.image.chunks.map((c) => ({ size: c.size, sha256: c.sha256 })) };
  ordered.keyId = manifest.keyId;
  return Buffer.from(`${JSON.stringify(ordered)}\n`, 'utf8');
}
