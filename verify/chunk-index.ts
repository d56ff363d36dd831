// Format 2's chunk index: one fixed 72-byte record per chunk, signed through its SHA-256 in the manifest.

import { createHash } from 'node:crypto';
import { UpdaterError, type ErrorCode } from '../common/errors.js';
import { INDEX_RECORD_BYTES, type Manifest, type ManifestChunk, type PackedImage } from './manifest.js';

/**
 * A record, little-endian: size u32 (the chunk's bytes in the image), storedSize u32 (its bytes in the bundle:
 * equal to size when stored raw, smaller when it is one zstd frame), sha256 [32] of the chunk, storedSha256 [32]
 * of the stored bytes (equal to sha256 when raw).
 */
export function encodeChunkIndex(chunks: readonly ManifestChunk[]): Buffer {
  const out = Buffer.alloc(chunks.length * INDEX_RECORD_BYTES);
  chunks.forEach((chunk, k) => {
    const at = k * INDEX_RECORD_BYTES;
    const stored = chunk.stored ?? { size: chunk.size, sha256: chunk.sha256 };
    out.writeUInt32LE(chunk.size, at);
    out.writeUInt32LE(stored.size, at + 4);
    out.write(chunk.sha256, at + 8, 32, 'hex');
    out.write(stored.sha256, at + 40, 32, 'hex');
  });
  return out;
}

function indexError(code: ErrorCode, message: string, data: Record<string, unknown>): UpdaterError {
  return new UpdaterError(code, `Cannot accept the chunk index: ${message}`, { data, hint: 'The bundle is damaged or was not made by a correct writer; get it again from its publisher.' });
}

/**
 * Checks the index bytes against the signed manifest (size, SHA-256) and every record against the format's rules,
 * then returns the chunks. Nothing in the index is believed before its hash matched the signed one.
 */
export function parseChunkIndex(bytes: Uint8Array, packed: PackedImage, imageSize: number): ManifestChunk[] {
  const { index, chunking, compression } = packed;
  if (bytes.length !== index.size) {
    throw indexError('ERR_BUNDLE_SIZE', `it has ${bytes.length} bytes, the manifest says ${index.size}`, { size: bytes.length, expected: index.size });
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== index.sha256) {
    throw indexError('ERR_INDEX_HASH', `its SHA-256 is ${digest}, the signed manifest says ${index.sha256}`, { expected: index.sha256, actual: digest });
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: ManifestChunk[] = new Array(index.chunks);
  let imageAt = 0;
  let storedAt = 0;
  for (let k = 0; k < index.chunks; k++) {
    const at = k * INDEX_RECORD_BYTES;
    const size = view.readUInt32LE(at);
    const storedSize = view.readUInt32LE(at + 4);
    const sha256 = view.toString('hex', at + 8, at + 40);
    const storedSha256 = view.toString('hex', at + 40, at + 72);
    const last = k === index.chunks - 1;
    if (size < 1 || size > chunking.max || (size < chunking.min && !last)) {
      throw indexError('ERR_INDEX', `chunk ${k} has ${size} bytes, outside the chunking's ${chunking.min}..${chunking.max} (only the last may be smaller)`, { index: k, size });
    }
    if (storedSize < 1 || storedSize > size) {
      throw indexError('ERR_INDEX', `chunk ${k} is stored in ${storedSize} bytes, not 1..${size} (a chunk compression does not shrink is stored raw)`, { index: k, size, storedSize });
    }
    if (storedSize < size && compression === 'none') {
      throw indexError('ERR_INDEX', `chunk ${k} is stored compressed (${storedSize} of ${size} bytes), but the manifest says compression "none"`, { index: k, size, storedSize });
    }
    if (storedSize === size && storedSha256 !== sha256) {
      throw indexError('ERR_INDEX', `chunk ${k} is stored raw, but its stored SHA-256 differs from its SHA-256`, { index: k });
    }
    chunks[k] = { size, sha256, stored: { size: storedSize, sha256: storedSha256 } };
    imageAt += size;
    storedAt += storedSize;
  }
  if (imageAt !== imageSize) {
    throw indexError('ERR_INDEX', `the chunk sizes add up to ${imageAt} bytes, but image.size is ${imageSize}`, { sum: imageAt, imageSize });
  }
  if (storedAt !== packed.storedSize) {
    // Offsets are running sums of the stored sizes, so chunks cannot overlap; this is the one way to leave the image member.
    throw indexError('ERR_INDEX', `the stored chunks add up to ${storedAt} bytes, but the image member holds ${packed.storedSize}`, { sum: storedAt, storedSize: packed.storedSize });
  }
  return chunks;
}

/** A format 2 manifest with its chunks from the verified index (format 1 manifests are returned as they are). */
export function attachChunkIndex(manifest: Manifest, indexBytes: Uint8Array): Manifest {
  const { packed } = manifest.image;
  if (!packed) return manifest;
  return { ...manifest, image: { ...manifest.image, chunks: parseChunkIndex(indexBytes, packed, manifest.image.size) } };
}
