// The rollout history: the first time each host of a group was offered, installed, committed or rolled back each version.

import { HISTORY_EVENTS, type FleetTarget, type HistoryEvent } from './fleet-keys.js';

export interface HistoryMark {
  group: string;
  version: string;
  event: HistoryEvent;
  machineId: string;
  at?: Date;
}

/** Records the event once per host (a create-only txn: a host offered a version ten times keeps its first time). */
export async function recordHistory(t: FleetTarget, mark: HistoryMark): Promise<boolean> {
  const key = t.keys.historyEvent(mark.group, mark.version, mark.event, mark.machineId);
  const value = JSON.stringify({ at: (mark.at ?? new Date()).toISOString() });
  const result = await t.client.txn({ compare: [{ key, target: 'CREATE', result: 'EQUAL', value: '0' }], success: [{ put: { key, value } }] }, `record "${mark.event}" of "${mark.version}"`);
  return result.succeeded;
}

export interface EventSummary {
  hosts: number;
  first: string | null;
  last: string | null;
}

export interface VersionHistory {
  group: string;
  version: string;
  events: Record<HistoryEvent, EventSummary>;
}

/** Folds history keys into one row per group and version, each event with its host count and first/last time. */
export function summarizeHistory(entries: { group: string; version: string; event: HistoryEvent; at: string }[]): VersionHistory[] {
  const rows = new Map<string, VersionHistory>();
  for (const e of entries) {
    const id = `${e.group}\u0000${e.version}`;
    let row = rows.get(id);
    if (row === undefined) {
      row = { group: e.group, version: e.version, events: Object.fromEntries(HISTORY_EVENTS.map((h) => [h, { hosts: 0, first: null, last: null }])) as Record<HistoryEvent, EventSummary> };
      rows.set(id, row);
    }
    const s = row.events[e.event];
    s.hosts += 1;
    if (s.first === null || e.at < s.first) s.first = e.at;
    if (s.last === null || e.at > s.last) s.last = e.at;
  }
  // Oldest first offer first, as a rollout reads.
  return [...rows.values()].sort((a, b) => (a.events.offered.first ?? '~').localeCompare(b.events.offered.first ?? '~') || a.version.localeCompare(b.version));
}

/** The history of every version (of one group, if given). */
export async function readHistory(t: FleetTarget, group?: string): Promise<VersionHistory[]> {
  const range = await t.client.range(t.keys.historyPrefix, { prefix: true });
  const entries = [];
  for (const kv of range.kvs) {
    const parsed = t.keys.parse(kv.key);
    if (parsed?.kind !== 'history' || (group !== undefined && parsed.group !== group)) continue;
    let at = '';
    try {
      at = String((JSON.parse(kv.value) as { at?: unknown }).at ?? '');
    } catch {
      // a damaged value still counts the host, without a time
    }
    entries.push({ group: parsed.group, version: parsed.version, event: parsed.event, at });
  }
  return summarizeHistory(entries);
}
