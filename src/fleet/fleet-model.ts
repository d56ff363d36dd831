// The fleet as etcd holds it, in memory: loaded with two range reads, kept current by watch events, summarised
// for the CLI, the JSON API and the dashboard (counts per version and state, groups, rollbacks, lock holders).

import type { EtcdClient, EtcdWatchEvent } from '../reboot/etcd-client.js';
import { SEMAPHORE_PREFIX } from '../reboot/etcd-semaphore.js';
import type { FleetKeys } from './fleet-keys.js';
import { parseHostReport, type HostReport } from './host-report.js';
import { parseGroupControl, type GroupControl } from './rollout.js';

export const LOCK_PREFIX = `${SEMAPHORE_PREFIX}/`;

export interface GroupView {
  group: string;
  control: GroupControl;
  hosts: number;
  /** Hosts per booted version. */
  versions: Record<string, number>;
  states: Record<string, number>;
  /** Rolled-back versions: how many hosts, which ones, and whether the gate stopped the version. */
  rollbacks: { version: string; hosts: string[]; stopped: boolean }[];
  stopped: { version: string; at: string | null; rollbacks: number | null }[];
}

export interface RebootLockView {
  key: string;
  /** "" for locksmith's ungrouped key. */
  group: string;
  max: number | null;
  free: number | null;
  holders: string[];
}

export interface FleetSnapshot {
  revision: string;
  generatedAt: string;
  counts: { hosts: number; byVersion: Record<string, number>; byState: Record<string, number> };
  groups: GroupView[];
  rebootLocks: RebootLockView[];
  hosts: HostReport[];
}

const bump = (record: Record<string, number>, key: string): void => {
  record[key] = (record[key] ?? 0) + 1;
};

function parseLock(kv: { key: string; value: string }): RebootLockView | undefined {
  const rest = kv.key.slice(LOCK_PREFIX.length);
  let group: string;
  if (rest === 'semaphore') group = '';
  else {
    const m = /^groups\/(.+)\/semaphore$/.exec(rest);
    if (!m) return undefined;
    try {
      group = decodeURIComponent(m[1]!.replace(/\+/g, '%20'));
    } catch {
      group = m[1]!;
    }
  }
  try {
    const v = JSON.parse(kv.value) as { semaphore?: unknown; max?: unknown; holders?: unknown };
    const holders = Array.isArray(v.holders) ? v.holders.filter((h): h is string => typeof h === 'string') : [];
    return { key: kv.key, group, max: typeof v.max === 'number' ? v.max : null, free: typeof v.semaphore === 'number' ? v.semaphore : null, holders };
  } catch {
    return { key: kv.key, group, max: null, free: null, holders: [] };
  }
}

export class FleetModel {
  readonly keys: FleetKeys;
  revision = '0';
  readonly #values = new Map<string, string>();
  readonly #hosts = new Map<string, HostReport>();
  #snapshot: FleetSnapshot | undefined;

  constructor(keys: FleetKeys) {
    this.keys = keys;
  }

  /** Loads everything under the fleet prefix and the reboot-lock prefix; returns the revision to watch from. */
  async load(client: EtcdClient): Promise<string> {
    const fleet = await client.range(`${this.keys.prefix}/`, { prefix: true });
    const locks = await client.range(LOCK_PREFIX, { prefix: true });
    this.#values.clear();
    this.#hosts.clear();
    for (const kv of [...fleet.kvs, ...locks.kvs]) this.#set(kv.key, kv.value);
    this.revision = fleet.revision;
    this.#snapshot = undefined;
    return fleet.revision;
  }

  /** Applies watch events; returns the hosts that changed (null: gone) and whether anything else did. */
  apply(events: EtcdWatchEvent[], revision: string): { hosts: Map<string, HostReport | null>; other: boolean } {
    const hosts = new Map<string, HostReport | null>();
    let other = false;
    for (const e of events) {
      const parsed = this.keys.parse(e.key);
      if (e.type === 'DELETE') this.#delete(e.key);
      else this.#set(e.key, e.value ?? '');
      if (parsed?.kind === 'host') hosts.set(parsed.machineId, this.#hosts.get(e.key) ?? null);
      else other = true;
    }
    if (BigInt(revision) > BigInt(this.revision)) this.revision = revision;
    this.#snapshot = undefined;
    return { hosts, other };
  }

  #set(key: string, value: string): void {
    this.#values.set(key, value);
    if (this.keys.parse(key)?.kind === 'host') {
      const report = parseHostReport(value);
      if (report) this.#hosts.set(key, report);
      else this.#hosts.delete(key);
    }
  }

  #delete(key: string): void {
    this.#values.delete(key);
    this.#hosts.delete(key);
  }

  /** The whole view (cached until the next change). */
  snapshot(): FleetSnapshot {
    if (this.#snapshot) return this.#snapshot;
    const hosts = [...this.#hosts.values()].sort((a, b) => a.group.localeCompare(b.group) || a.machineId.localeCompare(b.machineId));
    const groups = new Map<string, GroupView>();
    const group = (name: string): GroupView => {
      let g = groups.get(name);
      if (!g) {
        g = { group: name, control: parseGroupControl(undefined), hosts: 0, versions: {}, states: {}, rollbacks: [], stopped: [] };
        groups.set(name, g);
      }
      return g;
    };
    const counts = { hosts: hosts.length, byVersion: {} as Record<string, number>, byState: {} as Record<string, number> };
    for (const h of hosts) {
      const g = group(h.group);
      g.hosts += 1;
      bump(g.versions, h.version ?? 'unknown');
      bump(g.states, h.state);
      bump(counts.byVersion, h.version ?? 'unknown');
      bump(counts.byState, h.state);
    }
    const rebootLocks: RebootLockView[] = [];
    const rollbacks = new Map<string, string[]>();
    for (const [key, value] of this.#values) {
      if (key.startsWith(LOCK_PREFIX)) {
        const lock = parseLock({ key, value });
        if (lock) rebootLocks.push(lock);
        continue;
      }
      const parsed = this.keys.parse(key);
      if (parsed?.kind === 'control') group(parsed.group).control = parseGroupControl(value);
      else if (parsed?.kind === 'stopped') {
        let at: string | null = null;
        let count: number | null = null;
        try {
          const v = JSON.parse(value) as { at?: unknown; rollbacks?: unknown };
          at = typeof v.at === 'string' ? v.at : null;
          count = typeof v.rollbacks === 'number' ? v.rollbacks : null;
        } catch {
          // shown without time
        }
        group(parsed.group).stopped.push({ version: parsed.version, at, rollbacks: count });
      } else if (parsed?.kind === 'rollback') {
        const id = `${parsed.group}\u0000${parsed.version}`;
        rollbacks.set(id, [...(rollbacks.get(id) ?? []), parsed.machineId]);
      }
    }
    for (const [id, machines] of rollbacks) {
      const [name, version] = id.split('\u0000') as [string, string];
      const g = group(name);
      const stopped = g.stopped.some((s) => s.version === version) || (g.control.maxFailures !== null && machines.length >= g.control.maxFailures);
      g.rollbacks.push({ version, hosts: machines.sort(), stopped });
    }
    this.#snapshot = {
      revision: this.revision,
      generatedAt: new Date().toISOString(),
      counts,
      groups: [...groups.values()].sort((a, b) => a.group.localeCompare(b.group)),
      rebootLocks: rebootLocks.sort((a, b) => a.group.localeCompare(b.group)),
      hosts,
    };
    return this.#snapshot;
  }

  host(machineId: string): HostReport | undefined {
    return this.#hosts.get(this.keys.host(machineId));
  }
}

