// One writer at a time: an O_EXCL lock file in the run dir naming its holder; a dead holder's lock is taken over.

import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';

export const LOCK_FILE = 'abupdate.lock';

export interface LockHolder {
  pid: number;
  /** The holder's start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart. */
  processStart: string | null;
  command: string;
  since: string;
}

export interface RunLock {
  path: string;
  holder: LockHolder;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

/** The start time of a process, or null when it does not exist (or /proc is not there). */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the process that wrote this lock is still running. */
export function isHolderAlive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = processStartTime(holder.pid);
  if (start === null || holder.processStart === null) return true;
  return start === holder.processStart;
}

export async function readLockHolder(runDir: string): Promise<LockHolder | null> {
  try {
    const value = JSON.parse(await readFile(path.join(runDir, LOCK_FILE), 'utf8')) as Partial<LockHolder>;
    if (!Number.isSafeInteger(value.pid)) return null;
    return {
      pid: value.pid as number,
      processStart: typeof value.processStart === 'string' ? value.processStart : null,
      command: typeof value.command === 'string' ? value.command : 'unknown',
      since: typeof value.since === 'string' ? value.since : 'unknown',
    };
  } catch {
    return null;
  }
}

export interface AcquireOptions {
  /** While a live process holds the lock, look again every 100 ms for this long before failing (default 0). */
  waitMs?: number;
}

/**
 * Takes the run lock for `command`, or fails with ERR_LOCKED naming the live holder (after waiting up to
 * `waitMs` for it to go). A lock left by a dead process (or an unreadable, half-written one) is taken over.
 */
export async function acquireRunLock(runDir: string, command: string, options: AcquireOptions = {}): Promise<RunLock> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    try {
      return await tryAcquire(runDir, command);
    } catch (error) {
      if (!(error instanceof UpdaterError) || error.code !== 'ERR_LOCKED' || Date.now() >= deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function tryAcquire(runDir: string, command: string): Promise<RunLock> {
  const file = path.join(runDir, LOCK_FILE);
  await mkdir(runDir, { recursive: true }).catch((error: unknown) => {
    throw new UpdaterError('ERR_IO', `Cannot create the run dir "${runDir}": ${(error as Error).message}`, {
      cause: error,
      hint: 'Pass a writable --run-dir.',
    });
  });
  const holder: LockHolder = { pid: process.pid, processStart: processStartTime(process.pid), command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      const handle = await open(file, 'wx', 0o644);
      try {
        await handle.writeFile(`${JSON.stringify(holder)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return { path: file, holder, release: () => releaseIfOurs(file, holder) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new UpdaterError('ERR_IO', `Cannot create the lock "${file}": ${(error as Error).message}`, { cause: error });
      }
    }
    const current = await readLockHolder(runDir);
    if (current && isHolderAlive(current)) {
      throw new UpdaterError(
        'ERR_LOCKED',
        `Cannot take the lock "${file}": held by pid ${current.pid} ("${current.command}") since ${current.since}`,
        { data: { ...current, lock: file }, hint: 'Wait for that command to finish (see "abupdate status").' },
      );
    }
    if (!current && attempt === 0) {
      // Unreadable: maybe being written right now. Look again shortly before treating it as stale.
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    await unlink(file).catch(() => undefined);
  }
  throw new UpdaterError('ERR_LOCKED', `Cannot take the lock "${file}": it keeps reappearing`, {
    hint: 'Another abupdate may be starting; try again.',
  });
}

async function releaseIfOurs(file: string, holder: LockHolder): Promise<void> {
  const current = await readLockHolder(path.dirname(file));
  if (current && current.pid === holder.pid && current.since === holder.since) await unlink(file).catch(() => undefined);
}
