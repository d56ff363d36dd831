// Keeps this host's entry under <prefix>/hosts/<machine id> in etcd: bound to a lease it renews, rewritten on change
// (at most once per interval, the newest report always last), and re-published after etcd comes back.

import { setTimeout as sleep } from 'node:timers/promises';
import { isUpdaterError, toUpdaterError } from '../../common/errors.js';
import type { EtcdClient } from '../reboot/etcd-client.js';
import type { Logger } from '../log.js';
import type { FleetKeys } from './fleet-keys.js';
import { reportFingerprint, type HostReport } from './host-report.js';

export interface HostPublisherOptions {
  client: EtcdClient;
  keys: FleetKeys;
  machineId: string;
  logger: Logger;
  /** Lease TTL in seconds (default 30): a host that stops renewing vanishes from the fleet this long after. */
  ttlSeconds?: number;
  /** At most one write per this many ms (default 2000); changes in between are folded into the next write. */
  minIntervalMs?: number;
  /** First retry delay after etcd failed (default 1 s), doubling up to maxRetryMs (default 30 s). */
  retryMs?: number;
  maxRetryMs?: number;
}

export interface PublisherStatus {
  /** The lease the entry is bound to now, if one is granted. */
  lease: string | undefined;
  /** Whether the last report handed to publish() is in etcd. */
  published: boolean;
  writes: number;
  /** The last etcd failure while it lasts (cleared by the next success). */
  failing: string | undefined;
}

export interface HostPublisher {
  /** Hands over the newest report; written when it differs from what etcd holds, within the rate limit. */
  publish(report: HostReport): void;
  /** Runs until `signal` aborts, then revokes the lease (the entry goes at once) if etcd answers. */
  run(signal: AbortSignal): Promise<void>;
  status(): PublisherStatus;
  /** Resolves once the newest report is in etcd (tests and the bench wait for it). */
  flushed(): Promise<void>;
}

export function createHostPublisher(options: HostPublisherOptions): HostPublisher {
  const { client, keys, logger } = options;
  const ttl = options.ttlSeconds ?? 30;
  const renewEveryMs = Math.max(500, (ttl * 1000) / 3);
  const minInterval = options.minIntervalMs ?? 2000;
  const retryBase = options.retryMs ?? 1000;
  const retryMax = options.maxRetryMs ?? 30_000;
  const key = keys.host(options.machineId);

  let latest: HostReport | undefined;
  let written: string | undefined; // fingerprint in etcd under the current lease
  let lease: string | undefined;
  let lastWriteAt = -Infinity;
  let lastRenewAt = -Infinity;
  let writes = 0;
  let failing: string | undefined;
  let failures = 0;
  let wake: AbortController = new AbortController();
  let waiters: (() => void)[] = [];

  const dirty = (): boolean => latest !== undefined && reportFingerprint(latest) !== written;
  const settle = () => {
    if (dirty()) return;
    for (const resolve of waiters) resolve();
    waiters = [];
  };

  async function step(): Promise<number> {
    if (lease === undefined) {
      lease = (await client.grantLease(ttl)).id;
      lastRenewAt = Date.now();
      written = undefined;
    }
    const now = Date.now();
    if (dirty() && now - lastWriteAt >= minInterval) {
      const report = latest!;
      try {
        await client.put(key, JSON.stringify(report), { lease });
      } catch (error) {
        // The lease expired while etcd was away (or was revoked): take a new one and write again.
        if (isUpdaterError(error, 'ERR_ETCD') && error.data?.grpcCode === 5) lease = undefined;
        throw error;
      }
      written = reportFingerprint(report);
      lastWriteAt = Date.now();
      writes += 1;
      settle();
    }
    if (Date.now() - lastRenewAt >= renewEveryMs) {
      const left = await client.keepAliveLease(lease);
      lastRenewAt = Date.now();
      if (left <= 0) {
        logger.warn('fleet: the lease of this host expired (etcd was away longer than its TTL); publishing again', { ttl });
        lease = undefined;
        return 0;
      }
    }
    const untilRenew = renewEveryMs - (Date.now() - lastRenewAt);
    const untilWrite = dirty() ? minInterval - (Date.now() - lastWriteAt) : Infinity;
    return Math.max(0, Math.min(untilRenew, untilWrite));
  }

  return {
    publish(report) {
      latest = report;
      if (dirty()) wake.abort();
      else settle();
    },
    status: () => ({ lease, published: latest !== undefined && !dirty(), writes, failing }),
    flushed() {
      if (latest !== undefined && !dirty()) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    async run(signal) {
      while (!signal.aborted) {
        let delay: number;
        wake = new AbortController(); // a publish() during the step wakes the sleep after it
        try {
          delay = await step();
          if (failing !== undefined) logger.info('fleet: etcd answers again; this host is published', { key });
          failing = undefined;
          failures = 0;
        } catch (caught) {
          if (signal.aborted) break;
          const error = toUpdaterError(caught, 'publish the fleet status');
          failures += 1;
          if (failing === undefined) logger.warn(`fleet: ${error.message}; the daemon carries on and publishes again once etcd answers`, { code: error.code });
          failing = error.message;
          delay = Math.min(retryMax, retryBase * 2 ** Math.min(failures - 1, 10));
        }
        if (delay === 0 && dirty()) continue;
        try {
          await sleep(delay, undefined, { signal: AbortSignal.any([signal, wake.signal]) });
        } catch {
          // woken by a new report, or stopping
        }
      }
      if (lease !== undefined) {
        // A clean stop: the entry goes now instead of when the lease runs out. etcd may be away; then the TTL does it.
        await client.revokeLease(lease).catch(() => undefined);
        lease = undefined;
      }
    },
  };
}
