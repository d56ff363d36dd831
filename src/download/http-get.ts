// One GET over a socket of its own: per-phase timeouts (lookup, connect, TLS handshake, response), redirects followed
// (never https -> http, no credentials to another origin), the TLS material, the caller's signal. The socket reads
// into one reused buffer (net's `onread`) and the body is handed on as views into it: no buffer per read and no
// stream per piece, which is what node's HTTP client costs (docs/engine.md "Download").

import { isIP, type Socket } from 'node:net';
import { refuseDowngrade, tlsRequestOptions, type TlsMaterial } from '../net/tls.js';
import { HttpWireError, ResponseParser, TOKEN, type ResponseHead } from './http-wire.js';

export interface GetTimeouts {
  lookup: number;
  /** The TCP connection, and again the TLS handshake after it (got's `connect` and `secureConnect`). */
  connect: number;
  /** From the request sent to the response headers. */
  response: number;
}

export interface GetOptions {
  headers: Record<string, string>;
  /**
   * Body pieces are views into the socket's read buffer, valid until the next piece is asked for (a reader that
   * copies what it keeps, as the install engine does); default: each piece is the reader's own copy.
   */
  lend?: boolean | undefined;
  /** Where the requests' read buffers come from (one source's requests share them); default: one per request. */
  buffers?: ReadBuffers | undefined;
  timeouts: GetTimeouts;
  tls?: TlsMaterial | undefined;
  signal?: AbortSignal | undefined;
}

/** The answer to a GET once its head is in; `destroy()` frees the socket. Its body pieces: see GetOptions.lend. */
export interface GetResponse {
  statusCode: number;
  /** Field names in lower case. */
  headers: ResponseHead['headers'];
  body: AsyncIterable<Buffer>;
  destroy(): void;
}

/** Bytes the socket reads at most at a time (one buffer per request, reused for every read). */
export const READ_BUFFER_BYTES = 1024 * 1024;

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);
/** got's default, which the download used before. */
export const MAX_REDIRECTS = 10;

/** The error a phase's timeout destroys the request with: named as got's, so got-error.ts maps it to ERR_TIMEOUT. */
class PhaseTimeoutError extends Error {
  override name = 'TimeoutError';
  code = 'ETIMEDOUT';
  event: string;
  constructor(event: string, ms: number) {
    super(`Timeout awaiting '${event}' for ${ms}ms`);
    this.event = event;
  }
}

/** got's error for a redirect loop (mapped to ERR_NETWORK, as before). */
class TooManyRedirectsError extends Error {
  override name = 'MaxRedirectsError';
  code = 'ERR_TOO_MANY_REDIRECTS';
  constructor() {
    super(`Redirected ${MAX_REDIRECTS} times. Aborting.`);
  }
}

/**
 * GETs URL, following up to MAX_REDIRECTS redirects. Resolves with the first answer that is not a redirect (any
 * status: the caller judges it); rejects with node's own errors (ECONNREFUSED, ECONNRESET, AbortError, a
 * certificate code), a TimeoutError, an HttpWireError for an answer that is not HTTP/1.1 as http-wire.ts reads it,
 * or an UpdaterError ERR_TLS for a redirect from https to http.
 */
export async function httpGet(url: string, options: GetOptions): Promise<GetResponse> {
  let current = new URL(url);
  const headers = { ...options.headers };
  const buffers = options.buffers ?? new ReadBuffers();
  for (let redirects = 0; ; redirects += 1) {
    const response = await getOnce(current, headers, options, buffers);
    const location = response.headers.location;
    if (!REDIRECT_CODES.has(response.statusCode) || location === undefined) return response;
    response.destroy();
    if (redirects >= MAX_REDIRECTS) throw new TooManyRedirectsError();
    const next = new URL(Buffer.from(location, 'binary').toString(), current);
    refuseDowngrade(current, next);
    // Credentials were given for the first origin only.
    if (next.origin !== current.origin) delete headers.authorization;
    current = next;
  }
}

/**
 * The read buffers of one source's requests: a request takes one and gives it back when its reader is done with
 * it (the body read to its end, or the response destroyed), so the next request reads into the same memory.
 */
export class ReadBuffers {
  readonly #free: Buffer[] = [];

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafe(READ_BUFFER_BYTES);
  }

  give(buffer: Buffer): void {
    if (this.#free.length < 2) this.#free.push(buffer);
  }
}

/** node's AbortError, as node:http rejected with for the caller's signal (got-error.ts maps it to ERR_ABORTED). */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason });
}

