// One writer at a time: an flock(2) on a file in the run dir, which the kernel releases when its holder dies, and
// which names the holder for ERR_LOCKED. A lock file left by a dead process is simply locked again: no takeover race.

import { constants, readFileSync } from 'node:fs';
import { mkdir, open, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';

/** fs-ext (a native addon, ~2.5 MiB RSS), loaded when a lock is taken; reading who holds one does not need it. */
const flockSyncOf = async (): Promise<typeof import('fs-ext').flockSync> => (await import('fs-ext')).default.flockSync;

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
 * `waitMs` for it to go). A lock file left by a dead process (or a half-written one) holds no flock: it is locked
 * and rewritten, with nothing to delete and so nothing to race on.
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
  const flockSync = await flockSyncOf();
  for (let attempt = 0; attempt < 10; attempt += 1) {
    // libuv opens with O_CLOEXEC: a child (a health check, cgpt) never inherits the lock and cannot outlive it.
    const handle = await open(file, constants.O_RDWR | constants.O_CREAT, 0o644).catch((error: unknown) => {
      throw new UpdaterError('ERR_IO', `Cannot open the lock "${file}": ${(error as Error).message}`, { cause: error, hint: 'Pass a writable --run-dir.' });
    });
    try {
      flockSync(handle.fd, 'exnb');
    } catch (error) {
      await handle.close();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') throw await lockedError(runDir, file);
      throw new UpdaterError('ERR_IO', `Cannot lock "${file}": ${(error as Error).message}`, { cause: error });
    }
    // A holder removes the file as it lets go: the inode we locked must still be the one the path names, else we
    // locked a file nobody will ever look at again: open the path afresh.
    const [mine, named] = await Promise.all([handle.stat(), stat(file).catch(() => null)]);
    if (named === null || named.ino !== mine.ino || named.dev !== mine.dev) {
      await handle.close();
      continue;
    }
    try {
      await handle.truncate(0);
      await handle.write(`${JSON.stringify(holder)}\n`, 0);
      await handle.sync();
    } catch (error) {
      await handle.close();
      throw new UpdaterError('ERR_IO', `Cannot write the lock "${file}": ${(error as Error).message}`, { cause: error });
    }
    let released: Promise<void> | undefined;
    return { path: file, holder, release: () => (released ??= releaseLock(file, handle, mine.ino)) };
  }
  throw new UpdaterError('ERR_LOCKED', `Cannot take the lock "${file}": it keeps being replaced`, {
    hint: 'Another abupdate may be starting; try again.',
  });
}

/** ERR_LOCKED naming the holder the lock file names (a holder that has just taken it may not have written it yet). */
async function lockedError(runDir: string, file: string): Promise<UpdaterError> {
  let current = await readLockHolder(runDir);
  if (!current) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    current = await readLockHolder(runDir);
  }
  const who = current ? `pid ${current.pid} ("${current.command}") since ${current.since}` : 'a process that has not written its name yet';
  return new UpdaterError('ERR_LOCKED', `Cannot take the lock "${file}": held by ${who}`, {
    data: { ...(current ?? {}), lock: file },
    hint: 'Wait for that command to finish (see "abupdate status").',
  });
}

/** Removes the file while still holding the lock (so no one can lock the old inode and think it current), then lets go. */
async function releaseLock(file: string, handle: FileHandle, ino: number): Promise<void> {
  try {
    const named = await stat(file).catch(() => null);
    if (named?.ino === ino) await unlink(file).catch(() => undefined);
  } finally {
    await handle.close(); // closing the last descriptor releases the flock
  }
}
