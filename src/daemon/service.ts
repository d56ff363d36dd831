// Builds the update service from the config: the source (Omaha or static), the install step, the scheduler.
// The daemon runs it on a timer; `abupdate check`/`update` without a daemon run one cycle of the same thing,
// so the server sees the same requests and events either way.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError, toUpdaterError } from '../../common/errors.js';
import { loadKeyring } from '../../verify/keyring.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { HttpSourceOptions } from '../download/http-range.js';
import type { Logger } from '../log.js';
import { serverAccessFromConfig } from '../net/server-access.js';
import { readBootId, readHostIdentity } from '../omaha/host-identity.js';
import { createOmahaSource } from '../sources/omaha-source.js';
import type { Offer, ReportContext, UpdateEvent, UpdateSource } from '../sources/source.js';
import { createStaticSource } from '../sources/static-source.js';
import { createFleetRollout } from '../fleet/fleet-agent.js';
import { PENDING_RECORDS_FILE } from '../fleet/pending-records.js';
import { UNKNOWN_VERSION, type EngineSeam } from './engine-seam.js';
import { alephVersion, loadReportRecord, saveReportRecord, startupReport } from './report-record.js';
import { createScheduler, type InstallStepOptions, type Scheduler, type SchedulerOptions } from './scheduler.js';

export interface UpdateServiceOptions {
  config: LoadedConfig;
  engine: EngineSeam;
  stateDir: string;
  keyringDirs: string[];
  compatible: string;
  logger: Logger;
  /** "abupdate-<version>" for Omaha's version/updaterversion. */
  updaterVersion: string;
  bootIdPath?: string;
  oemReleasePaths?: string[];
  /** Timeout of one metadata request (Omaha exchange, channel index), default 30 s. */
  requestTimeoutMs?: number;
  /** Download tuning for the engine's bundle stream. */
  http?: Omit<HttpSourceOptions, 'signal' | 'onEvent'>;
  /** Scheduler tuning (first delay, backoff, clock) beyond CHECK_INTERVAL. */
  scheduler?: Partial<Omit<SchedulerOptions, 'steps' | 'logger' | 'checkIntervalMs'>>;
  /** Runs after a successful install (the daemon applies REBOOT_STRATEGY here); must not throw. */
  onInstalled?: (offer: Offer) => void;
}

export interface UpdateService {
  source: UpdateSource;
  scheduler: Scheduler;
  /** Reports what happened across the last reboot (complete-after-reboot or rollback), once, at start. */
  reportStartup(signal: AbortSignal): Promise<void>;
}

/** At most this many of an offer's URLs are tried in one round (a hostile answer may list thousands). */
export const MAX_MIRRORS = 8;

/** The code of a bundle that is not what the update server stated. */
function mismatchCode(offer: Offer): 'ERR_OMAHA_HASH' | 'ERR_CHANNEL' {
  return offer.source === 'omaha' ? 'ERR_OMAHA_HASH' : 'ERR_CHANNEL';
}

