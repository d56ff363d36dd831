// A host's side of the fleet (FLEET_STATUS=etcd): it asks the group's rollout control before an install, writes the
// history and rollback marks, and (the daemon) publishes its status report. etcd being away never stops the daemon.

import { toUpdaterError } from '../../common/errors.js';
import type { Logger } from '../log.js';
import { EtcdClient } from '../reboot/etcd-client.js';
import { semaphoreKey } from '../reboot/etcd-semaphore.js';
import { FleetKeys, type HistoryEvent } from './fleet-keys.js';
import { recordHistory } from './history.js';
import { createHostPublisher, type HostPublisher } from './host-publisher.js';
import { hostReportFromStatus, type HostStatus } from './host-report.js';
import { enqueue, loadPendingRecords, savePendingRecords, type PendingRecord } from './pending-records.js';
import { markRollback, rolloutDecision, type FleetTarget } from './rollout.js';

export interface FleetHostOptions {
  endpoints: string[];
  prefix: string;
  machineId: string;
  /** GROUP: the rollout group (the Omaha track or static channel). */
  group: string;
  logger: Logger;
  requestTimeoutMs?: number;
  /** Where records etcd did not take wait (STATE_DIR/fleet-pending.json); without it they wait in memory only. */
  pendingFile?: string;
}

export interface FleetRollout {
  /** Whether to install `version` now: false while the group is paused, when the version is stopped, or etcd cannot say. */
  admit(version: string): Promise<boolean>;
  /** Records a history event (a rollback also marks the version for the gate); logged, retried later, never thrown. */
  record(event: HistoryEvent, version: string): Promise<void>;
  /** Sends the records that wait (from an earlier run too); logged, never thrown. */
  flush(): Promise<void>;
}

export interface FleetAgentOptions extends FleetHostOptions {
  hostname: string;
  /** The reboot-lock group whose holders tell whether this host holds the lock ("" = the ungrouped key). */
  rebootGroup?: string;
  updaterVersion: string;
  /** The host's one status reader (readStatus): every report is built from it. */
  readStatus: () => Promise<HostStatus>;
  /** When the daemon last asked its update server (ISO), or null. */
  lastCheck: () => string | null;
  ttlSeconds?: number;
  minIntervalMs?: number;
}

export interface FleetAgent {
  readonly publisher: HostPublisher;
  /** Reads the status again and hands it to the publisher (call on every state change; writes are rate-limited). */
  refresh(): void;
  run(signal: AbortSignal): Promise<void>;
}

const clientFor = (o: FleetHostOptions): FleetTarget => ({ client: new EtcdClient({ endpoints: o.endpoints, timeoutMs: o.requestTimeoutMs ?? 5000 }), keys: new FleetKeys(o.prefix) });

