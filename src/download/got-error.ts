// The one mapping from got's errors and node's own (the download's node:http, http-get.ts) to ours: aborted, a
// certificate failure, timed out, or a network error. It reads only name, code and message, which both share.

import { isUpdaterError, UpdaterError } from '../../common/errors.js';
import { tlsErrorFor } from '../net/tls.js';

export interface GotErrorContext {
  /** What was being done, for "Cannot <what>: ...": `download "URL"`, `check for updates at URL`. */
  what: string;
  url: string;
  /** The caller's signal: when it fired, the error is ERR_ABORTED whatever the client says. */
  signal?: AbortSignal | undefined;
  /** The request's time limit, when the caller set one: the timeout message names it. */
  timeoutMs?: number | undefined;
  /** What to do about a timeout, if the caller knows. */
  timeoutHint?: string | undefined;
  /** What to do about a network error. */
  networkHint: string;
}

/**
 * ERR_ABORTED, ERR_TLS, ERR_TIMEOUT or ERR_NETWORK for an error got or node:http threw (node's AbortError, ECONNREFUSED,
 * ECONNRESET "socket hang up", a certificate code; http-get.ts names its phase timeouts TimeoutError/ETIMEDOUT as got
 * does); an UpdaterError passes through unchanged.
 */
export function gotErrorToUpdaterError(error: unknown, context: GotErrorContext): UpdaterError {
  if (isUpdaterError(error)) return error;
  const { what, url } = context;
  const e = error as { name?: string; code?: string; message?: string };
  if (context.signal?.aborted || e.name === 'AbortError') return new UpdaterError('ERR_ABORTED', `Cannot ${what}: aborted`, { cause: error });
  // A certificate problem is ERR_TLS: not retried, and never retried without TLS.
  const tls = tlsErrorFor(error, what, url);
  if (tls !== undefined) return tls;
  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') {
    const why = context.timeoutMs === undefined ? (e.message ?? 'timed out') : `no complete answer from ${url} within ${context.timeoutMs} ms`;
    return new UpdaterError('ERR_TIMEOUT', `Cannot ${what}: ${why}`, {
      cause: error,
      data: context.timeoutMs === undefined ? { url } : { url, timeoutMs: context.timeoutMs },
      ...(context.timeoutHint === undefined ? {} : { hint: context.timeoutHint }),
    });
  }
  return new UpdaterError('ERR_NETWORK', `Cannot ${what}: ${e.message ?? String(error)}`, {
    cause: error,
    data: { url, errno: e.code },
    hint: context.networkHint,
  });
}
