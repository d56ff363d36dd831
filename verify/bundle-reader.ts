// Reads a whole bundle: the verified head, then every chunk checked, the tar end and the whole-image SHA-256.

import { createReadStream } from 'node:fs';
import { readBundleHead, type BundleHead, type ReadBundleHeadOptions } from './bundle-head.js';
import { verifyChunks, type VerifiedChunk } from './chunk-verifier.js';

export interface ReadBundleOptions extends ReadBundleHeadOptions {
  /** Receives each verified chunk in order (for example to write it somewhere). */
  onChunk?: (chunk: VerifiedChunk) => void | Promise<void>;
  /** Also check image.sha256 over the whole image (default true). */
  checkImageHash?: boolean;
  signal?: AbortSignal;
}

export type ReadBundleResult = Omit<BundleHead, 'rest'>;

/** Verifies a whole bundle stream; resolves only when every byte checked out. */
export async function readBundle(source: AsyncIterable<Uint8Array>, options: ReadBundleOptions): Promise<ReadBundleResult> {
  const head = await readBundleHead(source, options);
  const chunks = verifyChunks(head.rest, head.manifest, {
    trailer: 'tar',
    checkImageHash: options.checkImageHash ?? true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  for await (const chunk of chunks) await options.onChunk?.(chunk);
  const { rest: _rest, ...result } = head;
  return result;
}

/** A bundle file as a byte stream, read in 1 MiB pieces. */
export function bundleFileSource(path: string, start = 0): AsyncIterable<Uint8Array> {
  return createReadStream(path, { start, highWaterMark: 1024 * 1024 });
}
