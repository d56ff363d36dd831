// The update lifecycle as data: the engine's states, the events between them, a pure transition(), and the
// one writer of state.json (every change of the engine state is an event applied here).
//
// Two kinds of event share the one table:
// - engine events change the persisted state (state.json, written atomically under the run lock by the caller):
//   the install pipeline, post-boot, manual rollback, clear-bad;
// - round events are the daemon's update round (check, offer, error report). They live in the daemon's memory
//   only, like update_engine's status: a crash forgets them, and the next round starts again from the persisted
//   state. readStatus() (src/usecases/status.ts) shows a round state while the engine's state is at rest.

import { UpdaterError } from '../../common/errors.js';
import type { FileSystem } from '../../common/file-system.js';
import { loadEngineState, saveEngineState, type EngineState, type EngineStateName, type LoadOptions } from './state-store.js';

export { ENGINE_STATES, type EngineState, type EngineStateName } from './state-store.js';

/** States that exist only in the daemon's round, never in state.json. */
export const ROUND_STATES = ['CHECKING_FOR_UPDATE', 'UPDATE_AVAILABLE', 'REPORTING_ERROR_EVENT'] as const satisfies readonly EngineStateName[];
export type RoundStateName = (typeof ROUND_STATES)[number];

/** States state.json can hold. */
export const PERSISTED_STATES = ['IDLE', 'DOWNLOADING', 'VERIFYING', 'FINALIZING', 'UPDATED_NEED_REBOOT', 'HEALTH_CHECK', 'ROLLED_BACK'] as const satisfies readonly EngineStateName[];
export type PersistedStateName = (typeof PERSISTED_STATES)[number];

/** Persisted states in which nothing is in flight: a daemon round's state is shown over them. */
export const RESTING_STATES = ['IDLE', 'ROLLED_BACK'] as const satisfies readonly PersistedStateName[];

export const ROUND_EVENTS = ['check-started', 'update-found', 'no-update', 'round-failed', 'error-reported'] as const;
export type RoundEvent = (typeof ROUND_EVENTS)[number];

export const ENGINE_EVENTS = [
  'install-started',
  'progress-saved',
  'download-finished',
  'readback-passed',
  'slot-flipped',
  'install-failed',
  'install-refused',
  'install-discarded',
  'health-check-started',
  'health-passed',
  'health-failed',
  'health-failed-kept',
  'rollback-detected',
  'commit-recorded',
  'manual-rollback',
  'bad-versions-cleared',
  'slot-recorded',
] as const;
export type EngineEvent = (typeof ENGINE_EVENTS)[number];

export type LifecycleEvent = RoundEvent | EngineEvent;
export const LIFECYCLE_EVENTS: readonly LifecycleEvent[] = [...ROUND_EVENTS, ...ENGINE_EVENTS];

export interface LifecycleRow {
  event: LifecycleEvent;
  from: readonly EngineStateName[];
  /** The next state; 'same' keeps the state (the event changes only data). */
  to: EngineStateName | 'same';
  /** Who fires it and what it means (the docs/architecture.md table is this column). */
  says: string;
}

const ALL_PERSISTED: readonly EngineStateName[] = PERSISTED_STATES;
const INSTALLING: readonly EngineStateName[] = ['DOWNLOADING', 'VERIFYING', 'FINALIZING'];

