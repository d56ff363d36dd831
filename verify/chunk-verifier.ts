// Streams image bytes chunk by chunk, releasing each chunk only after its SHA-256 matched the signed manifest.
// Format 2: a chunk's stored bytes are checked against the signed index before zstd sees them, then decompressed
// into a buffer of exactly the chunk's size, then the result is checked like a format 1 chunk.

import { createHash, type Hash } from 'node:crypto';
import { UpdaterError } from '../common/errors.js';
import { chunkImageOffset, chunkStoredOffset, padToBlock, TAR_BLOCK, TAR_END_BYTES, TAR_MAX_EXTRA_ZEROS } from './layout.js';
import type { Manifest } from './manifest.js';
import { isZeroBlock, parseUstarHeader } from './ustar.js';
import type { ChunkPool } from './chunk-pool.js';
import { ChunkInflater } from './zstd.js';

export interface VerifiedChunk {
  index: number;
  /** Offset of this chunk in the image (= in the slot). */
  imageOffset: number;
  data: Buffer;
  /** With `pool`: gives `data`'s buffer back; call it once done with `data` (written). */
  release?: () => void;
}

export interface VerifyChunksOptions {
  /** The first chunk the source holds (the source starts at that chunk's first byte). Default 0. */
  fromChunk?: number;
  /**
   * Stop after chunk `untilChunk - 1`: the source holds only chunks fromChunk..untilChunk-1 (one bounded Range read
   * of a delta install) and must end there; no trailer is checked. Default: every chunk to the end, then the trailer.
   */
  untilChunk?: number;
  /** 'tar': after the image the source holds the tar padding and end blocks (checked); 'none': it ends with the image. */
  trailer?: 'tar' | 'none';
  /** Also check the manifest's whole-image SHA-256 at the end (needs fromChunk 0; costs a second hash). */
  checkImageHash?: boolean;
  /**
   * Reuse one buffer for every chunk: each `data` is valid only until the next chunk is requested (write it out
   * first). No allocation per chunk, which is what makes verification run at the speed of SHA-256. Default false.
   */
  reuseBuffer?: boolean;
  /**
   * Format 1 only: each chunk is received into a buffer taken from POOL (waiting for one when all are lent out), and
   * its `data` stays valid until its `release()`: the caller may write it in the background while the next chunk
   * arrives. Without it, `reuseBuffer` decides.
   */
  pool?: ChunkPool;
  signal?: AbortSignal;
}

