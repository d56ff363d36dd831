// A small Nebraska-shaped Omaha v3 server on 127.0.0.1 for tests and the demo: one app, one package, every request recorded.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XMLValidator } from 'fast-xml-parser';
import { createOmahaXmlParser } from './xml-parser.js';
import { xmlEscape } from './request.js';

export interface OmahaServerPackage {
  version: string;
  /** The codebase: where the package file is served from (a trailing / is added by clients). */
  urlBase: string;
  name: string;
  size: number;
  /** base64 SHA-256 of the package file (the postinstall action's sha256). */
  sha256: string;
  /** More codebases, listed after urlBase (mirrors). */
  mirrors?: string[];
}

/** How the server answers update checks: normally, or broken in one of the ways tests need. */
export type OmahaServerMode =
  | { kind: 'normal' }
  | { kind: 'malformed-xml' }
  | { kind: 'app-status'; status: string }
  | { kind: 'updatecheck-status'; status: string }
  | { kind: 'wrong-sha256' }
  | { kind: 'oversized'; bytes: number }
  | { kind: 'hang' }
  | { kind: 'http-status'; status: number };

export interface RecordedEvent {
  type: number;
  result: number;
  errorCode?: number;
  previousVersion?: string;
  /** app@version of the request that carried it. */
  appVersion: string;
  machineId: string;
}

export interface RecordedRequest {
  /** Attributes of <request>, <os> and <app>, as sent. */
  request: Record<string, string>;
  os: Record<string, string>;
  app: Record<string, string>;
  ping: boolean;
  updatecheck: boolean;
  events: RecordedEvent[];
  contentType: string;
  /** What the server answered for the updatecheck: noupdate, ok, or the broken mode's kind. */
  answer?: string;
  body: string;
}

export interface OmahaTestServer {
  /** The endpoint to use as SERVER: http://127.0.0.1:PORT/v1/update/ */
  url: string;
  appId: string;
  /** Every request in arrival order (also those answered with an error). */
  requests: RecordedRequest[];
  /** Every event of every request, in order. */
  events: RecordedEvent[];
  setPackage(pkg: OmahaServerPackage | null): void;
  setMode(mode: OmahaServerMode): void;
  setPollInterval(seconds: number | undefined): void;
  close(): Promise<void>;
}

export interface OmahaServerOptions {
  appId?: string;
  package?: OmahaServerPackage | null;
  mode?: OmahaServerMode;
  pollInterval?: number;
  /** Nebraska refuses bigger request bodies with HTTP 400. */
  maxRequestBytes?: number;
}

const parser = createOmahaXmlParser(['app', 'event']);

function attributes(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof value !== 'object' || value === null) return out;
  for (const [key, v] of Object.entries(value)) if (key.startsWith('@_') && typeof v === 'string') out[key.slice(2)] = v;
  return out;
}

/** Compares dotted numeric versions (1.10.0 > 1.9.0); prerelease tags sort before the release. */
export function compareDottedVersions(a: string, b: string): number {
  const [coreA = '', preA] = a.split('-', 2);
  const [coreB = '', preB] = b.split('-', 2);
  const pa = coreA.split('.').map(Number);
  const pb = coreB.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (preA === preB) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  return preA < preB ? -1 : 1;
}

