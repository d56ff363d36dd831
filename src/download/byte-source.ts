// Where bundle bytes come from: a local file or an HTTP(S) URL, both read from any byte offset as a stream.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import type { HttpSourceOptions } from './http-range.js';
import type { ByteSource } from './source.js';

export type { ByteSource, SourceEvent } from './source.js';

export function isUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/** A source for a path or an http(s) URL. */
export function openByteSource(location: string, options: HttpSourceOptions = {}): ByteSource {
  return isUrl(location) ? lazyHttpSource(location, options) : createFileSource(location, options.signal);
}

/**
 * The HTTP source (http-range.ts, on node:http) imported at the first read: an install from a file never loads it
 * or node's HTTP stack (start-up time, peak RSS).
 */
function lazyHttpSource(url: string, options: HttpSourceOptions): ByteSource {
  let http: ByteSource | undefined;
  return {
    name: url,
    bytesReceived: () => http?.bytesReceived() ?? 0,
    ignoresRange: () => http?.ignoresRange?.() ?? false,
    close: () => http?.close(),
    async *read(start: number, end?: number): AsyncIterable<Buffer> {
      http ??= (await import('./http-range.js')).createHttpSource(url, options);
      yield* http.read(start, end);
    },
  };
}

/**
 * Reads a bundle file from any offset, 256 KiB at a time (memory does not depend on the file's size). Each read is a
 * new buffer that dies young: 1 MiB reads kept 3.5 MiB more resident in a 1 GiB install for no speed; 128 KiB cost
 * CPU and saved nothing more (measured, docs/engine.md "Memory").
 */
export function createFileSource(file: string, signal?: AbortSignal): ByteSource {
  let received = 0;
  return {
    name: file,
    bytesReceived: () => received,
    close: () => undefined,
    async *read(start: number, end?: number): AsyncIterable<Buffer> {
      if (end !== undefined && end <= start) return;
      try {
        await stat(file);
      } catch (error) {
        throw new UpdaterError('ERR_IO', `Cannot read the bundle "${file}": ${(error as Error).message}`, {
          cause: error,
          hint: 'Check the path, or give an http(s):// URL.',
        });
      }
      const options: Parameters<typeof createReadStream>[1] = { start, highWaterMark: 256 * 1024 };
      if (end !== undefined) options.end = end - 1;
      if (signal) options.signal = signal;
      for await (const piece of createReadStream(file, options)) {
        received += (piece as Buffer).length;
        yield piece as Buffer;
      }
    },
  };
}

/**
 * Bytes from START to END (default: the end of SOURCE), fetched as successive bounded reads of WINDOW() bytes each (over HTTP:
 * one Range request per window; WINDOW gets the offset the window starts at). The server never runs more than a window ahead of what the engine has
 * consumed, so a crash wastes at most one window of download. The window may change between segments.
 * A server that ignores Range answers the first window with the whole file: the HTTP source then serves every
 * later window from that one stream (it stays linear: one pass over the file, not one per window).
 */
export async function* readSegmented(source: ByteSource, start: number, window: (at: number) => number, end = Number.POSITIVE_INFINITY): AsyncGenerator<Buffer> {
  for (let at = start; at < end; ) {
    const size = Math.min(end - at, Math.max(1, Math.floor(window(at))));
    let received = 0;
    for await (const piece of source.read(at, at + size)) {
      received += piece.length;
      yield piece;
    }
    if (received < size) return; // the source ended inside this window
    at += size;
  }
}
