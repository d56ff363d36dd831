// Writes a signed bundle: hashes the image chunk by chunk (pass 1), then streams it into a ustar file (pass 2).
// Format 2's pass 1 cuts content-defined chunks, compresses each, and writes the stored chunks to a side file.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { UpdaterError } from '../common/errors.js';
import type { PrivateKey } from './keys.js';
import { bundleLayout, type BundleLayout } from './layout.js';
import {
  DEFAULT_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  MAX_CHUNKS,
  MAX_CHUNKS_V2,
  MAX_IMAGE_SIZE,
  MAX_IMAGE_SIZE_V2,
  MAX_MANIFEST_BYTES,
  MIN_CHUNK_SIZE,
  serializeManifest,
  validateManifest,
  type Manifest,
  type ManifestChunk,
} from './manifest.js';
import { signDetached } from './signature.js';
import { cdcParams, chunkStream } from './cdc.js';
import { attachChunkIndex, encodeChunkIndex } from './chunk-index.js';
import { ChunkCompressor, DEFAULT_ZSTD_LEVEL } from './zstd.js';
import { bundleFileSource } from './bundle-reader.js';
import { parseTimestamp } from './timestamp.js';

export interface CreateBundleOptions {
  imagePath: string;
  version: string;
  compatible: string;
  privateKey: PrivateKey;
  out: string;
  /** RFC 3339 time or a Date. */
  expires?: string | Date;
  minVersion?: string;
  /** Format 1: the fixed chunk size, default 1 MiB; 4 KiB to 16 MiB. */
  chunkSize?: number;
  /** 1 (default): fixed chunks listed in the manifest. 2: content-defined chunks, a signed binary index, per-chunk zstd. */
  format?: 1 | 2;
  /** Format 2: the FastCDC average (a power of two; min avg/4, max avg*4). Default 16 KiB (docs/delta.md). */
  avgChunk?: number;
  /** Format 2: 'zstd' (default; each chunk stored raw when that is not larger) or 'none'. */
  compress?: 'zstd' | 'none';
  /** Format 2: the zstd level, default 19. */
  zstdLevel?: number;
  /** The `created` time (default: now). */
  created?: Date;
  signal?: AbortSignal;
}

export interface CreatedBundle {
  path: string;
  manifest: Manifest;
  manifestBytes: Buffer;
  signature: Buffer;
  layout: BundleLayout;
}

/** RFC 3339 UTC to the second, as the writer stores times. */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Pass 1: SHA-256 of every fixed-size chunk and of the whole image. */
export async function hashImageChunks(imagePath: string, size: number, chunkSize: number, signal?: AbortSignal): Promise<{ chunks: ManifestChunk[]; sha256: string }> {
  const chunks: ManifestChunk[] = [];
  const whole = createHash('sha256');
  let hash = createHash('sha256');
  let inChunk = 0;
  let total = 0;
  const pieces = bundleFileSource(imagePath, 0, { reuseBuffer: true, pieceSize: 4 * 1024 * 1024, ...(signal ? { signal } : {}) });
  for await (const raw of pieces) {
    let piece = raw;
    total += piece.length;
    whole.update(piece);
    while (piece.length > 0) {
      const take = Math.min(chunkSize - inChunk, piece.length);
      hash.update(piece.subarray(0, take));
      inChunk += take;
      piece = piece.subarray(take);
      if (inChunk === chunkSize) {
        chunks.push({ size: chunkSize, sha256: hash.digest('hex') });
        hash = createHash('sha256');
        inChunk = 0;
      }
    }
  }
  if (inChunk > 0) chunks.push({ size: inChunk, sha256: hash.digest('hex') });
  if (total !== size) {
    throw new UpdaterError('ERR_IO', `Cannot bundle image "${imagePath}": it changed while being read (${total} bytes, expected ${size})`);
  }
  return { chunks, sha256: whole.digest('hex') };
}

