// The mark-active / mark-good / mark-bad operations as pure flag changes (Flatcar's cgpt add +
// cgpt prioritize), the DESIGN invariant checked before every write, and a BootControl over a flag store.

import { UpdaterError } from '../common/errors.js';
import { bootOrder, isBootable, slotState, type BootControl, type BootloaderKind, type FlagsBySlot, type SlotFlags, type SlotStatus } from './boot-control.js';
import { otherSlot, SLOT_NAMES, type SlotName, type Slots } from './slots.js';

export type BootOperation = 'mark-active' | 'mark-good' | 'mark-bad';

/**
 * `cgpt prioritize` for two slots: SLOT goes to the top. With the other slot at priority > 0 the
 * result is SLOT 2, other 1; with the other at 0 it is SLOT 1, other stays 0 (cgpt never lowers
 * anything to 0 and drops the priority-0 group).
 */
export function prioritize(flags: FlagsBySlot, slot: SlotName): FlagsBySlot {
  const other = otherSlot(slot);
  const next = { A: { ...flags.A }, B: { ...flags.B } };
  if (flags[other].priority > 0) {
    next[slot].priority = 2;
    next[other].priority = 1;
  } else {
    next[slot].priority = 1;
  }
  return next;
}

/** The flags after OPERATION on SLOT, without checking anything. */
export function planOperation(flags: FlagsBySlot, operation: BootOperation, slot: SlotName, tries = 1): FlagsBySlot {
  const next = { A: { ...flags.A }, B: { ...flags.B } };
  if (operation === 'mark-active') {
    next[slot] = { ...next[slot], tries, successful: false }; // cgpt add -S0 -T N
    return prioritize(next, slot); // cgpt prioritize
  }
  if (operation === 'mark-good') {
    next[slot] = { ...next[slot], tries: 0, successful: true }; // cgpt add -S1 -T0
    return prioritize(next, slot); // cgpt prioritize
  }
  next[slot] = { priority: 0, tries: 0, successful: false }; // cgpt add -P0 -T0 -S0
  return next;
}

function rankOf(flags: FlagsBySlot, partitions: Record<SlotName, number>, slot: SlotName): number {
  const order = bootOrder(SLOT_NAMES.map((name) => ({ name, partition: partitions[name], ...flags[name] })));
  const at = order.findIndex((c) => c.name === slot);
  return at === -1 ? Number.POSITIVE_INFINITY : at;
}

/**
 * DESIGN's invariant: after the write at least one slot is bootable, and (except by mark-active) a
 * good slot is never demoted below a slot that is only trying.
 */
export function checkInvariant(before: FlagsBySlot, after: FlagsBySlot, operation: BootOperation, slot: SlotName, partitions: Record<SlotName, number>): void {
  const data = { operation, slot, before, after };
  if (!SLOT_NAMES.some((name) => isBootable(after[name]))) {
    throw new UpdaterError('ERR_NO_BOOTABLE_SLOT', `Cannot ${operation} slot ${slot}: afterwards no slot would be bootable`, {
      data,
      hint: `Slot ${otherSlot(slot)} is not bootable either; make it good or active first (abupdate mark-active ${otherSlot(slot)}).`,
    });
  }
  if (operation === 'mark-active') return;
  for (const good of SLOT_NAMES) {
    if (slotState(before[good]) !== 'good') continue;
    const goodAfter = isBootable(after[good]) && after[good].successful;
    for (const trying of SLOT_NAMES) {
      if (trying === good || slotState(after[trying]) !== 'trying') continue;
      const outranksAfter = rankOf(after, partitions, trying) < rankOf(after, partitions, good);
      const outrankedBefore = rankOf(before, partitions, trying) < rankOf(before, partitions, good);
      if (outranksAfter && (!outrankedBefore || !goodAfter)) {
        throw new UpdaterError('ERR_GOOD_SLOT_DEMOTED', `Cannot ${operation} slot ${slot}: good slot ${good} would be demoted below slot ${trying}, which is only trying`, {
          data,
          hint: `Commit or drop slot ${trying} first (abupdate mark-good ${trying} or mark-bad ${trying}).`,
        });
      }
    }
  }
}

/** Where a backend keeps the flags. `present` false means the slot has no flags at all (grubenv "empty"). */
export interface FlagStore {
  readonly kind: BootloaderKind;
  readonly location: string;
  readonly maxTries: number;
  read(): Promise<{ flags: FlagsBySlot; present: Record<SlotName, boolean> }>;
  write(flags: FlagsBySlot): Promise<void>;
}

function toStatus(flags: FlagsBySlot, present: Record<SlotName, boolean>, partitions: Record<SlotName, number>): SlotStatus[] {
  return SLOT_NAMES.map((name) => ({ name, partition: partitions[name], ...flags[name], state: slotState(flags[name], present[name]) }));
}

/**
 * Refuses TRIES the backend cannot store (gptprio 1..15, grubenv 1..3) with ERR_USAGE. The engine asks this before
 * it downloads anything, so a bad --tries never costs a download that the flip would then refuse.
 */
export function checkTries(control: { kind: BootloaderKind; maxTries: number }, slot: SlotName, tries: number): void {
  if (!Number.isInteger(tries) || tries < 1 || tries > control.maxTries) {
    throw new UpdaterError('ERR_USAGE', `Cannot mark slot ${slot} active: tries must be a whole number from 1 to ${control.maxTries} for ${control.kind}, not ${tries}`, {
      data: { tries, maxTries: control.maxTries, bootloader: control.kind },
      hint: `Pass --tries from 1 to ${control.maxTries}.`,
    });
  }
}

/** A BootControl for SLOTS over STORE: each operation reads, plans, checks the invariant, then writes. */
export function createBootControl(store: FlagStore, slots: Slots): BootControl {
  const partitions = { A: slots.A.partition, B: slots.B.partition };
  const status = async (): Promise<SlotStatus[]> => {
    const { flags, present } = await store.read();
    return toStatus(flags, present, partitions);
  };
  const apply = async (operation: BootOperation, slot: SlotName, tries?: number): Promise<SlotStatus[]> => {
    const { flags } = await store.read();
    const after = planOperation(flags, operation, slot, tries);
    checkInvariant(flags, after, operation, slot, partitions);
    await store.write(after);
    return status();
  };
  return {
    kind: store.kind,
    location: store.location,
    status,
    maxTries: store.maxTries,
    markActive: async (slot, tries = 1) => {
      checkTries(store, slot, tries);
      return apply('mark-active', slot, tries);
    },
    markGood: (slot) => apply('mark-good', slot),
    markBad: (slot) => apply('mark-bad', slot),
    spendTry: async (slot) => {
      const { flags } = await store.read();
      const current: SlotFlags = flags[slot];
      if (current.tries > 0) await store.write({ ...flags, [slot]: { ...current, tries: current.tries - 1 } });
      return status();
    },
  };
}