export async function createUpdateService(options: UpdateServiceOptions): Promise<UpdateService> {
  const { config, engine, logger } = options;
  const server = config.values.SERVER;
  if (server === null) {
    throw new UpdaterError('ERR_CONFIG', 'Cannot check for updates: SERVER is "disabled"', {
      data: { origin: config.origins.SERVER },
      hint: 'Set SERVER in /etc/abupdate/update.conf to an Omaha endpoint or a static channel base URL.',
    });
  }
  const timeout = options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs };
  const v = config.values;
  const access = await serverAccessFromConfig(config);
  const tls = access.tls === undefined ? {} : { tls: access.tls };
  // DOWNLOAD_SPEED_LIMIT / DOWNLOAD_SPEED_TIME, unless the caller (--speed-limit, --speed-time) says otherwise.
  const http: Omit<HttpSourceOptions, 'signal' | 'onEvent'> = {
    speedLimit: { bytesPerSecond: config.values.DOWNLOAD_SPEED_LIMIT, timeMs: config.values.DOWNLOAD_SPEED_TIME },
    ...options.http,
    ...access,
  };
  for (const warning of config.warnings ?? []) logger.warn(warning);
  const identity = await readHostIdentity({
    machineIdPath: config.values.MACHINE_ID_PATH,
    ...(options.bootIdPath === undefined ? {} : { bootIdPath: options.bootIdPath }),
    ...(options.oemReleasePaths === undefined ? {} : { oemReleasePaths: options.oemReleasePaths }),
  });
  // Flatcar's release file names the board (Nebraska's architecture) when there is one.
  if (config.flatcarRelease?.board !== undefined) identity.board = config.flatcarRelease.board;
  // FLEET_STATUS=etcd: the group's pause and gate decide before a download; offers, installs, commits, rollbacks are recorded.
  const fleet =
    config.values.FLEET_STATUS === 'etcd'
      ? createFleetRollout({
          endpoints: config.values.ETCD_ENDPOINTS,
          prefix: config.values.FLEET_PREFIX,
          machineId: identity.machineId,
          group: config.values.GROUP,
          logger,
          // A record etcd did not take waits here, across a restart: a rollback mark is not lost.
          pendingFile: path.join(options.stateDir, PENDING_RECORDS_FILE),
        })
      : undefined;
  const source: UpdateSource =
    config.values.PROTOCOL === 'omaha'
      ? createOmahaSource({
          server,
          appId: config.values.APP_ID,
          group: config.values.GROUP,
          identity,
          updaterVersion: options.updaterVersion,
          ...(v.MACHINE_ALIAS === null ? {} : { machineAlias: v.MACHINE_ALIAS }),
          ...timeout,
          ...tls,
        })
      : createStaticSource({
          server,
          channel: config.values.GROUP,
          keyring: () => loadKeyring(options.keyringDirs),
          compatible: options.compatible,
          seenFile: path.join(options.stateDir, 'channel-index-seen.json'),
          ...timeout,
          ...tls,
        });
  // Versions before the engine streamed the bundle staged a copy here; a leftover (up to a whole bundle) goes.
  await rm(path.join(options.stateDir, 'download'), { recursive: true, force: true }).catch(() => undefined);

  async function reportContext(interactive: boolean, signal?: AbortSignal): Promise<ReportContext> {
    // The engine knows the version of a slot it wrote; before it wrote one, Flatcar's release file knows it.
    const known = await engine.currentVersion();
    const currentVersion = known === UNKNOWN_VERSION && config.flatcarRelease?.version !== undefined ? config.flatcarRelease.version : known;
    return { currentVersion, alephVersion: await alephVersion(options.stateDir, currentVersion), interactive, ...(signal ? { signal } : {}) };
  }

  async function report(event: UpdateEvent, ctx: ReportContext): Promise<void> {
    try {
      await source.report(event, ctx);
    } catch (caught) {
      logger.warn(`Cannot report ${event.kind} to the update server: ${toUpdaterError(caught, 'report').message}`);
    }
  }

  /**
   * Streams the offer into the engine from each URL in order; a later mirror continues the chunks an earlier one
   * wrote (the engine resumes by manifest). The engine checks the whole bundle against the stated size and SHA-256.
   */
  async function installFromMirrors(offer: Offer, step: InstallStepOptions) {
    if (offer.sha256 === undefined || !/^[0-9a-f]{64}$/.test(offer.sha256)) {
      throw new UpdaterError(mismatchCode(offer), `Cannot install ${offer.version}: the update server states no SHA-256 for the bundle`, { data: { sha256: offer.sha256 } });
    }
    const expectedBundle = { size: offer.size, sha256: offer.sha256, mismatchCode: mismatchCode(offer), version: offer.version };
    const urls = (offer.urls.length > 0 ? offer.urls : [offer.url]).slice(0, MAX_MIRRORS);
    for (let i = 0; ; i++) {
      const url = urls[i] ?? offer.url;
      try {
        return await engine.install(url, { signal: step.signal, onProgress: step.onProgress, expectedBundle, http });
      } catch (caught) {
        const error = toUpdaterError(caught, `download ${offer.version}`);
        const transient = ['ERR_NETWORK', 'ERR_TIMEOUT', 'ERR_HTTP_STATUS', 'ERR_HTTP_RANGE'].includes(error.code);
        if (!transient || i + 1 >= urls.length || step.signal.aborted) throw error;
        logger.warn(`${error.message}; trying the next URL`, { url: urls[i + 1] });
      }
    }
  }

  async function install(offer: Offer, step: InstallStepOptions): Promise<{ alreadyInstalled: boolean }> {
    try {
      return await installOffer(offer, step);
    } catch (caught) {
      throw toUpdaterError(caught, `install ${offer.version}`);
    }
  }

  /** Reports download-started, streams the offer into the engine, reports download-finished and installed (an error goes to reportError). */
  async function installOffer(offer: Offer, step: InstallStepOptions): Promise<{ alreadyInstalled: boolean }> {
    if ((await engine.pendingVersion()) === offer.version) {
      logger.info('update already installed, waiting for the reboot', { version: offer.version });
      return { alreadyInstalled: true };
    }
    const ctx = await reportContext(step.interactive);
    const previousVersion = ctx.currentVersion;
    await report({ kind: 'download-started', version: offer.version }, ctx);
    const result = await installFromMirrors(offer, step);
    // The stream is complete (and matched the stated size and SHA-256) once the engine returns.
    logger.info('downloaded and checked the bundle', { version: offer.version, bytes: offer.size, downloaded: result.bytesDownloaded, reused: result.bytesReused ?? 0 });
    await report({ kind: 'download-finished', version: offer.version, ...(result.bytesDownloaded === undefined ? {} : { downloaded: result.bytesDownloaded }), total: offer.size }, ctx);
    if (result.version !== offer.version) logger.warn(`the server offered ${offer.version}, the bundle holds ${result.version}`);
    await saveReportRecord(options.stateDir, { previousVersion, installedVersion: result.version, bootId: identity.bootId });
    await report({ kind: 'installed', version: result.version }, ctx);
    await fleet?.record('installed', result.version);
    logger.info('update installed; the new slot boots next', { version: result.version });
    options.onInstalled?.(offer);
    return { alreadyInstalled: result.alreadyInstalled };
  }

  /** A failed install is reported to the server (update_engine's REPORTING_ERROR_EVENT); a failed check has no event. */
  async function reportError(error: UpdaterError, round: { offer: Offer | undefined; interactive: boolean }): Promise<void> {
    if (round.offer === undefined) return;
    const status = error.data?.status;
    await report({ kind: 'error', code: error.code, version: round.offer.version, ...(typeof status === 'number' ? { httpStatus: status } : {}) }, await reportContext(round.interactive));
  }

  const scheduler = createScheduler({
    ...options.scheduler,
    checkIntervalMs: config.values.CHECK_INTERVAL,
    roundTimeoutMs: config.values.ROUND_TIMEOUT,
    logger,
    steps: {
      check: async ({ interactive, signal }) => {
        // Records an earlier round (or run) could not send go first.
        await fleet?.flush();
        const ctx = await reportContext(interactive, signal);
        const pending = await engine.pendingVersion();
        if (pending === null) {
          const checked = await source.check(ctx);
          // A version that failed its health check here is not downloaded again (update_engine's blacklist).
          const bad = checked.offer === null ? [] : await engine.badVersions();
          if (checked.offer !== null && bad.includes(checked.offer.version)) {
            logger.info('update skipped: this version failed its health check on this host before', { version: checked.offer.version });
            return { ...checked, offer: null };
          }
          if (checked.offer !== null && fleet !== undefined) {
            await fleet.record('offered', checked.offer.version);
            if (!(await fleet.admit(checked.offer.version))) return { ...checked, offer: null };
          }
          return checked;
        }
        // Like update_engine in UPDATED_NEED_REBOOT: ping only. (Nebraska answers a full check from an
        // instance that reported its download with error-updateInProgressOnInstance.)
        await source.ping(ctx);
        return { offer: null, rebootPending: pending };
      },
      install,
      reportError,
    },
  });

  return {
    source,
    scheduler,
    async reportStartup(signal) {
      // What the last run could not send to etcd (a rollback mark before a kill) is sent now.
      await fleet?.flush();
      const record = await loadReportRecord(options.stateDir, logger);
      const bootId = await readBootId(options.bootIdPath);
      const current = await engine.currentVersion();
      const { event, clear } = startupReport(record, current, bootId, await engine.bootedCommitted());
      if (event !== null) {
        logger.info(event.kind === 'error' ? `rollback detected: running ${current} again` : `running ${current}, updated from ${record?.previousVersion ?? '?'}`);
        await report(event, await reportContext(false, signal));
        if (event.kind === 'complete-after-reboot') await fleet?.record('committed', event.version);
        if (event.kind === 'error' && event.code === 'ERR_ROLLBACK' && event.version !== undefined) await fleet?.record('rolled-back', event.version);
      }
      if (clear) await saveReportRecord(options.stateDir, null);
    },
  };
}
