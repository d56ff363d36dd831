// Streams a URL from a byte offset over HTTP(S) (http-get.ts): Range requests, per-phase, stall and speed-limit
// timeouts, retries with backoff, and one 200 stream kept between windows when the server ignores Range.

import { setTimeout as sleep } from 'node:timers/promises';
import { UpdaterError, isUpdaterError } from '../../common/errors.js';
import type { TlsMaterial } from '../net/tls.js';
import { gotErrorToUpdaterError } from './got-error.js';
import { httpGet, ReadBuffers, type GetResponse } from './http-get.js';
import type { ByteSource, SourceEvent } from './source.js';

export interface HttpTimeouts {
  lookup: number;
  connect: number;
  /** From the request sent to the response headers. */
  response: number;
  /** No body bytes for this long (while we wait for them) → abort and retry. */
  stall: number;
}

/** curl's --speed-limit / --speed-time: slower than `bytesPerSecond` for `timeMs` of waiting is ERR_NETWORK_SLOW. */
export interface SpeedLimit {
  /** 0 turns the check off. */
  bytesPerSecond: number;
  timeMs: number;
}

/**
 * 16 KiB/s for 5 minutes: a 1 Mbit/s link (125 kB/s) is 7 times faster, so a 1 GiB image finishes over it (in about
 * 2.4 h); a server that trickles (the slow-retrieval attack: 16 bytes every 200 ms stays under any stall timeout)
 * is cut off after 5 minutes, not never.
 */
export const DEFAULT_SPEED_LIMIT: SpeedLimit = { bytesPerSecond: 16 * 1024, timeMs: 5 * 60_000 };

export interface HttpSourceOptions {
  timeouts?: Partial<HttpTimeouts>;
  /** Minimum average speed while waiting for data (default DEFAULT_SPEED_LIMIT). Not retried: the run ends, the progress stays. */
  speedLimit?: SpeedLimit;
  /** Failed attempts in a row (no byte received in between) before giving up. */
  retries?: number;
  backoff?: { baseMs: number; maxMs: number };
  signal?: AbortSignal;
  onEvent?: (event: SourceEvent) => void;
  /** Told of bytes received and dropped unread (skipped because the server ignored Range), e.g. to pace GC. */
  onDiscard?: (bytes: number) => void;
  /** CA bundle and client certificate for https (SERVER_CAFILE, SERVER_CERTFILE, SERVER_KEYFILE). */
  tls?: TlsMaterial;
  /**
   * Pieces are views into a reused read buffer, valid until the next piece is asked for: for a reader that copies
   * what it keeps (the install engine: into its chunk buffers). Default: each piece is the reader's own.
   */
  lendPieces?: boolean;
  /** HTTP basic auth on the payload (DOWNLOAD_USER, DOWNLOAD_PASSWORD); never logged or put in errors. */
  auth?: { username: string; password: string };
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = { lookup: 10_000, connect: 10_000, response: 30_000, stall: 30_000 };

/** A 200 stream kept between reads (see createHttpSource). */
interface Parked {
  response: GetResponse;
  iterator: AsyncIterator<Buffer>;
  /** Resource offset of the next byte: of `leftover` if there is one, else of the stream's next piece. */
  position: number;
  leftover: Buffer | undefined;
  /** The resource's size as the 200 stated it (Content-Length), to tell a cut-off body from the end. */
  total: number | undefined;
  idle: NodeJS.Timeout;
}

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
  // One read buffer serves this source's requests in turn (a second only while two are open).
  const buffers = new ReadBuffers();
  const speed = options.speedLimit ?? DEFAULT_SPEED_LIMIT;
  // Time spent waiting for body bytes and the bytes that came, since the last period that was fast enough. Only
  // waiting counts (the engine's own pauses between windows, an fsync, are not the server being slow), and it spans
  // requests: a server cannot reset the clock by dropping the connection.
  const meter = { waitedMs: 0, bytes: 0 };
  const measure = (bytes: number, waitedMs: number, position: number): void => {
    if (speed.bytesPerSecond <= 0) return;
    meter.waitedMs += waitedMs;
    meter.bytes += bytes;
    if (meter.waitedMs < speed.timeMs) return;
    const rate = (meter.bytes * 1000) / meter.waitedMs;
    if (rate < speed.bytesPerSecond) {
      throw new UpdaterError('ERR_NETWORK_SLOW', `Cannot download "${url}": ${Math.round(rate)} bytes/s for ${Math.round(meter.waitedMs / 1000)} s, below the limit of ${speed.bytesPerSecond} bytes/s for ${Math.round(speed.timeMs / 1000)} s`, {
        data: { url, position, bytesPerSecond: Math.round(rate), limit: speed.bytesPerSecond, timeMs: speed.timeMs },
        hint: 'The server or the network is too slow (or feeds bytes slowly on purpose); what was written is kept and the next run resumes there. See DOWNLOAD_SPEED_LIMIT and DOWNLOAD_SPEED_TIME (--speed-limit, --speed-time).',
      });
    }
    meter.waitedMs = 0;
    meter.bytes = 0;
  };
  /**
   * A whole-file (200) answer to a Range request, read up to `position`: the server ignores Range, so the next
   * read from `position` on continues this one stream instead of asking again (and being sent byte 0 again).
   */
  let parked: Parked | undefined;
  let rangeIgnored = false;
  const unpark = (): void => {
    if (parked === undefined) return;
    clearTimeout(parked.idle);
    parked.response.destroy();
    parked = undefined;
  };

