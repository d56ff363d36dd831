// The Omaha update source: update checks and events against an Omaha v3 server such as Nebraska.

import { omahaCheck, omahaPing, omahaSendEvent, type OmahaClientOptions } from '../omaha/client.js';
import { omahaEventFor, type OmahaEvent } from '../omaha/events.js';
import { assertNebraskaBoard, type HostIdentity } from '../omaha/host-identity.js';
import type { OmahaClientInfo } from '../omaha/request.js';
import type { TlsMaterial } from '../net/tls.js';
import type { CheckContext, CheckResult, ReportContext, UpdateEvent, UpdateSource } from './source.js';

export interface OmahaSourceOptions {
  /** SERVER: the Omaha endpoint. */
  server: string;
  /** APP_ID */
  appId: string;
  /** GROUP, sent as track. */
  group: string;
  identity: HostIdentity;
  /** "abupdate-<package version>" */
  updaterVersion: string;
  machineAlias?: string;
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** SERVER_CAFILE / SERVER_CERTFILE / SERVER_KEYFILE, read. */
  tls?: TlsMaterial;
}

export function createOmahaSource(options: OmahaSourceOptions): UpdateSource {
  assertNebraskaBoard(options.identity.board);
  /** A 3/2 "complete after reboot" event waits for the next update check, as update_engine sends it. */
  let pending: OmahaEvent | undefined;

  function clientOptions(ctx: { currentVersion: string; alephVersion?: string; signal?: AbortSignal }): OmahaClientOptions {
    const info: OmahaClientInfo = {
      ...options.identity,
      appId: options.appId,
      version: ctx.currentVersion,
      track: options.group,
      alephVersion: ctx.alephVersion ?? ctx.currentVersion,
      updaterVersion: options.updaterVersion,
      ...(options.machineAlias === undefined ? {} : { machineAlias: options.machineAlias }),
    };
    return {
      server: options.server,
      info,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.maxResponseBytes === undefined ? {} : { maxResponseBytes: options.maxResponseBytes }),
      ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    };
  }

  return {
    kind: 'omaha',
    async check(ctx: CheckContext): Promise<CheckResult> {
      const event = pending;
      const result = await omahaCheck(clientOptions(ctx), { interactive: ctx.interactive, ...(event === undefined ? {} : { event }) });
      if (event !== undefined && pending === event) pending = undefined;
      const poll = result.pollInterval === undefined ? {} : { pollIntervalMs: result.pollInterval * 1000 };
      if (result.status === 'noupdate') return { offer: null, ...poll };
      const [url = '', ...rest] = result.urls;
      return {
        offer: {
          version: result.version,
          url,
          urls: [url, ...rest],
          size: result.size,
          sha256: Buffer.from(result.sha256, 'base64').toString('hex'),
          source: 'omaha',
        },
        ...poll,
      };
    },
    async report(event: UpdateEvent, ctx: ReportContext): Promise<void> {
      if (event.kind === 'complete-after-reboot') {
        pending = omahaEventFor(event, options.appId);
        return;
      }
      await omahaSendEvent(clientOptions(ctx), omahaEventFor(event, options.appId), ctx.interactive);
    },
    async ping(ctx: ReportContext): Promise<void> {
      await omahaPing(clientOptions(ctx), ctx.interactive);
    },
  };
}
