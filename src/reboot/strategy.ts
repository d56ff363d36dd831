// Applies REBOOT_STRATEGY once an update is ready: wait for the window, take the fleet lock, run the reboot command.

import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { UpdaterError, isUpdaterError } from '../../common/errors.js';
import { formatDuration } from '../duration.js';
import { openEtcdStore, type EtcdAccess } from './etcd-store.js';
import { isSemaphoreFull, lockSemaphore, readSemaphore, semaphoreKey, unlockSemaphore } from './etcd-semaphore.js';
import { fleetlockPreReboot, fleetlockSteadyState, isFleetlockFull } from './fleetlock.js';
import { describeWindow, isInWindow, msUntilWindow, type RebootWindow, type WindowClock } from './window.js';

export const REBOOT_STRATEGIES = ['reboot', 'off', 'etcd-lock', 'best-effort', 'fleetlock'] as const;
export type RebootStrategy = (typeof REBOOT_STRATEGIES)[number];

/** What the config loader maps update.conf onto (REBOOT_STRATEGY, REBOOT_WINDOW_*, REBOOT_COMMAND, ...). */
export interface RebootConfig {
  strategy: RebootStrategy;
  /** From REBOOT_WINDOW_START/LENGTH via parseRebootWindow(); undefined = any time. */
  window?: RebootWindow | undefined;
  /** Which clock the window is read on (default 'local', like locksmith; set TZ=UTC or 'utc' for UTC). */
  windowClock?: WindowClock | undefined;
  /** argv, no shell (REBOOT_COMMAND; default ["systemctl", "reboot"]). */
  rebootCommand: readonly string[];
  /** etcd client URLs (ETCD_ENDPOINTS), for etcd-lock. */
  etcdEndpoints: readonly string[];
  /** Reboot group: etcd key group ("" / undefined = locksmith's default key), FleetLock group (default "default"). */
  group?: string | undefined;
  /** This host's lock id (/etc/machine-id). */
  machineId: string;
  /** FleetLock server base URL (FLEETLOCK_URL), for fleetlock. */
  fleetlockUrl?: string | undefined;
  /** The FleetLock client id: zincati's app-specific node id of the machine id (default: machineId as given). */
  fleetlockId?: string | undefined;
  /** The FleetLock group (zincati's identity group, FLEETLOCK_GROUP; default: group, else "default"). */
  fleetlockGroup?: string | undefined;
  /** etcd API, TLS and credentials for etcd-lock (ETCD_API, LOCKSMITHD_ETCD_*). */
  etcd?: EtcdAccess | undefined;
}

export interface RebootOptions {
  signal?: AbortSignal | undefined;
  log?: ((line: string) => void) | undefined;
  /** The clock (tests inject one); default () => new Date(). */
  now?: (() => Date) | undefined;
  /** Lock retry backoff, doubling from initialMs to maxMs (default 5 s → 5 min, as locksmith). */
  backoff?: { initialMs: number; maxMs: number } | undefined;
  /** Per-request timeout for etcd and FleetLock (default 5 s). */
  requestTimeoutMs?: number | undefined;
  /** Called once the host may reboot (window open, lock held), right before the reboot command: what is recorded here survives it. */
  beforeReboot?: (() => Promise<void>) | undefined;
}

/** 'pending': strategy off, nothing done. 'rebooting': the reboot command ran and exited 0. */
export type RebootOutcome = 'pending' | 'rebooting';

const LONGEST_SLEEP_MS = 3_600_000;

function checkConfig(cfg: RebootConfig): void {
  if (!REBOOT_STRATEGIES.includes(cfg.strategy)) {
    throw new UpdaterError('ERR_CONFIG', `Cannot apply the reboot strategy: "${String(cfg.strategy)}" is not one of ${REBOOT_STRATEGIES.join(', ')}`);
  }
  if (cfg.strategy === 'off') return;
  if (cfg.rebootCommand.length === 0 || cfg.rebootCommand[0] === '') {
    throw new UpdaterError('ERR_CONFIG', 'Cannot apply the reboot strategy: REBOOT_COMMAND is empty', { hint: 'Leave it unset for "systemctl reboot".' });
  }
  if ((cfg.strategy === 'etcd-lock' || cfg.strategy === 'fleetlock') && cfg.machineId.trim() === '') {
    throw new UpdaterError('ERR_CONFIG', `Cannot apply the reboot strategy "${cfg.strategy}": the machine id is empty`, {
      hint: 'The lock holder id comes from /etc/machine-id; make sure it exists.',
    });
  }
  if (cfg.strategy === 'etcd-lock' && cfg.etcdEndpoints.length === 0) {
    throw new UpdaterError('ERR_CONFIG', 'Cannot apply the reboot strategy "etcd-lock": ETCD_ENDPOINTS is empty', {
      hint: 'Set ETCD_ENDPOINTS to the etcd client URLs, e.g. "http://10.0.0.1:2379,http://10.0.0.2:2379".',
    });
  }
  if (cfg.strategy === 'fleetlock' && (cfg.fleetlockUrl === undefined || cfg.fleetlockUrl === '')) {
    throw new UpdaterError('ERR_CONFIG', 'Cannot apply the reboot strategy "fleetlock": FLEETLOCK_URL is not set', {
      hint: 'Set FLEETLOCK_URL to the FleetLock server base URL, e.g. "http://fleetlock.example:8080".',
    });
  }
}

