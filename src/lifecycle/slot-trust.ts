// One rule for every command that makes a slot bootable (mark-good, mark-active, rollback): what the engine knows
// about the slot's content, and whether that is enough; --force overrides it and says what it risks.

import { UpdaterError } from '../../common/errors.js';
import type { SlotStatus } from '../../partition/boot-control.js';
import type { SlotName } from '../../partition/slots.js';
import type { EngineState } from '../engine/state-store.js';

/**
 * running: the booted slot (the kernel runs it). committed: its flags say a healthy boot committed it. installed: the
 * engine wrote it and read every chunk back (a slot record). half-written: an install into it started and did not
 * finish. refused: no record, and the last install aimed at it was refused (its bundle did not pass verification;
 * nothing of it was written). discarded: no record, and its last install was dropped (its whole bundle was wrong, the
 * first chunk zeroed). unknown: the engine has no record of what it holds and no note of why (never installed by it).
 */
export type SlotContent = 'running' | 'committed' | 'installed' | 'half-written' | 'refused' | 'discarded' | 'unknown';

export interface SlotTrust {
  slot: SlotName;
  content: SlotContent;
  version: string | null;
  /** Why, in words for a message: "an install of 2.0.0 into it did not finish (DOWNLOADING, 12 of 48 chunks)". */
  why: string;
}

export type BootOperationName = 'mark-good' | 'mark-active' | 'rollback';

/** What the engine state and the flags say about SLOT's content. */
export function slotTrust(slot: SlotName, context: { state: EngineState; status: readonly SlotStatus[]; booted: SlotName | null }): SlotTrust {
  const { state, booted } = context;
  const flags = context.status.find((s) => s.name === slot);
  const record = state.slots[slot];
  const install = state.install;
  if (slot === booted) return { slot, content: 'running', version: record?.version ?? null, why: 'it is the booted slot' };
  if (install !== null && install.targetSlot === slot && !(state.state === 'UPDATED_NEED_REBOOT' && record !== undefined)) {
    return { slot, content: 'half-written', version: null, why: `an install of ${install.version} into it did not finish (engine state ${state.state})` };
  }
  if (flags?.successful === true && flags.priority > 0) return { slot, content: 'committed', version: record?.version ?? null, why: 'it is committed' };
  if (record !== undefined) return { slot, content: 'installed', version: record.version, why: `the engine wrote ${record.version} and read it back` };
  const note = state.slotNotes?.[slot];
  const of = note?.version ? ` of ${note.version}` : '';
  if (note?.outcome === 'refused') {
    return { slot, content: 'refused', version: null, why: `an install${of} aimed at it was refused (${note.code}): the bundle did not pass verification, nothing of it was written, and the engine has no record of what slot ${slot} holds` };
  }
  if (note?.outcome === 'discarded') {
    return { slot, content: 'discarded', version: null, why: `an install${of} into it was discarded (${note.code}): its first chunk was zeroed, so slot ${slot} holds no bootable system` };
  }
  const last = state.lastError ? ` (the last error: ${state.lastError.code})` : '';
  return { slot, content: 'unknown', version: null, why: `the engine has no record of what slot ${slot} holds: never installed by it, or the install was refused or discarded${last}` };
}

/** Contents each operation accepts without --force. */
const ACCEPTED: Record<BootOperationName, readonly SlotContent[]> = {
  'mark-good': ['running', 'committed', 'installed'],
  'mark-active': ['running', 'committed', 'installed'],
  // A manual rollback boots the other slot as committed: only a slot a healthy boot committed qualifies.
  rollback: ['committed'],
};

/** What --force risks, per operation. */
const RISK: Record<BootOperationName, string> = {
  'mark-good': 'it boots first with no tries to spend, so if it does not hold a bootable system the bootloader has no fallback and the host stops booting',
  'mark-active': 'it gets its tries; if it does not hold a bootable system the boot fails and the bootloader falls back to the other slot',
  rollback: 'it boots on trial (one try); if it fails the bootloader falls back to the booted slot',
};

export interface MayBootResult {
  /** Set when --force overrode the rule: what was overridden and what it risks (print it as a warning). */
  forced: string | null;
}

/**
 * Refuses OPERATION on a slot whose content is not good enough for it (ERR_SLOT_UNVERIFIED; rollback keeps its
 * ERR_ROLLBACK), unless FORCE, which returns what it risks.
 */
export function checkMayBoot(operation: BootOperationName, trust: SlotTrust, force: boolean, options: { message?: string; data?: Record<string, unknown> } = {}): MayBootResult {
  if (ACCEPTED[operation].includes(trust.content)) return { forced: null };
  const done = operation === 'mark-good' ? 'committed' : operation === 'mark-active' ? 'made active' : 'rolled to';
  if (force) return { forced: `--force: slot ${trust.slot} is ${done} although ${trust.why}; ${RISK[operation]}` };
  const code = operation === 'rollback' ? 'ERR_ROLLBACK' : 'ERR_SLOT_UNVERIFIED';
  throw new UpdaterError(code, options.message ?? `Cannot ${operation} slot ${trust.slot}: its content is not verified: ${trust.why}`, {
    data: { slot: trust.slot, operation, content: trust.content, version: trust.version, ...options.data },
    hint:
      operation === 'rollback'
        ? `Slot ${trust.slot} may hold nothing bootable; use --force only if you know it does (${RISK[operation]}).`
        : `Install a bundle into it (abupdate install), which writes and reads back every chunk. Pass --force only if you know it holds a bootable system: ${RISK[operation]}.`,
  });
}
