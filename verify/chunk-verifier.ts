// Streams image bytes chunk by chunk, releasing each chunk only after its SHA-256 matched the signed manifest.

import { createHash, type Hash } from 'node:crypto';
import { UpdaterError } from '../common/errors.js';
import { chunkImageOffset, padToBlock, TAR_BLOCK, TAR_END_BYTES, TAR_MAX_EXTRA_ZEROS } from './layout.js';
import type { Manifest } from './manifest.js';
import { isZeroBlock, parseUstarHeader } from './ustar.js';

export interface VerifiedChunk {
  index: number;
  /** Offset of this chunk in the image (= in the slot). */
  imageOffset: number;
  data: Buffer;
}

export interface VerifyChunksOptions {
  /** The first chunk the source holds (the source starts at that chunk's first byte). Default 0. */
  fromChunk?: number;
  /** 'tar': after the image the source holds the tar padding and end blocks (checked); 'none': it ends with the image. */
  trailer?: 'tar' | 'none';
  /** Also check the manifest's whole-image SHA-256 at the end (needs fromChunk 0; costs a second hash). */
  checkImageHash?: boolean;
  /**
   * Reuse one buffer for every chunk: each `data` is valid only until the next chunk is requested (write it out
   * first). No allocation per chunk, which is what makes verification run at the speed of SHA-256. Default false.
   */
  reuseBuffer?: boolean;
  signal?: AbortSignal;
}

function toBuffer(piece: Uint8Array): Buffer {
  return Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
}

/** Checks what follows the image in a tar bundle: zero padding to 512, two or more zero blocks, nothing else.
 * Offsets in messages count from the image's first byte (the engine adds the bundle's imageOffset). */
function checkTarTrailer(trailer: Buffer, imageSize: number, imageEnd: number, complete: boolean): void {
  const padding = padToBlock(imageSize) - imageSize;
  const at = (n: number): number => imageEnd + n;
  if (!isZeroBlock(trailer.subarray(0, padding))) {
    throw new UpdaterError('ERR_BUNDLE_TAR', 'Cannot read bundle: the padding after the image is not zeros', { data: { offset: imageEnd, reason: 'padding' } });
  }
  const first = trailer.subarray(padding, padding + TAR_BLOCK);
  if (first.length === TAR_BLOCK && !isZeroBlock(first)) {
    let name: string | undefined;
    try {
      name = parseUstarHeader(first, at(padding)).name;
    } catch {
      name = undefined;
    }
    if (name !== undefined) {
      throw new UpdaterError('ERR_BUNDLE_MEMBER', `Cannot read bundle: unexpected member "${name}" after the image`, {
        data: { offset: at(padding), name, reason: 'extra' },
        hint: 'A bundle holds exactly manifest.json, manifest.json.sig and image, in this order.',
      });
    }
  }
  const ends = trailer.subarray(padding);
  for (let block = 0; block < ends.length; block += TAR_BLOCK) {
    if (!isZeroBlock(ends.subarray(block, block + TAR_BLOCK))) {
      throw new UpdaterError('ERR_BUNDLE_TRAILING', `Cannot read bundle: non-zero bytes after the image (image offset ${at(padding + block)})`, {
        data: { offset: at(padding + block) },
        hint: 'The file has data appended after the bundle; get an unmodified copy.',
      });
    }
  }
  if (ends.length > TAR_END_BYTES + TAR_MAX_EXTRA_ZEROS || (complete && ends.length % TAR_BLOCK !== 0)) {
    throw new UpdaterError('ERR_BUNDLE_TRAILING', `Cannot read bundle: ${ends.length} bytes follow the image, not whole zero blocks of at most ${TAR_END_BYTES + TAR_MAX_EXTRA_ZEROS}`, {
      data: { offset: at(padding), bytes: ends.length },
      hint: 'The file has data appended after the bundle; get an unmodified copy.',
    });
  }
  if (complete && ends.length < TAR_END_BYTES) {
    throw new UpdaterError('ERR_BUNDLE_TRUNCATED', 'Cannot read bundle: it ends without the two zero blocks that close a tar archive', {
      data: { offset: at(trailer.length) },
      hint: 'The download was cut short; fetch the bundle again.',
    });
  }
}

/**
 * Yields chunk `fromChunk`, `fromChunk + 1`, ... of the image in `source`, each only after its SHA-256 matched the
 * manifest (ERR_CHUNK_HASH otherwise, and none of that chunk's bytes come out). A stream that ends early is
 * ERR_BUNDLE_TRUNCATED; with trailer 'tar' the tar end is checked and trailing data is ERR_BUNDLE_TRAILING.
 */
