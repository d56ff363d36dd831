// Streams a URL from a byte offset with got: Range requests, per-phase and stall timeouts, retries with backoff.

import { setTimeout as sleep } from 'node:timers/promises';
import got, { type Request } from 'got';
import { UpdaterError, isUpdaterError } from '../../common/errors.js';
import { gotErrorToUpdaterError } from './got-error.js';
import type { ByteSource, SourceEvent } from './source.js';

export interface HttpTimeouts {
  lookup: number;
  connect: number;
  /** From the request sent to the response headers. */
  response: number;
  /** No body bytes for this long (while we wait for them) → abort and retry. */
  stall: number;
}

export interface HttpSourceOptions {
  timeouts?: Partial<HttpTimeouts>;
  /** Failed attempts in a row (no byte received in between) before giving up. */
  retries?: number;
  backoff?: { baseMs: number; maxMs: number };
  signal?: AbortSignal;
  onEvent?: (event: SourceEvent) => void;
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = { lookup: 10_000, connect: 10_000, response: 30_000, stall: 30_000 };

/** Exponential backoff with jitter: between half and all of base·2^attempt, capped. */
export function backoffDelay(attempt: number, backoff: { baseMs: number; maxMs: number }): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** `bytes START-END/TOTAL` → numbers, or undefined when malformed. */
export function parseContentRange(header: string | undefined): { start: number; end: number; total: number | undefined } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  const [, a = '', b = '', c = '*'] = match;
  const start = Number(a);
  const end = Number(b);
  if (end < start) return undefined;
  return { start, end, total: c === '*' ? undefined : Number(c) };
}

/** TOTAL of `bytes *\/TOTAL` (a 416 answer), or undefined. */
function rangeTotal(header: unknown): number | undefined {
  const match = typeof header === 'string' ? /^bytes \*\/(\d+)$/.exec(header.trim()) : null;
  return match ? Number(match[1]) : undefined;
}

function isRetryable(error: UpdaterError): boolean {
  if (error.code === 'ERR_NETWORK' || error.code === 'ERR_TIMEOUT') return true;
  return error.code === 'ERR_HTTP_STATUS' && Number(error.data?.status) >= 500;
}

