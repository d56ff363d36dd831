// The daemon's host API for other programs: the D-Bus service com.coreos.update1, update_engine's status on the
// control socket, and the metrics (GET /metrics, METRICS_TEXTFILE). All of them answer from readStatus(), the one
// status reader `abupdate status` and GET /status use, fed with this daemon's view; a status feed observes the
// scheduler's events and tells each change.

import { toUpdaterError, UpdaterError } from '../../common/errors.js';
import type { SlotName } from '../../partition/slots.js';
import type { EngineSeam } from './engine-seam.js';
import type { Scheduler, SchedulerEvent } from './scheduler.js';
import type { Logger } from '../log.js';
import { countFailure, loadCounters, recordCounters } from '../metrics/counters.js';
import { renderMetrics } from '../metrics/metrics.js';
import { writeMetricsTextfile } from '../metrics/textfile.js';
import { startUpdate1Service, type Update1Service } from '../dbus/service.js';
import type { Update1Status } from '../dbus/update1.js';
import { readStatus, type DaemonView, type HostStatus, type StatusSources } from '../usecases/status.js';
import { createStatusFeed } from './status-feed.js';
import type { Update1ControlEvent } from './control-update1.js';

export interface HostApiOptions {
  scheduler: Scheduler;
  engine: EngineSeam;
  stateDir: string;
  runDir: string;
  logger: Logger;
  /** The daemon's settings as GET /status shows them. */
  settings: Pick<DaemonView, 'server' | 'protocol' | 'group'>;
  /** METRICS_TEXTFILE (null: none). */
  metricsTextfile: string | null;
  /** The booted slot (the metrics; a pending reboot is told from one done). */
  bootedSlot: SlotName | null;
  /** The disk, for the slot table in GET /status (omitted: slots null there). */
  disk?: StatusSources['disk'];
  /** The D-Bus address (default: the system bus); false: no D-Bus service. */
  busAddress?: string | false;
}

export interface HostApi {
  /** readStatus() with this daemon's view now (GET /status; GetStatus answers with its update1). */
  status(): Promise<HostStatus>;
  /** POST /attempt-update, AttemptUpdate(): starts a round, returns at once. */
  attemptUpdate(): void;
  /** POST /reset-status, ResetStatus(). */
  resetStatus(): Promise<void>;
  /** GET /metrics. */
  metrics(): Promise<string>;
  /** Control API listeners get `{type: 'update1', status}` events. */
  subscribe(listener: (event: Update1ControlEvent) => void): () => void;
  close(): Promise<void>;
}

/** The metrics of one host status and the persisted counters. */
async function metricsOf(host: HostStatus, stateDir: string, bootedSlot: string | null): Promise<string> {
  return renderMetrics({
    state: host.state,
    bootedSlot,
    bootedVersion: host.currentVersion,
    committedVersion: host.committedVersion,
    pendingVersion: host.pendingReboot ? (host.install?.version ?? null) : null,
    counters: await loadCounters(stateDir),
  });
}

