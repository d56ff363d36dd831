// The daemon's control API: JSON over HTTP on a Unix socket in the run dir (GET /status, POST /check, POST /update, GET /events;
// for update_engine_client POST /attempt-update and POST /reset-status; GET /metrics in Prometheus text).
//
// Who may talk to it: Node exposes no SO_PEERCRED, so the peer's uid cannot be checked per connection. Access
// is limited by the file system instead: the run dir is 0700 and the socket 0600, both owned by the daemon's
// user (root under systemd), so only that user (and root) can connect. startControlServer() refuses a run dir
// that is group- or world-accessible, or owned by somebody else.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import type { Logger } from '../log.js';

import { CONTROL_SOCKET_NAME, controlSocketPath } from './control-socket.js';

export { CONTROL_SOCKET_NAME, controlSocketPath } from './control-socket.js';

export interface ControlHandlers {
  status(): unknown | Promise<unknown>;
  check(): Promise<unknown>;
  update(): Promise<unknown>;
  /** Calls `listener` with every event until the returned function is called. */
  subscribe(listener: (event: unknown) => void): () => void;
  /** POST /attempt-update: starts an update round and answers at once (update_engine's AttemptUpdate). */
  attemptUpdate?(): void;
  /** POST /reset-status: update_engine's ResetStatus. */
  resetStatus?(): Promise<void>;
  /** GET /metrics: the Prometheus exposition text. */
  metrics?(): Promise<string>;
}

export interface ControlServer {
  socketPath: string;
  close(): Promise<void>;
}

/** Makes sure the run dir exists, is a directory we own, and only we can enter it. */
export async function secureRunDir(runDir: string): Promise<void> {
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  const info = await lstat(runDir);
  if (!info.isDirectory()) {
    throw new UpdaterError('ERR_DAEMON', `Cannot use run dir ${runDir}: it is not a directory`, { data: { runDir } });
  }
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new UpdaterError('ERR_DAEMON', `Cannot use run dir ${runDir}: it is owned by uid ${info.uid}, not by this process (uid ${uid})`, {
      data: { runDir, owner: info.uid },
      hint: 'The control socket would be reachable by its owner; remove the directory or set RUN_DIR to a directory of your own.',
    });
  }
  if ((info.mode & 0o077) !== 0) await chmod(runDir, 0o700);
}

function isSocketAlive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export async function startControlServer(options: { runDir: string; handlers: ControlHandlers; logger: Logger }): Promise<ControlServer> {
  const { runDir, handlers, logger } = options;
  await secureRunDir(runDir);
  const socketPath = controlSocketPath(runDir);
  if (await isSocketAlive(socketPath)) {
    throw new UpdaterError('ERR_LOCKED', `Cannot start the control API: another daemon answers on ${socketPath}`, {
      data: { socketPath },
      hint: 'Stop the other daemon first (systemctl stop abupdate), or use another RUN_DIR.',
    });
  }
  await rm(socketPath, { force: true });
  const streams = new Set<ServerResponse>();

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    const allowed: Record<string, string> = { '/status': 'GET', '/events': 'GET', '/check': 'POST', '/update': 'POST' };
    if (handlers.attemptUpdate) allowed['/attempt-update'] = 'POST';
    if (handlers.resetStatus) allowed['/reset-status'] = 'POST';
    if (handlers.metrics) allowed['/metrics'] = 'GET';
    const expected = url === undefined ? undefined : allowed[url];
    if (expected === undefined) return sendJson(res, 404, { error: { code: 'ERR_USAGE', message: `Cannot serve ${url}: no such endpoint` } });
    if (method !== expected) return sendJson(res, 405, { error: { code: 'ERR_USAGE', message: `Cannot serve ${method} ${url}: use ${expected}` } });
    if (url === '/status') return sendJson(res, 200, await handlers.status());
    if (url === '/check') return sendJson(res, 200, await handlers.check());
    if (url === '/update') return sendJson(res, 200, await handlers.update());
    if (url === '/attempt-update' && handlers.attemptUpdate) {
      handlers.attemptUpdate();
      return sendJson(res, 200, { started: true });
    }
    if (url === '/reset-status' && handlers.resetStatus) {
      await handlers.resetStatus();
      return sendJson(res, 200, { reset: true });
    }
    if (url === '/metrics' && handlers.metrics) {
      const text = await handlers.metrics();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
      return;
    }
    // /events: JSON lines, first the current status, then every event until the client goes away.
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.write(`${JSON.stringify({ type: 'status', status: await handlers.status() })}\n`);
    streams.add(res);
    const unsubscribe = handlers.subscribe((event) => res.write(`${JSON.stringify(event)}\n`));
    res.on('close', () => {
      unsubscribe();
      streams.delete(res);
    });
  }

  const server: Server = createServer((req, res) => {
    req.resume();
    route(req, res).catch((error: unknown) => {
      // An UpdaterError (e.g. checking is disabled) goes back to the client as it is; anything else is a bug.
      const known = error instanceof UpdaterError;
      if (!known) logger.error(`control API request failed: ${(error as Error).message}`);
      const body = known ? { error: error.toJSON() } : { error: { code: 'ERR_INTERNAL', message: String((error as Error).message) } };
      if (!res.headersSent) sendJson(res, known ? 409 : 500, body);
      else res.end();
    });
  });
  // Bind under a temporary name, restrict it, then move it into place: no moment where the socket is open to others.
  const temporary = path.join(runDir, `.${CONTROL_SOCKET_NAME}.${process.pid}`);
  await rm(temporary, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(temporary, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(temporary, 0o600);
  await rename(temporary, socketPath);
  logger.debug('control API listening', { socket: socketPath });
  return {
    socketPath,
    close: async () => {
      for (const res of streams) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(socketPath, { force: true });
    },
  };
}
