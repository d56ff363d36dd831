// The states a power cut can leave from a recorded trace. Model (ext4 data=ordered, a volatile disk cache):
// a file's data writes are durable once that file is fsynced later in the trace; before that any subset of them
// may have reached the disk, in any order, and a write larger than a sector may be torn (a sector-aligned prefix).
// Namespace changes (create, rename, unlink, mkdir) are journaled in order: durable once their directory is
// fsynced, before that some prefix of them persisted.

import type { TraceOp } from './recording-fs.js';
import { prng } from '../../fixtures/prng.js';

export const SECTOR = 512;

/** One op of a crash state, applied in this order; `bytes` cuts a write short (torn). */
export interface AppliedOp {
  index: number;
  bytes?: number;
}

export interface CrashState {
  /** "prefix K" or "sample N (seed S)": enough to replay it with crashState(). */
  label: string;
  prefix: number;
  ops: AppliedOp[];
}

const isData = (op: TraceOp) => op.op === 'write' || op.op === 'truncate';
const dirOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');

function opPaths(op: TraceOp): string[] {
  return op.op === 'rename' ? [op.from, op.to] : [op.path];
}

/** For each of the first K ops: is it durable (an fsync of its file, or of its directory, follows before K)? */
export function durableBefore(trace: readonly TraceOp[], k: number): boolean[] {
  const durable = new Array<boolean>(k).fill(false);
  const syncedLater = new Set<string>();
  for (let i = k - 1; i >= 0; i--) {
    const op = trace[i] as TraceOp;
    if (op.op === 'fsync') {
      durable[i] = true;
      syncedLater.add(op.path);
      continue;
    }
    durable[i] = isData(op) ? syncedLater.has(opPaths(op)[0] as string) : opPaths(op).every((p) => syncedLater.has(dirOf(p)));
  }
  return durable;
}

/** Every prefix of the trace, persisted in order: what a crash after op K-1 leaves on an in-order disk. */
export function prefixStates(trace: readonly TraceOp[]): CrashState[] {
  return Array.from({ length: trace.length + 1 }, (_, k) => ({ label: `prefix ${k}`, prefix: k, ops: Array.from({ length: k }, (_, index) => ({ index })) }));
}

/**
 * A sampled crash state (replayable from SEED): a crash point, then the durable ops, a prefix of the pending namespace
 * ops, and a random subset of the pending data writes in a random order, some torn.
 */
export function sampledState(trace: readonly TraceOp[], seed: number): CrashState {
  const rnd = prng(seed);
  const k = 1 + Math.floor(rnd() * trace.length);
  const durable = durableBefore(trace, k);
  const pendingNames: number[] = [];
  const pendingData: number[] = [];
  const keep: AppliedOp[] = [];
  for (let i = 0; i < k; i++) {
    const op = trace[i] as TraceOp;
    if (op.op === 'fsync') continue;
    if (durable[i]) keep.push({ index: i });
    else if (isData(op)) pendingData.push(i);
    else pendingNames.push(i);
  }
  const namesCut = Math.floor(rnd() * (pendingNames.length + 1));
  for (const i of pendingNames.slice(0, namesCut)) keep.push({ index: i });
  const chosen = pendingData.filter(() => rnd() < 0.5);
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [chosen[i], chosen[j]] = [chosen[j] as number, chosen[i] as number];
  }
  // durable and namespace ops first in trace order, then the pending writes in the cache's order
  keep.sort((a, b) => a.index - b.index);
  const ops = [...keep];
  for (const i of chosen) {
    const op = trace[i] as TraceOp;
    if (op.op === 'write' && op.data.length > SECTOR && rnd() < 0.3) ops.push({ index: i, bytes: SECTOR * Math.floor(rnd() * Math.ceil(op.data.length / SECTOR)) });
    else ops.push({ index: i });
  }
  return { label: `sample (seed ${seed})`, prefix: k, ops };
}

/** The first write of the trace larger than a sector, torn at every sector boundary: torn-write states. */
export function tornStates(trace: readonly TraceOp[], limit = 8): CrashState[] {
  const states: CrashState[] = [];
  trace.forEach((op, index) => {
    if (op.op !== 'write' || op.data.length <= SECTOR) return;
    const sectors = Math.ceil(op.data.length / SECTOR);
    const step = Math.max(1, Math.floor(sectors / limit));
    for (let s = 1; s < sectors; s += step) {
      states.push({ label: `torn write ${index} at sector ${s}`, prefix: index + 1, ops: [...Array.from({ length: index }, (_, i) => ({ index: i })), { index, bytes: s * SECTOR }] });
    }
  });
  return states;
}