/** A ByteSource over HTTP(S): each read() resumes with `Range: bytes=POS-` after a failure, from the byte it had reached. */
export function createHttpSource(url: string, options: HttpSourceOptions = {}): ByteSource {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const retries = options.retries ?? 5;
  const backoff = options.backoff ?? { baseMs: 250, maxMs: 10_000 };
  let received = 0;

  /** One request from POSITION; sets `outcome.atEnd` when it delivered everything up to the resource's end. */
  async function* attempt(position: number, end: number | undefined, attemptNo: number, outcome: { atEnd: boolean }): AsyncGenerator<Buffer> {
    options.onEvent?.({ type: 'request', start: position, end, attempt: attemptNo });
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (position > 0 || end !== undefined) headers.range = `bytes=${position}-${end === undefined ? '' : end - 1}`;
    const stream: Request = got.stream(url, {
      headers,
      decompress: false,
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { lookup: timeouts.lookup, connect: timeouts.connect, secureConnect: timeouts.connect, response: timeouts.response },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    try {
      const response = await new Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
      const status = response.statusCode;
      let skip = 0;
      let promised: number | undefined; // body bytes after `skip` the server said it would send
      let resourceEnd = false; // the promised bytes run to the end of the resource
      if (status === 206) {
        const range = parseContentRange(response.headers['content-range'] as string | undefined);
        if (!range || range.start !== position || (end !== undefined && range.end !== end - 1 && range.end + 1 !== range.total)) {
          throw new UpdaterError('ERR_HTTP_RANGE', `Cannot download "${url}": asked for bytes from ${position}, the server sent Content-Range "${String(response.headers['content-range'])}"`, {
            data: { url, position, contentRange: response.headers['content-range'] },
            hint: 'The server or a proxy mangles Range requests; serve the bundle from a plain static server.',
          });
        }
        promised = range.end + 1 - position;
        resourceEnd = range.total !== undefined && range.end + 1 === range.total;
      } else if (status === 416 && position > 0 && rangeTotal(response.headers['content-range']) === position) {
        outcome.atEnd = true; // asked from the very end: nothing left (a segmented read ending on a boundary)
        return;
      } else if (status === 200) {
        skip = position;
        const length = Number(response.headers['content-length']);
        if (Number.isSafeInteger(length)) promised = length - position;
        resourceEnd = true;
        if (skip > 0) options.onEvent?.({ type: 'range-ignored', skip });
      } else {
        throw new UpdaterError('ERR_HTTP_STATUS', `Cannot download "${url}": the server answered HTTP ${status}`, {
          data: { url, status },
          hint: status === 404 ? 'Check the URL.' : status >= 500 ? 'The server failed; try again later.' : 'Check the URL and the server.',
        });
      }
      let remaining = end === undefined ? Infinity : end - position;
      let delivered = 0;
      const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      while (remaining > 0) {
        const next = await withStallTimeout(iterator.next(), timeouts.stall, () => {
          stream.destroy();
          return new UpdaterError('ERR_TIMEOUT', `Cannot download "${url}": no data for ${timeouts.stall} ms`, { data: { url, position } });
        });
        if (next.done) break;
        let piece = next.value;
        received += piece.length;
        if (skip > 0) {
          const dropped = Math.min(skip, piece.length);
          skip -= dropped;
          piece = piece.subarray(dropped);
          if (piece.length === 0) continue;
        }
        if (piece.length > remaining) piece = piece.subarray(0, remaining);
        remaining -= piece.length;
        delivered += piece.length;
        yield piece;
      }
      if (skip > 0) {
        throw new UpdaterError('ERR_NETWORK', `Cannot download "${url}": the body ended before byte ${position}`, { data: { url, position } });
      }
      if (remaining > 0 && promised !== undefined && delivered < promised) {
        throw new UpdaterError('ERR_NETWORK', `Cannot download "${url}": the body ended ${promised - delivered} bytes early`, { data: { url, position: position + delivered } });
      }
      outcome.atEnd = remaining > 0 && resourceEnd;
    } finally {
      stream.destroy();
    }
  }

  return {
    name: url,
    bytesReceived: () => received,
    async *read(start: number, end?: number): AsyncIterable<Buffer> {
      if (end !== undefined && end <= start) return;
      let position = start;
      let failures = 0;
      for (let attemptNo = 1; ; attemptNo += 1) {
        const before = position;
        const outcome = { atEnd: false };
        try {
          for await (const piece of attempt(position, end, attemptNo, outcome)) {
            position += piece.length;
            yield piece;
          }
          const expected = end === undefined ? undefined : end - position;
          if (expected !== undefined && expected > 0 && !outcome.atEnd) {
            throw new UpdaterError('ERR_NETWORK', `Cannot download "${url}": the body ended ${expected} bytes early`, { data: { url, position } });
          }
          return;
        } catch (caught) {
          const error = gotErrorToUpdaterError(caught, {
            what: `download "${url}"`,
            url,
            networkHint: 'Check the network and the server; the install resumes where it stopped when run again.',
          });
          if (options.signal?.aborted) throw new UpdaterError('ERR_ABORTED', `Cannot download "${url}": aborted`, { cause: options.signal.reason });
          if (!isRetryable(error)) throw error;
          failures = position > before ? 1 : failures + 1;
          if (failures > retries) throw error;
          const delayMs = backoffDelay(failures - 1, backoff);
          options.onEvent?.({ type: 'retry', attempt: attemptNo, delayMs, position, error });
          await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
        }
      }
    },
  };
}

async function withStallTimeout<T>(promise: Promise<T>, ms: number, onStall: () => UpdaterError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onStall()), ms);
  });
  try {
    return await Promise.race([promise, stalled]);
  } finally {
    clearTimeout(timer);
  }
}