export async function startHostApi(options: HostApiOptions): Promise<HostApi> {
  const { scheduler, engine, logger, stateDir } = options;
  const counters = await loadCounters(stateDir);
  let lastCheckedAt = counters.lastSuccessfulCheckAt;
  const controlListeners = new Set<(event: Update1ControlEvent) => void>();
  let dbusService: Update1Service | null = null;

  /** The daemon's view now, synchronously (the round's state may last only a moment); currentVersion is added by the read. */
  const captureView = (): DaemonView => ({
    checking: 'enabled',
    ...options.settings,
    ...(lastCheckedAt === null ? {} : { lastCheckedAt }),
    scheduler: scheduler.status(),
  });

  /** The one status reader with this view; `withDisk`: the slot table too (GET /status), else only the booted slot. */
  async function readWith(view: DaemonView, withDisk: boolean): Promise<HostStatus> {
    const currentVersion = await engine.currentVersion().catch(() => undefined);
    return readStatus({
      stateDir,
      runDir: options.runDir,
      daemon: async () => ({ ...view, ...(currentVersion === undefined ? {} : { currentVersion }) }),
      warn: (m) => logger.warn(m),
      ...(options.bootedSlot === null ? {} : { booted: options.bootedSlot }),
      ...(withDisk && options.disk ? { disk: options.disk } : {}),
    });
  }
  const status = () => readWith(captureView(), true);
  const update1Of = (host: HostStatus): Update1Status => {
    if (host.update1 === null) throw new UpdaterError('ERR_DAEMON', 'Cannot get the status: the daemon has no update round');
    return host.update1;
  };

  async function writeTextfile(host: HostStatus): Promise<void> {
    if (options.metricsTextfile === null) return;
    const written = await writeMetricsTextfile(options.metricsTextfile, await metricsOf(host, stateDir, options.bootedSlot));
    if (!written) logger.debug('metrics textfile not written: its directory does not exist', { file: options.metricsTextfile });
  }

  const feed = createStatusFeed({
    capture: captureView,
    read: (view: DaemonView) => readWith(view, false),
    five: (host: HostStatus) => host.update1,
    logger,
    listeners: [
      (five) => dbusService?.emitStatus(five),
      (five) => {
        for (const listener of controlListeners) listener({ type: 'update1', status: five });
      },
      async (five, previous, host) => {
        // The textfile follows state changes, not every percent of a download.
        if (previous !== null && five.currentOperation === previous.currentOperation && five.lastCheckedTime === previous.lastCheckedTime) return;
        await writeTextfile(host);
      },
    ],
  });

  async function onCycle(result: Extract<SchedulerEvent, { type: 'cycle' }>['result']): Promise<void> {
    const reached = lastCheckedAt !== null && lastCheckedAt >= result.startedAt;
    await recordCounters(stateDir, (c) => {
      c.lastCheckAt = result.finishedAt;
      if (reached) c.lastSuccessfulCheckAt = lastCheckedAt;
      if (result.outcome === 'installed') c.installs += 1;
      if (result.outcome === 'error' && result.error && result.error.code !== 'ERR_ABORTED') countFailure(c, result.error.code);
    }).catch((caught: unknown) => logger.warn(`Cannot record the metrics: ${(caught as Error).message}`));
    // The counters just changed: the textfile follows them here, not only on a change of state (a round that ends
    // in the same second it was checked changes neither the state nor last_checked_time after its count).
    await writeTextfile(await status()).catch((caught: unknown) => logger.warn(`Cannot write the metrics textfile: ${(caught as Error).message}`));
  }

  // Activity and progress events, and every change of the round's lifecycle state (REPORTING_ERROR_EVENT, however short).
  const unsubscribe = scheduler.subscribe((event) => {
    if (event.type === 'cycle') {
      void onCycle(event.result).then(() => feed.poke());
      return;
    }
    void feed.poke();
  });
  // last_checked_time is when the server answered the check (update_engine sets it there, not at the round's end):
  // the round leaves CHECKING_FOR_UPDATE for UPDATE_AVAILABLE or, with nothing to install, for IDLE.
  let roundState = scheduler.status().state;
  const unwatch = scheduler.watchState(({ state }) => {
    if (roundState === 'CHECKING_FOR_UPDATE' && (state === 'UPDATE_AVAILABLE' || state === 'IDLE')) lastCheckedAt = Date.now();
    roundState = state;
    void feed.poke();
  });

  if (options.busAddress !== false) {
    dbusService = await startUpdate1Service({
      logger,
      ...(options.busAddress === undefined ? {} : { busAddress: options.busAddress }),
      handlers: {
        status: async () => update1Of(await status()),
        attemptUpdate: () => api.attemptUpdate(),
        resetStatus: () => api.resetStatus(),
      },
    });
  }
  await feed.poke();

  const api: HostApi = {
    status,
    attemptUpdate() {
      scheduler.trigger('update').catch((caught: unknown) => logger.warn(`AttemptUpdate: ${toUpdaterError(caught, 'update').message}`));
    },
    async resetStatus() {
      const op = update1Of(await status()).currentOperation;
      // update_engine's ResetStatus(): a no-op when idle; not while a round runs.
      if (op === 'UPDATE_STATUS_IDLE') return;
      if (op === 'UPDATE_STATUS_UPDATED_NEED_REBOOT') {
        // Drops the waiting update and reverts the boot flags to the booted slot (src/lifecycle/reset-status.ts).
        const dropped = await engine.resetPending();
        logger.info('ResetStatus: the update waiting for its reboot was dropped; the booted slot boots next', { version: dropped });
        await feed.poke();
        return;
      }
      throw new UpdaterError('ERR_DAEMON', `Cannot reset the status: Reset not allowed in this state (${op})`, {
        data: { state: op },
        hint: 'Wait for the round to end.',
      });
    },
    metrics: async () => metricsOf(await readWith(captureView(), false), stateDir, options.bootedSlot),
    subscribe(listener) {
      controlListeners.add(listener);
      return () => controlListeners.delete(listener);
    },
    async close() {
      unsubscribe();
      unwatch();
      await dbusService?.close();
    },
  };
  return api;
}
