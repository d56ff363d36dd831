// Rollout control for a group, all through etcd transactions: pause/resume, the failure gate, rollback marks,
// stopped versions, and the decision a host makes before it downloads an offer.

import { UpdaterError } from '../../common/errors.js';
import type { EtcdKeyValue } from '../reboot/etcd-client.js';
import type { FleetTarget } from './fleet-keys.js';
import { recordHistory } from './history.js';

export type { FleetTarget } from './fleet-keys.js';

/** The group's switches, at `<prefix>/groups/<group>/control`. */
export interface GroupControl {
  paused: boolean;
  /** The gate: a version is stopped for the group once this many hosts rolled it back; null = no gate. */
  maxFailures: number | null;
  updatedAt: string | null;
  /** Who changed it last (the CLI's user@host, or "dashboard"). */
  updatedBy: string | null;
}

export const DEFAULT_CONTROL: GroupControl = { paused: false, maxFailures: null, updatedAt: null, updatedBy: null };

const MAX_CAS_ATTEMPTS = 50;

/** Reads a control value; anything that does not parse counts as no switches set (and is overwritten by the next change). */
export function parseGroupControl(text: string | undefined): GroupControl {
  if (text === undefined) return { ...DEFAULT_CONTROL };
  try {
    const v = JSON.parse(text) as Partial<GroupControl>;
    return {
      paused: v.paused === true,
      maxFailures: Number.isSafeInteger(v.maxFailures) && (v.maxFailures as number) > 0 ? (v.maxFailures as number) : null,
      updatedAt: typeof v.updatedAt === 'string' ? v.updatedAt : null,
      updatedBy: typeof v.updatedBy === 'string' ? v.updatedBy : null,
    };
  } catch {
    return { ...DEFAULT_CONTROL };
  }
}

export async function readGroupControl(target: FleetTarget, group: string): Promise<GroupControl> {
  return parseGroupControl((await target.client.get(target.keys.control(group)))?.value);
}

/** Changes the group's control key by compare-and-swap in one txn (created if absent), retrying a lost race. */
export async function updateGroupControl(
  target: FleetTarget,
  group: string,
  change: (current: GroupControl) => Partial<GroupControl>,
  by: string,
): Promise<{ before: GroupControl; after: GroupControl }> {
  const key = target.keys.control(group);
  let kv: EtcdKeyValue | undefined = await target.client.get(key);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const before = parseGroupControl(kv?.value);
    const after: GroupControl = { ...before, ...change(before), updatedAt: new Date().toISOString(), updatedBy: by };
    const compare = kv === undefined ? { key, target: 'CREATE' as const, result: 'EQUAL' as const, value: '0' } : { key, target: 'MOD' as const, result: 'EQUAL' as const, value: kv.modRevision };
    const result = await target.client.txn({ compare: [compare], success: [{ put: { key, value: JSON.stringify(after) } }], failure: [{ range: { key } }] }, `change the rollout control of group "${group}"`);
    if (result.succeeded) return { before, after };
    kv = result.ranges[0]?.[0];
  }
  throw new UpdaterError('ERR_ETCD', `Cannot change the rollout control of group "${group}": it kept changing under us`, { hint: 'Try again.' });
}

export const pauseGroup = (t: FleetTarget, group: string, by: string) => updateGroupControl(t, group, () => ({ paused: true }), by);
export const resumeGroup = (t: FleetTarget, group: string, by: string) => updateGroupControl(t, group, () => ({ paused: false }), by);

/** Sets (or with null removes) the gate, then stops every version already at the limit. */
export async function setGate(t: FleetTarget, group: string, maxFailures: number | null, by: string): Promise<{ control: GroupControl; stopped: string[] }> {
  if (maxFailures !== null && (!Number.isSafeInteger(maxFailures) || maxFailures < 1)) {
    throw new UpdaterError('ERR_USAGE', `Cannot set the gate of group "${group}" to "${maxFailures}": --max-failures must be a whole number, 1 or more`);
  }
  const { after } = await updateGroupControl(t, group, () => ({ maxFailures }), by);
  const stopped: string[] = [];
  if (maxFailures !== null) {
    for (const [version, hosts] of await readRollbacks(t, group)) {
      if (hosts.length >= maxFailures && (await stopVersion(t, group, version, hosts.length, maxFailures))) stopped.push(version);
    }
  }
  return { control: after, stopped };
}

