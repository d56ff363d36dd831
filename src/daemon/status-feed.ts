// The one observer of the daemon's state changes: at every change (and on download progress) it reads the host
// status once (readStatus, the reader `abupdate status` and GET /status use) and hands update_engine's five values
// from it, in order, to the D-Bus signal, the control API's event stream and the metrics textfile.

import type { Logger } from '../log.js';
import type { Update1Status } from '../dbus/update1.js';

export type StatusListener<T> = (status: Update1Status, previous: Update1Status | null, snapshot: T) => void | Promise<void>;

export interface StatusFeedOptions<C, T> {
  /** Called at the poke, synchronously: what lasts only a moment (the round's state) is taken here. */
  capture(): C;
  /** Reads the rest (state.json) for a capture; reads run one at a time, in the order of the pokes. */
  read(captured: C): Promise<T>;
  /** update_engine's five values of a snapshot (null: nothing to tell). */
  five(snapshot: T): Update1Status | null;
  /** Told each changed status, in order. A listener's failure is logged, never thrown. */
  listeners: StatusListener<T>[];
  logger: Logger;
}

export interface StatusFeed {
  /** Something may have changed: capture now, read, and tell the listeners if the five values changed. Resolves once told. */
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

export function createStatusFeed<C, T>(options: StatusFeedOptions<C, T>): StatusFeed {
  let previous: Update1Status | null = null;
  // Reads follow each other (a later poke never reads an older state.json than an earlier one); telling follows its read.
  let reading: Promise<unknown> = Promise.resolve();
  let telling: Promise<void> = Promise.resolve();
  return {
    poke() {
      let captured: C;
      try {
        captured = options.capture();
      } catch (caught) {
        options.logger.warn(`Cannot read the status for D-Bus and metrics: ${(caught as Error).message}`);
        return telling;
      }
      const read = reading.then(() => options.read(captured));
      reading = read.catch(() => undefined);
      telling = telling.then(async () => {
        let snapshot: T;
        try {
          snapshot = await read;
        } catch (caught) {
          options.logger.warn(`Cannot read the status for D-Bus and metrics: ${(caught as Error).message}`);
          return;
        }
        const next = options.five(snapshot);
        if (next === null || !worthTelling(next, previous)) return;
        const before = previous;
        previous = next;
        for (const listener of options.listeners) {
          try {
            await listener(next, before, snapshot);
          } catch (caught) {
            options.logger.warn(`Cannot publish the status: ${(caught as Error).message}`);
          }
        }
      });
      return telling;
    },
    last: () => previous,
  };
}
