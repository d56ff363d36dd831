// `abupdate daemon`: runs the update service on its schedule, serves the control API, applies the reboot strategy.

import { toUpdaterError, UpdaterError } from '../../common/errors.js';
import { loadEngineState } from '../engine/state-store.js';
import { readMachineId } from '../omaha/host-identity.js';
import { rebootConfigFromValues } from '../reboot/reboot-config.js';
import { applyRebootStrategy } from '../reboot/strategy.js';
import type { Offer } from '../sources/source.js';
import { startControlServer, type ControlHandlers } from './control.js';
import type { Scheduler } from './scheduler.js';
import { createUpdateService, type UpdateServiceOptions } from './service.js';

/** What GET /status answers (JSON). */
export interface DaemonStatus {
  checking: 'enabled' | 'disabled';
  server?: string;
  protocol?: string;
  group?: string;
  currentVersion?: string;
  /** Activity, next check, consecutive failures, last round, current offer, live install progress. */
  scheduler?: ReturnType<Scheduler['status']>;
  engine: { state: string; install: unknown; lastError: unknown; committedVersion: string | null };
}

export interface DaemonOptions extends Omit<UpdateServiceOptions, 'onInstalled'> {
  runDir: string;
  /** SIGTERM/SIGINT: stop checking, stop an install cleanly (its progress is kept), close the socket. */
  signal: AbortSignal;
  /** Replaces REBOOT_STRATEGY handling (tests); default: applyRebootStrategy with the config's settings. */
  reboot?: (offer: Offer, signal: AbortSignal) => Promise<void>;
  /** Called once the control API listens (tests wait for it). */
  onReady?: () => void;
}

export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { config, logger, signal } = options;
  const v = config.values;
  logger.info('abupdate daemon starting', { server: config.raw.SERVER, protocol: v.PROTOCOL, group: v.GROUP, interval: config.raw.CHECK_INTERVAL });

  const engineStatus = async (): Promise<DaemonStatus['engine']> => {
    const state = await loadEngineState(options.stateDir, { warn: (m) => logger.warn(m) });
    return { state: state.state, install: state.install, lastError: state.lastError, committedVersion: state.committedVersion };
  };

  if (v.SERVER === null) {
    logger.info('update checks are disabled (SERVER=disabled); the control API still answers');
    const disabled = () => Promise.reject(new UpdaterError('ERR_CONFIG', 'Cannot check for updates: SERVER is "disabled"', { hint: 'Set SERVER in /etc/abupdate/update.conf.' }));
    const control = await startControlServer({
      runDir: options.runDir,
      logger,
      handlers: { status: async (): Promise<DaemonStatus> => ({ checking: 'disabled', engine: await engineStatus() }), check: disabled, update: disabled, subscribe: () => () => undefined },
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
    status: async (): Promise<DaemonStatus> => ({
      checking: 'enabled',
      server: config.raw.SERVER,
      protocol: v.PROTOCOL,
      group: v.GROUP,
      currentVersion: await options.engine.currentVersion(),
      scheduler: scheduler.status(),
      engine: await engineStatus(),
    }),
    check: () => scheduler.trigger('check'),
    update: () => scheduler.trigger('update'),
    subscribe: (listener) => scheduler.subscribe(listener),
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
