// The fleet's key schema in etcd: where host reports, group switches, rollbacks, stopped versions and history live.

import type { EtcdClient } from '../reboot/etcd-client.js';
import { queryEscape } from '../reboot/etcd-semaphore.js';

/** Where the fleet is: an etcd client and the keys under one prefix. */
export interface FleetTarget {
  client: EtcdClient;
  keys: FleetKeys;
}

/** FLEET_PREFIX's default: every fleet key lives under it. */
export const DEFAULT_FLEET_PREFIX = 'abupdate/fleet';

/** The history events of a version in a group, in the order a host meets them. */
export const HISTORY_EVENTS = ['offered', 'installed', 'committed', 'rolled-back'] as const;
export type HistoryEvent = (typeof HISTORY_EVENTS)[number];

/** Go's url.QueryUnescape for the names we escaped with queryEscape. */
function queryUnescape(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, '%20'));
  } catch {
    return text;
  }
}

const clean = (prefix: string): string => prefix.replace(/\/+$/, '');

/**
 * Every key of one fleet prefix. Names (group, version, machine id) are query-escaped so a "/" in one
 * cannot reach into another part of the schema.
 */
export class FleetKeys {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_FLEET_PREFIX) {
    this.prefix = clean(prefix);
  }

  /** `<prefix>/hosts/`: one key per host, bound to the host's lease. */
  get hostsPrefix(): string {
    return `${this.prefix}/hosts/`;
  }

  host(machineId: string): string {
    return `${this.hostsPrefix}${queryEscape(machineId)}`;
  }

  /** `<prefix>/groups/`: control, rollbacks and stopped versions of every group. */
  get groupsPrefix(): string {
    return `${this.prefix}/groups/`;
  }

  groupPrefix(group: string): string {
    return `${this.groupsPrefix}${queryEscape(group)}/`;
  }

  /** The group's switches: `{"paused":bool,"maxFailures":N|null,...}`, changed by compare-and-swap. */
  control(group: string): string {
    return `${this.groupPrefix(group)}control`;
  }

  rollbacksOf(group: string, version: string): string {
    return `${this.groupPrefix(group)}rollbacks/${queryEscape(version)}/`;
  }

  rollback(group: string, version: string, machineId: string): string {
    return `${this.rollbacksOf(group, version)}${queryEscape(machineId)}`;
  }

  /** Set once, by the rollback that reached the gate's limit: the version is not installed in the group any more. */
  stopped(group: string, version: string): string {
    return `${this.groupPrefix(group)}stopped/${queryEscape(version)}`;
  }

  /** `<prefix>/history/`: first time each host met each event of each version. */
  get historyPrefix(): string {
    return `${this.prefix}/history/`;
  }

  historyEvent(group: string, version: string, event: HistoryEvent, machineId: string): string {
    return `${this.historyPrefix}${queryEscape(group)}/${queryEscape(version)}/${event}/${queryEscape(machineId)}`;
  }

  /** What a key under the prefix is, or undefined for a key this schema does not know. */
  parse(key: string): FleetKey | undefined {
    if (!key.startsWith(`${this.prefix}/`)) return undefined;
    const parts = key.slice(this.prefix.length + 1).split('/').map(queryUnescape);
    const [kind, a, b, c, d] = parts;
    if (kind === 'hosts' && parts.length === 2 && a) return { kind: 'host', machineId: a };
    if (kind === 'groups' && a) {
      if (b === 'control' && parts.length === 3) return { kind: 'control', group: a };
      if (b === 'rollbacks' && parts.length === 5 && c && d) return { kind: 'rollback', group: a, version: c, machineId: d };
      if (b === 'stopped' && parts.length === 4 && c) return { kind: 'stopped', group: a, version: c };
    }
    if (kind === 'history' && parts.length === 5 && a && b && d && (HISTORY_EVENTS as readonly string[]).includes(c ?? '')) {
      return { kind: 'history', group: a, version: b, event: c as HistoryEvent, machineId: d };
    }
    return undefined;
  }
}

export type FleetKey =
  | { kind: 'host'; machineId: string }
  | { kind: 'control'; group: string }
  | { kind: 'rollback'; group: string; version: string; machineId: string }
  | { kind: 'stopped'; group: string; version: string }
  | { kind: 'history'; group: string; version: string; event: HistoryEvent; machineId: string };
