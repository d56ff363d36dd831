// The daemon's host API for other programs: the D-Bus service com.coreos.update1, update_engine's status on the
// control socket, the reboot sentinel for kured, and the metrics (GET /metrics, METRICS_TEXTFILE). All of them are fed
// by one status feed that observes the scheduler's events.

import { toUpdaterError, UpdaterError } from '../../common/errors.js';
import type { EngineSeam } from './engine-seam.js';
import type { Scheduler, SchedulerEvent, SchedulerStatus } from './scheduler.js';
import type { EngineStateName } from '../engine/state-store.js';
import type { Logger } from '../log.js';
import { countFailure, loadCounters, recordCounters } from '../metrics/counters.js';
import { renderMetrics } from '../metrics/metrics.js';
import { writeMetricsTextfile } from '../metrics/textfile.js';
import { startUpdate1Service, type Update1Service } from '../dbus/service.js';
import { createStatusFeed } from '../dbus/status-feed.js';
import { toUpdate1Status, type Update1Source, type Update1Status } from '../dbus/update1.js';
import type { Update1ControlEvent } from './control-update1.js';

export interface HostApiOptions {
  scheduler: Scheduler;
  engine: EngineSeam;
  stateDir: string;
  logger: Logger;
  /** REBOOT_SENTINEL (null: none). */
  rebootSentinel: string | null;
  /** METRICS_TEXTFILE (null: none). */
  metricsTextfile: string | null;
  /** The booted slot (for the metrics). */
  bootedSlot: string | null;
  /** The D-Bus address (default: the system bus); false: no D-Bus service. */
  busAddress?: string | false;
}

export interface HostApi {
  /** update_engine's five values now (GetStatus, GET /status's update1). */
  update1(): Update1Status;
  /** POST /attempt-update, AttemptUpdate(): starts a round, returns at once. */
  attemptUpdate(): void;
  /** POST /reset-status, ResetStatus(). */
  resetStatus(): Promise<void>;
  /** GET /metrics. */
  metrics(): Promise<string>;
  /** Control API listeners get `{type: 'update1', status}` events. */
  subscribe(listener: (event: Update1ControlEvent) => void): () => void;
  /** The install step's end (onInstalled, before the scheduler goes idle): the offer waits for its reboot. */
  installed(offer: { version: string; size: number }): void;
  close(): Promise<void>;
}

/** What the persisted engine says when no round runs: an update waiting for its reboot, or nothing. */
interface RestState {
  state: EngineStateName;
  pendingVersion: string | null;
  pendingSize: number | null;
  bootedVersion: string | null;
  committedVersion: string | null;
}

/** The round's state from the scheduler (its activity and the install's phase), else the rest state. */
export function update1SourceFrom(scheduler: SchedulerStatus, rest: RestState, lastCheckedAt: number | null): Update1Source {
  const offer = scheduler.offer;
  const base = { lastCheckedAt, newVersion: offer?.version ?? null, newSize: offer?.size ?? null };
  // The round's own lifecycle state where the scheduler keeps one (src/engine/lifecycle.ts round states).
  const round = (scheduler as { state?: EngineStateName }).state;
  if (round === 'CHECKING_FOR_UPDATE' || round === 'UPDATE_AVAILABLE' || round === 'REPORTING_ERROR_EVENT') {
    if (scheduler.activity !== 'idle' || round === 'UPDATE_AVAILABLE') return { ...base, state: round };
  }
  // The engine's install states mean installing even in the instant before the scheduler's activity says so.
  const installing = scheduler.activity === 'installing' || round === 'DOWNLOADING' || round === 'VERIFYING' || round === 'FINALIZING';
  if (scheduler.activity === 'checking' && !installing) return { ...base, state: 'CHECKING_FOR_UPDATE' };
  if (installing) {
    const p = scheduler.progress;
    const download = p && p.bytesTotal !== undefined ? { done: p.bytesDone ?? 0, total: p.bytesTotal } : null;
    if (p === undefined || p.phase === 'check') return { ...base, state: 'UPDATE_AVAILABLE' };
    if (p.phase === 'download' || p.phase === 'recheck') return { ...base, state: 'DOWNLOADING', download };
    if (p.phase === 'readback') return { ...base, state: 'VERIFYING' };
    return { ...base, state: 'FINALIZING' };
  }
  if (rest.pendingVersion !== null) return { lastCheckedAt, state: 'UPDATED_NEED_REBOOT', newVersion: rest.pendingVersion, newSize: rest.pendingSize };
  return { lastCheckedAt, state: rest.state === 'UPDATED_NEED_REBOOT' ? 'IDLE' : rest.state };
}

