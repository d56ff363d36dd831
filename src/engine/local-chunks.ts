// A delta install's first half: which chunks of the new image are on this host already (in the running slot or in
// the target), found by their SHA-256 in a recorded index or by chunking the slot read-only with the bundle's
// parameters. Only the finding is here; write-chunks.ts copies each one after hashing the bytes it read again.

import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import type { SlotName } from '../../partition/slots.js';
import { bundleFileSource } from '../../verify/bundle-reader.js';
import { chunkStream } from '../../verify/cdc.js';
import { INDEX_RECORD_BYTES, type Manifest } from '../../verify/manifest.js';
import type { ChunkBitmap } from './chunk-bitmap.js';

/** A slot the engine may read chunks from (never writes through this). */
export interface LocalSlot {
  slot: SlotName;
  /** The disk image or the partition node, and where the slot starts in it. */
  path: string;
  offset: number;
  /** Bytes of the slot to look at (its recorded image size, else the whole slot). */
  size: number;
  /** The slot's recorded chunk index (the records of the bundle it was installed from), when it is trusted. */
  recorded?: Buffer;
}

/** Where a chunk of the new image may be had locally: a slot and the byte offset in it. */
export interface LocalChunk {
  slot: SlotName;
  offset: number;
}

export interface LocalPlan {
  /** Chunk index of the new image -> where its bytes probably are (checked again when copied). */
  chunks: Map<number, LocalChunk>;
  /** The slots read, for the copy: each opened once. */
  slots: LocalSlot[];
  /** How each slot was looked at: its recorded index, or chunked (read-only) with the bundle's parameters. */
  how: Partial<Record<SlotName, 'recorded' | 'scanned'>>;
}

export interface FindLocalOptions {
  signal?: AbortSignal;
  /** Bytes of slot read so far while scanning (progress). */
  onProgress?: (bytes: number) => void;
}

/** Every chunk of a recorded index, with its offset (the running sum of the sizes). */
function* recordedChunks(index: Buffer): Generator<{ offset: number; size: number; sha256: string }> {
  let offset = 0;
  for (let at = 0; at + INDEX_RECORD_BYTES <= index.length; at += INDEX_RECORD_BYTES) {
    const size = index.readUInt32LE(at);
    yield { offset, size, sha256: index.toString('hex', at + 8, at + 40) };
    offset += size;
  }
}

/**
 * Finds, for every chunk of MANIFEST (format 2) that DONE lacks, a slot that seems to hold the same bytes. A chunk
 * already at its own offset in the target is preferred (it needs no copy); else the first match in SLOTS' order.
 */
export async function findLocalChunks(manifest: Manifest, done: ChunkBitmap, slots: LocalSlot[], target: SlotName, options: FindLocalOptions = {}): Promise<LocalPlan> {
  const packed = manifest.image.packed;
  const plan: LocalPlan = { chunks: new Map(), slots, how: {} };
  if (!packed) return plan;
  const chunks = manifest.image.chunks;
  /** The missing chunks by hash (the same bytes may be needed at several places: zeros), and by image offset. */
  const wanted = new Map<string, number[]>();
  const byOffset = new Map<number, number>();
  let at = 0;
  chunks.forEach((chunk, k) => {
    if (!done.has(k)) {
      const list = wanted.get(chunk.sha256);
      if (list) list.push(k);
      else wanted.set(chunk.sha256, [k]);
      byOffset.set(at, k);
    }
    at += chunk.size;
  });
  if (wanted.size === 0) return plan;
  /** Hashes whose every chunk has a place already: a later match of them costs nothing (a slot of zeros has thousands). */
  const placed = new Set<string>();
  let scanned = 0;
  for (const local of slots) {
    const found = (offset: number, sha256: string): void => {
      const ks = wanted.get(sha256);
      if (!ks) return;
      if (local.slot === target) {
        const k = byOffset.get(offset);
        if (k !== undefined && chunks[k]?.sha256 === sha256) plan.chunks.set(k, { slot: local.slot, offset }); // in place: no copy
      }
      if (placed.has(sha256)) return;
      for (const k of ks) if (!plan.chunks.has(k)) plan.chunks.set(k, { slot: local.slot, offset });
      placed.add(sha256);
    };
    if (local.recorded) {
      plan.how[local.slot] = 'recorded';
      for (const chunk of recordedChunks(local.recorded)) {
        if (chunk.offset + chunk.size <= local.size) found(chunk.offset, chunk.sha256);
      }
      continue;
    }
    plan.how[local.slot] = 'scanned';
    const { min, avg, max } = packed.chunking;
    const source = bundleFileSource(local.path, local.offset, { end: local.offset + local.size, reuseBuffer: true, pieceSize: 4 * 1024 * 1024, ...(options.signal ? { signal: options.signal } : {}) });
    for await (const chunk of chunkStream(source, { min, avg, max })) {
      found(chunk.offset, chunk.sha256);
      scanned += chunk.size;
      options.onProgress?.(scanned);
    }
  }
  return plan;
}

/** Reads local chunks for the copy; each read is hashed and used only when it matches the new image's chunk. */
export class LocalChunkReader {
  readonly #handles = new Map<SlotName, { handle: FileHandle; local: LocalSlot }>();
  #buffer = Buffer.alloc(0);

  private constructor() {}

  static async open(plan: LocalPlan): Promise<LocalChunkReader> {
    const reader = new LocalChunkReader();
    try {
      for (const local of plan.slots) {
        if (![...plan.chunks.values()].some((c) => c.slot === local.slot)) continue;
        reader.#handles.set(local.slot, { handle: await open(local.path, 'r'), local });
      }
    } catch (error) {
      await reader.close();
      throw new UpdaterError('ERR_IO', `Cannot read a slot for the delta install: ${(error as Error).message}`, { cause: error });
    }
    return reader;
  }

  /**
   * The SIZE bytes at WHERE (several adjacent chunks are read at once), or undefined past the slot's end. A view valid
   * until the next read: hash each chunk in it (`matches`) before using it.
   */
  async read(where: LocalChunk, size: number): Promise<Buffer | undefined> {
    const open = this.#handles.get(where.slot);
    if (!open || where.offset + size > open.local.size) return undefined;
    if (this.#buffer.length < size) this.#buffer = Buffer.allocUnsafe(size);
    const data = this.#buffer.subarray(0, size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await open.handle.read(data, got, size - got, open.local.offset + where.offset + got);
      if (bytesRead === 0) return undefined;
      got += bytesRead;
    }
    return data;
  }

  /** Whether DATA (read from a slot) has the SHA-256 the new image's chunk must have. */
  static matches(data: Buffer, sha256: string): boolean {
    return createHash('sha256').update(data).digest('hex') === sha256;
  }

  async close(): Promise<void> {
    for (const { handle } of this.#handles.values()) await handle.close().catch(() => undefined);
    this.#handles.clear();
  }
}
