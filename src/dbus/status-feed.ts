// The one observer of the daemon's state changes: at every change (and on download progress) it computes
// update_engine's five values once, at that moment, and hands them in order to the D-Bus signal, the control API's
// event stream, the reboot sentinel and the metrics.

import type { Logger } from '../log.js';
import type { Update1Status } from './update1.js';

export type StatusListener = (status: Update1Status, previous: Update1Status | null) => void | Promise<void>;

export interface StatusFeedOptions {
  /** The five values now; synchronous, so a state that lasts a moment is still seen. */
  compute(): Update1Status;
  /** Told each changed status, in order. A listener's failure is logged, never thrown. */
  listeners: StatusListener[];
  logger: Logger;
}

export interface StatusFeed {
  /** Something may have changed: compute the status now and tell the listeners if it did. */
  poke(): Promise<void>;
  /** The last status told. */
  last(): Update1Status | null;
}

/** update_engine's throttle (UpdateAttempter::BytesReceived): a progress-only change is told from 1 % on. */
const PROGRESS_STEP = 0.01;

export function worthTelling(next: Update1Status, previous: Update1Status | null): boolean {
  if (previous === null) return true;
  if (next.currentOperation !== previous.currentOperation || next.newVersion !== previous.newVersion || next.newSize !== previous.newSize || next.lastCheckedTime !== previous.lastCheckedTime) return true;
  if (next.progress === previous.progress) return false;
  return next.progress === 1 || Math.abs(next.progress - previous.progress) >= PROGRESS_STEP;
}

export function createStatusFeed(options: StatusFeedOptions): StatusFeed {
  let previous: Update1Status | null = null;
  let chain: Promise<void> = Promise.resolve();
  return {
    poke() {
      let next: Update1Status;
      try {
        next = options.compute();
      } catch (caught) {
        options.logger.warn(`Cannot compute the status for D-Bus and metrics: ${(caught as Error).message}`);
        return chain;
      }
      if (!worthTelling(next, previous)) return chain;
      const before = previous;
      previous = next;
      chain = chain.then(async () => {
        for (const listener of options.listeners) {
          try {
            await listener(next, before);
          } catch (caught) {
            options.logger.warn(`Cannot publish the status: ${(caught as Error).message}`);
          }
        }
      });
      return chain;
    },
    last: () => previous,
  };
}
