// Small HTTP requests for update metadata (Omaha responses, channel indexes): size-capped, time-limited, abortable.

import got, { type Method } from 'got';
import { UpdaterError } from '../../common/errors.js';
import { gotTlsOptions, type TlsMaterial } from '../net/tls.js';
import { gotErrorToUpdaterError } from './got-error.js';

export interface FetchCappedOptions {
  method?: Method;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Stop reading and fail with ERR_RESPONSE_TOO_LARGE past this many bytes. */
  maxBytes: number;
  /** The whole exchange, connect to last byte (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** What the request is for, in messages: "check for updates at http://...". */
  what: string;
  /** CA bundle and client certificate for https (SERVER_CAFILE, SERVER_CERTFILE, SERVER_KEYFILE). */
  tls?: TlsMaterial;
}

export interface FetchCappedResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Performs one request and returns the whole body, refusing non-2xx statuses and bodies over maxBytes. */
export async function fetchCapped(url: string, options: FetchCappedOptions): Promise<FetchCappedResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  // One controller for our own cap/timeout and the caller's signal, so every exit path destroys the socket.
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) controller.abort(options.signal.reason);
  try {
    const stream = got.stream(url, {
      ...gotTlsOptions(options.tls),
      method: options.method ?? 'GET',
      ...(options.body === undefined ? {} : { body: options.body }),
      headers: { 'user-agent': 'abupdate', ...options.headers },
      timeout: { lookup: timeoutMs, connect: timeoutMs, send: timeoutMs, response: timeoutMs, request: timeoutMs },
      retry: { limit: 0 },
      throwHttpErrors: false,
      decompress: false,
      followRedirect: true,
      maxRedirects: 5,
      signal: controller.signal,
    });
    const responsePromise = new Promise<{ statusCode: number; headers: FetchCappedResult['headers'] }>((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('error', reject);
    });
    // Keep an early error from being unhandled while the body loop is not yet attached.
    responsePromise.catch(() => undefined);
    const parts: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > options.maxBytes) {
        stream.destroy();
        throw new UpdaterError('ERR_RESPONSE_TOO_LARGE', `Cannot ${options.what}: the answer from ${url} is larger than ${options.maxBytes} bytes`, {
          data: { url, maxBytes: options.maxBytes },
          hint: 'The server or something in between is misbehaving; nothing was installed.',
        });
      }
      parts.push(chunk);
    }
    const response = await responsePromise;
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw new UpdaterError('ERR_HTTP_STATUS', `Cannot ${options.what}: ${url} answered HTTP ${response.statusCode}`, {
        data: { url, status: response.statusCode },
        hint: response.statusCode >= 500 ? 'The server has a problem; the next attempt will retry.' : 'Check SERVER and GROUP in update.conf.',
      });
    }
    return { status: response.statusCode, headers: response.headers, body: Buffer.concat(parts) };
  } catch (error) {
    throw gotErrorToUpdaterError(error, {
      what: options.what,
      url,
      signal: options.signal,
      timeoutMs,
      timeoutHint: 'The server is slow or unreachable; the next attempt will retry.',
      networkHint: 'Check that the server is reachable from this host.',
    });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