async function pause(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  try {
    await sleep(ms, undefined, signal === undefined ? {} : { signal });
  } catch (error) {
    throw new UpdaterError('ERR_ABORTED', `Cannot ${what}: stopped while waiting`, { cause: error });
  }
}

/** Sleeps until the window is open (re-reading the clock at least hourly). Logs once when it has to wait. */
async function waitForWindow(cfg: RebootConfig, options: RebootOptions, log: (line: string) => void): Promise<void> {
  const window = cfg.window;
  if (window === undefined) return;
  const clock = cfg.windowClock ?? 'local';
  const now = options.now ?? (() => new Date());
  let logged = false;
  while (!isInWindow(now(), window, clock)) {
    const wait = msUntilWindow(now(), window, clock);
    if (!logged) {
      log(`reboot: waiting ${formatDuration(wait >= 60_000 ? Math.ceil(wait / 1000) * 1000 : wait)} for the reboot window (${describeWindow(window, clock)})`);
      logged = true;
    }
    await pause(Math.max(1, Math.min(wait, LONGEST_SLEEP_MS)), options.signal, 'wait for the reboot window');
  }
}

function lockName(cfg: RebootConfig): string {
  return cfg.strategy === 'etcd-lock'
    ? `etcd lock "${semaphoreKey(cfg.group)}"`
    : `FleetLock slot (group "${fleetlockGroupOf(cfg)}" at ${cfg.fleetlockUrl ?? ''})`;
}

function fleetlockGroupOf(cfg: RebootConfig): string {
  return cfg.fleetlockGroup || cfg.group || 'default';
}