function chunkHashError(index: number, imageOffset: number, chunk: { size: number; sha256: string; stored?: { size: number; sha256: string } }, digest: string): UpdaterError {
  const stored = chunk.stored ?? { size: chunk.size, sha256: chunk.sha256 };
  const what = stored.size === chunk.size ? 'its SHA-256' : `the SHA-256 of its ${stored.size} stored (compressed) bytes`;
  return new UpdaterError('ERR_CHUNK_HASH', `Cannot accept chunk ${index} (image bytes ${imageOffset}..${imageOffset + chunk.size}): ${what} is ${digest}, the ${chunk.stored ? 'signed index' : 'manifest'} says ${stored.sha256}`, {
    data: { index, imageOffset, size: chunk.size, storedSize: stored.size, expected: stored.sha256, actual: digest },
    hint: 'The bundle was corrupted in transit or on the server; fetch it again.',
  });
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
  const untilChunk = options.untilChunk ?? chunks.length;
  const partial = untilChunk < chunks.length;
  const trailerMode = partial ? 'none' : (options.trailer ?? 'tar');
  const storedTotal = manifest.image.packed?.storedSize ?? manifest.image.size;
  if (!Number.isSafeInteger(fromChunk) || fromChunk < 0 || fromChunk > chunks.length || !Number.isSafeInteger(untilChunk) || untilChunk < fromChunk || untilChunk > chunks.length) {
    throw new UpdaterError('ERR_USAGE', `Cannot verify chunks ${fromChunk}..${untilChunk}: the image has ${chunks.length}`);
  }
  const imageHash: Hash | undefined = options.checkImageHash && fromChunk === 0 && !partial ? createHash('sha256') : undefined;
  const inflater = manifest.image.packed ? await ChunkInflater.create() : undefined;
  const storedOf = (i: number): number => chunks[i]?.stored?.size ?? chunks[i]?.size ?? 0;
  let index = fromChunk;
  let imageOffset = chunkImageOffset(manifest, fromChunk);
  let storedOffset = chunkStoredOffset(manifest, fromChunk);
  let need = index < untilChunk ? storedOf(index) : 0;
  let hash = createHash('sha256');
  // Pieces are copied into the chunk buffer as they arrive, so the source may reuse its buffers.
  const inRange = chunks.slice(fromChunk, untilChunk);
  const maxStored = inRange.reduce((max, c) => Math.max(max, c.stored?.size ?? c.size), 0);
  const maxChunk = inRange.reduce((max, c) => Math.max(max, c.size), 0);
  const pool = options.pool;
  if (pool && (inflater || pool.size < maxStored)) throw new Error(`verifyChunks: a pool is for format 1 chunks of at most ${pool.size} bytes`);
  const shared = options.reuseBuffer && !pool ? Buffer.allocUnsafe(maxStored) : undefined;
  const sharedOut = options.reuseBuffer && inflater ? Buffer.allocUnsafe(maxChunk) : undefined;
  const nextBuffer = async (): Promise<Buffer> => (pool ? pool.take() : (shared ?? Buffer.allocUnsafe(need)));
  let chunkBuffer: Buffer | undefined = need > 0 ? await nextBuffer() : undefined;
  let filled = 0;
  const trailerParts: Buffer[] = [];
  let trailerBytes = 0;
  const trailerCap = padToBlock(storedTotal) - storedTotal + TAR_END_BYTES + TAR_MAX_EXTRA_ZEROS + TAR_BLOCK;

  try {
    for await (const raw of source) {
      options.signal?.throwIfAborted();
      let piece = toBuffer(raw);
      while (piece.length > 0 && index < untilChunk) {
        const into = chunkBuffer as Buffer;
        const take = Math.min(need, piece.length);
        const part = piece.subarray(0, take);
        hash.update(part);
        part.copy(into, filled);
        filled += take;
        need -= take;
        piece = piece.subarray(take);
        if (need > 0) break;
        const chunk = chunks[index] as { size: number; sha256: string; stored?: { size: number; sha256: string } };
        const stored = chunk.stored ?? { size: chunk.size, sha256: chunk.sha256 };
        const digest = hash.digest('hex');
        if (digest !== stored.sha256) throw chunkHashError(index, imageOffset, chunk, digest);
        let data: Buffer = into.subarray(0, stored.size);
        if (stored.size < chunk.size && inflater) {
          // Verified above, so zstd only ever sees signed bytes; the output buffer is the declared size and no larger.
          data = inflater.inflate(data, sharedOut ? sharedOut.subarray(0, chunk.size) : Buffer.allocUnsafe(chunk.size), index);
          const decoded = createHash('sha256').update(data).digest('hex');
          if (decoded !== chunk.sha256) {
            throw new UpdaterError('ERR_CHUNK_HASH', `Cannot accept chunk ${index} (image bytes ${imageOffset}..${imageOffset + chunk.size}): its SHA-256 after decompression is ${decoded}, the signed index says ${chunk.sha256}`, {
              data: { index, imageOffset, size: chunk.size, expected: chunk.sha256, actual: decoded },
              hint: 'The bundle was made wrong; get it again from its publisher.',
            });
          }
        }
        imageHash?.update(data);
        if (pool) {
          chunkBuffer = undefined; // the caller's until released
          let given = false;
          const release = (): void => {
            if (given) return;
            given = true;
            pool.give(into);
          };
          yield { index, imageOffset, data, release };
        } else yield { index, imageOffset, data };
        imageOffset += chunk.size;
        storedOffset += stored.size;
        index++;
        need = index < untilChunk ? storedOf(index) : 0;
        filled = 0;
        if (need > 0 && (chunkBuffer === undefined || shared === undefined)) chunkBuffer = await nextBuffer();
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
      if (trailerBytes > trailerCap) checkTarTrailer(Buffer.concat(trailerParts, trailerBytes), storedTotal, storedTotal, false);
    }
  } finally {
    // A pool buffer never handed out goes back (one pool serves every read of an install).
    if (pool && chunkBuffer) pool.give(chunkBuffer);
  }
  if (index < untilChunk) {
    throw new UpdaterError('ERR_BUNDLE_TRUNCATED', `Cannot read bundle: the stream ends inside chunk ${index}, at image offset ${imageOffset} (stored byte ${storedOffset + storedOf(index) - need} of the image member)`, {
      data: { index, imageOffset, missing: need },
      hint: 'The download was cut short; fetch the rest again (the engine resumes at this chunk).',
    });
  }
  if (trailerMode === 'tar') checkTarTrailer(Buffer.concat(trailerParts, trailerBytes), storedTotal, storedTotal, true);
  if (imageHash !== undefined) {
    const digest = imageHash.digest('hex');
    if (digest !== manifest.image.sha256) {
      throw new UpdaterError('ERR_IMAGE_HASH', `Cannot accept image: its SHA-256 is ${digest}, the manifest says ${manifest.image.sha256}`, {
        data: { expected: manifest.image.sha256, actual: digest },
      });
    }
  }
}
