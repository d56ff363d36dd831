// Read-back verification: hashes a slot's bytes chunk by chunk against the manifest and names the chunks that differ.

import { createHash, webcrypto, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { read as readFd } from 'node:fs';
import { promisify } from 'node:util';
import { UpdaterError } from '../common/errors.js';
import { chunkImageOffset } from './layout.js';
import type { ChunkPool } from './chunk-pool.js';
import { MAX_CHUNK_SIZE, type Manifest } from './manifest.js';

const readAsync = promisify(readFd);

export interface ReadbackOptions {
  /** Only these chunk indexes (default: all). */
  chunks?: number[];
  /** Also feed every byte read, in image order, into this hash (the engine's whole-bundle SHA-256; no second read). */
  hashInto?: Hash;
  /** Called after each chunk with the bytes read back so far (for a progress bar over a long read-back). */
  onProgress?: (bytesDone: number) => void;
  /**
   * Read with several reads outstanding into buffers of POOL, and hash each chunk off the main thread (WebCrypto's
   * digest, in libuv's pool) while the next are read; `hashInto` still gets every byte in order. Chunks larger than
   * the pool's buffers are read one at a time as without it.
   */
  pool?: ChunkPool;
  signal?: AbortSignal;
}

/** Reads outstanding and chunk hashes in flight at once with a pool. */
const READS_AHEAD = 2;
const HASHES_AHEAD = 1;

export interface ReadbackResult {
  badChunks: number[];
  checked: number;
}

type Reader = (buffer: Buffer, length: number, position: number) => Promise<number>;

async function readFully(reader: Reader, buffer: Buffer, length: number, position: number, where: string): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = await reader(buffer.subarray(done), length - done, position + done);
    if (n === 0) {
      throw new UpdaterError('ERR_READBACK', `Cannot read back ${where}: it ends at byte ${position + done}, before the image's end`, {
        data: { offset: position + done },
        hint: 'The slot is smaller than the image.',
      });
    }
    done += n;
  }
}

/** Where a slot's bytes are: a file or device (a path, or an open fd) and the slot's first byte in it. */
export interface SlotBytes {
  path: string | number;
  offset: number;
}

/** Hashes each requested chunk of the image as written at the slot's offset in its file or device. */
export async function verifySlotReadback(device: SlotBytes, manifest: Manifest, options: ReadbackOptions = {}): Promise<ReadbackResult> {
  const { path: target, offset: slotOffset } = device;
  const all = manifest.image.chunks;
  const indexes = options.chunks ?? all.map((_, i) => i);
  for (const i of indexes) {
    if (!Number.isSafeInteger(i) || i < 0 || i >= all.length) {
      throw new UpdaterError('ERR_USAGE', `Cannot read back chunk ${i}: the image has ${all.length} chunks`);
    }
  }
  let handle: FileHandle | undefined;
  let reader: Reader;
  const where = typeof target === 'string' ? `"${target}"` : `fd ${target}`;
  if (typeof target === 'string') {
    try {
      handle = await open(target, 'r');
    } catch (error) {
      throw new UpdaterError('ERR_IO', `Cannot read back ${where}: ${(error as Error).message}`, { cause: error });
    }
    const h = handle;
    reader = async (buffer, length, position) => (await h.read(buffer, 0, length, position)).bytesRead;
  } else {
    reader = async (buffer, length, position) => (await readAsync(target, buffer, 0, length, position)).bytesRead;
  }
  const offsets: number[] = [];
  let at = 0;
  for (const chunk of all) {
    offsets.push(at);
    at += chunk.size;
  }
  const sorted = [...indexes].sort((a, b) => a - b);
  const largest = Math.max(...indexes.map((i) => all[i]?.size ?? 0), 0);
  const readChunk = async (index: number, buffer: Buffer): Promise<Buffer> => {
    const chunk = all[index] as { size: number };
    const position = slotOffset + (offsets[index] ?? chunkImageOffset(manifest, index));
    try {
      await readFully(reader, buffer, chunk.size, position, where);
    } catch (error) {
      if (error instanceof UpdaterError) throw error;
      throw new UpdaterError('ERR_READBACK', `Cannot read back chunk ${index} of ${where}: ${(error as Error).message}`, { cause: error, data: { index } });
    }
    return buffer.subarray(0, chunk.size);
  };
  const badChunks: number[] = [];
  let bytesDone = 0;
  const checked = (index: number, digest: string): void => {
    const chunk = all[index] as { size: number; sha256: string };
    if (digest !== chunk.sha256) badChunks.push(index);
    bytesDone += chunk.size;
    options.onProgress?.(bytesDone);
  };
  const pool = options.pool && largest <= options.pool.size ? options.pool : undefined;
  try {
    if (pool) await readPooled(pool, sorted, readChunk, checked, options);
    else {
      const buffer = Buffer.allocUnsafe(Math.min(MAX_CHUNK_SIZE, largest));
      for (const index of sorted) {
        options.signal?.throwIfAborted();
        const data = await readChunk(index, buffer);
        options.hashInto?.update(data);
        checked(index, createHash('sha256').update(data).digest('hex'));
      }
    }
  } finally {
    await handle?.close();
  }
  return { badChunks, checked: indexes.length };
}

/**
 * The chunks INDEXES read READS_AHEAD at a time into POOL's buffers, in order; each one's bytes go to `hashInto` and
 * to a WebCrypto digest (which copies them), and its buffer is read into again while up to HASHES_AHEAD digests run.
 * Returns once every read has ended (none outlives the call: the file is closed after it).
 */
async function readPooled(
  pool: ChunkPool,
  indexes: number[],
  readChunk: (index: number, buffer: Buffer) => Promise<Buffer>,
  checked: (index: number, digest: string) => void,
  options: ReadbackOptions,
): Promise<void> {
  const reads: Array<{ index: number; buffer: Buffer; data: Promise<Buffer> }> = [];
  const hashing: Array<{ index: number; digest: Promise<ArrayBuffer> }> = [];
  let next = 0;
  const launch = async (): Promise<void> => {
    const index = indexes[next++] as number;
    const buffer = await pool.take();
    const data = readChunk(index, buffer);
    data.catch(() => undefined); // awaited in order below
    reads.push({ index, buffer, data });
  };
  const settle = async (keep: number): Promise<void> => {
    while (hashing.length > keep) {
      const { index, digest } = hashing.shift() as { index: number; digest: Promise<ArrayBuffer> };
      checked(index, Buffer.from(await digest).toString('hex'));
    }
  };
  try {
    while (reads.length < READS_AHEAD && next < indexes.length) await launch();
    while (reads.length > 0) {
      options.signal?.throwIfAborted();
      const read = reads[0] as { index: number; buffer: Buffer; data: Promise<Buffer> };
      const data = await read.data;
      reads.shift();
      options.hashInto?.update(data);
      hashing.push({ index: read.index, digest: webcrypto.subtle.digest('SHA-256', data) });
      pool.give(read.buffer);
      if (next < indexes.length) await launch();
      await settle(HASHES_AHEAD);
    }
    await settle(0);
  } finally {
    const left = reads.splice(0);
    await Promise.allSettled(left.map((r) => r.data));
    for (const r of left) pool.give(r.buffer);
  }
}
