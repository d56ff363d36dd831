// The CLI's side of the control API: talks JSON over HTTP to the daemon's Unix socket, if a daemon runs.

import { access } from 'node:fs/promises';
import { UpdaterError, type UpdaterErrorJson } from '../../common/errors.js';
import { controlSocketPath } from './control-socket.js';

export interface ControlRequestOptions {
  signal?: AbortSignal;
  /** Give up when the daemon does not answer within this time (default: no limit, for /update). */
  timeoutMs?: number;
}

/** node:http, imported at the first request: `abupdate status` with no daemon never loads it (start-up time, RSS). */
const http = (): Promise<typeof import('node:http')> => import('node:http');

/** One request; resolves with the parsed JSON body. Errors the daemon reports come back as UpdaterError. */
export async function controlRequest<T = unknown>(runDir: string, method: 'GET' | 'POST', path: string, options: ControlRequestOptions = {}): Promise<T> {
  const socketPath = controlSocketPath(runDir);
  const { request } = await http();
  return new Promise<T>((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { accept: 'application/json' }, ...(options.signal ? { signal: options.signal } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('error', reject);
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(parts).toString('utf8'));
        } catch (error) {
          return reject(new UpdaterError('ERR_DAEMON', `Cannot read the daemon's answer to ${method} ${path}: not JSON`, { cause: error }));
        }
        const failure = (body as { error?: UpdaterErrorJson }).error;
        if ((res.statusCode ?? 500) >= 400 && failure !== undefined) return reject(UpdaterError.fromJSON({ ...failure, name: 'UpdaterError' }));
        resolve(body as T);
      });
    });
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () => req.destroy(new UpdaterError('ERR_TIMEOUT', `Cannot reach the daemon at ${socketPath}: no answer within ${options.timeoutMs} ms`)));
    }
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof UpdaterError) return reject(error);
      if (error.name === 'AbortError') return reject(new UpdaterError('ERR_ABORTED', `Cannot finish ${method} ${path}: aborted`, { cause: error }));
      reject(
        new UpdaterError('ERR_DAEMON', `Cannot reach the daemon at ${socketPath}: ${error.message}`, {
          cause: error,
          data: { socketPath, errno: error.code },
          hint: error.code === 'EACCES' ? 'The control socket is for root only; run the command as root.' : 'Is "abupdate daemon" running (systemctl status abupdate)?',
        }),
      );
    });
    req.end();
  });
}

/** true when a daemon answers on the run dir's socket. */
export async function isDaemonRunning(runDir: string): Promise<boolean> {
  try {
    await access(controlSocketPath(runDir));
    await controlRequest(runDir, 'GET', '/status', { timeoutMs: 2000 });
    return true;
  } catch {
    return false;
  }
}

/** Follows GET /events, calling `onEvent` for each JSON line, until `signal` aborts or the daemon closes it. */
export async function followControlEvents(runDir: string, onEvent: (event: Record<string, unknown>) => void, signal: AbortSignal): Promise<void> {
  const { request } = await http();
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: controlSocketPath(runDir), method: 'GET', path: '/events', signal }, (res) => {
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffered += text;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim() === '') continue;
          try {
            onEvent(JSON.parse(line) as Record<string, unknown>);
          } catch {
            // a broken line is skipped; the next one may be fine
          }
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', (error: Error) => (signal.aborted ? resolve() : reject(new UpdaterError('ERR_DAEMON', `Cannot follow the daemon's events: ${error.message}`, { cause: error }))));
    req.end();
  });
}

/** The running daemon's GET /status (see DaemonStatus in daemon.ts), or null when no daemon answers. */
export async function readDaemonStatus<T = Record<string, unknown>>(runDir: string): Promise<T | null> {
  try {
    await access(controlSocketPath(runDir));
    return await controlRequest<T>(runDir, 'GET', '/status', { timeoutMs: 2000 });
  } catch {
    return null;
  }
}
