// FLEET_STATUS=etcd in the daemon: this host's entry under FLEET_PREFIX/hosts/, rebuilt from the one status reader on
// every change of the round (and every half lease, for the reboot lock), its lease revoked when the daemon stops.

import os from 'node:os';
import type { LoadedConfig } from '../config/load-config.js';
import { createFleetAgent } from '../fleet/fleet-agent.js';
import type { HostStatus } from '../fleet/host-report.js';
import type { Logger } from '../log.js';
import { readMachineId } from '../omaha/host-identity.js';
import type { Scheduler } from './scheduler.js';

export interface FleetReportingOptions {
  config: LoadedConfig;
  scheduler: Scheduler;
  logger: Logger;
  /** "abupdate-<version>". */
  updaterVersion: string;
  /** GET /status's answer: readStatus() with the daemon's view. */
  readStatus: () => Promise<HostStatus & { lastCheckAt: string | null }>;
}

export interface FleetReporting {
  /** Stops reporting: revokes the lease (the entry goes at once) if etcd answers. */
  close(): Promise<void>;
}

/** Starts the host's fleet entry when FLEET_STATUS=etcd; undefined otherwise. */
export async function startFleetReporting(options: FleetReportingOptions): Promise<FleetReporting | undefined> {
  const v = options.config.values;
  if (v.FLEET_STATUS !== 'etcd') return undefined;
  const { scheduler, logger } = options;
  let lastCheck: string | null = null;
  const ttlSeconds = Math.round(v.FLEET_LEASE_TTL / 1000);
  const agent = createFleetAgent({
    endpoints: v.ETCD_ENDPOINTS,
    prefix: v.FLEET_PREFIX,
    machineId: await readMachineId(v.MACHINE_ID_PATH),
    group: v.GROUP,
    hostname: os.hostname(),
    ...(v.LOCKSMITHD_GROUP ? { rebootGroup: v.LOCKSMITHD_GROUP } : {}),
    updaterVersion: options.updaterVersion,
    logger,
    ttlSeconds,
    readStatus: async () => {
      const status = await options.readStatus();
      lastCheck = status.lastCheckAt ?? lastCheck;
      return status;
    },
    lastCheck: () => lastCheck,
  });
  const stopEvents = scheduler.subscribe(() => agent.refresh());
  const stopStates = scheduler.watchState(() => agent.refresh());
  // The reboot lock is taken outside the round: a periodic refresh shows it (a write only when the report changed).
  const timer = setInterval(() => agent.refresh(), (ttlSeconds * 1000) / 2);
  timer.unref();
  const stop = new AbortController();
  const running = agent.run(stop.signal);
  logger.info('fleet: publishing this host', { prefix: v.FLEET_PREFIX, group: v.GROUP, ttl: ttlSeconds });
  return {
    async close() {
      clearInterval(timer);
      stopEvents();
      stopStates();
      stop.abort();
      await running;
    },
  };
}
