// One GET on plain node:http / node:https, no got: per-phase timeouts (lookup, connect, TLS handshake, response),
// redirects followed (never https -> http, no credentials to another origin), the TLS material, the caller's signal.

import type { ClientRequest, IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { refuseDowngrade, tlsRequestOptions, type TlsMaterial } from '../net/tls.js';

export interface GetTimeouts {
  lookup: number;
  /** The TCP connection, and again the TLS handshake after it (got's `connect` and `secureConnect`). */
  connect: number;
  /** From the request sent to the response headers. */
  response: number;
}

export interface GetOptions {
  headers: Record<string, string>;
  timeouts: GetTimeouts;
  tls?: TlsMaterial | undefined;
  signal?: AbortSignal | undefined;
}

/** The answer to a GET once its headers are in; its body is read from `body`, `destroy()` frees the socket. */
export interface GetResponse {
  statusCode: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
  destroy(): void;
}

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
 * certificate code), a TimeoutError, or an UpdaterError ERR_TLS for a redirect from https to http.
 */
export async function httpGet(url: string, options: GetOptions): Promise<GetResponse> {
  let current = new URL(url);
  const headers = { ...options.headers };
  for (let redirects = 0; ; redirects += 1) {
    const response = await getOnce(current, headers, options);
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

async function getOnce(url: URL, headers: Record<string, string>, options: GetOptions): Promise<GetResponse> {
  const https = url.protocol === 'https:';
  const { request } = https ? await import('node:https') : await import('node:http');
  const { timeouts } = options;
  const timers = new Set<NodeJS.Timeout>();
  const clearTimers = (): void => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  };
  return new Promise<GetResponse>((resolve, reject) => {
    // No agent: one connection per request, closed with it (nothing kept alive between windows).
    const req: ClientRequest = request(url, {
      method: 'GET',
      headers,
      agent: false,
      ...(https ? tlsRequestOptions(options.tls) : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const phase = (event: string, ms: number): (() => void) => {
      const timer = setTimeout(() => req.destroy(new PhaseTimeoutError(event, ms)), ms);
      timer.unref();
      timers.add(timer);
      return () => {
        clearTimeout(timer);
        timers.delete(timer);
      };
    };
    const failed = (error: Error): void => {
      clearTimers();
      reject(error);
    };
    req.on('error', failed);
    req.once('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      const byAddress = isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0;
      if (!byAddress) socket.once('lookup', phase('lookup', timeouts.lookup));
      if (byAddress) socket.once('connect', phase('connect', timeouts.connect));
      else socket.once('lookup', (error: Error | null) => error === null && socket.once('connect', phase('connect', timeouts.connect)));
      if (https) socket.once('connect', () => socket.once('secureConnect', phase('secureConnect', timeouts.connect)));
    });
    let responded = false;
    req.once('response', (res: IncomingMessage) => {
      responded = true;
      clearTimers();
      // Errors after this point reach the reader through the body (node destroys it with 'aborted').
      req.off('error', failed);
      req.on('error', () => undefined);
      resolve({
        statusCode: res.statusCode ?? 0,
        headers: res.headers,
        body: res,
        destroy: () => {
          res.destroy();
          req.destroy();
        },
      });
    });
    req.end(() => {
      if (!req.destroyed && !responded) req.once('response', phase('response', timeouts.response));
    });
  });
}
