// Keeps a FleetModel current from etcd watches (the fleet prefix and the reboot-lock prefix); on any break it
// reloads and watches again from the new revision, moving to the next endpoint.

import { setTimeout as sleep } from 'node:timers/promises';
import type { EtcdClient, EtcdWatchEvent } from '../reboot/etcd-client.js';
import type { Logger } from '../log.js';
import { LOCK_PREFIX, type FleetModel } from './fleet-model.js';
import type { HostReport } from './host-report.js';

export interface FleetChange {
  /** The whole model was reloaded (first load, or after a broken watch): listeners start over. */
  reset: boolean;
  hosts: Map<string, HostReport | null>;
  other: boolean;
}

/** Follows etcd until `signal` aborts; calls onChange after the first load and for every batch of events. */
export async function followFleet(options: { client: EtcdClient; model: FleetModel; logger: Logger; signal: AbortSignal; onChange: (change: FleetChange) => void; onState?: (live: boolean) => void }): Promise<void> {
  const { client, model, logger, signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const revision = await model.load(client);
      options.onChange({ reset: true, hosts: new Map(), other: true });
      const start = (BigInt(revision) + 1n).toString();
      const onEvents = (events: EtcdWatchEvent[], rev: string) => options.onChange({ reset: false, ...model.apply(events, rev) });
      const watches = [`${model.keys.prefix}/`, LOCK_PREFIX].map((prefix) => client.watch(prefix, { startRevision: start, onEvents, signal }));
      await Promise.all(watches.map((w) => w.ready));
      options.onState?.(true);
      if (failures > 0) logger.info('fleet dashboard: watching etcd again');
      failures = 0;
      // The first watch to end (etcd member gone, compaction) ends both; then reload and watch again.
      const end = await Promise.race(watches.map((w) => w.closed));
      for (const w of watches) w.stop();
      if (signal.aborted) break;
      options.onState?.(false);
      if (end.error) logger.warn(`fleet dashboard: the etcd watch broke (${end.error.message}); reloading`);
    } catch (error) {
      if (signal.aborted) break;
      options.onState?.(false);
      failures += 1;
      if (failures === 1) logger.warn(`fleet dashboard: ${(error as Error).message}; retrying`);
      await sleep(Math.min(5000, 200 * 2 ** Math.min(failures, 5)), undefined, { signal }).catch(() => undefined);
    }
  }
}
