// What one host publishes under <prefix>/hosts/<machine id>: a summary of its status report, and the check of one read back.


export type HealthResult = 'passed' | 'failed' | 'pending' | 'unknown';

/** One host's entry in the fleet view. Every field comes from the host's own status report (readStatus). */
export interface HostReport {
  machineId: string;
  hostname: string;
  group: string;
  /** The booted slot, or null when the host could not tell. */
  booted: 'A' | 'B' | null;
  /** The version the booted slot runs (null: unknown). */
  version: string | null;
  /** Both slots: the version each holds and its boot state (good, trying, bad, empty). */
  slots: { A: HostSlot; B: HostSlot };
  /** The engine state, update_engine's names. */
  state: string;
  /** An install in progress: the version and how far (0-100). */
  progress: { version: string; percent: number } | null;
  /** When the host last asked its update server (ISO time), null before the first check. */
  lastCheck: string | null;
  lastErrorCode: string | null;
  badVersions: string[];
  health: HealthResult;
  /** Whether this host holds a slot of the reboot lock now. */
  rebootLock: boolean;
  /** The abupdate version the host runs. */
  updaterVersion: string;
  /** When this report was written (ISO time). */
  reportedAt: string;
}

export interface HostSlot {
  version: string | null;
  state: string | null;
}

/**
 * The parts of the host's status report (`abupdate status --json`, the daemon's GET /status: one reader) that the
 * fleet shows, by the same names; any full status report is one.
 */
export interface HostStatus {
  booted: 'A' | 'B' | null;
  slots: { name: 'A' | 'B'; version: string | null; state: string; successful: boolean }[] | null;
  state: string;
  install: { version: string; percent: number } | null;
  lastError: { code: string } | null;
  badVersions: string[];
  committedVersion: string | null;
  /** The version the booted slot runs as the daemon knows it (also before the engine wrote a slot: --current-version, Flatcar's release). */
  currentVersion?: string | null;
}

export interface HostFacts {
  machineId: string;
  hostname: string;
  group: string;
  updaterVersion: string;
  lastCheck: string | null;
  rebootLock: boolean;
  now?: Date;
}

/** The health-check result as the status shows it: a failed check is the last error or a rollback. */
function healthOf(status: HostStatus): HealthResult {
  if (status.state === 'HEALTH_CHECK') return 'pending';
  if (status.state === 'ROLLED_BACK' || status.lastError?.code === 'ERR_HEALTH_CHECK') return 'failed';
  const booted = status.slots?.find((s) => s.name === status.booted);
  if (booted === undefined) return 'unknown';
  return booted.successful ? 'passed' : 'pending';
}

/** Builds the host's fleet entry from its status report (the one status vocabulary) and a few host facts. */
export function hostReportFromStatus(status: HostStatus, facts: HostFacts): HostReport {
  const slot = (name: 'A' | 'B'): HostSlot => {
    const row = status.slots?.find((s) => s.name === name);
    return { version: row?.version ?? null, state: row?.state ?? null };
  };
  const slots = { A: slot('A'), B: slot('B') };
  const install = status.install;
  const installing = install !== null && !['IDLE', 'UPDATED_NEED_REBOOT', 'ROLLED_BACK', 'HEALTH_CHECK'].includes(status.state);
  return {
    machineId: facts.machineId,
    hostname: facts.hostname,
    group: facts.group,
    booted: status.booted,
    version: (status.booted === null ? null : slots[status.booted].version) ?? status.currentVersion ?? status.committedVersion,
    slots,
    state: status.state,
    progress: installing && install ? { version: install.version, percent: install.percent } : null,
    lastCheck: facts.lastCheck,
    lastErrorCode: status.lastError?.code ?? null,
    badVersions: [...status.badVersions],
    health: healthOf(status),
    rebootLock: facts.rebootLock,
    updaterVersion: facts.updaterVersion,
    reportedAt: (facts.now ?? new Date()).toISOString(),
  };
}

/** The part of a report that changes what the fleet shows: a publish is needed only when it differs. */
export function reportFingerprint(report: HostReport): string {
  const { reportedAt: _at, ...rest } = report;
  return JSON.stringify(rest);
}

const isString = (v: unknown): v is string => typeof v === 'string';
const stringOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * Reads a host entry back from etcd, which anyone with write access may have filled: fields of the wrong
 * type become null/empty instead of reaching the dashboard; undefined when it is not a host report at all.
 */
export function parseHostReport(text: string): HostReport | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as Record<string, unknown>;
  if (!isString(r.machineId) || !isString(r.group)) return undefined;
  const slot = (v: unknown): HostSlot => {
    const s = (v !== null && typeof v === 'object' ? v : {}) as Record<string, unknown>;
    return { version: stringOrNull(s.version), state: stringOrNull(s.state) };
  };
  const slots = (r.slots !== null && typeof r.slots === 'object' ? r.slots : {}) as Record<string, unknown>;
  const p = r.progress as Record<string, unknown> | null | undefined;
  const health = ['passed', 'failed', 'pending', 'unknown'].includes(r.health as string) ? (r.health as HealthResult) : 'unknown';
  return {
    machineId: r.machineId,
    hostname: isString(r.hostname) ? r.hostname : '',
    group: r.group,
    booted: r.booted === 'A' || r.booted === 'B' ? r.booted : null,
    version: stringOrNull(r.version),
    slots: { A: slot(slots.A), B: slot(slots.B) },
    state: isString(r.state) ? r.state : 'UNKNOWN',
    progress: p && typeof p === 'object' && isString(p.version) && typeof p.percent === 'number' ? { version: p.version, percent: p.percent } : null,
    lastCheck: stringOrNull(r.lastCheck),
    lastErrorCode: stringOrNull(r.lastErrorCode),
    badVersions: Array.isArray(r.badVersions) ? r.badVersions.filter(isString) : [],
    health,
    rebootLock: r.rebootLock === true,
    updaterVersion: isString(r.updaterVersion) ? r.updaterVersion : '',
    reportedAt: isString(r.reportedAt) ? r.reportedAt : '',
  };
}
