// locksmith's reboot semaphore in etcd: one JSON key per group, changed only by compare-and-swap (v3 mod_revision,
// or v2 modifiedIndex as locksmithd itself does).

import { UpdaterError, isUpdaterError } from '../../common/errors.js';
import type { EtcdClient } from './etcd-client.js';

/** What the semaphore needs of etcd: the v3 client (EtcdClient) or the v2 keys-API client (EtcdV2Client). */
export type SemaphoreStore = Pick<EtcdClient, 'get' | 'compareAndSwap'>;

export const SEMAPHORE_PREFIX = 'coreos.com/updateengine/rebootlock';

/** The value stored at the key, exactly locksmith's JSON shape. */
export interface Semaphore {
  /** Free slots: max minus the number of holders. */
  semaphore: number;
  max: number;
  holders: string[];
}

export interface SemaphoreState extends Semaphore {
  key: string;
  modRevision: string;
}

export interface SemaphoreTarget {
  client: SemaphoreStore;
  /** The reboot group; undefined or "" is locksmith's default (ungrouped) key. */
  group?: string | undefined;
}

const MAX_CAS_ATTEMPTS = 100;

/** Go's url.QueryEscape, which locksmith uses for the group: unreserved A-Za-z0-9-_.~ kept, space as "+". */
export function queryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** `coreos.com/updateengine/rebootlock/semaphore`, or `.../groups/<escaped group>/semaphore`. */
export function semaphoreKey(group?: string): string {
  if (group === undefined || group === '') return `${SEMAPHORE_PREFIX}/semaphore`;
  return `${SEMAPHORE_PREFIX}/groups/${queryEscape(group)}/semaphore`;
}

function parseSemaphore(key: string, text: string): Semaphore {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const s = value as Partial<Semaphore> | undefined;
  if (
    s === undefined ||
    s === null ||
    typeof s !== 'object' ||
    !Number.isSafeInteger(s.semaphore) ||
    !Number.isSafeInteger(s.max) ||
    // locksmith's initial value has "holders": null (a nil Go slice), and so does a key it never locked.
    !(s.holders === null || (Array.isArray(s.holders) && s.holders.every((h) => typeof h === 'string')))
  ) {
    throw new UpdaterError('ERR_REBOOT_LOCK', `Cannot read the reboot lock: the value of "${key}" is not a semaphore: ${JSON.stringify(text.slice(0, 200))}`, {
      data: { key },
      hint: `Inspect it with "etcdctl get ${key}"; "abupdate reboot-lock set-max N" rewrites it only when it parses.`,
    });
  }
  return { semaphore: s.semaphore as number, max: s.max as number, holders: s.holders ?? [] };
}

const encode = (s: Semaphore): string => JSON.stringify({ semaphore: s.semaphore, max: s.max, holders: s.holders });

/** Reads the semaphore, creating it with max 1 (locksmith's default) when the key does not exist. */
export async function readSemaphore(target: SemaphoreTarget): Promise<SemaphoreState> {
  const key = semaphoreKey(target.group);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const kv = await target.client.get(key);
    if (kv !== undefined) return { key, modRevision: kv.modRevision, ...parseSemaphore(key, kv.value) };
    const initial: Semaphore = { semaphore: 1, max: 1, holders: [] };
    const result = await target.client.compareAndSwap(key, undefined, encode(initial));
    if (result.succeeded) {
      const created = await target.client.get(key);
      if (created !== undefined) return { key, modRevision: created.modRevision, ...parseSemaphore(key, created.value) };
    }
  }
  throw conflict(key, 'read');
}

/**
 * Applies `change` to the semaphore by compare-and-swap, re-reading and re-applying on a lost race.
 * `change` returns the new value, or undefined to leave the key as it is.
 */
async function updateSemaphore(
  target: SemaphoreTarget,
  what: string,
  change: (current: Semaphore) => Semaphore | undefined,
): Promise<{ before: SemaphoreState; after: Semaphore; changed: boolean }> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const before = await readSemaphore(target);
    const after = change(before);
    if (after === undefined) return { before, after: before, changed: false };
    const result = await target.client.compareAndSwap(before.key, before.modRevision, encode(after));
    if (result.succeeded) return { before, after, changed: true };
    // Someone else changed it between our read and write: back off a little and try again.
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * Math.min(attempt + 1, 10)));
  }
  throw conflict(semaphoreKey(target.group), what);
}

