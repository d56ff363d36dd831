// The FleetLock client (zincati's protocol): POST /v1/pre-reboot to take a reboot slot, /v1/steady-state to give it back.

import got from 'got';
import { UpdaterError, isUpdaterError } from '../../common/errors.js';

export interface FleetlockRequest {
  /**
   * The server's base URL, e.g. "http://fleetlock.example:8080/" ; "v1/pre-reboot" is joined to it as a relative
   * URL, as zincati does (reqwest Url::join): a base path without a trailing slash loses its last segment.
   */
  url: string;
  /** This host's id: zincati's app-specific node id (fleetlockNodeId of the machine id). */
  id: string;
  /** The reboot group, `^[a-zA-Z0-9.-]+$`; default "default". */
  group?: string | undefined;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const GROUP_PATTERN = /^[a-zA-Z0-9.-]+$/;

/** Asks the server for a reboot slot. Resolves when granted (HTTP 200); throws ERR_FLEETLOCK otherwise. */
export async function fleetlockPreReboot(request: FleetlockRequest): Promise<void> {
  await post(request, 'pre-reboot', 'take the FleetLock reboot slot');
}

/** Tells the server this host is steady (its slot is free again). Idempotent on the server side. */
export async function fleetlockSteadyState(request: FleetlockRequest): Promise<void> {
  await post(request, 'steady-state', 'release the FleetLock reboot slot');
}

async function post(request: FleetlockRequest, operation: 'pre-reboot' | 'steady-state', what: string): Promise<void> {
  const group = request.group === undefined || request.group === '' ? 'default' : request.group;
  if (!GROUP_PATTERN.test(group)) {
    throw new UpdaterError('ERR_CONFIG', `Cannot ${what}: group "${group}" is not allowed by FleetLock (letters, digits, "." and "-")`, {
      hint: 'Choose a reboot group made of letters, digits, dots and dashes.',
    });
  }
  if (request.id === '') throw new UpdaterError('ERR_CONFIG', `Cannot ${what}: the machine id is empty`);
  const url = fleetlockUrl(request.url, operation);
  let response;
  try {
    response = await got.post(url, {
      // Exactly zincati's request: this header, no content-type, serde_json's pretty-printed body.
      headers: { 'fleet-lock-protocol': 'true' },
      body: fleetlockBody(request.id, group),
      responseType: 'text',
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { request: request.timeoutMs ?? 10_000 },
      decompress: false,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    });
  } catch (error) {
    if (request.signal?.aborted) throw new UpdaterError('ERR_ABORTED', `Cannot ${what}: aborted`, { cause: error });
    const code = (error as { code?: string }).code ?? 'error';
    throw new UpdaterError('ERR_FLEETLOCK', `Cannot ${what}: ${url} did not answer (${code})`, {
      cause: error,
      data: { url, operation, kind: 'unreachable', value: code },
      hint: 'Check that the FleetLock server runs and that FLEETLOCK_URL points at it.',
    });
  }
  if (response.statusCode === 200) return;
  let kind = `http_${response.statusCode}`;
  let value = response.body.slice(0, 200);
  try {
    const body = JSON.parse(response.body) as { kind?: unknown; value?: unknown };
    if (typeof body.kind === 'string') kind = body.kind;
    if (body.value !== undefined) value = typeof body.value === 'string' ? body.value : JSON.stringify(body.value);
  } catch {
    // not the protocol's error JSON: keep the status and the start of the body
  }
  throw new UpdaterError('ERR_FLEETLOCK', `Cannot ${what}: the server answered HTTP ${response.statusCode} ${kind}: "${value}"`, {
    data: { url, operation, status: response.statusCode, kind, value },
    ...(operation === 'pre-reboot' ? { hint: 'The server decides when this host may reboot; it is retried with backoff.' } : {}),
  });
}

/** zincati's body: serde_json::to_string_pretty of {client_params: {id, group}} (two-space indent, no final newline). */
export function fleetlockBody(id: string, group: string): string {
  return JSON.stringify({ client_params: { id, group } }, null, 2);
}

/**
 * The URL of an operation, joined to the base as zincati joins it (`api_base.join("v1/pre-reboot")`, WHATWG URL
 * resolution): "http://h:8080" and "http://h:8080/" give http://h:8080/v1/pre-reboot, "http://h/lock/" gives
 * http://h/lock/v1/pre-reboot, and "http://h/lock" gives http://h/v1/pre-reboot.
 */
export function fleetlockUrl(base: string, operation: 'pre-reboot' | 'steady-state'): string {
  return new URL(`v1/${operation}`, base).href;
}

/** Whether a base URL has a path whose last segment zincati's join drops (a path without a trailing slash). */
export function fleetlockBaseDropsSegment(base: string): boolean {
  const { pathname } = new URL(base);
  return pathname !== '/' && !pathname.endsWith('/');
}

/** Whether a pre-reboot was refused because every slot of the group is held (the server's `failed_lock_semaphore_full`). */
export function isFleetlockFull(error: unknown): boolean {
  return isUpdaterError(error, 'ERR_FLEETLOCK') && error.data?.kind === 'failed_lock_semaphore_full';
}