/** The whole lifecycle. A (state, event) pair not in it is a bug: transition() throws ERR_ILLEGAL_TRANSITION. */
export const LIFECYCLE_TABLE: readonly LifecycleRow[] = [
  // The daemon's round (memory only).
  {
    event: 'check-started',
    from: [...ALL_PERSISTED, 'UPDATE_AVAILABLE'],
    to: 'CHECKING_FOR_UPDATE',
    says: 'a round starts: the daemon asks the update server (with a reboot pending, a ping only); never while a round runs',
  },
  { event: 'update-found', from: ['CHECKING_FOR_UPDATE'], to: 'UPDATE_AVAILABLE', says: 'the server offers a version this host may install' },
  { event: 'no-update', from: ['CHECKING_FOR_UPDATE'], to: 'IDLE', says: 'nothing to install: no offer, only a version recorded as bad, or a reboot pending' },
  {
    event: 'round-failed',
    from: ['IDLE', 'CHECKING_FOR_UPDATE', 'UPDATE_AVAILABLE', ...ALL_PERSISTED.filter((s) => s !== 'IDLE')],
    to: 'REPORTING_ERROR_EVENT',
    says: 'the check or the install of a round failed; the error is reported to the server (Omaha event 3/0) while in this state',
  },
  { event: 'error-reported', from: ['REPORTING_ERROR_EVENT'], to: 'IDLE', says: 'the round is over; the next one runs after the backoff' },
  // The install pipeline (src/engine/install.ts).
  {
    event: 'install-started',
    from: [...ALL_PERSISTED, 'UPDATE_AVAILABLE'],
    to: 'DOWNLOADING',
    says: 'the bundle head is verified and the target slot disarmed (marked bad); the install record is written',
  },
  { event: 'progress-saved', from: INSTALLING, to: 'same', says: 'a checkpoint: chunks written and fsynced, the chunk bitmap saved' },
  { event: 'download-finished', from: ['DOWNLOADING'], to: 'VERIFYING', says: 'every chunk is written; the slot is read back' },
  { event: 'readback-passed', from: ['VERIFYING'], to: 'FINALIZING', says: 'every chunk read back matched; the boot flags are flipped next' },
  { event: 'slot-flipped', from: ['FINALIZING'], to: 'UPDATED_NEED_REBOOT', says: 'mark-active wrote the new slot as next boot (one try); the slot record is written' },
  { event: 'install-failed', from: INSTALLING, to: 'IDLE', says: 'an install that had touched the slot failed or was stopped; its progress is kept for a resume' },
  { event: 'install-refused', from: ALL_PERSISTED, to: 'same', says: 'an install was refused before writing anything; only lastError changes' },
  { event: 'install-discarded', from: ['VERIFYING'], to: 'IDLE', says: 'the whole bundle did not match what the server stated: first chunk zeroed, resume state dropped' },
  // After the reboot (src/lifecycle/post-boot.ts).
  { event: 'health-check-started', from: ALL_PERSISTED, to: 'HEALTH_CHECK', says: 'post-boot found the booted slot on trial and runs the health checks' },
  { event: 'health-passed', from: ['HEALTH_CHECK'], to: 'IDLE', says: 'mark-good: committed, floor raised, lock released (also finishes a commit a crash cut short)' },
  { event: 'health-failed', from: ['HEALTH_CHECK'], to: 'ROLLED_BACK', says: 'mark-bad, version recorded as bad, reboot into the other slot' },
  { event: 'health-failed-kept', from: ['HEALTH_CHECK'], to: 'IDLE', says: 'failed, but the other slot cannot boot: committed anyway, the failure recorded' },
  { event: 'rollback-detected', from: ['UPDATED_NEED_REBOOT', 'HEALTH_CHECK'], to: 'ROLLED_BACK', says: 'back on the old slot, the new one out of tries: the bootloader fell back' },
  { event: 'commit-recorded', from: ['ROLLED_BACK'], to: 'same', says: 'the booted, committed slot becomes the committed version (after a manual rollback)' },
  { event: 'commit-recorded', from: ALL_PERSISTED.filter((s) => s !== 'ROLLED_BACK'), to: 'IDLE', says: 'the booted, committed slot becomes the committed version' },
  // Commands (src/lifecycle/manual-rollback.ts, clear-bad, first-run records).
  { event: 'manual-rollback', from: ALL_PERSISTED, to: 'IDLE', says: 'abupdate rollback dropped the pending update before changing the flags' },
  { event: 'bad-versions-cleared', from: ALL_PERSISTED, to: 'same', says: 'abupdate clear-bad forgot versions recorded as bad' },
  { event: 'slot-recorded', from: ['IDLE'], to: 'same', says: 'what a slot holds is recorded at first run (factory image), with its version committed' },
];

function rowFor(state: EngineStateName, event: LifecycleEvent): LifecycleRow | undefined {
  return LIFECYCLE_TABLE.find((row) => row.event === event && row.from.includes(state));
}

/** The state after `event` in `state`. Pure. An event the table does not allow there throws ERR_ILLEGAL_TRANSITION (a bug). */
export function transition(state: EngineStateName, event: LifecycleEvent): EngineStateName {
  const row = rowFor(state, event);
  if (row === undefined) {
    const allowed = LIFECYCLE_TABLE.filter((r) => r.event === event).flatMap((r) => r.from);
    throw new UpdaterError('ERR_ILLEGAL_TRANSITION', `Cannot apply lifecycle event "${event}" in state ${state}: the lifecycle table does not allow it`, {
      data: { state, event, allowedFrom: [...new Set(allowed)] },
      hint: 'This is a bug in abupdate; please report it with the output of "abupdate status --json".',
    });
  }
  return row.to === 'same' ? state : row.to;
}

export function isRoundEvent(event: LifecycleEvent): event is RoundEvent {
  return (ROUND_EVENTS as readonly string[]).includes(event);
}

export function isRoundState(state: EngineStateName): state is RoundStateName {
  return (ROUND_STATES as readonly string[]).includes(state);
}

export function isResting(state: EngineStateName): boolean {
  return (RESTING_STATES as readonly string[]).includes(state);
}

/** What an engine event may change besides the state itself. */
export type EngineStateChange = Partial<Omit<EngineState, 'schema' | 'state' | 'updatedAt'>>;

/**
 * Applies an engine event to state.json: reads it, checks the transition, merges `change` (computed from the
 * current state) and writes it atomically. The caller holds the run lock. The only writer of the state file.
 */
export async function applyEngineEvent(
  stateDir: string,
  event: EngineEvent,
  change: EngineStateChange | ((current: EngineState) => EngineStateChange) = {},
  options: LoadOptions & { fs?: FileSystem } = {},
): Promise<EngineState> {
  const current = await loadEngineState(stateDir, options);
  const next: EngineState = { ...current, ...(typeof change === 'function' ? change(current) : change), state: transition(current.state, event) };
  await saveEngineState(stateDir, next, options.fs);
  return next;
}
