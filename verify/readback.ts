// Read-back verification: hashes a slot's bytes chunk by chunk against the manifest and names the chunks that differ.

import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { read as readFd } from 'node:fs';
import { promisify } from 'node:util';
import { UpdaterError } from '../common/errors.js';
import { chunkImageOffset } from './layout.js';
import { MAX_CHUNK_SIZE, type Manifest } from './manifest.js';

const readAsync = promisify(readFd);

export interface ReadbackOptions {
  /** Only these chunk indexes (default: all). */
  chunks?: number[];
  /** Also feed every byte read, in image order, into this hash (the engine's whole-bundle SHA-256; no second read). */
  hashInto?: Hash;
  /** Called after each chunk with the bytes read back so far (for a progress bar over a long read-back). */
  onProgress?: (bytesDone: number) => void;
  signal?: AbortSignal;
}

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
  const buffer = Buffer.allocUnsafe(Math.min(MAX_CHUNK_SIZE, Math.max(...indexes.map((i) => all[i]?.size ?? 0), 0)));
  const badChunks: number[] = [];
  let bytesDone = 0;
  try {
    for (const index of [...indexes].sort((a, b) => a - b)) {
      options.signal?.throwIfAborted();
      const chunk = all[index] as { size: number; sha256: string };
      const position = slotOffset + (offsets[index] ?? chunkImageOffset(manifest, index));
      try {
        await readFully(reader, buffer, chunk.size, position, where);
      } catch (error) {
        if (error instanceof UpdaterError) throw error;
        throw new UpdaterError('ERR_READBACK', `Cannot read back chunk ${index} of ${where}: ${(error as Error).message}`, { cause: error, data: { index } });
      }
      const data = buffer.subarray(0, chunk.size);
      options.hashInto?.update(data);
      const digest = createHash('sha256').update(data).digest('hex');
      if (digest !== chunk.sha256) badChunks.push(index);
      bytesDone += chunk.size;
      options.onProgress?.(bytesDone);
    }
  } finally {
    await handle?.close();
  }
  return { badChunks, checked: indexes.length };
}
