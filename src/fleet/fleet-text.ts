// The fleet view as text for the terminal: counts at the top, then one row per host; the history per version.

import type { VersionHistory } from './history.js';
import type { FleetSnapshot } from './fleet-model.js';
import type { HostReport } from './host-report.js';

/** Left-aligned columns, two spaces apart. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const counts = (record: Record<string, number>): string =>
  Object.entries(record)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || '(none)';

/** "2026-12-01 10:20:03" in UTC, or "-". */
export function shortTime(iso: string | null): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

export function hostsInGroup(snapshot: FleetSnapshot, group: string | undefined): HostReport[] {
  return group === undefined ? snapshot.hosts : snapshot.hosts.filter((h) => h.group === group);
}

/** `abupdate fleet status`: the counts per version and per state, group switches, then the host table. */
export function fleetStatusText(snapshot: FleetSnapshot, group?: string): string {
  const hosts = hostsInGroup(snapshot, group);
  const byVersion: Record<string, number> = {};
  const byState: Record<string, number> = {};
  for (const h of hosts) {
    byVersion[h.version ?? 'unknown'] = (byVersion[h.version ?? 'unknown'] ?? 0) + 1;
    byState[h.state] = (byState[h.state] ?? 0) + 1;
  }
  const lines = [`Hosts: ${hosts.length}${group === undefined ? '' : ` in group ${group}`}`, `Versions: ${counts(byVersion)}`, `States: ${counts(byState)}`];
  for (const g of snapshot.groups.filter((x) => group === undefined || x.group === group)) {
    const switches = [g.control.paused ? 'PAUSED' : 'rolling', g.control.maxFailures === null ? 'no gate' : `gate ${g.control.maxFailures} rollback(s)`];
    const stopped = g.stopped.length > 0 ? `; stopped: ${g.stopped.map((s) => s.version).join(', ')}` : '';
    lines.push(`Group ${g.group}: ${switches.join(', ')}${stopped}`);
  }
  const holders = snapshot.rebootLocks.filter((l) => l.holders.length > 0).map((l) => `${l.group === '' ? '(ungrouped)' : l.group}: ${l.holders.join(', ')}`);
  lines.push(`Reboot lock held by: ${holders.length === 0 ? '(nobody)' : holders.join('; ')}`);
  lines.push('');
  const rows = hosts.map((h) => [h.machineId, h.group, h.version ?? '-', h.state + (h.progress ? ` ${h.progress.percent}%` : ''), shortTime(h.lastCheck), h.health]);
  lines.push(formatTable(['HOST', 'GROUP', 'VERSION', 'STATE', 'LAST CHECK', 'HEALTH'], rows));
  return lines.join('\n');
}

/** `abupdate fleet hosts`: every field of every host's report. */
export function fleetHostsText(snapshot: FleetSnapshot, group?: string): string {
  const rows = hostsInGroup(snapshot, group).map((h) => [
    h.machineId,
    h.hostname || '-',
    h.group,
    h.booted ?? '?',
    `${h.slots.A.version ?? '-'} (${h.slots.A.state ?? '?'})`,
    `${h.slots.B.version ?? '-'} (${h.slots.B.state ?? '?'})`,
    h.state,
    h.lastErrorCode ?? '-',
    h.badVersions.join(',') || '-',
    h.rebootLock ? 'yes' : 'no',
    h.updaterVersion || '-',
    shortTime(h.reportedAt),
  ]);
  return formatTable(['HOST', 'HOSTNAME', 'GROUP', 'BOOTED', 'SLOT A', 'SLOT B', 'STATE', 'LAST ERROR', 'BAD', 'LOCK', 'ABUPDATE', 'REPORTED'], rows);
}

/** `abupdate fleet history`: per version, each event's host count and first time. */
export function fleetHistoryText(history: VersionHistory[]): string {
  if (history.length === 0) return 'No rollout history yet.';
  const cell = (e: { hosts: number; first: string | null }) => (e.hosts === 0 ? '-' : `${e.hosts} (first ${shortTime(e.first)})`);
  const rows = history.map((h) => [h.group, h.version, cell(h.events.offered), cell(h.events.installed), cell(h.events.committed), cell(h.events['rolled-back'])]);
  return formatTable(['GROUP', 'VERSION', 'OFFERED', 'INSTALLED', 'COMMITTED', 'ROLLED BACK'], rows);
}
