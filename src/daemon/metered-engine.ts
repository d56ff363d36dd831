// The daemon's measurements for the persisted metrics: an install's bytes and reused chunks, a reboot-lock wait.

import type { EngineSeam } from './engine-seam.js';
import type { Logger } from '../log.js';
import { recordCounters } from '../metrics/counters.js';

export function meteredEngine(engine: EngineSeam, stateDir: string, logger: Logger): EngineSeam {
  return {
    ...engine,
    async install(bundle, options) {
      const result = await engine.install(bundle, options);
      await recordCounters(stateDir, (c) => {
        c.bytesDownloaded += result.bytesDownloaded ?? 0;
        c.chunksReused += result.chunksReused ?? 0;
        c.bytesReused = (c.bytesReused ?? 0) + (result.bytesReused ?? 0);
      }).catch((caught: unknown) => logger.warn(`Cannot record the metrics: ${(caught as Error).message}`));
      return result;
    },
  };
}

/** One wait for the reboot lock (and window) of `ms` before the reboot. */
export function recordRebootWait(stateDir: string, ms: number): Promise<unknown> {
  return recordCounters(stateDir, (c) => {
    c.rebootLockWaits.count += 1;
    c.rebootLockWaits.seconds += ms / 1000;
  });
}