function checkInputs(options: CreateBundleOptions, size: number, chunkSize: number): void {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new UpdaterError('ERR_MANIFEST_CHUNK_SIZE', `Cannot create bundle: chunk size ${chunkSize} is outside ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`, {
      hint: 'Pick --chunk-size between 4096 and 16777216 (default 1048576).',
    });
  }
  if (size < 1 || size > MAX_IMAGE_SIZE) {
    throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot create bundle: image "${options.imagePath}" has ${size} bytes, outside 1..${MAX_IMAGE_SIZE}`);
  }
  if (Math.ceil(size / chunkSize) > MAX_CHUNKS) {
    throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot create bundle: ${Math.ceil(size / chunkSize)} chunks, more than the limit of ${MAX_CHUNKS}`, {
      hint: 'Use a larger --chunk-size.',
    });
  }
}

export const DEFAULT_AVG_CHUNK = 16 * 1024;

/** Format 2's pass 1: content-defined chunks, each compressed when that pays, the stored bytes written to STORED. */
async function packImageChunks(imagePath: string, size: number, stored: string, options: CreateBundleOptions): Promise<{ chunks: ManifestChunk[]; sha256: string; storedSize: number; params: ReturnType<typeof cdcParams> }> {
  const params = cdcParams(options.avgChunk ?? DEFAULT_AVG_CHUNK);
  const compressor = (options.compress ?? 'zstd') === 'zstd' ? await ChunkCompressor.create(options.zstdLevel ?? DEFAULT_ZSTD_LEVEL) : undefined;
  const whole = createHash('sha256');
  const chunks: ManifestChunk[] = [];
  let storedSize = 0;
  const out = await open(stored, 'w', 0o600);
  try {
    const pieces = bundleFileSource(imagePath, 0, { pieceSize: 4 * 1024 * 1024, ...(options.signal ? { signal: options.signal } : {}) });
    for await (const chunk of chunkStream(pieces, params)) {
      whole.update(chunk.data);
      const packed = compressor?.compress(chunk.data);
      const bytes = packed ?? chunk.data;
      const storedSha256 = packed ? createHash('sha256').update(packed).digest('hex') : chunk.sha256;
      chunks.push({ size: chunk.size, sha256: chunk.sha256, stored: { size: bytes.length, sha256: storedSha256 } });
      await out.write(bytes, 0, bytes.length, storedSize);
      storedSize += bytes.length;
    }
  } finally {
    await out.close();
  }
  const total = chunks.reduce((sum, c) => sum + c.size, 0);
  if (total !== size) throw new UpdaterError('ERR_IO', `Cannot bundle image "${imagePath}": it changed while being read (${total} bytes, expected ${size})`);
  return { chunks, sha256: whole.digest('hex'), storedSize, params };
}

