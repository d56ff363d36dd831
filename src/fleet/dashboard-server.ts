// `abupdate fleet serve`: one page, a JSON API and server-sent events fed by etcd watches; pause, resume and the
// gate need the operator token (read from a file), without one the dashboard is read-only.

import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UpdaterError, toUpdaterError } from '../../common/errors.js';
import type { EtcdClient } from '../reboot/etcd-client.js';
import type { Logger } from '../log.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard-page.js';
import type { FleetKeys } from './fleet-keys.js';
import { FleetModel, type FleetSnapshot } from './fleet-model.js';
import { followFleet, type FleetChange } from './fleet-watch.js';
import { readHistory } from './history.js';
import type { HostReport } from './host-report.js';
import { pauseGroup, resumeGroup, setGate } from './rollout.js';

export interface DashboardOptions {
  client: EtcdClient;
  keys: FleetKeys;
  host: string;
  port: number;
  /** The operator token; undefined makes the dashboard read-only. */
  token: string | undefined;
  logger: Logger;
  signal: AbortSignal;
  /** How often (ms) host changes are sent to the page at most (default 250). */
  batchMs?: number;
}

export interface Dashboard {
  url: string;
  model: FleetModel;
  /** Resolves once the first load from etcd is in. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** Parses "127.0.0.1:8080" or "[::1]:8080" (port 0: any free port). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new UpdaterError('ERR_USAGE', `Cannot listen on "${text}": expected HOST:PORT`, { hint: 'Write e.g. --listen 127.0.0.1:8080' });
  }
  return { host: (m[1] ?? m[2])!, port };
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

function summaryOf(s: FleetSnapshot): Omit<FleetSnapshot, 'hosts'> {
  const { hosts: _hosts, ...rest } = s;
  return rest;
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { client, keys, logger } = options;
  const model = new FleetModel(keys);
  // The first load fails the command (etcd unreachable, a bad endpoint) before anything listens; later breaks are retried.
  await model.load(client);
  const streams = new Set<http.ServerResponse>();
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  let cachedJson: { revision: string; body: string } | undefined;
  let live = false;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  // Host changes are batched: 1,000 hosts changing at once make one message per batch, not 1,000.
  let pendingHosts = new Map<string, HostReport | null>();
  let pendingReset = false;
  let timer: NodeJS.Timeout | undefined;
  const send = (event: string, data: unknown, to: Iterable<http.ServerResponse> = streams) => {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of to) res.write(text);
  };
  const flush = () => {
    timer = undefined;
    const snapshot = model.snapshot();
    if (pendingReset) send('snapshot', snapshot);
    else {
      if (pendingHosts.size > 0) send('hosts', { revision: snapshot.revision, hosts: Object.fromEntries(pendingHosts) });
      send('summary', summaryOf(snapshot));
    }
    pendingHosts = new Map();
    pendingReset = false;
  };
  const onChange = (change: FleetChange) => {
    if (change.reset) {
      pendingReset = true;
      markReady();
    }
    for (const [id, report] of change.hosts) pendingHosts.set(id, report);
    timer ??= setTimeout(flush, options.batchMs ?? 250);
  };
  const following = followFleet({ client, model, logger, signal, onChange, onState: (state) => {
    live = state;
    send('connection', { live });
  } });

  const authorize = (req: http.IncomingMessage): void => {
    if (options.token === undefined) {
      throw new UpdaterError('ERR_FLEET_TOKEN', 'Cannot change the rollout: this dashboard is read-only (started without --token-file)', {
        data: { status: 403 },
        hint: 'Restart "abupdate fleet serve" with --token-file FILE, or use "abupdate fleet pause|resume|gate".',
      });
    }
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(digest(given), digest(options.token))) {
      throw new UpdaterError('ERR_FLEET_TOKEN', `Cannot change the rollout: ${given === '' ? 'no token given' : 'the token is wrong'}`, {
        data: { status: 401 },
        hint: 'Send the operator token from the token file as "Authorization: Bearer TOKEN" (the page asks for it).',
      });
    }
  };

  async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    let text = '';
    for await (const chunk of req) {
      text += String(chunk);
      if (text.length > 4096) throw new UpdaterError('ERR_USAGE', 'Cannot read the request: body over 4 KiB', { data: { status: 413 } });
    }
    if (text.trim() === '') return {};
    try {
      const value = JSON.parse(text) as unknown;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // below
    }
    throw new UpdaterError('ERR_USAGE', 'Cannot read the request: the body is not a JSON object', { data: { status: 400 } });
  }

  async function action(req: http.IncomingMessage, group: string, verb: string): Promise<unknown> {
    authorize(req);
    const body = await readBody(req);
    const by = `dashboard${typeof body.by === 'string' ? ` (${body.by.slice(0, 64)})` : ''}`;
    const target = { client, keys };
    if (verb === 'pause') return { group, control: (await pauseGroup(target, group, by)).after };
    if (verb === 'resume') return { group, control: (await resumeGroup(target, group, by)).after };
    const max = body.maxFailures;
    if (max !== null && (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1)) {
      throw new UpdaterError('ERR_USAGE', `Cannot set the gate of group "${group}": maxFailures must be a whole number, 1 or more, or null`, { data: { status: 400 } });
    }
    const result = await setGate(target, group, max, by);
    return { group, ...result };
  }

  const json = (res: http.ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    res.setHeader('x-content-type-options', 'nosniff');
    if (req.method === 'GET' && (path === '/' || path === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'", 'cache-control': 'no-store' });
      res.end(DASHBOARD_HTML);
      return;
    }
    if (req.method === 'GET' && path === '/dashboard.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(DASHBOARD_JS);
      return;
    }
    if (req.method === 'GET' && path === '/dashboard.css') {
      res.writeHead(200, { 'content-type': 'text/css; charset=utf-8' });
      res.end(DASHBOARD_CSS);
      return;
    }
    if (req.method === 'GET' && path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.method === 'GET' && path === '/api/fleet') {
      const snapshot = model.snapshot();
      if (cachedJson?.revision !== snapshot.revision) cachedJson = { revision: snapshot.revision, body: JSON.stringify({ ...snapshot, live, actions: options.token !== undefined }) };
      json(res, 200, cachedJson.body);
      return;
    }
    if (req.method === 'GET' && path === '/api/summary') {
      json(res, 200, JSON.stringify({ ...summaryOf(model.snapshot()), live, actions: options.token !== undefined }));
      return;
    }
    if (req.method === 'GET' && path === '/api/history') {
      json(res, 200, JSON.stringify({ history: await readHistory({ client, keys }, url.searchParams.get('group') ?? undefined) }));
      return;
    }
    if (req.method === 'GET' && path === '/api/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      streams.add(res);
      send('connection', { live }, [res]);
      send('snapshot', model.snapshot(), [res]);
      req.once('close', () => streams.delete(res));
      return;
    }
    const m = /^\/api\/groups\/([^/]+)\/(pause|resume|gate)$/.exec(path);
    if (m) {
      if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST' });
        res.end();
        return;
      }
      json(res, 200, JSON.stringify(await action(req, decodeURIComponent(m[1]!), m[2]!)));
      return;
    }
    json(res, 404, JSON.stringify({ error: { code: 'ERR_USAGE', message: `Cannot find "${path}" on this dashboard` } }));
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((caught: unknown) => {
      const error = toUpdaterError(caught, 'answer the dashboard request');
      const status = typeof error.data?.status === 'number' ? error.data.status : error.code === 'ERR_ETCD' ? 503 : 500;
      if (!res.headersSent) json(res, status, JSON.stringify({ error: error.toJSON() }));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const close = async () => {
    stop.abort();
    if (timer) clearTimeout(timer);
    for (const res of streams) res.end();
    streams.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await following;
  };
  options.signal.addEventListener('abort', () => void close(), { once: true });
  return { url: `http://${host}:${address.port}`, model, ready, close };
}