function conflict(key: string, what: string): UpdaterError {
  return new UpdaterError('ERR_REBOOT_LOCK', `Cannot ${what} the reboot lock "${key}": it kept changing under us (${MAX_CAS_ATTEMPTS} compare-and-swap attempts lost)`, {
    data: { key },
    hint: 'Many hosts are contending for the lock; try again.',
  });
}

/**
 * Takes one slot of the semaphore for `id`. Idempotent: a holder that already holds it gets
 * `{alreadyHeld: true}`. Throws ERR_REBOOT_LOCK with the holders when no slot is free.
 */
export async function lockSemaphore(target: SemaphoreTarget, id: string): Promise<{ state: Semaphore; alreadyHeld: boolean }> {
  let alreadyHeld = false;
  const { after, before } = await updateSemaphore(target, 'take', (s) => {
    if (s.holders.includes(id)) {
      alreadyHeld = true;
      return undefined;
    }
    if (s.semaphore <= 0) {
      throw new UpdaterError('ERR_REBOOT_LOCK', `Cannot take the reboot lock for "${id}": all ${s.max} slot(s) are held (holders: ${s.holders.map((h) => `"${h}"`).join(', ') || 'none'})`, {
        data: { key: semaphoreKey(target.group), id, holders: s.holders, max: s.max, semaphore: s.semaphore, full: true },
        hint: 'Wait for a holder to release it; a holder that never came back can be freed with "abupdate reboot-lock unlock ID".',
      });
    }
    return { semaphore: s.semaphore - 1, max: s.max, holders: insertSorted(s.holders, id) };
  });
  return { state: alreadyHeld ? before : after, alreadyHeld };
}

/** locksmith keeps holders sorted (Go's sort.SearchStrings: byte order); so do we. */
function insertSorted(holders: string[], id: string): string[] {
  const at = holders.findIndex((h) => Buffer.compare(Buffer.from(h), Buffer.from(id)) > 0);
  return at < 0 ? [...holders, id] : [...holders.slice(0, at), id, ...holders.slice(at)];
}

/** Releases `id`'s slot. Returns released: false (and changes nothing) when `id` does not hold it. */
export async function unlockSemaphore(target: SemaphoreTarget, id: string): Promise<{ state: Semaphore; released: boolean }> {
  const { after, changed } = await updateSemaphore(target, 'release', (s) => {
    if (!s.holders.includes(id)) return undefined;
    return { semaphore: s.semaphore + 1, max: s.max, holders: s.holders.filter((h) => h !== id) };
  });
  return { state: after, released: changed };
}

/**
 * Sets how many hosts may hold the lock at once, moving the free count by the same amount (locksmith's
 * SetMax). Refuses a max below the number of current holders, which would make the free count negative.
 */
export async function setSemaphoreMax(target: SemaphoreTarget, max: number): Promise<{ state: Semaphore; previousMax: number }> {
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new UpdaterError('ERR_USAGE', `Cannot set the reboot lock max to "${max}": it must be a whole number, 0 or more`);
  }
  let previousMax = 0;
  const { after } = await updateSemaphore(target, 'resize', (s) => {
    previousMax = s.max;
    const semaphore = s.semaphore + (max - s.max);
    if (semaphore < 0) {
      throw new UpdaterError('ERR_REBOOT_LOCK', `Cannot set the reboot lock max to ${max}: ${s.holders.length} host(s) hold it now (${s.holders.map((h) => `"${h}"`).join(', ')}), which would leave ${semaphore} free slots`, {
        data: { key: semaphoreKey(target.group), max, holders: s.holders, semaphore: s.semaphore },
        hint: 'Wait until holders release it, or free one with "abupdate reboot-lock unlock ID", then set the max again.',
      });
    }
    if (max === s.max) return undefined;
    return { semaphore, max, holders: s.holders };
  });
  return { state: after, previousMax };
}

/** True for the "all slots are held" refusal of lockSemaphore (as opposed to etcd being unreachable). */
export function isSemaphoreFull(error: unknown): boolean {
  return isUpdaterError(error, 'ERR_REBOOT_LOCK') && error.data?.full === true;
}
