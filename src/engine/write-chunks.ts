// Fills the missing chunks of an image into a slot: first those found on the host (a delta install: each hashed
// again as read), then the rest from the source, only the missing runs (one bounded Range read per run). Each chunk is
// verified before it is written, the first chunk last, fsync + a saved bitmap at checkpoints (so the bitmap never
// claims unsynced data).

import { readSegmented, type ByteSource } from '../download/byte-source.js';
import type { BundleLayout } from '../../verify/layout.js';
import type { Manifest } from '../../verify/manifest.js';
import type { ChunkPool } from '../../verify/chunk-pool.js';
import { verifyChunks } from '../../verify/chunk-verifier.js';
import type { SlotName } from '../../partition/slots.js';
import type { ChunkBitmap } from './chunk-bitmap.js';
import { LocalChunkReader, type LocalPlan } from './local-chunks.js';
import { createGcPacer } from './gc-pacer.js';
import type { ProgressReporter } from './progress.js';
import type { SlotWriter } from './slot-writer.js';
import type { InstallCheckpoint } from './install-points.js';

export interface WriteChunksOptions {
  manifest: Manifest;
  layout: BundleLayout;
  /** The stream the head was read from (closed when it is not continued). */
  head: AsyncGenerator<Buffer>;
  /** The head stream's unread bytes: the image from its first byte, then the tar end. */
  rest: AsyncIterable<Uint8Array>;
  source: ByteSource;
  /** Bytes per Range request, for a window starting at the given bundle offset. */
  window: (at: number) => number;
  /** Chunks already in the slot (verified); updated as chunks are written and synced. */
  done: ChunkBitmap;
  writer: SlotWriter;
  /** Persists `done` (called right after each fsync). */
  save: () => Promise<void>;
  progress?: ProgressReporter;
  signal?: AbortSignal;
  checkpointBytes: number;
  checkpointMs: number;
  /** Called at each named point (install-points.ts); tests only. */
  at?: InstallCheckpoint;
  /** Buffers for format 1 chunks, each written in the background while the next one arrives (chunkPoolFor). */
  pool?: ChunkPool;
  /** A delta install: the chunks found on the host, and the reader that fetches (and re-hashes) them. */
  local?: { plan: LocalPlan; reader: LocalChunkReader };
}

export interface WriteChunksResult {
  /** Chunks written into the slot by this run (copied or downloaded). */
  written: number;
  /** Chunks copied from a slot of this host, their bytes, and per slot. */
  copied: number;
  copiedBytes: number;
  copiedFrom: Partial<Record<SlotName, number>>;
  /** Local chunks whose bytes no longer had their hash when read (changed on disk): fetched instead. */
  localMismatches: number;
}

/** Adjacent chunks are written (and local ones read) up to this many bytes at a time. */
const STAGE_BYTES = 1024 * 1024;
/** Chunks from this size on are written as they come (format 1's 1 MiB; a 64 KiB write is cheap enough). */
const STAGE_BELOW = 64 * 1024;

/**
 * Adjacent small chunks gathered into one positional write (format 2's 16 KiB chunks would each be a write); a large
 * chunk whose buffer is handed over (RELEASE given) is written in the background while the next ones arrive, its
 * buffer released when the write is done. The chunk pool bounds how many are in flight.
 */
class WriteStage {
  readonly #writer: SlotWriter;
  readonly #buffer = Buffer.allocUnsafe(STAGE_BYTES);
  readonly #inFlight = new Set<Promise<void>>();
  #failed: { error: unknown } | undefined;
  #start = 0;
  #length = 0;

  constructor(writer: SlotWriter) {
    this.#writer = writer;
  }

