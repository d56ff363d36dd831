// `abupdate daemon`: runs the update service on its schedule, serves the control API, applies the reboot strategy.

import { toUpdaterError, UpdaterError } from '../../common/errors.js';
import type { SlotName } from '../../partition/slots.js';
import { readMachineId } from '../omaha/host-identity.js';
import { rebootConfigFromValues } from '../reboot/reboot-config.js';
import { applyRebootStrategy } from '../reboot/strategy.js';
import type { Offer } from '../sources/source.js';
import { readStatus, type DaemonView, type HostStatus, type StatusSources } from '../usecases/status.js';
import { startHostApi, type HostApi } from './host-api.js';
import { meteredEngine, recordRebootWait } from './metered-engine.js';
import { startControlServer, type ControlHandlers } from './control.js';
import { startFleetReporting } from './fleet-reporting.js';
import type { Scheduler } from './scheduler.js';
import { createUpdateService, type UpdateServiceOptions } from './service.js';

/**
 * What GET /status answers (JSON): readStatus()'s HostStatus (its `daemon` is this daemon's view; its `update1` what
 * D-Bus GetStatus answers, for update_engine_client without a system bus), with the daemon's own fields also at the
 * top and `engine` (both as the first control API had them).
 */
export type DaemonStatus = HostStatus &
  Omit<DaemonView, 'currentVersion'> & {
    engine: { state: HostStatus['state']; install: HostStatus['install']; lastError: HostStatus['lastError']; committedVersion: string | null };
  };

/** GET /status's shape from the host status. */
function daemonStatusOf(host: HostStatus): DaemonStatus {
  const view = host.daemon ?? { checking: 'disabled' as const };
  const { currentVersion: _running, ...own } = view;
  return { ...own, ...host, engine: { state: host.state, install: host.install, lastError: host.lastError, committedVersion: host.committedVersion } };
}

export interface DaemonOptions extends Omit<UpdateServiceOptions, 'onInstalled'> {
  runDir: string;
  /** SIGTERM/SIGINT: stop checking, stop an install cleanly (its progress is kept), close the socket. */
  signal: AbortSignal;
  /** Replaces REBOOT_STRATEGY handling (tests); default: applyRebootStrategy with the config's settings. */
  reboot?: (offer: Offer, signal: AbortSignal) => Promise<void>;
  /** Called once the control API listens (tests wait for it). */
  onReady?: () => void;
  /** The disk, for the slot table in GET /status (omitted: slots null there; `abupdate status` reads its own). */
  disk?: StatusSources['disk'];
  /** The booted slot, for the metrics. */
  bootedSlot?: SlotName;
  /** The D-Bus address for com.coreos.update1 (default: the system bus); false: no D-Bus service. */
  busAddress?: string | false;
}

export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { config, logger, signal } = options;
  const v = config.values;
  logger.info('abupdate daemon starting', { server: config.raw.SERVER, protocol: v.PROTOCOL, group: v.GROUP, interval: config.raw.CHECK_INTERVAL });

  /** GET /status with checks disabled: the one status reader, fed with this daemon's view. */
  const answerDisabled = async (): Promise<DaemonStatus> =>
    daemonStatusOf(
      await readStatus({
        stateDir: options.stateDir,
        runDir: options.runDir,
        daemon: async () => ({ checking: 'disabled' }),
        warn: (m) => logger.warn(m),
        ...(options.disk ? { disk: options.disk } : {}),
      }),
    );

  if (v.SERVER === null) {
    logger.info('update checks are disabled (SERVER=disabled); the control API still answers');
    const disabled = () => Promise.reject(new UpdaterError('ERR_CONFIG', 'Cannot check for updates: SERVER is "disabled"', { hint: 'Set SERVER in /etc/abupdate/update.conf.' }));
    const control = await startControlServer({
      runDir: options.runDir,
      logger,
      handlers: { status: answerDisabled, check: disabled, update: disabled, subscribe: () => () => undefined },
    });
    options.onReady?.();
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    await control.close();
    return;
  }

  let rebooting: Promise<void> | undefined;
  const reboot =
    options.reboot ??
    (async (_offer: Offer, stop: AbortSignal) => {
      const cfg = rebootConfigFromValues(v, { machineId: await readMachineId(v.MACHINE_ID_PATH) });
      const waitStarted = Date.now();
      const outcome = await applyRebootStrategy(cfg, {
        signal: stop,
        log: (line) => logger.info(line),
        // The time between "installed" and "may reboot now": the reboot lock and the window (metrics). Recorded before
        // the reboot command, which stops this daemon.
        beforeReboot: async () => void (await recordRebootWait(options.stateDir, Date.now() - waitStarted)),
      });
      if (outcome === 'pending') logger.info('reboot needed to start the new version (REBOOT_STRATEGY=off)');
    });
  const service = await createUpdateService({
    ...options,
    engine: meteredEngine(options.engine, options.stateDir, logger),
    onInstalled: (offer) => {
      if (rebooting) return;
      rebooting = reboot(offer, signal)
        .catch((caught: unknown) => {
          const error = toUpdaterError(caught, 'reboot');
          if (error.code !== 'ERR_ABORTED') logger.error(error.message, { code: error.code });
        })
        .finally(() => {
          rebooting = undefined;
        });
    },
  });
  const { scheduler } = service;
  const api: HostApi = await startHostApi({
    scheduler,
    engine: options.engine,
    stateDir: options.stateDir,
    runDir: options.runDir,
    logger,
    settings: { server: config.raw.SERVER, protocol: v.PROTOCOL, group: v.GROUP },
    metricsTextfile: v.METRICS_TEXTFILE,
    bootedSlot: options.bootedSlot ?? null,
    ...(options.disk ? { disk: options.disk } : {}),
    ...(options.busAddress === undefined ? {} : { busAddress: options.busAddress }),
  });
  const handlers: ControlHandlers = {
    status: async () => daemonStatusOf(await api.status()),
    check: () => scheduler.trigger('check'),
    update: () => scheduler.trigger('update'),
    // Activity and progress events, every change of the round's lifecycle state, and update_engine's five values.
    subscribe: (listener) => {
      const stopEvents = scheduler.subscribe(listener);
      const stopStates = scheduler.watchState(({ type, state }) => listener({ type, state }));
      const stopUpdate1 = api.subscribe(listener);
      return () => {
        stopEvents();
        stopStates();
        stopUpdate1();
      };
    },
    attemptUpdate: () => api.attemptUpdate(),
    resetStatus: () => api.resetStatus(),
    metrics: () => api.metrics(),
  };
  const control = await startControlServer({ runDir: options.runDir, handlers, logger });
  // FLEET_STATUS=etcd: this host's entry in the fleet view, from the same status GET /status answers.
  const fleet = await startFleetReporting({ config, scheduler, logger, updaterVersion: options.updaterVersion, readStatus: () => api.status() }).catch((caught: unknown) => {
    logger.warn(`fleet: Cannot publish this host: ${toUpdaterError(caught, 'start the fleet report').message}`);
    return undefined;
  });
  try {
    options.onReady?.();
    await service.reportStartup(signal).catch((caught: unknown) => logger.warn(`Cannot report the last update: ${toUpdaterError(caught, 'report').message}`));
    await scheduler.run(signal);
    if (rebooting) await rebooting;
  } finally {
    await fleet?.close();
    await control.close();
    await api.close();
    logger.info('abupdate daemon stopped');
  }
}
