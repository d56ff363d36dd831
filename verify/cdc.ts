// Content-defined chunking: FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking, streaming and pure.
//
// A cut point depends only on the bytes of the current chunk from its min-th byte on (the gear hash starts at 0
// there), so the boundaries are the same however the input is split into pieces, and an edit moves only the
// boundaries near it: the chunks after the next unchanged cut point are byte-identical and hash the same.
// Groundwork for bundle format 2 (issue 13, docs/delta.md); nothing in the install reads it yet.

import { createHash } from 'node:crypto';
import { UpdaterError } from '../common/errors.js';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './manifest.js';

export interface CdcParams {
  /** No chunk is smaller (except the last). At least 4096, the manifest's smallest chunk. */
  min: number;
  /** The target average: a power of two; normalized chunking centres the sizes on it. */
  avg: number;
  /** No chunk is larger. At most 16 MiB, the manifest's largest chunk. */
  max: number;
}

export interface CdcChunk {
  /** Offset of the chunk's first byte in the input. */
  offset: number;
  size: number;
  /** SHA-256 of the chunk's bytes, lowercase hex. */
  sha256: string;
  /** The chunk's bytes: a view valid only until the next chunk is requested (copy it to keep it). */
  data: Buffer;
}

/** The seed the gear table is generated from. Changing it (or the generation) changes every boundary. */
export const GEAR_SEED = 'abupdate fastcdc gear v1';

/** The gear table: 256 pseudo-random 32-bit values, SHA-256(GEAR_SEED || byte i) read big-endian. */
export const GEAR: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    table[i] = createHash('sha256').update(GEAR_SEED).update(Buffer.of(i)).digest().readUInt32BE(0);
  }
  return table;
})();

/** A mask of the BITS most significant bits of a 32-bit word. The gear hash shifts left, so its top bits
 * depend on the last 32 bytes: masking them gives the rolling window its full width. */
function topBits(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : ((0xffffffff << (32 - bits)) >>> 0);
}

/** Normalized chunking, level 2 (the paper's NC2): before `avg` a cut needs log2(avg)+2 zero bits (harder),
 * after it log2(avg)-2 (easier), which pulls the sizes towards `avg`. */
export interface CdcMasks {
  small: number;
  large: number;
}

export function cdcMasks(params: CdcParams): CdcMasks {
  const bits = Math.log2(params.avg);
  return { small: topBits(bits + 2), large: topBits(bits - 2) };
}

/** Defaults from an average (casync's ratios): min = avg/4, max = avg*4. */
export function cdcParams(avg: number): CdcParams {
  return checkCdcParams({ min: avg / 4, avg, max: avg * 4 });
}

export function checkCdcParams(params: CdcParams): CdcParams {
  const { min, avg, max } = params;
  const bad = (reason: string): never => {
    throw new UpdaterError('ERR_MANIFEST_CHUNK_SIZE', `Content-defined chunking parameters min ${min}, avg ${avg}, max ${max}: ${reason}`, {
      data: { min, avg, max, reason },
      hint: `avg is a power of two, ${MIN_CHUNK_SIZE} <= min < avg < max <= ${MAX_CHUNK_SIZE}.`,
    });
  };
  if (![min, avg, max].every((n) => Number.isSafeInteger(n))) bad('not integers');
  if (avg < 64 || (avg & (avg - 1)) !== 0) bad('avg is not a power of two');
  if (min < MIN_CHUNK_SIZE) bad(`min is below ${MIN_CHUNK_SIZE}`);
  if (max > MAX_CHUNK_SIZE) bad(`max is above ${MAX_CHUNK_SIZE}`);
  if (!(min < avg && avg < max)) bad('not min < avg < max');
  return params;
}

/**
 * The cut point in DATA[start, end): the size of the chunk starting at START. END - START must be at least
 * `max` unless the input ends at END (then the rest may become the last chunk).
 */
export function findCut(data: Uint8Array, start: number, end: number, params: CdcParams, masks: CdcMasks): number {
  const available = end - start;
  if (available <= params.min) return available;
  const limit = Math.min(available, params.max);
  const normal = Math.min(limit, params.avg);
  const gear = GEAR;
  const { small, large } = masks;
  let hash = 0;
  let i = params.min;
  for (; i < normal; i++) {
    hash = ((hash << 1) + gear[data[start + i]!]!) >>> 0;
    if ((hash & small) === 0) return i + 1;
  }
  for (; i < limit; i++) {
    hash = ((hash << 1) + gear[data[start + i]!]!) >>> 0;
    if ((hash & large) === 0) return i + 1;
  }
  return limit;
}

function toBuffer(piece: Uint8Array): Buffer {
  return Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
}

/**
 * Cuts a stream into content-defined chunks. Memory is bounded by 2 * max plus one input piece's copy
 * (a piece larger than the free space is taken in parts), so any image size streams through.
 */
export async function* chunkStream(source: AsyncIterable<Uint8Array>, params: CdcParams): AsyncGenerator<CdcChunk> {
  checkCdcParams(params);
  const masks = cdcMasks(params);
  const buffer = Buffer.allocUnsafe(2 * params.max);
  let start = 0; // first byte of the chunk being cut
  let end = 0; // end of the buffered bytes
  let offset = 0; // input offset of buffer[start]
  // Zeros (free space, an empty slot) take the gear loop no time: a cut depends only on the bytes from the chunk's
  // start, so `max` zero bytes always cut where they cut in a zero buffer, and that chunk's hash is always the same.
  const zeros = Buffer.alloc(params.max);
  const zeroCut = findCut(zeros, 0, params.max, params, masks);
  const zeroSha256 = createHash('sha256').update(zeros.subarray(0, zeroCut)).digest('hex');
  const cut = (): number => (buffer.compare(zeros, 0, params.max, start, start + params.max) === 0 ? zeroCut : findCut(buffer, start, end, params, masks));
  const emit = (size: number): CdcChunk => {
    const data = buffer.subarray(start, start + size);
    const zero = size === zeroCut && data.equals(zeros.subarray(0, size));
    return { offset, size, sha256: zero ? zeroSha256 : createHash('sha256').update(data).digest('hex'), data };
  };
  for await (const raw of source) {
    const piece = toBuffer(raw);
    let taken = 0;
    while (taken < piece.length) {
      if (end === buffer.length) {
        buffer.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      const n = Math.min(piece.length - taken, buffer.length - end);
      piece.copy(buffer, end, taken, taken + n);
      end += n;
      taken += n;
      while (end - start >= params.max) {
        const size = cut();
        yield emit(size);
        start += size;
        offset += size;
      }
    }
  }
  while (end > start) {
    const size = findCut(buffer, start, end, params, masks);
    yield emit(size);
    start += size;
    offset += size;
  }
}
