// `abupdate daemon`: runs the update service on its schedule, serves the control API, applies the reboot strategy.

import { toUpdaterError, UpdaterError } from '../../common/errors.js';
import { readMachineId } from '../omaha/host-identity.js';
import { rebootConfigFromValues } from '../reboot/reboot-config.js';
import { applyRebootStrategy } from '../reboot/strategy.js';
import type { Offer } from '../sources/source.js';
import { readStatus, type DaemonView, type HostStatus, type StatusSources } from '../usecases/status.js';
import { startControlServer, type ControlHandlers } from './control.js';
import type { Scheduler } from './scheduler.js';
import { createUpdateService, type UpdateServiceOptions } from './service.js';

/**
 * What GET /status answers (JSON): readStatus()'s HostStatus (its `daemon` is this daemon's view), with the
 * daemon's own fields also at the top and `engine` (both as the first control API had them).
 */
export type DaemonStatus = HostStatus &
  Omit<DaemonView, 'currentVersion'> & {
    engine: { state: HostStatus['state']; install: HostStatus['install']; lastError: HostStatus['lastError']; committedVersion: string | null };
  };

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
}

export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { config, logger, signal } = options;
  const v = config.values;
  logger.info('abupdate daemon starting', { server: config.raw.SERVER, protocol: v.PROTOCOL, group: v.GROUP, interval: config.raw.CHECK_INTERVAL });

  /** GET /status: the one status reader, fed with this daemon's own view. */
  const answerStatus = async (view: DaemonView): Promise<DaemonStatus> => {
    const host = await readStatus({
      stateDir: options.stateDir,
      runDir: options.runDir,
      daemon: async () => view,
      warn: (m) => logger.warn(m),
      ...(options.disk ? { disk: options.disk } : {}),
    });
    return { ...view, ...host, engine: { state: host.state, install: host.install, lastError: host.lastError, committedVersion: host.committedVersion } };
  };

  if (v.SERVER === null) {
    logger.info('update checks are disabled (SERVER=disabled); the control API still answers');
    const disabled = () => Promise.reject(new UpdaterError('ERR_CONFIG', 'Cannot check for updates: SERVER is "disabled"', { hint: 'Set SERVER in /etc/abupdate/update.conf.' }));
    const control = await startControlServer({
      runDir: options.runDir,
      logger,
      handlers: { status: () => answerStatus({ checking: 'disabled' }), check: disabled, update: disabled, subscribe: () => () => undefined },
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
      const outcome = await applyRebootStrategy(cfg, { signal: stop, log: (line) => logger.info(line) });
      if (outcome === 'pending') logger.info('reboot needed to start the new version (REBOOT_STRATEGY=off)');
    });
  const service = await createUpdateService({
    ...options,
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
  const handlers: ControlHandlers = {
    status: async () =>
      answerStatus({
        checking: 'enabled',
        server: config.raw.SERVER,
        protocol: v.PROTOCOL,
        group: v.GROUP,
        currentVersion: await options.engine.currentVersion(),
        scheduler: scheduler.status(),
      }),
    check: () => scheduler.trigger('check'),
    update: () => scheduler.trigger('update'),
    // Activity and progress events, and every change of the round's lifecycle state.
    subscribe: (listener) => {
      const stopEvents = scheduler.subscribe(listener);
      const stopStates = scheduler.watchState(({ type, state }) => listener({ type, state }));
      return () => {
        stopEvents();
        stopStates();
      };
    },
  };
  const control = await startControlServer({ runDir: options.runDir, handlers, logger });
  try {
    options.onReady?.();
    await service.reportStartup(signal).catch((caught: unknown) => logger.warn(`Cannot report the last update: ${toUpdaterError(caught, 'report').message}`));
    await scheduler.run(signal);
    if (rebooting) await rebooting;
  } finally {
    await control.close();
    logger.info('abupdate daemon stopped');
  }
}
