// Streams the missing chunks of an image into a slot: each verified before it is written, the first chunk last,
// fsync + a saved bitmap at checkpoints (so the bitmap never claims unsynced data).

import { readSegmented, type ByteSource } from '../download/byte-source.js';
import type { BundleLayout } from '../../verify/layout.js';
import type { Manifest } from '../../verify/manifest.js';
import { verifyChunks } from '../../verify/chunk-verifier.js';
import type { ChunkBitmap } from './chunk-bitmap.js';
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
  /** Bytes per Range request. */
  window: () => number;
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
}

/** Writes every chunk not in `done`; returns how many were written. Throws the first verification or I/O error. */
export async function writeChunks(options: WriteChunksOptions): Promise<number> {
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
  const signal = options.signal ? { signal: options.signal } : {};
  const pace = createGcPacer();

  const checkpoint = async (): Promise<void> => {
    if (pending.length === 0) return;
    await writer.sync();
    options.at?.('synced');
    for (const i of pending) done.set(i);
    pending = [];
    pendingBytes = 0;
    lastCheckpoint = Date.now();
    await options.save();
    options.at?.('progress-saved');
  };

  const consume = async (stream: AsyncIterable<Uint8Array>, fromChunk: number): Promise<void> => {
    // One reused chunk buffer (no allocation per chunk): each chunk is written (or copied) before the next arrives.
    for await (const chunk of verifyChunks(stream, manifest, { fromChunk, trailer: 'tar', reuseBuffer: true, ...signal })) {
      if (chunk.index === 0) {
        firstData = Buffer.from(chunk.data); // held back: the first chunk is written last
        continue;
      }
      if (done.has(chunk.index)) continue;
      await writer.write(chunk.imageOffset, chunk.data);
      options.at?.('chunk-written');
      written += 1;
      pending.push(chunk.index);
      pendingBytes += chunk.data.length;
      doneBytes += chunk.data.length;
      progress?.update(doneBytes);
      pace(chunk.data.length);
      if (pendingBytes >= options.checkpointBytes || Date.now() - lastCheckpoint >= options.checkpointMs) await checkpoint();
    }
  };

  progress?.phase('download', manifest.image.size, doneBytes);
  try {
    if (!done.has(0)) {
      // Whatever filesystem the slot held stops being one before any other byte changes.
      await writer.write(0, Buffer.alloc(first.size));
      await writer.sync();
    }
    if (!done.has(0) && (count === 1 || !done.has(1))) {
      await consume(options.rest, 0); // continue the head's own request
    } else {
      await options.head.return(undefined);
      const next = done.firstMissing(1);
      const from = layout.chunks[next];
      if (from) await consume(readSegmented(source, from.bundleOffset, options.window), next);
      // Nothing else to fetch: still check that the bundle ends as a bundle must (no extra bytes, not cut short).
      else await consume(readSegmented(source, layout.imageEnd, options.window), count);
    }
    await checkpoint();
    if (!done.has(0)) {
      if (firstData === undefined) {
        for await (const chunk of verifyChunks(source.read(first.bundleOffset, first.bundleOffset + first.size), manifest, { trailer: 'none', ...signal })) {
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
    return written;
  } catch (error) {
    // Keep what is safely written: the next run resumes after it.
    await checkpoint().catch(() => undefined);
    throw error;
  }
}