export async function startHostApi(options: HostApiOptions): Promise<HostApi> {
  const { scheduler, engine, logger, stateDir } = options;
  const counters = await loadCounters(stateDir);
  let lastCheckedAt = counters.lastSuccessfulCheckAt;
  let rest: RestState = { state: 'IDLE', pendingVersion: null, pendingSize: null, bootedVersion: null, committedVersion: null };
  const controlListeners = new Set<(event: Update1ControlEvent) => void>();
  let dbusService: Update1Service | null = null;

  async function loadRest(): Promise<void> {
    const pendingVersion = await engine.pendingVersion();
    const bootedVersion = await engine.currentVersion().catch(() => null);
    rest = {
      state: pendingVersion === null ? 'IDLE' : 'UPDATED_NEED_REBOOT',
      pendingVersion,
      // Keep the offer's size for the version that was offered; after a restart only the version is known.
      pendingSize: pendingVersion !== null && pendingVersion === rest.pendingVersion ? rest.pendingSize : pendingVersion === scheduler.status().offer?.version ? (scheduler.status().offer?.size ?? null) : null,
      bootedVersion,
      committedVersion: bootedVersion,
    };
  }

  const compute = (): Update1Status =>
    toUpdate1Status(reportingError ? { state: 'REPORTING_ERROR_EVENT', lastCheckedAt } : update1SourceFrom(scheduler.status(), rest, lastCheckedAt));

  async function metricsText(): Promise<string> {
    const status = compute();
    const state: EngineStateName = status.currentOperation === 'UPDATE_STATUS_IDLE' ? rest.state : (status.currentOperation.replace('UPDATE_STATUS_', '') as EngineStateName);
    return renderMetrics({
      state: state === 'UPDATED_NEED_REBOOT' && rest.pendingVersion === null ? 'IDLE' : state,
      bootedSlot: options.bootedSlot,
      bootedVersion: rest.bootedVersion,
      committedVersion: rest.committedVersion,
      pendingVersion: rest.pendingVersion,
      counters: await loadCounters(stateDir),
    });
  }

  async function writeTextfile(): Promise<void> {
    if (options.metricsTextfile === null) return;
    const written = await writeMetricsTextfile(options.metricsTextfile, await metricsText());
    if (!written) logger.debug('metrics textfile not written: its directory does not exist', { file: options.metricsTextfile });
  }

  const feed = createStatusFeed({
    compute,
    logger,
    listeners: [
      (status) => dbusService?.emitStatus(status),
      (status) => {
        for (const listener of controlListeners) listener({ type: 'update1', status });
      },
      async (status, previous) => {
        // The textfile follows state changes, not every percent of a download.
        if (previous !== null && status.currentOperation === previous.currentOperation && status.lastCheckedTime === previous.lastCheckedTime) return;
        await writeTextfile();
      },
    ],
  });

  async function onCycle(result: Extract<SchedulerEvent, { type: 'cycle' }>['result']): Promise<void> {
    const reached = result.outcome !== 'error';
    if (reached) lastCheckedAt = result.finishedAt;
    await recordCounters(stateDir, (c) => {
      c.lastCheckAt = result.finishedAt;
      if (reached) c.lastSuccessfulCheckAt = result.finishedAt;
      if (result.outcome === 'installed') c.installs += 1;
      if (result.outcome === 'error' && result.error && result.error.code !== 'ERR_ABORTED') countFailure(c, result.error.code);
    }).catch((caught: unknown) => logger.warn(`Cannot record the metrics: ${(caught as Error).message}`));
    await loadRest();
    // The counters just changed: the textfile follows them here, not only on a change of state (a round that ends
    // in the same second it was checked changes neither the state nor last_checked_time after its count).
    await writeTextfile().catch((caught: unknown) => logger.warn(`Cannot write the metrics textfile: ${(caught as Error).message}`));
  }

  let reportingError = false;
  const unsubscribe = scheduler.subscribe((event) => {
    const roundStates = (event.type === 'activity' ? (event.status as { state?: string }).state : undefined) !== undefined;
    if (!roundStates && event.type === 'activity' && event.status.activity === 'idle' && event.status.lastCycle?.outcome === 'error' && event.status.lastCycle.error?.code !== 'ERR_ABORTED') {
      // The round failed (and reported it to the server): update_engine passes REPORTING_ERROR_EVENT on its way to IDLE.
      reportingError = true;
      void feed.poke();
      reportingError = false;
    }
    if (event.type === 'cycle') {
      void onCycle(event.result).then(() => feed.poke());
      return;
    }
    void feed.poke();
  });

  // Where the scheduler tells every change of the round's lifecycle state (not only of its activity), follow those too.
  const watchState = (scheduler as { watchState?: (listener: () => void) => () => void }).watchState;
  const unwatch = watchState ? watchState.call(scheduler, () => void feed.poke()) : () => undefined;

  await loadRest();
  if (options.busAddress !== false) {
    dbusService = await startUpdate1Service({
      logger,
      ...(options.busAddress === undefined ? {} : { busAddress: options.busAddress }),
      handlers: {
        status: async () => compute(),
        attemptUpdate: () => api.attemptUpdate(),
        resetStatus: () => api.resetStatus(),
      },
    });
  }
  await feed.poke();

  const api: HostApi = {
    update1: compute,
    attemptUpdate() {
      scheduler.trigger('update').catch((caught: unknown) => logger.warn(`AttemptUpdate: ${toUpdaterError(caught, 'update').message}`));
    },
    async resetStatus() {
      const op = compute().currentOperation;
      // update_engine's ResetStatus(): a no-op when idle; not while a round runs.
      if (op === 'UPDATE_STATUS_IDLE') return;
      if (op === 'UPDATE_STATUS_UPDATED_NEED_REBOOT') {
        // Drops the waiting update and reverts the boot flags to the booted slot (src/lifecycle/reset-status.ts).
        const dropped = await engine.resetPending();
        logger.info('ResetStatus: the update waiting for its reboot was dropped; the booted slot boots next', { version: dropped });
        rest = { ...rest, state: 'IDLE', pendingVersion: null, pendingSize: null };
        await loadRest();
        await feed.poke();
        return;
      }
      throw new UpdaterError('ERR_DAEMON', `Cannot reset the status: Reset not allowed in this state (${op})`, {
        data: { state: op },
        hint: 'Wait for the round to end.',
      });
    },
    metrics: metricsText,
    subscribe(listener) {
      controlListeners.add(listener);
      return () => controlListeners.delete(listener);
    },
    installed(offer) {
      rest = { ...rest, state: 'UPDATED_NEED_REBOOT', pendingVersion: offer.version, pendingSize: offer.size };
    },
    async close() {
      unsubscribe();
      unwatch();
      await dbusService?.close();
    },
  };
  return api;
}

