// Runs a short command (mark-*, rollback, post-boot, clear-bad) holding the run lock.

import { acquireRunLock } from '../engine/run-lock.js';

/** How long a short command waits for another holder of the run lock. */
export const SHORT_COMMAND_LOCK_WAIT_MS = 5000;

/**
 * Runs `fn` holding the run lock in `runDir`, so that a boot-flag or engine-state change never interleaves
 * with an install's or with another such command's. Waits a few seconds for a short holder; an install in
 * progress fails it with ERR_LOCKED naming the install.
 */
export async function withRunLock<T>(runDir: string, command: string, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireRunLock(runDir, command, { waitMs: SHORT_COMMAND_LOCK_WAIT_MS });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