/** Builds, signs and writes a bundle (written to OUT.partial, fsynced, then renamed to OUT). */
export async function createBundle(options: CreateBundleOptions): Promise<CreatedBundle> {
  const format = options.format ?? 1;
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  let info;
  try {
    info = await stat(options.imagePath);
  } catch (error) {
    throw new UpdaterError('ERR_IO', `Cannot read image "${options.imagePath}": ${(error as Error).message}`, { cause: error });
  }
  if (!info.isFile()) throw new UpdaterError('ERR_USAGE', `Cannot bundle image "${options.imagePath}": it is not a regular file`);
  if (format === 1) checkInputs(options, info.size, chunkSize);
  else if (info.size < 1 || info.size > MAX_IMAGE_SIZE_V2) {
    throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot create bundle: image "${options.imagePath}" has ${info.size} bytes, outside 1..${MAX_IMAGE_SIZE_V2}`);
  }
  const storedPath = `${options.out}.stored`;
  const draft: Record<string, unknown> = {
    format,
    compatible: options.compatible,
    version: options.version,
    created: formatTimestamp(options.created ?? new Date()),
    image: {},
    keyId: options.privateKey.keyId,
  };
  if (options.expires !== undefined) draft.expires = typeof options.expires === 'string' ? options.expires : formatTimestamp(options.expires);
  if (options.minVersion !== undefined) draft.minVersion = options.minVersion;
  let manifest: Manifest;
  let indexBytes: Buffer | undefined;
  try {
    if (format === 1) {
      const { chunks, sha256 } = await hashImageChunks(options.imagePath, info.size, chunkSize, options.signal);
      draft.image = { size: info.size, sha256, chunks };
      manifest = validateManifest(draft);
    } else {
      const packed = await packImageChunks(options.imagePath, info.size, storedPath, options);
      if (packed.chunks.length > MAX_CHUNKS_V2) {
        throw new UpdaterError('ERR_MANIFEST_LIMIT', `Cannot create bundle: ${packed.chunks.length} chunks, more than the limit of ${MAX_CHUNKS_V2}`, { hint: 'Use a larger --avg-chunk.' });
      }
      indexBytes = encodeChunkIndex(packed.chunks);
      draft.image = {
        size: info.size,
        sha256: packed.sha256,
        chunking: { algorithm: 'fastcdc', ...packed.params },
        compression: options.compress ?? 'zstd',
        stored: packed.storedSize,
        index: { chunks: packed.chunks.length, size: indexBytes.length, sha256: createHash('sha256').update(indexBytes).digest('hex') },
      };
      manifest = attachChunkIndex(validateManifest(draft), indexBytes);
    }
  } catch (error) {
    await rm(storedPath, { force: true });
    throw error;
  }
  const manifestBytes = serializeManifest(manifest);
  if (manifestBytes.length > MAX_MANIFEST_BYTES) {
    throw new UpdaterError('ERR_MANIFEST_TOO_LARGE', `Cannot create bundle: the manifest would have ${manifestBytes.length} bytes, more than ${MAX_MANIFEST_BYTES}`, {
      hint: 'Use a larger --chunk-size.',
    });
  }
  const signature = Buffer.from(signDetached(manifestBytes, options.privateKey));
  const partial = `${options.out}.partial`;
  try {
    await writeTar(partial, options, manifest, manifestBytes, signature, indexBytes ? { indexBytes, storedPath } : undefined);
    const after = await stat(options.imagePath);
    if (after.size !== info.size || after.mtimeMs !== info.mtimeMs) {
      throw new UpdaterError('ERR_IO', `Cannot bundle image "${options.imagePath}": it changed while being bundled`, { hint: 'Bundle an image nothing writes to.' });
    }
    await rename(partial, options.out);
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof UpdaterError) throw error;
    throw new UpdaterError('ERR_IO', `Cannot write bundle "${options.out}": ${(error as Error).message}`, { cause: error });
  } finally {
    await rm(storedPath, { force: true });
  }
  return { path: options.out, manifest, manifestBytes, signature, layout: bundleLayout(manifest, manifestBytes.length) };
}

/** Pass 2: the ustar members through tar-stream's packer, the image (format 2: the stored chunks) streamed from disk. */
async function writeTar(file: string, options: CreateBundleOptions, manifest: Manifest, manifestBytes: Buffer, signature: Buffer, packed?: { indexBytes: Buffer; storedPath: string }): Promise<void> {
  const mtime = new Date(parseTimestamp(manifest.created) ?? 0);
  const pack = tar.pack();
  const header = (name: string, size: number) => ({ name, size, mode: 0o644, mtime, uid: 0, gid: 0, type: 'file' as const });
  const written = pipeline(pack, createWriteStream(file, { mode: 0o644 }), ...(options.signal ? [{ signal: options.signal }] : []));
  const packing = (async () => {
    pack.entry(header('manifest.json', manifestBytes.length), manifestBytes);
    pack.entry(header('manifest.json.sig', signature.length), signature);
    if (packed) pack.entry(header('index', packed.indexBytes.length), packed.indexBytes);
    const entry = pack.entry(header('image', manifest.image.packed?.storedSize ?? manifest.image.size));
    await pipeline(createReadStream(packed?.storedPath ?? options.imagePath, { highWaterMark: 1024 * 1024 }), entry);
    pack.finalize();
  })();
  try {
    await Promise.all([written, packing]);
  } catch (error) {
    pack.destroy();
    throw error;
  }
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