/** The rollbacks of a group: version -> machine ids that rolled it back. */
export async function readRollbacks(t: FleetTarget, group: string): Promise<Map<string, string[]>> {
  const range = await t.client.range(`${t.keys.groupPrefix(group)}rollbacks/`, { prefix: true });
  const byVersion = new Map<string, string[]>();
  for (const kv of range.kvs) {
    const parsed = t.keys.parse(kv.key);
    if (parsed?.kind !== 'rollback') continue;
    byVersion.set(parsed.version, [...(byVersion.get(parsed.version) ?? []), parsed.machineId]);
  }
  return byVersion;
}

/** Writes the stopped mark once (create-only txn); false when it was there already. */
async function stopVersion(t: FleetTarget, group: string, version: string, rollbacks: number, maxFailures: number): Promise<boolean> {
  const key = t.keys.stopped(group, version);
  const value = JSON.stringify({ at: new Date().toISOString(), rollbacks, maxFailures });
  const result = await t.client.txn({ compare: [{ key, target: 'CREATE', result: 'EQUAL', value: '0' }], success: [{ put: { key, value } }] }, `stop version "${version}" in group "${group}"`);
  return result.succeeded;
}

export interface RollbackMark {
  group: string;
  version: string;
  machineId: string;
  /** The error code that made it roll back (ERR_HEALTH_CHECK, ERR_ROLLBACK). */
  code: string;
  at?: Date;
}

/**
 * Marks a rollback of `version` by this host (and its history event) in one txn, then counts the group's
 * rollbacks of that version: at the gate's limit the version is stopped. Each host writes before it counts,
 * so of N hosts rolling back at once the last to count sees all N.
 */
export async function markRollback(t: FleetTarget, mark: RollbackMark): Promise<{ rollbacks: number; stopped: boolean }> {
  const at = (mark.at ?? new Date()).toISOString();
  const key = t.keys.rollback(mark.group, mark.version, mark.machineId);
  await t.client.txn({ compare: [], success: [{ put: { key, value: JSON.stringify({ at, code: mark.code }) } }] }, `mark the rollback of "${mark.version}"`);
  await recordHistory(t, { group: mark.group, version: mark.version, event: 'rolled-back', machineId: mark.machineId, at: mark.at ?? new Date(at) });
  const rollbacks = (await t.client.range(t.keys.rollbacksOf(mark.group, mark.version), { prefix: true, countOnly: true })).count;
  const control = await readGroupControl(t, mark.group);
  const stopped = control.maxFailures !== null && rollbacks >= control.maxFailures && (await stopVersion(t, mark.group, mark.version, rollbacks, control.maxFailures));
  return { rollbacks, stopped };
}

export type RolloutDecision =
  | { action: 'install' }
  | { action: 'hold'; reason: 'paused'; control: GroupControl }
  | { action: 'skip'; reason: 'stopped'; rollbacks: number; maxFailures: number | null };

/**
 * What a host of `group` does with an offer of `version`, read in one txn (the control key, the stopped mark and
 * the rollbacks of that version at one revision): skip a stopped version (without downloading it), hold while
 * the group is paused, else install.
 */
export async function rolloutDecision(t: FleetTarget, group: string, version: string): Promise<RolloutDecision> {
  const control = t.keys.control(group);
  const stopped = t.keys.stopped(group, version);
  const result = await t.client.txn(
    { compare: [], success: [{ range: { key: control } }, { range: { key: stopped } }, { range: { key: t.keys.rollbacksOf(group, version), prefix: true } }] },
    `read the rollout control of group "${group}"`,
  );
  const [controlKv, stoppedKv, rollbackKvs] = [result.ranges[0]?.[0], result.ranges[1]?.[0], result.ranges[2] ?? []];
  const c = parseGroupControl(controlKv?.value);
  const rollbacks = rollbackKvs.length;
  if (stoppedKv !== undefined || (c.maxFailures !== null && rollbacks >= c.maxFailures)) {
    return { action: 'skip', reason: 'stopped', rollbacks, maxFailures: c.maxFailures };
  }
  if (c.paused) return { action: 'hold', reason: 'paused', control: c };
  return { action: 'install' };
}
