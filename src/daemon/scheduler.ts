// When the daemon checks and installs: randomised first check, interval with jitter, capped backoff, one cycle at a time.
// Each cycle is an update round in the lifecycle's words (src/engine/lifecycle.ts): CHECKING_FOR_UPDATE, then
// UPDATE_AVAILABLE and DOWNLOADING (the engine's install), or REPORTING_ERROR_EVENT when it fails, then IDLE.

import { setTimeout as sleepTimer } from 'node:timers/promises';
import { UpdaterError, toUpdaterError } from '../../common/errors.js';
import { formatDuration } from '../duration.js';
import { transition, type EngineStateName, type RoundEvent, type EngineEvent } from '../engine/lifecycle.js';
import type { Logger } from '../log.js';
import type { CheckResult, Offer } from '../sources/source.js';

/** Time as the scheduler sees it; tests pass a fake one. */
export interface SchedulerClock {
  now(): number;
  /** Resolves after `ms`, or rejects/resolves early when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: SchedulerClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepTimer(ms, undefined, { signal }).then(() => undefined),
};

export interface InstallProgress {
  phase: string;
  bytesDone?: number;
  bytesTotal?: number;
  [key: string]: unknown;
}

export interface InstallStepOptions {
  signal: AbortSignal;
  onProgress: (progress: InstallProgress) => void;
  interactive: boolean;
}

/** The steps the daemon plugs in: asking the source, installing an offer through the engine, reporting a failure. */
export interface SchedulerSteps {
  check(options: { interactive: boolean; signal: AbortSignal }): Promise<CheckResult>;
  install(offer: Offer, options: InstallStepOptions): Promise<{ alreadyInstalled: boolean }>;
  /**
   * Tells the update server that the round failed (Omaha's error event), while the state is REPORTING_ERROR_EVENT.
   * `offer` is the one the round tried to install (undefined when the check itself failed). Errors are the step's
   * to log; a stop (ERR_ABORTED) is not reported.
   */
  reportError?(error: UpdaterError, round: { offer: Offer | undefined; interactive: boolean; signal: AbortSignal }): Promise<void>;
}

export interface SchedulerOptions {
  steps: SchedulerSteps;
  /** CHECK_INTERVAL in ms. */
  checkIntervalMs: number;
  /** ROUND_TIMEOUT in ms: one cycle (check, download, install) is stopped with ERR_TIMEOUT after this long. */
  roundTimeoutMs?: number;
  /** The first check happens after a random delay in this range (default 10 s to 2 min). */
  initialDelayMs?: { min: number; max: number };
  /** Each interval is varied by up to ± this fraction (default 0.25). */
  jitter?: number;
  /** First retry after an error (default 1 min); doubles per consecutive error... */
  backoffBaseMs?: number;
  /** ...up to this (default 4 h, as update_engine). */
  backoffMaxMs?: number;
  /** Server poll intervals are clamped into this range (default 10 s to 7 days). */
  pollIntervalBoundsMs?: { min: number; max: number };
  clock?: SchedulerClock;
  random?: () => number;
  logger: Logger;
  /** Stops triggered cycles when run() is not used (one-shot CLI use); run(signal) replaces it. */
  signal?: AbortSignal;
}

export type CycleKind = 'scheduled' | 'check' | 'update';

export interface CycleResult {
  kind: CycleKind;
  outcome: 'noupdate' | 'available' | 'installed' | 'already-installed' | 'reboot-pending' | 'error';
  /** With reboot-pending: the installed version waiting for the reboot. */
  pendingVersion?: string;
  offer?: Offer;
  error?: UpdaterError;
  pollIntervalMs?: number;
  startedAt: number;
  finishedAt: number;
}

export interface SchedulerStatus {
  /**
   * The round's lifecycle state: CHECKING_FOR_UPDATE, UPDATE_AVAILABLE (also after a check-only round, until the
   * next), DOWNLOADING while the engine installs, REPORTING_ERROR_EVENT; IDLE (or UPDATED_NEED_REBOOT after an
   * install) between rounds. readStatus() shows it while the engine's persisted state is at rest.
   */
  state: EngineStateName;
  /** Derived from `state` for clients of the first control API: 'checking' while a round runs, 'installing' while it installs. */
  activity: 'idle' | 'checking' | 'installing';
  /** When the next scheduled check runs (ms since epoch), while the loop sleeps. */
  nextCheckAt?: number;
  consecutiveFailures: number;
  lastCycle?: CycleResult;
  offer?: Offer;
  progress?: InstallProgress;
}

export type SchedulerEvent =
  /** A round started or ended, or started installing (status.activity changed). */
  | { type: 'activity'; status: SchedulerStatus }
  | { type: 'progress'; progress: InstallProgress }
  | { type: 'cycle'; result: CycleResult };

export interface Scheduler {
  /** Runs the loop until `signal` aborts; resolves once the current cycle has stopped. */
  run(signal: AbortSignal): Promise<void>;
  /** Runs a cycle now (`check`: ask only; `update`: ask and install). Joins a running cycle instead of starting a second. */
  trigger(kind: 'check' | 'update'): Promise<CycleResult>;
  status(): SchedulerStatus;
  subscribe(listener: (event: SchedulerEvent) => void): () => void;
  /** Calls `listener` with every change of the round's lifecycle state (D-Bus StatusUpdate, the /events stream). */
  watchState(listener: (event: { type: 'state'; state: EngineStateName; status: SchedulerStatus }) => void): () => void;
  /** The delay before the next scheduled cycle after `result` (exposed for tests and logs). */
  nextDelay(result: CycleResult | undefined): number;
}

export function createScheduler(options: SchedulerOptions): Scheduler {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const jitter = options.jitter ?? 0.25;
  const initial = options.initialDelayMs ?? { min: 10_000, max: 120_000 };
  const backoffBase = options.backoffBaseMs ?? 60_000;
  const backoffMax = options.backoffMaxMs ?? 4 * 3_600_000;
  const pollBounds = options.pollIntervalBoundsMs ?? { min: 10_000, max: 7 * 86_400_000 };
  const listeners = new Set<(event: SchedulerEvent) => void>();
  const stateListeners = new Set<(event: { type: 'state'; state: EngineStateName; status: SchedulerStatus }) => void>();
  const state: SchedulerStatus = { state: 'IDLE', activity: 'idle', consecutiveFailures: 0 };
  let running: Promise<CycleResult> | undefined;
  let stopSignal: AbortSignal = options.signal ?? new AbortController().signal;
  let wake: AbortController | undefined;

  const notify = <E>(set: Set<(event: E) => void>, event: E) => {
    for (const listener of set) {
      try {
        listener(event);
      } catch {
        // a listener's failure is not the scheduler's
      }
    }
  };
  const emit = (event: SchedulerEvent) => notify(listeners, event);
  let inRound = false;
  /** Recomputes the derived activity; tells subscribers when it changed. */
  const updateActivity = () => {
    const installing = state.state === 'DOWNLOADING' || state.state === 'VERIFYING' || state.state === 'FINALIZING';
    const activity: SchedulerStatus['activity'] = !inRound ? 'idle' : installing ? 'installing' : 'checking';
    if (activity === state.activity) return;
    state.activity = activity;
    if (activity !== 'installing') delete state.progress;
    emit({ type: 'activity', status: status() });
  };
  /** Moves the round through the lifecycle table (an illegal event is a bug: ERR_ILLEGAL_TRANSITION). */
  const enter = (...events: (RoundEvent | EngineEvent)[]) => {
    for (const event of events) state.state = transition(state.state, event);
    notify(stateListeners, { type: 'state' as const, state: state.state, status: status() });
    updateActivity();
  };
  // A shallow copy: nested values (errors keep their class for toJSON) are shared and must not be changed by callers.
  const status = (): SchedulerStatus => ({ ...state });

  function withJitter(ms: number): number {
    return Math.max(1, Math.round(ms * (1 + jitter * (2 * random() - 1))));
  }

  function nextDelay(result: CycleResult | undefined): number {
    if (result === undefined) return Math.round(initial.min + (initial.max - initial.min) * random());
    if (result.outcome === 'error') {
      const exponent = Math.min(state.consecutiveFailures - 1, 30);
      return withJitter(Math.min(backoffMax, backoffBase * 2 ** Math.max(0, exponent)));
    }
    const base = result.pollIntervalMs === undefined ? options.checkIntervalMs : Math.min(pollBounds.max, Math.max(pollBounds.min, result.pollIntervalMs));
    return withJitter(base);
  }

  async function cycle(kind: CycleKind): Promise<CycleResult> {
    const startedAt = clock.now();
    const interactive = kind !== 'scheduled';
    let result: CycleResult;
    let offer: Offer | undefined;
    let installDone = false;
    inRound = true;
    // The round's own deadline: nothing a server does (just above DOWNLOAD_SPEED_LIMIT, say) keeps it going longer.
    const deadline = AbortSignal.timeout(options.roundTimeoutMs ?? 6 * 3_600_000);
    const roundSignal = AbortSignal.any([stopSignal, deadline]);
    try {
      enter('check-started');
      const checked = await options.steps.check({ interactive, signal: roundSignal });
      const poll = checked.pollIntervalMs === undefined ? {} : { pollIntervalMs: checked.pollIntervalMs };
      if (checked.rebootPending !== undefined) {
        enter('no-update');
        result = { kind, outcome: 'reboot-pending', pendingVersion: checked.rebootPending, ...poll, startedAt, finishedAt: clock.now() };
      } else if (checked.offer === null) {
        delete state.offer;
        enter('no-update');
        result = { kind, outcome: 'noupdate', ...poll, startedAt, finishedAt: clock.now() };
      } else if (kind === 'check') {
        state.offer = checked.offer;
        enter('update-found');
        result = { kind, outcome: 'available', offer: checked.offer, ...poll, startedAt, finishedAt: clock.now() };
      } else {
        state.offer = checked.offer;
        offer = checked.offer;
        options.logger.info('update available', { version: checked.offer.version, url: checked.offer.url });
        enter('update-found');
        enter('install-started');
        const installed = await options.steps.install(checked.offer, {
          signal: roundSignal,
          interactive,
          onProgress: (progress) => {
            state.progress = progress;
            emit({ type: 'progress', progress });
          },
        });
        installDone = true;
        result = { kind, outcome: installed.alreadyInstalled ? 'already-installed' : 'installed', offer: checked.offer, ...poll, startedAt, finishedAt: clock.now() };
      }
      state.consecutiveFailures = 0;
    } catch (caught) {
      const error =
        deadline.aborted && !stopSignal.aborted
          ? new UpdaterError('ERR_TIMEOUT', `Cannot ${kind === 'check' ? 'check for updates' : 'update'}: the round passed its deadline of ${formatDuration(options.roundTimeoutMs ?? 6 * 3_600_000)} (ROUND_TIMEOUT)`, {
              cause: caught,
              hint: 'What was downloaded is kept; the next round resumes it. A slow link may need a longer ROUND_TIMEOUT.',
            })
          : toUpdaterError(caught, kind === 'check' ? 'check for updates' : 'update');
      state.consecutiveFailures += 1;
      if (error.code !== 'ERR_ABORTED') options.logger.error(error.message, { code: error.code, failures: state.consecutiveFailures });
      if (error.code === 'ERR_ILLEGAL_TRANSITION') throw error; // a bug: loud, not a failed round
      enter('round-failed');
      if (error.code !== 'ERR_ABORTED') await options.steps.reportError?.(error, { offer, interactive, signal: stopSignal });
      enter('error-reported');
      result = { kind, outcome: 'error', error, startedAt, finishedAt: clock.now() };
    }
    state.lastCycle = result;
    if (result.outcome === 'noupdate') options.logger.info('checked for updates: none available', { kind });
    else if (result.outcome === 'available') options.logger.info('checked for updates: one is available', { kind, version: result.offer?.version });
    else if (result.outcome === 'reboot-pending') options.logger.info('update installed, waiting for the reboot', { version: result.pendingVersion });
    inRound = false;
    // The engine went through these itself (state.json); the round follows it to UPDATED_NEED_REBOOT.
    if (installDone) enter('download-finished', 'readback-passed', 'slot-flipped');
    else updateActivity();
    emit({ type: 'cycle', result });
    return result;
  }

  function start(kind: CycleKind): Promise<CycleResult> {
    if (running) return running;
    const promise = cycle(kind).finally(() => {
      if (running === promise) running = undefined;
    });
    running = promise;
    return promise;
  }

  return {
    status,
    nextDelay,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    watchState(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    trigger(kind) {
      if (stopSignal.aborted) {
        return Promise.reject(new UpdaterError('ERR_ABORTED', `Cannot ${kind === 'check' ? 'check for updates' : 'update'}: the daemon is stopping`));
      }
      const promise = start(kind);
      wake?.abort();
      return promise;
    },
    async run(signal) {
      stopSignal = signal;
      let last: CycleResult | undefined;
      while (!signal.aborted) {
        const delay = nextDelay(last);
        state.nextCheckAt = clock.now() + delay;
        options.logger.debug('next update check', { inMs: delay });
        wake = new AbortController();
        try {
          await clock.sleep(delay, AbortSignal.any([signal, wake.signal]));
        } catch {
          // woken early: by a trigger or by the stop signal
        }
        delete state.nextCheckAt;
        if (signal.aborted) break;
        if (wake.signal.aborted) {
          // Woken by a trigger: its cycle stands in for the scheduled one (even if it already finished).
          last = running ? await running : state.lastCycle;
          continue;
        }
        last = await (running ?? start('scheduled'));
      }
      if (running) await running.catch(() => undefined);
    },
  };
}