/** The rollout side (used by every update cycle: the daemon's, `abupdate update`'s). */
export function createFleetRollout(options: FleetHostOptions): FleetRollout {
  const { logger } = options;
  const target = clientFor(options);
  // Records etcd did not take (it was away) are written with the next one, or at the next start (pendingFile).
  let pending: PendingRecord[] | undefined;
  const warn = (message: string) => logger.warn(message);

  async function waiting(): Promise<PendingRecord[]> {
    pending ??= options.pendingFile === undefined ? [] : await loadPendingRecords(options.pendingFile, warn);
    return pending;
  }

  async function keep(records: PendingRecord[]): Promise<void> {
    pending = records;
    if (options.pendingFile === undefined) return;
    await savePendingRecords(options.pendingFile, records).catch((caught: unknown) => warn(`fleet: Cannot keep the records etcd has not taken in ${options.pendingFile}: ${(caught as Error).message}`));
  }

  async function write(item: PendingRecord): Promise<void> {
    const { event, version } = item;
    const at = new Date(item.at);
    if (event === 'rolled-back') {
      const { rollbacks, stopped } = await markRollback(target, { group: options.group, version, machineId: options.machineId, code: 'ERR_ROLLBACK', at });
      logger.info(`fleet: marked the rollback of ${version} (${rollbacks} in group ${options.group})${stopped ? `; the gate stopped ${version} for the group` : ''}`);
    } else {
      await recordHistory(target, { group: options.group, version, event, machineId: options.machineId, at });
    }
  }

  async function send(queue: PendingRecord[]): Promise<void> {
    for (const [i, item] of queue.entries()) {
      try {
        await write(item);
      } catch (caught) {
        await keep(queue.slice(i));
        logger.warn(`fleet: Cannot record "${item.event}" of ${item.version} yet: ${toUpdaterError(caught, 'record the history').message}; trying again with the next record and at the next start`);
        return;
      }
    }
    await keep([]);
  }

  // One record or flush at a time (the check step and the start report may overlap).
  let chain: Promise<void> = Promise.resolve();
  const serial = (work: () => Promise<void>): Promise<void> => (chain = chain.then(work, work));

  return {
    async admit(version) {
      try {
        const decision = await rolloutDecision(target, options.group, version);
        if (decision.action === 'skip') {
          logger.info(`fleet: update skipped: ${version} is stopped for group ${options.group} after ${decision.rollbacks} rollback(s); not downloading it`, { version, group: options.group });
          return false;
        }
        if (decision.action === 'hold') {
          logger.info(`fleet: update held: group ${options.group} is paused (by ${decision.control.updatedBy ?? 'an operator'}); checking, not installing`, { version, group: options.group });
          return false;
        }
        return true;
      } catch (caught) {
        // Without etcd the host cannot know whether the group is paused or the version stopped: it waits.
        logger.warn(`fleet: update held: ${toUpdaterError(caught, 'read the rollout control').message}; installing once etcd answers`, { version });
        return false;
      }
    },
    record(event, version) {
      const at = new Date().toISOString();
      return serial(async () => {
        // On disk before the first try: a restart (or a kill) before etcd takes it does not lose it.
        const queue = enqueue(await waiting(), { event, version, at });
        await keep(queue);
        await send(queue);
      });
    },
    flush() {
      return serial(async () => {
        const queue = await waiting();
        if (queue.length > 0) await send(queue);
      });
    },
  };
}

/** The reporting side (the daemon): this host's entry under <prefix>/hosts/, rebuilt from readStatus on every change. */
export function createFleetAgent(options: FleetAgentOptions): FleetAgent {
  const { logger } = options;
  const { client, keys } = clientFor(options);
  const publisher = createHostPublisher({
    client,
    keys,
    machineId: options.machineId,
    logger,
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
    ...(options.minIntervalMs === undefined ? {} : { minIntervalMs: options.minIntervalMs }),
  });
  let holdsLock = false;
  let refreshing: Promise<void> | undefined;
  let again = false;

  async function holdsRebootLock(): Promise<boolean> {
    try {
      const kv = await client.get(semaphoreKey(options.rebootGroup));
      const holders = kv === undefined ? [] : ((JSON.parse(kv.value) as { holders?: unknown }).holders ?? []);
      holdsLock = Array.isArray(holders) && holders.includes(options.machineId);
    } catch {
      // etcd away or a damaged value: keep what we knew; the publisher reports the outage
    }
    return holdsLock;
  }

  async function build(): Promise<void> {
    const status = await options.readStatus();
    const report = hostReportFromStatus(status, {
      machineId: options.machineId,
      hostname: options.hostname,
      group: options.group,
      updaterVersion: options.updaterVersion,
      lastCheck: options.lastCheck(),
      rebootLock: await holdsRebootLock(),
    });
    publisher.publish(report);
  }

  const refresh = (): void => {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = build()
      .catch((caught: unknown) => logger.warn(`fleet: Cannot build the host report: ${toUpdaterError(caught, 'read the status').message}`))
      .finally(() => {
        refreshing = undefined;
        if (again) {
          again = false;
          refresh();
        }
      });
  };

  return {
    publisher,
    refresh,
    async run(signal) {
      refresh();
      await publisher.run(signal);
    },
  };
}