export async function startOmahaServer(options: OmahaServerOptions = {}): Promise<OmahaTestServer> {
  const appId = options.appId ?? '{3b0b1d5e-6a57-4c61-9f0e-5f7a2b8c9d41}';
  let pkg = options.package ?? null;
  let mode: OmahaServerMode = options.mode ?? { kind: 'normal' };
  let pollInterval = options.pollInterval;
  const maxRequestBytes = options.maxRequestBytes ?? 64 * 1024;
  const requests: RecordedRequest[] = [];
  const events: RecordedEvent[] = [];

  const sameApp = (id: string) => id.replace(/[{}]/g, '').toLowerCase() === appId.replace(/[{}]/g, '').toLowerCase();

  function updatecheckXml(app: Record<string, string>, recorded: RecordedRequest): string {
    const poll = pollInterval === undefined ? '' : ` PollInterval="${pollInterval}"`;
    if (mode.kind === 'updatecheck-status') {
      recorded.answer = mode.status;
      return `  <updatecheck status="${xmlEscape(mode.status)}"${poll}></updatecheck>\n`;
    }
    if (pkg === null || compareDottedVersions(pkg.version, app.version ?? '0') <= 0) {
      recorded.answer = 'noupdate';
      return `  <updatecheck status="noupdate"${poll}></updatecheck>\n`;
    }
    recorded.answer = mode.kind === 'wrong-sha256' ? 'wrong-sha256' : 'ok';
    const sha256 = mode.kind === 'wrong-sha256' ? Buffer.alloc(32, 0xee).toString('base64') : pkg.sha256;
    return (
      `  <updatecheck status="ok"${poll}>\n` +
      `   <urls>\n${[pkg.urlBase, ...(pkg.mirrors ?? [])].map((u) => `    <url codebase="${xmlEscape(u)}"></url>\n`).join('')}   </urls>\n` +
      `   <manifest version="${xmlEscape(pkg.version)}">\n` +
      `    <packages>\n     <package name="${xmlEscape(pkg.name)}" hash="" size="${pkg.size}" required="true"></package>\n    </packages>\n` +
      `    <actions>\n     <action event="postinstall" sha256="${xmlEscape(sha256)}" DisablePayloadBackoff="true"></action>\n    </actions>\n` +
      '   </manifest>\n  </updatecheck>\n'
    );
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/v1/update' && path !== '/v1/update/') return void res.writeHead(404).end();
    if (req.method !== 'POST') return void res.writeHead(405).end();
    if (XMLValidator.validate(body) !== true) return void res.writeHead(400).end('malformed request');
    const doc = parser.parse(body) as { request?: Record<string, unknown> };
    const request = doc.request ?? {};
    const app = (request.app as Record<string, unknown>[] | undefined)?.[0] ?? {};
    const appAttrs = attributes(app);
    const recorded: RecordedRequest = {
      request: attributes(request),
      os: attributes(request.os),
      app: appAttrs,
      ping: app.ping !== undefined,
      updatecheck: app.updatecheck !== undefined,
      events: [],
      contentType: req.headers['content-type'] ?? '',
      body,
    };
    for (const event of (app.event as unknown[] | undefined) ?? []) {
      const a = attributes(event);
      const e: RecordedEvent = { type: Number(a.eventtype), result: Number(a.eventresult), appVersion: appAttrs.version ?? '', machineId: appAttrs.machineid ?? '' };
      if (a.errorcode !== undefined) e.errorCode = Number(a.errorcode);
      if (a.previousversion !== undefined) e.previousVersion = a.previousversion;
      recorded.events.push(e);
      events.push(e);
    }
    requests.push(recorded);
    if (recorded.updatecheck) {
      if (mode.kind === 'hang') {
        recorded.answer = 'hang';
        return; // never answer; close() destroys the socket
      }
      if (mode.kind === 'http-status') {
        recorded.answer = `http-${mode.status}`;
        return void res.writeHead(mode.status).end();
      }
      if (mode.kind === 'malformed-xml') {
        recorded.answer = 'malformed-xml';
        return void res.writeHead(200, { 'content-type': 'text/xml' }).end('<?xml version="1.0"?>\n<response protocol="3.0"><app status="ok"><updatecheck status="ok"></app>');
      }
      if (mode.kind === 'oversized') {
        recorded.answer = 'oversized';
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.write('<?xml version="1.0" encoding="UTF-8"?>\n<response protocol="3.0"><!-- ');
        const filler = Buffer.alloc(64 * 1024, 0x61);
        let left = mode.bytes;
        const pump = (): void => {
          while (left > 0) {
            left -= filler.length;
            if (!res.write(filler)) return void res.once('drain', pump);
          }
          res.end(' --></response>');
        };
        res.on('error', () => undefined);
        return pump();
      }
    }
    const appStatus = !sameApp(appAttrs.appid ?? '') ? 'error-unknownApplication' : mode.kind === 'app-status' ? mode.status : 'ok';
    let inner = '';
    for (let i = 0; i < recorded.events.length; i++) inner += '  <event status="ok"></event>\n';
    if (recorded.ping) inner += '  <ping status="ok"></ping>\n';
    if (recorded.updatecheck) {
      if (appStatus === 'ok') inner += updatecheckXml(appAttrs, recorded);
      else {
        recorded.answer = appStatus;
        inner += '  <updatecheck status="error-internal"></updatecheck>\n';
      }
    }
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<response protocol="3.0" server="abupdate-test-omaha">\n <daystart elapsed_seconds="0"></daystart>\n' +
      ` <app appid="${xmlEscape(appAttrs.appid ?? '')}" status="${xmlEscape(appStatus)}">\n${inner} </app>\n</response>\n`;
    res.writeHead(200, { 'content-type': 'text/xml' }).end(xml);
  }

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxRequestBytes) {
        if (!refused) res.writeHead(400).end('request too large');
        refused = true;
        return;
      }
      parts.push(chunk);
    });
    req.on('end', () => {
      if (!refused) handle(req, res, Buffer.concat(parts).toString('utf8'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/update/`,
    appId,
    requests,
    events,
    setPackage: (value) => {
      pkg = value;
    },
    setMode: (value) => {
      mode = value;
    },
    setPollInterval: (value) => {
      pollInterval = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
