// Omaha v3 client: POSTs update checks and events as text/xml, caps and times out the answers.

import { UpdaterError } from '../../common/errors.js';
import { fetchCapped } from '../download/fetch-capped.js';
import type { TlsMaterial } from '../net/tls.js';
import type { OmahaEvent } from './events.js';
import { buildOmahaRequest, type OmahaClientInfo } from './request.js';
import { parseOmahaResponse, type OmahaCheckResult } from './response.js';

/** update_engine never sees responses anywhere near this; a bigger one is a broken or hostile server. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface OmahaClientOptions {
  /** The Omaha endpoint (SERVER), e.g. https://nebraska.example/v1/update/ */
  server: string;
  info: OmahaClientInfo;
  /** Whole-exchange timeout (default 30 s). */
  timeoutMs?: number;
  maxResponseBytes?: number;
  signal?: AbortSignal;
  /** SERVER_CAFILE / SERVER_CERTFILE / SERVER_KEYFILE, read. */
  tls?: TlsMaterial;
}

async function post(options: OmahaClientOptions, xml: string, what: string): Promise<string> {
  const result = await fetchCapped(options.server, {
    method: 'POST',
    body: xml,
    headers: { 'content-type': 'text/xml; charset=utf-8' },
    maxBytes: options.maxResponseBytes ?? MAX_RESPONSE_BYTES,
    what,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  return result.body.toString('utf8');
}

/** One update check (ping + updatecheck, plus a 3/2 event when given). */
export async function omahaCheck(options: OmahaClientOptions, check: { interactive: boolean; event?: OmahaEvent }): Promise<OmahaCheckResult> {
  const xml = buildOmahaRequest(options.info, { kind: 'updatecheck', ...check });
  const body = await post(options, xml, `check for updates at ${options.server}`);
  try {
    return parseOmahaResponse(body);
  } catch (error) {
    if (error instanceof UpdaterError && error.data !== undefined) error.data.server = options.server;
    throw error;
  }
}

/** One event-only request. The answer is read (capped) but not interpreted, as update_engine does. */
export async function omahaSendEvent(options: OmahaClientOptions, event: OmahaEvent, interactive: boolean): Promise<void> {
  const xml = buildOmahaRequest(options.info, { kind: 'event', interactive, event });
  await post(options, xml, `report event ${event.type}/${event.result} to ${options.server}`);
}

/** A ping-only request (update_engine sends these while an installed update waits for the reboot). */
export async function omahaPing(options: OmahaClientOptions, interactive: boolean): Promise<void> {
  const xml = buildOmahaRequest(options.info, { kind: 'ping', interactive });
  await post(options, xml, `ping ${options.server}`);
}