/** The request's head: the caller's fields, Host, and Connection: close (one connection per request). */
function requestHead(url: URL, fields: Record<string, string>): string {
  const all: Record<string, string> = { host: url.host, ...fields };
  // Credentials in the URL, as node:http sends them (the caller's Authorization wins).
  if ((url.username !== '' || url.password !== '') && all.authorization === undefined) {
    all.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  }
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`];
  for (const [name, value] of Object.entries(all)) {
    if (/[\r\n\0]/.test(name + value) || !TOKEN.test(name)) throw Object.assign(new TypeError(`Invalid character in the request header "${name}"`), { code: 'ERR_INVALID_CHAR' });
    lines.push(`${name}: ${value}`);
  }
  lines.push('connection: close', '', '');
  return lines.join('\r\n');
}

async function getOnce(url: URL, fields: Record<string, string>, options: GetOptions, buffers: ReadBuffers): Promise<GetResponse> {
  const https = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
  const byAddress = isIP(host) !== 0;
  const { signal, timeouts } = options;
  const request = requestHead(url, fields);
  if (signal?.aborted) throw abortError(signal);
  const { connect } = https ? await import('node:tls') : await import('node:net');

  const buffer = buffers.take();
  let given = false;
  const giveBack = (): void => {
    if (given) return;
    given = true;
    buffers.give(buffer);
  };
  /** Body bytes read and not yet handed out: views into `buffer` (copies over https), read into again only when this is empty. */
  const ready: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const clearTimers = (): void => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  };

  return new Promise<GetResponse>((resolve, reject) => {
    let responded = false;
    let socket: Socket;
    const fail = (error: Error): void => {
      if (failure !== undefined || ended) return;
      failure = error;
      clearTimers();
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (!responded) {
        giveBack(); // nobody saw a byte of it
        reject(error);
      }
      wake?.();
    };
    const onAbort = (): void => fail(abortError(signal as AbortSignal));
    const parser = new ResponseParser({
      onHead: (head) => {
        responded = true;
        clearTimers();
        resolve({ statusCode: head.statusCode, headers: head.headers, body, destroy });
      },
      onBody: (bytes) => {
        // node:tls may hand over several decrypted records in a row, the socket paused or not, each into the same
        // buffer: over https every piece is copied as it comes (plain TCP stops reading at once when paused).
        if (bytes.length > 0) ready.push(https ? Buffer.from(bytes) : bytes);
      },
      onEnd: () => {
        ended = true;
        signal?.removeEventListener('abort', onAbort);
        socket.destroy(); // the body is complete (Connection: close); what the server sends after it is not read
      },
    });
    const onread = {
      buffer,
      callback: (n: number, bytes: Buffer): boolean => {
        try {
          parser.push(bytes.subarray(0, n));
        } catch (error) {
          fail(error as Error);
          return false;
        }
        wake?.();
        // Paused while body bytes are out: the next read would overwrite them.
        return ready.length === 0;
      },
    };
    const onClose = (): void => {
      if (ended || failure !== undefined) return;
      try {
        parser.close();
      } catch (error) {
        fail(error as Error);
        return;
      }
      wake?.();
    };
    const destroy = (): void => {
      if (!ended && failure === undefined) fail(new HttpWireError('the response was closed by its reader'));
      ready.length = 0;
      giveBack();
    };
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<Buffer>> => {
          for (;;) {
            if (failure !== undefined) throw failure;
            const piece = ready.shift();
            // Over https the piece is a copy already.
            if (piece !== undefined) return { done: false, value: https || options.lend === true ? piece : Buffer.from(piece) };
            if (ended) {
              giveBack();
              return { done: true, value: undefined };
            }
            await new Promise<void>((resume) => {
              wake = resume;
              socket.resume();
            });
            wake = undefined;
          }
        },
        return: async (): Promise<IteratorResult<Buffer>> => {
          destroy();
          return { done: true, value: undefined };
        },
      }),
    };

    const phase = (event: string, ms: number): (() => void) => {
      const timer = setTimeout(() => fail(new PhaseTimeoutError(event, ms)), ms);
      timer.unref();
      timers.add(timer);
      return () => {
        clearTimeout(timer);
        timers.delete(timer);
      };
    };
    // node:tls takes `onread` as node:net does (documented; @types/node lacks it).
    const how = { host, port, onread, ...(https ? { ...(byAddress ? {} : { servername: host }), ...tlsRequestOptions(options.tls) } : {}) };
    socket = (connect as (options: typeof how) => Socket)(how);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', fail);
    socket.on('end', onClose);
    socket.on('close', onClose);
    if (byAddress) socket.once('connect', phase('connect', timeouts.connect));
    else {
      const lookedUp = phase('lookup', timeouts.lookup);
      socket.once('lookup', (error: Error | null) => {
        lookedUp();
        if (error === null) socket.once('connect', phase('connect', timeouts.connect));
      });
    }
    if (https) socket.once('connect', () => socket.once('secureConnect', phase('secureConnect', timeouts.connect)));
    socket.write(request, () => {
      if (!responded && failure === undefined) phase('response', timeouts.response);
    });
  });
}