function fleetlockRequest(cfg: RebootConfig, options: RebootOptions) {
  return {
    url: cfg.fleetlockUrl ?? '',
    id: cfg.fleetlockId ?? cfg.machineId,
    group: fleetlockGroupOf(cfg),
    timeoutMs: options.requestTimeoutMs ?? 5000,
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

function etcdStore(cfg: RebootConfig, options: RebootOptions) {
  return openEtcdStore({ endpoints: [...cfg.etcdEndpoints], access: cfg.etcd ?? {} }, { timeoutMs: options.requestTimeoutMs ?? 5000, signal: options.signal });
}

async function takeLock(cfg: RebootConfig, options: RebootOptions): Promise<string> {
  if (cfg.strategy === 'etcd-lock') {
    const client = etcdStore(cfg, options);
    const { state, alreadyHeld } = await lockSemaphore({ client, group: cfg.group }, cfg.machineId);
    return `${alreadyHeld ? 'already held' : 'took'} the ${lockName(cfg)} as "${cfg.machineId}" (${state.semaphore} of ${state.max} slot(s) free)`;
  }
  const request = fleetlockRequest(cfg, options);
  await fleetlockPreReboot(request);
  return `took the ${lockName(cfg)} as "${request.id}"`;
}

/**
 * locksmith's best-effort: the etcd lock when etcd is configured and answers, else a plain reboot. Decided once per
 * apply; an etcd that answers but refuses (TLS, auth) is an error, not a reason to reboot without the lock.
 */
async function resolveBestEffort(cfg: RebootConfig, options: RebootOptions, log: (line: string) => void): Promise<RebootConfig> {
  if (cfg.strategy !== 'best-effort') return cfg;
  if (cfg.etcdEndpoints.length === 0) {
    log('reboot: REBOOT_STRATEGY=best-effort and no etcd configured: rebooting without a lock');
    return { ...cfg, strategy: 'reboot' };
  }
  try {
    await readSemaphore({ client: etcdStore(cfg, options), group: cfg.group });
    log(`reboot: REBOOT_STRATEGY=best-effort: etcd answers at ${cfg.etcdEndpoints.join(', ')}, using the etcd lock`);
    return { ...cfg, strategy: 'etcd-lock' };
  } catch (error) {
    if (!isUpdaterError(error, 'ERR_ETCD') || error.data?.status !== undefined) throw error;
    log(`reboot: REBOOT_STRATEGY=best-effort: etcd does not answer (${error.message}); rebooting without a lock`);
    return { ...cfg, strategy: 'reboot' };
  }
}

/**
 * Runs the reboot strategy once an update is installed and activated. off: returns 'pending' at once.
 * Otherwise waits for the window, takes the lock (etcd-lock, fleetlock; retried with backoff for as
 * long as it takes; never reboots without it), then runs the reboot command and returns 'rebooting'.
 * Abort the signal to stop waiting (ERR_ABORTED). If the reboot command fails, the lock is released
 * and ERR_REBOOT thrown.
 */
export async function applyRebootStrategy(configured: RebootConfig, options: RebootOptions = {}): Promise<RebootOutcome> {
  const log = options.log ?? (() => {});
  checkConfig(configured);
  const cfg = await resolveBestEffort(configured, options, log);
  if (cfg.strategy === 'off') {
    log('reboot: REBOOT_STRATEGY=off, not rebooting; the update takes effect at the next reboot');
    return 'pending';
  }
  const initial = options.backoff?.initialMs ?? 5000;
  const max = options.backoff?.maxMs ?? 300_000;
  let delay = initial;
  for (let attempt = 1; ; attempt++) {
    await waitForWindow(cfg, options, log);
    if (cfg.strategy === 'reboot') break;
    try {
      log(`reboot: ${await takeLock(cfg, options)}`);
      break;
    } catch (error) {
      if (options.signal?.aborted || isUpdaterError(error, 'ERR_ABORTED')) throw error;
      if (isUpdaterError(error, 'ERR_CONFIG')) throw error;
      const why = error instanceof Error ? error.message : String(error);
      const kind = isSemaphoreFull(error) || isFleetlockFull(error) ? 'lock busy' : 'lock unavailable';
      log(`reboot: ${kind}, not rebooting (attempt ${attempt}): ${why}; retrying in ${formatDuration(delay)}`);
      await pause(delay, options.signal, `take the ${lockName(cfg)}`);
      delay = Math.min(delay * 2, max);
    }
  }
  await options.beforeReboot?.().catch(() => undefined);
  const [file, ...args] = cfg.rebootCommand;
  log(`reboot: running ${cfg.rebootCommand.map((a) => JSON.stringify(a)).join(' ')}`);
  try {
    // No cancelSignal: `systemctl reboot` itself stops this daemon, and must not be killed for it.
    await execa(file ?? '', args, { stdin: 'ignore', timeout: 300_000 });
  } catch (error) {
    const detail = (error as { shortMessage?: string; stderr?: string }).stderr || (error as Error).message;
    if (cfg.strategy !== 'reboot') {
      await releaseRebootLock(cfg, { ...options, retry: false }).catch((releaseError: unknown) => {
        log(`reboot: could not release the ${lockName(cfg)} after the failed reboot: ${(releaseError as Error).message}`);
      });
    }
    throw new UpdaterError('ERR_REBOOT', `Cannot reboot: ${JSON.stringify(cfg.rebootCommand.join(' '))} failed: ${detail}`, {
      cause: error,
      data: { command: [...cfg.rebootCommand] },
      hint: 'Check REBOOT_COMMAND; the update stays installed and activated, so a manual reboot applies it.',
    });
  }
  return 'rebooting';
}

/**
 * Gives the reboot lock back after the new boot is committed (or rolled back): FleetLock steady-state,
 * etcd unlock. Idempotent; released is false when there was nothing to release. With retry (default
 * false), keeps trying with backoff until it succeeds or the signal aborts.
 */
export async function releaseRebootLock(configured: RebootConfig, options: RebootOptions & { retry?: boolean } = {}): Promise<{ released: boolean }> {
  const log = options.log ?? (() => {});
  if (configured.strategy === 'best-effort') {
    // Whether the lock was taken depended on etcd answering then; release it if etcd answers now.
    try {
      return await releaseRebootLock({ ...configured, strategy: 'etcd-lock' }, { ...options, retry: false });
    } catch (error) {
      log(`reboot: REBOOT_STRATEGY=best-effort: cannot release the etcd lock: ${(error as Error).message}`);
      return { released: false };
    }
  }
  const cfg = configured;
  if (cfg.strategy !== 'etcd-lock' && cfg.strategy !== 'fleetlock') return { released: false };
  checkConfig(cfg);
  let delay = options.backoff?.initialMs ?? 5000;
  const max = options.backoff?.maxMs ?? 300_000;
  for (let attempt = 1; ; attempt++) {
    try {
      if (cfg.strategy === 'fleetlock') {
        await fleetlockSteadyState(fleetlockRequest(cfg, options));
        log(`reboot: released the ${lockName(cfg)} (steady-state)`);
        return { released: true };
      }
      const client = etcdStore(cfg, options);
      const { released } = await unlockSemaphore({ client, group: cfg.group }, cfg.machineId);
      log(released ? `reboot: released the ${lockName(cfg)} held by "${cfg.machineId}"` : `reboot: "${cfg.machineId}" did not hold the ${lockName(cfg)}; nothing to release`);
      return { released };
    } catch (error) {
      if (options.retry !== true || options.signal?.aborted || isUpdaterError(error, 'ERR_ABORTED')) throw error;
      log(`reboot: cannot release the ${lockName(cfg)} (attempt ${attempt}): ${(error as Error).message}; retrying in ${formatDuration(delay)}`);
      await pause(delay, options.signal, `release the ${lockName(cfg)}`);
      delay = Math.min(delay * 2, max);
    }
  }
}
