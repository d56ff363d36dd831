// Runs one health check in a scope that can be killed whole: a transient systemd scope where systemd runs as PID 1,
// else its own session marked by a token in its environment; its output goes to a file, so no pipe can hold us.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/** How a check's processes are grouped: `systemd` (a transient scope, killed as a cgroup) or `session`. */
export type CheckScope = 'systemd' | 'session';

/** The environment variable every process of one check run inherits; what the fallback kill looks for. */
export const SCOPE_ENV = 'ABUPDATE_HEALTH_SCOPE';

let systemdInit: boolean | undefined;

/** systemd is PID 1 and this is a systemd boot (sd_booted(3): /run/systemd/system exists). Asked once. */
export function systemdIsInit(): boolean {
  try {
    systemdInit ??= existsSync('/run/systemd/system') && readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd';
  } catch {
    systemdInit = false;
  }
  return systemdInit;
}

export interface CheckRun {
  /** Exit code, or null when a signal ended it. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The deadline came before the check's own process ended. */
  timedOut: boolean;
  /** What it printed (stdout and stderr, interleaved), at most the last 64 KiB. */
  output: string;
  /** It could not be started at all. */
  spawnError?: string;
}

/** Pids of the processes whose environment carries `token` (all of one check run, wherever they moved). Read
 * synchronously: a few hundred small reads, quicker than queueing them on the thread pool behind other I/O. */
function pidsWithToken(token: string): number[] {
  const needle = Buffer.from(`${SCOPE_ENV}=${token}\0`);
  const pids: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`).includes(needle)) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Kills every process of one check run: the scope (systemd), the session's process group, and any marked process. */
async function killAll(token: string, pid: number | undefined, scope: CheckScope): Promise<void> {
  if (scope === 'systemd') {
    await execa('systemctl', ['kill', '--kill-whom=all', '--signal=SIGKILL', unitName(token)], { reject: false });
  }
  if (pid !== undefined) kill(-pid);
  // A process that left the session (setsid) still carries the token; a fork between scan and kill is found next round.
  for (let round = 0; round < 20; round += 1) {
    const left = pidsWithToken(token);
    if (left.length === 0) return;
    for (const p of left) kill(p);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function unitName(token: string): string {
  return `abupdate-health-${token}.scope`;
}

/**
 * Runs ARGV with a hard deadline of `timeoutMs`: at the deadline, or when the check's own process ends, every process
 * it started is killed. Waits only for that process to exit, never for a pipe.
 */
export async function runCheckInScope(argv: readonly string[], timeoutMs: number, options: { signal?: AbortSignal; scope?: CheckScope } = {}): Promise<CheckRun> {
  const scope = options.scope ?? (systemdIsInit() ? 'systemd' : 'session');
  const token = randomBytes(8).toString('hex');
  const outFile = path.join(tmpdir(), `abupdate-health-${token}.out`);
  const out = await open(outFile, 'wx', 0o600);
  try {
    const command = scope === 'systemd' ? ['systemd-run', '--scope', '--quiet', '--collect', `--unit=${unitName(token)}`, '--', ...argv] : [...argv];
    const [file = '', ...args] = command;
    let pid: number | undefined;
    let timedOut = false;
    const ended = await new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; spawnError?: string }>((resolve) => {
      // detached: its own session and process group (setsid), so a kill of the group reaches what stayed in it.
      const child = spawn(file, args, { stdio: ['ignore', out.fd, out.fd], detached: true, env: { ...process.env, [SCOPE_ENV]: token } });
      pid = child.pid;
      const timer = setTimeout(() => {
        timedOut = true;
        void killAll(token, pid, scope);
      }, Math.max(1, timeoutMs));
      const onAbort = (): void => void killAll(token, pid, scope);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (value: { exitCode: number | null; signal: NodeJS.Signals | null; spawnError?: string }): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      child.once('error', (error) => done({ exitCode: null, signal: null, spawnError: error.message }));
      // 'exit', not 'close': the process has ended even while something it started holds its stdout.
      child.once('exit', (exitCode, signal) => done({ exitCode, signal }));
    });
    await killAll(token, pid, scope);
    const text = await readTail(outFile);
    // Timed out only if the deadline killed it: a check that exited on its own (code 1 at the last moment) says so.
    return { ...ended, timedOut: timedOut && ended.exitCode === null && ended.spawnError === undefined, output: text };
  } finally {
    await out.close();
    await unlink(outFile).catch(() => undefined);
  }
}

async function readTail(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}
