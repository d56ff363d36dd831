// Prometheus exposition of the engine and the daemon (prom-client): state, slots and versions, check times, bytes,
// installs, rollbacks and failures by error code, health-check and reboot-lock times.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ENGINE_STATES, type EngineStateName } from '../engine/state-store.js';
import type { MetricCounters } from './counters.js';

/** The host's state at one moment, as the metrics show it. */
export interface MetricsSnapshot {
  /** The effective engine state (a daemon round's state over the persisted one). */
  state: EngineStateName;
  bootedSlot: string | null;
  bootedVersion: string | null;
  committedVersion: string | null;
  /** Installed and waiting for the reboot. */
  pendingVersion: string | null;
  counters: MetricCounters;
}

/** Seconds: a check set runs from under a second to HEALTH_TIMEOUT (default 5 min, retried). */
export const HEALTH_CHECK_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The whole exposition text for one snapshot (a fresh registry each time: the values come from the snapshot). */
export async function renderMetrics(snapshot: MetricsSnapshot): Promise<string> {
  const registry = new Registry();
  const registers = [registry];
  const c = snapshot.counters;

  const state = new Gauge({ name: 'abupdate_engine_state', help: 'The engine state (update_engine names): 1 for the current one, 0 for the others.', labelNames: ['state'], registers });
  for (const name of ENGINE_STATES) state.set({ state: name }, name === snapshot.state ? 1 : 0);

  const info = new Gauge({ name: 'abupdate_version_info', help: 'The booted slot and the versions: booted, committed, and installed waiting for the reboot (empty if none).', labelNames: ['booted_slot', 'booted_version', 'committed_version', 'pending_version'], registers });
  info.set({ booted_slot: snapshot.bootedSlot ?? '', booted_version: snapshot.bootedVersion ?? '', committed_version: snapshot.committedVersion ?? '', pending_version: snapshot.pendingVersion ?? '' }, 1);
  new Gauge({ name: 'abupdate_reboot_needed', help: '1 while an installed update waits for its reboot.', registers }).set(snapshot.pendingVersion === null ? 0 : 1);

  const lastCheck = new Gauge({ name: 'abupdate_last_check_timestamp_seconds', help: 'When the last update check ran (0: never).', registers });
  lastCheck.set(c.lastCheckAt === null ? 0 : c.lastCheckAt / 1000);
  const lastOk = new Gauge({ name: 'abupdate_last_successful_check_timestamp_seconds', help: 'When the last update check that reached the server ran (0: never).', registers });
  lastOk.set(c.lastSuccessfulCheckAt === null ? 0 : c.lastSuccessfulCheckAt / 1000);

  new Counter({ name: 'abupdate_downloaded_bytes_total', help: 'Bundle bytes received from update servers.', registers }).inc(c.bytesDownloaded);
  new Counter({ name: 'abupdate_reused_chunks_total', help: 'Chunks an install found already written and verified (not downloaded again).', registers }).inc(c.chunksReused);
  new Counter({ name: 'abupdate_reused_bytes_total', help: 'Image bytes delta installs copied from this host\'s slots instead of downloading.', registers }).inc(c.bytesReused ?? 0);
  new Counter({ name: 'abupdate_installs_total', help: 'Installs that completed (the new slot boots next).', registers }).inc(c.installs);
  new Counter({ name: 'abupdate_rollbacks_total', help: 'New slots rolled back after failing their boot or health check.', registers }).inc(c.rollbacks);
  const failures = new Counter({ name: 'abupdate_failures_total', help: 'Failed update rounds, installs and health checks, by error code.', labelNames: ['code'], registers });
  for (const [code, count] of Object.entries(c.failures)) failures.inc({ code }, count);

  const health = new Counter({ name: 'abupdate_health_checks_total', help: 'Post-boot health-check runs, by result.', labelNames: ['result'], registers });
  health.inc({ result: 'passed' }, c.healthChecks.passed);
  health.inc({ result: 'failed' }, c.healthChecks.failed);
  // A fresh registry per scrape: the histogram is rebuilt from every recorded duration (counters.ts keeps them).
  const durations = new Histogram({
    name: 'abupdate_health_check_duration_seconds',
    help: 'How long post-boot health checks took, by result.',
    labelNames: ['result'],
    buckets: HEALTH_CHECK_BUCKETS,
    registers,
  });
  durations.zero({ result: 'passed' });
  durations.zero({ result: 'failed' });
  for (const d of c.healthChecks.durations) durations.observe({ result: d.result }, d.seconds);

  new Counter({ name: 'abupdate_reboot_lock_waits_total', help: 'Waits for the reboot lock and window before a reboot.', registers }).inc(c.rebootLockWaits.count);
  new Counter({ name: 'abupdate_reboot_lock_wait_seconds_total', help: 'Time spent waiting for the reboot lock and window.', registers }).inc(c.rebootLockWaits.seconds);

  return registry.metrics();
}