export async function* verifyChunks(source: AsyncIterable<Uint8Array>, manifest: Manifest, options: VerifyChunksOptions = {}): AsyncGenerator<VerifiedChunk, void, undefined> {
  const chunks = manifest.image.chunks;
  const fromChunk = options.fromChunk ?? 0;
  const trailerMode = options.trailer ?? 'tar';
  if (!Number.isSafeInteger(fromChunk) || fromChunk < 0 || fromChunk > chunks.length) {
    throw new UpdaterError('ERR_USAGE', `Cannot verify chunks: chunk ${fromChunk} does not exist (the image has ${chunks.length})`);
  }
  const imageHash: Hash | undefined = options.checkImageHash && fromChunk === 0 ? createHash('sha256') : undefined;
  let index = fromChunk;
  let imageOffset = chunkImageOffset(manifest, fromChunk);
  let need = chunks[index]?.size ?? 0;
  let hash = createHash('sha256');
  // Pieces are copied into the chunk buffer as they arrive, so the source may reuse its buffers.
  const maxChunk = chunks.slice(fromChunk).reduce((max, c) => Math.max(max, c.size), 0);
  const shared = options.reuseBuffer ? Buffer.allocUnsafe(maxChunk) : undefined;
  let chunkBuffer = shared ?? Buffer.allocUnsafe(need);
  let filled = 0;
  const trailerParts: Buffer[] = [];
  let trailerBytes = 0;
  const trailerCap = padToBlock(manifest.image.size) - manifest.image.size + TAR_END_BYTES + TAR_MAX_EXTRA_ZEROS + TAR_BLOCK;

  for await (const raw of source) {
    options.signal?.throwIfAborted();
    let piece = toBuffer(raw);
    while (piece.length > 0 && index < chunks.length) {
      const take = Math.min(need, piece.length);
      const part = piece.subarray(0, take);
      hash.update(part);
      imageHash?.update(part);
      part.copy(chunkBuffer, filled);
      filled += take;
      need -= take;
      piece = piece.subarray(take);
      if (need > 0) break;
      const chunk = chunks[index] as { size: number; sha256: string };
      const digest = hash.digest('hex');
      if (digest !== chunk.sha256) {
        throw new UpdaterError('ERR_CHUNK_HASH', `Cannot accept chunk ${index} (image bytes ${imageOffset}..${imageOffset + chunk.size}): its SHA-256 is ${digest}, the manifest says ${chunk.sha256}`, {
          data: { index, imageOffset, size: chunk.size, expected: chunk.sha256, actual: digest },
          hint: 'The bundle was corrupted in transit or on the server; fetch it again.',
        });
      }
      yield { index, imageOffset, data: chunkBuffer.subarray(0, chunk.size) };
      imageOffset += chunk.size;
      index++;
      need = chunks[index]?.size ?? 0;
      filled = 0;
      if (shared === undefined && need > 0) chunkBuffer = Buffer.allocUnsafe(need);
      hash = createHash('sha256');
    }
    if (piece.length === 0) continue;
    if (trailerMode === 'none') {
      throw new UpdaterError('ERR_BUNDLE_TRAILING', `Cannot read bundle: data continues after the image's last byte (image offset ${imageOffset})`, {
        data: { imageOffset },
      });
    }
    trailerParts.push(Buffer.from(piece));
    trailerBytes += piece.length;
    if (trailerBytes > trailerCap) checkTarTrailer(Buffer.concat(trailerParts, trailerBytes), manifest.image.size, manifest.image.size, false);
  }
  if (index < chunks.length) {
    throw new UpdaterError('ERR_BUNDLE_TRUNCATED', `Cannot read bundle: the stream ends inside chunk ${index}, at image offset ${imageOffset + (chunks[index]?.size ?? 0) - need}`, {
      data: { index, imageOffset, missing: need },
      hint: 'The download was cut short; fetch the rest again (the engine resumes at this chunk).',
    });
  }
  if (trailerMode === 'tar') checkTarTrailer(Buffer.concat(trailerParts, trailerBytes), manifest.image.size, manifest.image.size, true);
  if (imageHash !== undefined) {
    const digest = imageHash.digest('hex');
    if (digest !== manifest.image.sha256) {
      throw new UpdaterError('ERR_IMAGE_HASH', `Cannot accept image: its SHA-256 is ${digest}, the manifest says ${manifest.image.sha256}`, {
        data: { expected: manifest.image.sha256, actual: digest },
      });
    }
  }
}