  /** Writes DATA at OFFSET (now, gathered, or in the background when RELEASE hands its buffer over). */
  async put(offset: number, data: Buffer, release?: () => void): Promise<void> {
    if (this.#failed) throw this.#failed.error;
    if (this.#length > 0 && (offset !== this.#start + this.#length || this.#length + data.length > STAGE_BYTES)) await this.#flushGathered();
    if (data.length >= STAGE_BELOW) {
      if (!release) {
        await this.#writer.write(offset, data);
        return;
      }
      const write = this.#writer.write(offset, data).then(
        () => {
          this.#inFlight.delete(write);
          release();
        },
        (error: unknown) => {
          this.#inFlight.delete(write);
          this.#failed ??= { error };
          release();
        },
      );
      this.#inFlight.add(write);
      return;
    }
    if (this.#length === 0) this.#start = offset;
    data.copy(this.#buffer, this.#length);
    this.#length += data.length;
    release?.();
  }

  /** Writes what is gathered and waits for every write in flight; called before every fsync, so a checkpoint covers every chunk handed over. */
  async flush(): Promise<void> {
    await this.#flushGathered();
    await this.settle();
  }

  /** Waits for the writes in flight; throws the first that failed. */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    if (this.#failed) throw this.#failed.error;
  }

  async #flushGathered(): Promise<void> {
    if (this.#length === 0) return;
    const length = this.#length;
    this.#length = 0;
    await this.#writer.write(this.#start, this.#buffer.subarray(0, length));
  }
}

/**
 * A delta install whose missing chunks add up to at most this many image bytes fetches and verifies all of them before
 * its first write: a hostile chunk (stored bytes that do not match the signed index, a frame that inflates past its
 * size) is then refused with the slot as it was. Larger ones are verified chunk by chunk as they stream in.
 */
const PREFETCH_BYTES = 16 * 1024 * 1024;

/** Runs of consecutive chunks to fetch, [first, until): one bounded read each. */
function missingRuns(count: number, missing: (k: number) => boolean): Array<{ first: number; until: number }> {
  const runs: Array<{ first: number; until: number }> = [];
  for (let k = 0; k < count; k++) {
    if (!missing(k)) continue;
    const last = runs.at(-1);
    if (last && last.until === k) last.until = k + 1;
    else runs.push({ first: k, until: k + 1 });
  }
  return runs;
}

/** Writes every chunk not in `done`. Throws the first verification or I/O error. */
export async function writeChunks(options: WriteChunksOptions): Promise<WriteChunksResult> {
  const { manifest, layout, done, writer, source, progress } = options;
  const chunks = manifest.image.chunks;
  const count = chunks.length;
  const first = layout.chunks[0];
  if (!first) throw new Error('writeChunks: the manifest has no chunks');
  let doneBytes = chunks.reduce((sum, c, i) => sum + (done.has(i) ? c.size : 0), 0);
  let pending: number[] = [];
  let pendingBytes = 0;
  let lastCheckpoint = Date.now();
  let written = 0;
  let firstData: Buffer | undefined;
  const result: WriteChunksResult = { written: 0, copied: 0, copiedBytes: 0, copiedFrom: {}, localMismatches: 0 };
  const signal = options.signal ? { signal: options.signal } : {};
  const pace = createGcPacer();
  const stage = new WriteStage(writer);

  // A checkpoint's fsync runs in the background while the next chunks are written (one at a time): its chunks are
  // marked done, and the bitmap saved, only once the fsync that began after their writes has returned.
  let syncing: Promise<void> | undefined;
  const startCheckpoint = async (): Promise<void> => {
    if (syncing) await syncing;
    syncing = undefined;
    if (pending.length === 0) return;
    await stage.flush();
    const covered = pending;
    pending = [];
    pendingBytes = 0;
    lastCheckpoint = Date.now();
    const sync = (async () => {
      await writer.sync();
      options.at?.('synced');
      for (const i of covered) done.set(i);
      await options.save();
      options.at?.('progress-saved');
    })();
    sync.catch(() => undefined); // awaited by the next checkpoint, which throws its error
    syncing = sync;
  };
  /** Every chunk handed over so far is synced and recorded. */
  const checkpoint = async (): Promise<void> => {
    await startCheckpoint();
    const sync = syncing;
    syncing = undefined;
    await sync;
  };

  const wrote = async (index: number, bytes: number): Promise<void> => {
    options.at?.('chunk-written');
    written += 1;
    pending.push(index);
    pendingBytes += bytes;
    doneBytes += bytes;
    progress?.update(doneBytes);
    pace(bytes);
    if (pendingBytes >= options.checkpointBytes || Date.now() - lastCheckpoint >= options.checkpointMs) await startCheckpoint();
  };

  /** The chunks the host has: each read and hashed again; in place in the target it is only marked, else copied. */
  const copyLocal = async (local: NonNullable<WriteChunksOptions['local']>): Promise<void> => {
    const { plan, reader } = local;
    const order = [...plan.chunks.keys()].filter((k) => !done.has(k)).sort((a, b) => a - b);
    for (let i = 0; i < order.length; ) {
      options.signal?.throwIfAborted();
      // A span: chunks next to each other in the new image and in the same slot, read with one read.
      const from = plan.chunks.get(order[i]!)!;
      let j = i + 1;
      let span = chunks[order[i]!]!.size;
      while (j < order.length) {
        const k = order[j]!;
        const where = plan.chunks.get(k)!;
        const size = chunks[k]!.size;
        if (k !== order[j - 1]! + 1 || where.slot !== from.slot || where.offset !== from.offset + span || span + size > STAGE_BYTES) break;
        span += size;
        j++;
      }
      const bytes = await reader.read(from, span);
      let at = 0;
      for (const k of order.slice(i, j)) {
        const chunk = chunks[k]!;
        const data = bytes?.subarray(at, at + chunk.size);
        at += chunk.size;
        if (data === undefined || !LocalChunkReader.matches(data, chunk.sha256)) {
          result.localMismatches += 1;
          continue; // changed since it was indexed (or overwritten by an earlier copy into the target): fetched below
        }
        const where = plan.chunks.get(k)!;
        result.copied += 1;
        result.copiedBytes += chunk.size;
        result.copiedFrom[where.slot] = (result.copiedFrom[where.slot] ?? 0) + chunk.size;
        if (k === 0) {
          firstData = Buffer.from(data); // held back: the first chunk is written last
          continue;
        }
        const location = layout.chunks[k]!;
        if (where.slot !== writer.target.slot.name || where.offset !== location.imageOffset) await stage.put(location.imageOffset, data);
        await wrote(k, chunk.size);
      }
      i = j;
    }
  };

  // With a pool, a chunk is written in the background while the next one arrives and is hashed; without, one reused
  // buffer, each chunk written before the next is read.
  const pool = options.pool;

  const consume = async (stream: AsyncIterable<Uint8Array>, fromChunk: number, untilChunk?: number, take?: (index: number, data: Buffer) => void): Promise<void> => {
    const range = { fromChunk, ...(untilChunk === undefined ? {} : { untilChunk }), trailer: 'tar' as const, ...signal };
    for await (const chunk of verifyChunks(stream, manifest, pool ? { ...range, pool } : { ...range, reuseBuffer: true })) {
      if (take || chunk.index === 0 || done.has(chunk.index)) {
        if (take) take(chunk.index, Buffer.from(chunk.data));
        else if (chunk.index === 0) firstData ??= Buffer.from(chunk.data); // held back: the first chunk is written last
        chunk.release?.();
        continue;
      }
      await stage.put(chunk.imageOffset, chunk.data, chunk.release);
      await wrote(chunk.index, chunk.data.length);
    }
  };

  /** RUNS fetched with one bounded read each (a run that reaches the image's end also reads and checks the tar end). */
  let tarEndChecked = false;
  const fetchRuns = async (runs: Array<{ first: number; until: number }>, take?: (index: number, data: Buffer) => void): Promise<void> => {
    for (const run of runs) {
      const from = layout.chunks[run.first]!;
      const ends = run.until === count;
      const end = ends ? undefined : from.bundleOffset + layout.chunks.slice(run.first, run.until).reduce((sum, c) => sum + c.storedSize, 0);
      await consume(readSegmented(source, from.bundleOffset, options.window, end), run.first, ends ? undefined : run.until, take);
      if (ends) tarEndChecked = true;
    }
  };

  progress?.phase('download', manifest.image.size, doneBytes);
  try {
    // A small delta: the chunks no slot has are fetched and verified before anything is written (see PREFETCH_BYTES).
    let prefetched: Map<number, Buffer> | undefined;
    let headOpen = true;
    if (options.local && source.ignoresRange?.() !== true) {
      const plan = options.local.plan;
      const runs = missingRuns(count, (k) => !done.has(k) && !plan.chunks.has(k));
      const bytes = runs.reduce((sum, r) => sum + chunks.slice(r.first, r.until).reduce((s, c) => s + c.size, 0), 0);
      if (runs.length > 0 && bytes <= PREFETCH_BYTES) {
        headOpen = false;
        await options.head.return(undefined);
        const held = new Map<number, Buffer>();
        await fetchRuns(runs, (index, data) => void held.set(index, data));
        prefetched = held;
      }
    }
    if (!done.has(0)) {
      // Whatever filesystem the slot held stops being one before any other byte changes.
      await writer.write(0, Buffer.alloc(first.size));
      await writer.sync();
    }
    if (options.local) {
      await copyLocal(options.local);
      await checkpoint();
    }
    for (const [index, data] of prefetched ?? []) {
      if (index === 0) firstData ??= data;
      else if (!done.has(index)) {
        await stage.put(layout.chunks[index]!.imageOffset, data);
        await wrote(index, data.length);
      }
    }
    prefetched?.clear();
    await checkpoint();
    const runs = missingRuns(count, (k) => !done.has(k) && !(k === 0 && firstData !== undefined));
    const whole = runs.length === 1 && runs[0]!.until === count;
    if (headOpen && ((whole && runs[0]!.first === 0) || (runs.length > 0 && source.ignoresRange?.() === true))) {
      // Continue the head's own request: a full install is one stream, and so is any install from a server that
      // ignores Range (every request would be answered from byte 0); chunks the slot has already are skipped.
      await consume(options.rest, 0);
    } else {
      await options.head.return(undefined);
      await fetchRuns(runs);
      // Nothing fetched reached the end: still check that the bundle ends as a bundle must (no extra bytes, not cut short).
      if (!tarEndChecked) await consume(readSegmented(source, layout.imageEnd, options.window), count);
    }
    await checkpoint();
    if (!done.has(0)) {
      if (firstData === undefined) {
        for await (const chunk of verifyChunks(source.read(first.bundleOffset, first.bundleOffset + first.storedSize), manifest, { untilChunk: 1, trailer: 'none', ...signal })) {
          firstData = Buffer.from(chunk.data);
          break;
        }
      }
      if (firstData === undefined) throw new Error('writeChunks: the first chunk did not arrive');
      await writer.write(0, firstData);
      options.at?.('first-chunk-written');
      written += 1;
      pending.push(0);
      doneBytes += firstData.length;
      progress?.update(doneBytes);
      await checkpoint();
    }
    progress?.finish();
    return { ...result, written };
  } catch (error) {
    // No write may outlive this call (the slot is closed after it); then keep what is safely written: the next run
    // resumes after it.
    await stage.settle().catch(() => undefined);
    await checkpoint().catch(() => undefined);
    throw error;
  }
}
