// Reads a whole bundle: the verified head, then every chunk checked, the tar end and the whole-image SHA-256.

import { open } from 'node:fs/promises';
import { UpdaterError } from '../common/errors.js';
import { readBundleHead, type BundleHead, type ReadBundleHeadOptions } from './bundle-head.js';
import { verifyChunks, type VerifiedChunk } from './chunk-verifier.js';

export interface ReadBundleOptions extends ReadBundleHeadOptions {
  /** Receives each verified chunk in order (for example to write it somewhere). */
  onChunk?: (chunk: VerifiedChunk) => void | Promise<void>;
  /** Also check image.sha256 over the whole image (default true). */
  checkImageHash?: boolean;
  /** Pass one reused buffer to onChunk (valid only until it returns). Default false. */
  reuseBuffer?: boolean;
  signal?: AbortSignal;
}

export type ReadBundleResult = Omit<BundleHead, 'rest'>;

/** Verifies a whole bundle stream; resolves only when every byte checked out. */
export async function readBundle(source: AsyncIterable<Uint8Array>, options: ReadBundleOptions): Promise<ReadBundleResult> {
  const head = await readBundleHead(source, options);
  const chunks = verifyChunks(head.rest, head.manifest, {
    trailer: 'tar',
    checkImageHash: options.checkImageHash ?? true,
    reuseBuffer: options.reuseBuffer ?? false,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  for await (const chunk of chunks) await options.onChunk?.(chunk);
  const { rest: _rest, ...result } = head;
  return result;
}

export interface FileSourceOptions {
  /** One past the last byte to read (default: the end of the file). */
  end?: number;
  /** Read into one reused buffer: each piece is valid only until the next is pulled. Default false. */
  reuseBuffer?: boolean;
  /** Bytes per read (default 1 MiB). */
  pieceSize?: number;
  signal?: AbortSignal;
}

/** A bundle file from byte `start` as a stream of pieces (readBundleHead and verifyChunks copy what they keep). */
export async function* bundleFileSource(path: string, start = 0, options: FileSourceOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new UpdaterError('ERR_IO', `Cannot read bundle "${path}": ${(error as Error).message}`, { cause: error });
  }
  try {
    const size = options.pieceSize ?? 1024 * 1024;
    const end = options.end ?? Number.POSITIVE_INFINITY;
    let buffer = Buffer.allocUnsafe(size);
    for (let position = start; position < end; ) {
      options.signal?.throwIfAborted();
      if (!options.reuseBuffer) buffer = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(buffer, 0, Math.min(size, end - position), position);
      if (bytesRead === 0) break;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