  /** One request from POSITION (or the parked 200 stream); sets `outcome.atEnd` when it reached the resource's end. */
  async function* attempt(position: number, end: number | undefined, attemptNo: number, outcome: { atEnd: boolean }): AsyncGenerator<Buffer> {
    const resumed = parked !== undefined && parked.position <= position ? parked : undefined;
    if (resumed) {
      clearTimeout(resumed.idle);
      parked = undefined;
    } else unpark();
    if (!resumed) options.onEvent?.({ type: 'request', start: position, end, attempt: attemptNo });
    let response: GetResponse | undefined = resumed?.response;
    let keep = false; // the response is parked for the next read: do not destroy it
    try {
      if (resumed) {
        const promised = resumed.total === undefined ? undefined : resumed.total - position;
        yield* readBody(resumed.response, resumed.iterator, resumed.leftover, position - resumed.position, resumed.position, end, promised, true, outcome, (p) => {
          keep = true;
          park({ ...p, total: resumed.total });
        });
        return;
      }
      response = await requestFrom(position, end);
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
        if (position > 0 || end !== undefined) rangeIgnored = true;
        skip = position;
        const length = Number(response.headers['content-length']);
        if (Number.isSafeInteger(length)) promised = length - position;
        resourceEnd = true;
        if (skip > 0) options.onEvent?.({ type: 'range-ignored', skip });
      } else if (status === 401 || (status === 403 && options.auth !== undefined)) {
        throw new UpdaterError('ERR_AUTH', `Cannot download "${url}": the server answered HTTP ${status} (${options.auth === undefined ? 'it wants a user and password' : `it refused the user "${options.auth.username}"`})`, {
          data: { url, status },
          hint: 'Check DOWNLOAD_USER and DOWNLOAD_PASSWORD in update.conf.',
        });
      } else {
        throw new UpdaterError('ERR_HTTP_STATUS', `Cannot download "${url}": the server answered HTTP ${status}`, {
          data: { url, status },
          hint: status === 404 ? 'Check the URL.' : status >= 500 ? 'The server failed; try again later.' : 'Check the URL and the server.',
        });
      }
      const iterator = response.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const total = promised === undefined ? undefined : position + promised;
      const parkThis = (p: Omit<Parked, 'idle' | 'total'>): void => {
        keep = true;
        park({ ...p, total });
      };
      // A 206 starts at POSITION; a 200 at byte 0, its first POSITION bytes skipped.
      yield* readBody(response, iterator, undefined, skip, status === 200 ? 0 : position, end, promised, resourceEnd, outcome, status === 200 && end !== undefined ? parkThis : undefined);
    } finally {
      if (!keep) response?.destroy();
    }
  }

  /** The response headers of a GET from POSITION; the body is not decompressed (identity asked, nothing decoded). */
  function requestFrom(position: number, end: number | undefined): Promise<GetResponse> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'abupdate' };
    if (position > 0 || end !== undefined) headers.range = `bytes=${position}-${end === undefined ? '' : end - 1}`;
    if (options.auth !== undefined) headers.authorization = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;
    return httpGet(url, { headers, timeouts, tls: options.tls, signal: options.signal, buffers, lend: options.lendPieces });
  }

  /** Keeps a 200 response for the next read; dropped if nobody continues it within the stall timeout. */
  function park(p: Omit<Parked, 'idle'>): void {
    const idle = setTimeout(unpark, timeouts.stall);
    idle.unref();
    parked = { ...p, idle };
  }

  /**
   * Yields the body from ITERATOR, whose next byte (LEFTOVER's first, if given) is at resource offset BASE: drops
   * SKIP bytes first (before the asked position: the server ignores Range), stops at END. When it stops at END and
   * PARK is given, the stream goes to PARK for the next read instead of ending.
   */
  async function* readBody(
    response: GetResponse,
    iterator: AsyncIterator<Buffer>,
    leftover: Buffer | undefined,
    skipBytes: number,
    base: number,
    end: number | undefined,
    promised: number | undefined,
    resourceEnd: boolean,
    outcome: { atEnd: boolean },
    park: ((p: Omit<Parked, 'idle' | 'total'>) => void) | undefined,
  ): AsyncGenerator<Buffer> {
    let skip = skipBytes;
    let at = base; // resource offset of the next byte the stream gives
    const position = base + skipBytes;
    let remaining = end === undefined ? Infinity : end - position;
    let delivered = 0;
    let pending = leftover;
    while (remaining > 0) {
      let piece: Buffer;
      if (pending !== undefined) {
        piece = pending;
        pending = undefined;
      } else {
        const waitStarted = Date.now();
        const next = await withStallTimeout(iterator.next(), timeouts.stall, () => {
          response.destroy();
          return new UpdaterError('ERR_TIMEOUT', `Cannot download "${url}": no data for ${timeouts.stall} ms`, { data: { url, position: position + delivered } });
        });
        if (next.done) break;
        piece = next.value;
        received += piece.length;
        measure(piece.length, Date.now() - waitStarted, at);
      }
      if (skip > 0) {
        const dropped = Math.min(skip, piece.length);
        skip -= dropped;
        at += dropped;
        options.onDiscard?.(dropped);
        piece = piece.subarray(dropped);
        if (piece.length === 0) continue;
      }
      if (piece.length > remaining) {
        // The window ends inside this piece: the rest belongs to the next read of a parked stream.
        if (park) pending = piece.subarray(remaining);
        piece = piece.subarray(0, remaining);
      }
      remaining -= piece.length;
      delivered += piece.length;
      at += piece.length;
      yield piece;
    }
    if (skip > 0) {
      throw new UpdaterError('ERR_NETWORK', `Cannot download "${url}": the body ended before byte ${position}`, { data: { url, position } });
    }
    if (remaining > 0 && promised !== undefined && delivered < promised) {
      throw new UpdaterError('ERR_NETWORK', `Cannot download "${url}": the body ended ${promised - delivered} bytes early`, { data: { url, position: position + delivered } });
    }
    outcome.atEnd = remaining > 0 && resourceEnd;
    if (remaining === 0 && park) park({ response, iterator, position: at, leftover: pending });
  }

  return {
    name: url,
    bytesReceived: () => received,
    ignoresRange: () => rangeIgnored,
    close: unpark,
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
