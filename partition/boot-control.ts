// The boot-control model shared by both backends: slot flags and states, the bootloader's choice
// (GRUB gptprio.next), and simulateBoot, which does what the bootloader does at power-on.

import type { SlotName } from './slots.js';

export type BootloaderKind = 'gptprio' | 'grubenv' | 'grubenv-rauc';

/**
 * good: committed (successful, priority > 0). trying: not committed, tries left, priority > 0.
 * bad: the bootloader will not choose it (priority 0, or tries used up without a commit).
 * empty: grubenv only, the slot has no variables at all (never installed).
 */
export type SlotState = 'good' | 'trying' | 'bad' | 'empty';

/** gptprio's three fields; the grubenv backend maps ORDER/X_OK/X_TRY onto the same fields. */
export interface SlotFlags {
  /** 0-15; 0 = never chosen. */
  priority: number;
  /** 0-15 (grubenv 0-3); spent one per boot while > 0. */
  tries: number;
  successful: boolean;
}

export interface SlotStatus extends SlotFlags {
  name: SlotName;
  /** GPT partition number: breaks priority ties (lowest wins), as gptprio.next does. */
  partition: number;
  state: SlotState;
}

export type FlagsBySlot = Record<SlotName, SlotFlags>;

export interface BootControl {
  readonly kind: BootloaderKind;
  /** Where the flags live: the disk path (gptprio) or the grubenv file. */
  readonly location: string;
  /** The most tries a slot can be given (gptprio 15, grubenv 3). */
  readonly maxTries: number;
  /** [A, B] as stored now. */
  status(): Promise<SlotStatus[]>;
  /** SLOT boots next with TRIES attempts; the other slot stays the fallback. Returns the new status. */
  markActive(slot: SlotName, tries?: number): Promise<SlotStatus[]>;
  /** SLOT is committed and stays first. */
  markGood(slot: SlotName): Promise<SlotStatus[]>;
  /** SLOT is never chosen again until re-activated. */
  markBad(slot: SlotName): Promise<SlotStatus[]>;
  /** The bootloader's own write at boot: one try of SLOT spent. No invariant check (GRUB does none). */
  spendTry(slot: SlotName): Promise<SlotStatus[]>;
}

export function slotState(flags: SlotFlags, present = true): SlotState {
  if (!present) return 'empty';
  if (flags.priority > 0 && flags.successful) return 'good';
  if (flags.priority > 0 && flags.tries > 0) return 'trying';
  return 'bad';
}

/** Whether the bootloader may choose a slot with FLAGS: (tries > 0 || successful) && priority > 0. */
export function isBootable(flags: SlotFlags): boolean {
  return flags.priority > 0 && (flags.tries > 0 || flags.successful);
}

export interface BootCandidate extends SlotFlags {
  partition: number;
}

/**
 * The bootloader's rule, exactly GRUB gptprio.next: candidates are (tries > 0 || successful) &&
 * priority > 0; the highest priority wins; on a tie the lowest partition number wins. Returns the
 * choice (whose tries the bootloader then spends if > 0, even when successful), or null.
 */
export function selectBootSlot<T extends BootCandidate>(candidates: readonly T[]): T | null {
  let best: T | null = null;
  for (const c of [...candidates].sort((a, b) => a.partition - b.partition)) {
    if (isBootable(c) && c.priority > (best?.priority ?? 0)) best = c;
  }
  return best;
}

/** Bootloader order of SLOTS: index 0 boots first; unbootable slots are left out. */
export function bootOrder<T extends BootCandidate>(candidates: readonly T[]): T[] {
  return [...candidates].filter(isBootable).sort((a, b) => b.priority - a.priority || a.partition - b.partition);
}

export interface SimulatedBoot {
  /** The slot the bootloader chose, or null when none is bootable (the machine would stop in GRUB). */
  slot: SlotName | null;
  /** Whether a try was spent (and persisted) before "booting". */
  spentTry: boolean;
  /** The status after the bootloader's write. */
  status: SlotStatus[];
}

/** Does what the bootloader does at boot: choose, spend one try if any, persist. The tests' "reboot". */
export async function simulateBoot(control: BootControl): Promise<SimulatedBoot> {
  const status = await control.status();
  const chosen = selectBootSlot(status);
  if (!chosen) return { slot: null, spentTry: false, status };
  if (chosen.tries > 0) return { slot: chosen.name, spentTry: true, status: await control.spendTry(chosen.name) };
  return { slot: chosen.name, spentTry: false, status };
}
