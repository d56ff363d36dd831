// The metrics that must outlive a process (installs, rollbacks, failures, bytes, health-check and reboot-lock times):
// one JSON file in the state dir, changed by the daemon and by post-boot, written atomically.

import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { replaceFileDurably } from '../../common/file-system.js';

export const COUNTERS_FILE = 'metrics.json';

/** Health-check durations kept for the histogram (one per update boot: decades of updates). */
export const MAX_HEALTH_DURATIONS = 10_000;

export interface MetricCounters {
  schema: 1;
  /** Installs that completed (the new slot boots next). */
  installs: number;
  /** New slots that failed after their reboot and were rolled back (by post-boot or by the bootloader). */
  rollbacks: number;
  /** Failed rounds, installs and health checks, by error code. */
  failures: Record<string, number>;
  /** Bundle bytes received from update servers. */
  bytesDownloaded: number;
  /** Chunks an install found already written and verified (a resumed install), not downloaded again. */
  chunksReused: number;
  /** Image bytes a delta install copied from the host's own slots instead of downloading (absent in older files). */
  bytesReused?: number;
  /**
   * Health-check runs by result, their total and last time, and every run's duration (the histogram
   * abupdate_health_check_duration_seconds is rebuilt from these in a fresh registry; post-boot, another process,
   * records them). One per boot into a new slot; at most MAX_HEALTH_DURATIONS are kept.
   */
  healthChecks: { passed: number; failed: number; seconds: number; lastSeconds: number | null; durations: Array<{ result: 'passed' | 'failed'; seconds: number }> };
  /** Waits for the reboot lock (and window) before a reboot, and their total time. */
  rebootLockWaits: { count: number; seconds: number };
  /** ms since the epoch of the last update check, and of the last one that reached the server. */
  lastCheckAt: number | null;
  lastSuccessfulCheckAt: number | null;
}

export function emptyCounters(): MetricCounters {
  return {
    schema: 1,
    installs: 0,
    rollbacks: 0,
    failures: {},
    bytesDownloaded: 0,
    chunksReused: 0,
    bytesReused: 0,
    healthChecks: { passed: 0, failed: 0, seconds: 0, lastSeconds: null, durations: [] },
    rebootLockWaits: { count: 0, seconds: 0 },
    lastCheckAt: null,
    lastSuccessfulCheckAt: null,
  };
}

/** The counters; a missing or unreadable file starts them at zero (Prometheus reads a reset as a restart). */
export async function loadCounters(stateDir: string): Promise<MetricCounters> {
  try {
    const value = JSON.parse(await readFile(path.join(stateDir, COUNTERS_FILE), 'utf8')) as Partial<MetricCounters>;
    if (value.schema !== 1) return emptyCounters();
    const empty = emptyCounters();
    return { ...empty, ...value, healthChecks: { ...empty.healthChecks, ...value.healthChecks, durations: [...(value.healthChecks?.durations ?? [])] }, rebootLockWaits: { ...empty.rebootLockWaits, ...value.rebootLockWaits }, failures: { ...value.failures } };
  } catch {
    return emptyCounters();
  }
}

async function saveCounters(stateDir: string, counters: MetricCounters): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, COUNTERS_FILE);
  await replaceFileDurably(file, `${JSON.stringify(counters)}\n`);
}

let queue: Promise<unknown> = Promise.resolve();

/** Changes the counters (read, change, atomic write); changes within one process are applied in order. */
export function recordCounters(stateDir: string, change: (counters: MetricCounters) => void): Promise<MetricCounters> {
  const next = queue.then(async () => {
    const counters = await loadCounters(stateDir);
    change(counters);
    await saveCounters(stateDir, counters);
    return counters;
  });
  queue = next.catch(() => undefined);
  return next;
}

/** Counts one failure with this error code. */
export function countFailure(counters: MetricCounters, code: string): void {
  counters.failures[code] = (counters.failures[code] ?? 0) + 1;
}
