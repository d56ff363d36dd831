// Tests of the control API over a real Unix socket: round trips, event stream, socket/dir modes, refusals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { isUpdaterError } from '../../common/errors.js';
import { makeTempDir } from '../../fixtures/tmp.js';
import { createMemoryLogger } from '../log.js';
import { controlRequest, followControlEvents, isDaemonRunning, readDaemonStatus } from './control-client.js';
import { controlSocketPath, startControlServer, type ControlHandlers } from './control.js';

function handlers(): ControlHandlers & { emit(event: unknown): void; calls: string[] } {
  const listeners = new Set<(event: unknown) => void>();
  const calls: string[] = [];
  return {
    calls,
    emit: (event) => listeners.forEach((l) => l(event)),
    status: () => ({ activity: 'idle', consecutiveFailures: 0 }),
    check: async () => {
      calls.push('check');
      return { kind: 'check', outcome: 'noupdate' };
    },
    update: async () => {
      calls.push('update');
      return { kind: 'update', outcome: 'installed', offer: { version: '2.0.0' } };
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

async function start(t: { after(fn: () => Promise<void>): void }) {
  const dir = await makeTempDir(t);
  const runDir = path.join(dir, 'run');
  const h = handlers();
  const server = await startControlServer({ runDir, handlers: h, logger: createMemoryLogger() });
  t.after(() => server.close());
  return { dir, runDir, h, server };
}

test('control API answers GET /status, POST /check and POST /update over the Unix socket', async (t) => {
  const { runDir, h, server } = await start(t);
  assert.equal(server.socketPath, path.join(runDir, 'control.sock'));
  assert.deepEqual(await controlRequest(runDir, 'GET', '/status'), { activity: 'idle', consecutiveFailures: 0 });
  assert.deepEqual(await controlRequest(runDir, 'POST', '/check'), { kind: 'check', outcome: 'noupdate' });
  assert.deepEqual(await controlRequest(runDir, 'POST', '/update'), { kind: 'update', outcome: 'installed', offer: { version: '2.0.0' } });
  assert.deepEqual(h.calls, ['check', 'update']);
  assert.equal(await isDaemonRunning(runDir), true);
  assert.deepEqual(await readDaemonStatus(runDir), { activity: 'idle', consecutiveFailures: 0 });
});

test('control API socket is mode 0600 in a 0700 run dir (a looser existing run dir is tightened)', async (t) => {
  const dir = await makeTempDir(t);
  const runDir = path.join(dir, 'run');
  await mkdir(runDir, { mode: 0o755 });
  await chmod(runDir, 0o755);
  const server = await startControlServer({ runDir, handlers: handlers(), logger: createMemoryLogger() });
  t.after(() => server.close());
  const socket = await stat(controlSocketPath(runDir));
  assert.ok(socket.isSocket());
  assert.equal(socket.mode & 0o777, 0o600);
  assert.equal((await stat(runDir)).mode & 0o777, 0o700);
});

test('control API refuses another user: a process running as "nobody" cannot connect', async (t) => {
  if (process.getuid?.() !== 0) {
    // As a normal user the check below needs a second account; the mode test above covers the mechanism.
    assert.equal((await stat((await start(t)).server.socketPath)).mode & 0o777, 0o600);
    return;
  }
  const { runDir, dir } = await start(t);
  // Let nobody reach the run dir's parent so that only the run dir's and socket's own modes stand in the way.
  await chmod(dir, 0o755);
  const script = `require('node:net').connect(${JSON.stringify(controlSocketPath(runDir))}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(3); });`;
  const result = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { reject: false });
  assert.equal(result.stdout.trim(), 'EACCES', 'the 0700 run dir keeps nobody out');
  assert.equal(result.exitCode, 3);
  // Even with the run dir opened up, the socket's own 0600 mode refuses the connection.
  await chmod(runDir, 0o755);
  const again = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { reject: false });
  assert.equal(again.stdout.trim(), 'EACCES', 'the 0600 socket keeps nobody out');
});

test('control API streams events as JSON lines, starting with the current status', async (t) => {
  const { runDir, h } = await start(t);
  const events: Record<string, unknown>[] = [];
  const stop = new AbortController();
  const following = followControlEvents(runDir, (e) => {
    events.push(e);
    if (events.length === 1) {
      h.emit({ type: 'progress', progress: { phase: 'downloading', bytesDone: 1, bytesTotal: 4 } });
      h.emit({ type: 'cycle', result: { outcome: 'installed' } });
    }
    if (events.length === 3) stop.abort();
  }, stop.signal);
  await following;
  assert.deepEqual(events, [
    { type: 'status', status: { activity: 'idle', consecutiveFailures: 0 } },
    { type: 'progress', progress: { phase: 'downloading', bytesDone: 1, bytesTotal: 4 } },
    { type: 'cycle', result: { outcome: 'installed' } },
  ]);
});

test('control API answers unknown paths with 404 and wrong methods with 405, as UpdaterError on the client', async (t) => {
  const { runDir } = await start(t);
  await assert.rejects(controlRequest(runDir, 'GET', '/nope'), (e: unknown) => isUpdaterError(e, 'ERR_USAGE') && /no such endpoint/.test(e.message));
  await assert.rejects(controlRequest(runDir, 'GET', '/update'), (e: unknown) => isUpdaterError(e, 'ERR_USAGE') && /use POST/.test(e.message));
});

test('startControlServer() refuses to start while another daemon answers, and replaces a stale socket file', async (t) => {
  const { runDir } = await start(t);
  await assert.rejects(startControlServer({ runDir, handlers: handlers(), logger: createMemoryLogger() }), (e: unknown) => isUpdaterError(e, 'ERR_LOCKED'));

  const dir = await makeTempDir(t);
  const staleDir = path.join(dir, 'run');
  await mkdir(staleDir, { mode: 0o700 });
  await writeFile(controlSocketPath(staleDir), 'left over by a crash');
  const server = await startControlServer({ runDir: staleDir, handlers: handlers(), logger: createMemoryLogger() });
  t.after(() => server.close());
  assert.ok((await stat(controlSocketPath(staleDir))).isSocket());
});

test('controlRequest() without a daemon fails with ERR_DAEMON and isDaemonRunning() says false', async (t) => {
  const dir = await makeTempDir(t);
  await assert.rejects(controlRequest(dir, 'GET', '/status'), (e: unknown) => isUpdaterError(e, 'ERR_DAEMON') && /Cannot reach the daemon/.test(e.message));
  assert.equal(await isDaemonRunning(dir), false);
  assert.equal(await readDaemonStatus(dir), null);
});
