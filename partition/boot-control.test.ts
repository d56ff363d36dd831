// Tests of the pure boot-control rules: selectBootSlot (gptprio.next), the operations, the invariant.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBootable, selectBootSlot, slotState, type BootCandidate, type FlagsBySlot } from './boot-control.js';
import { checkInvariant, planOperation, type BootOperation } from './boot-operations.js';
import { isUpdaterError } from '../common/errors.js';
import type { SlotName } from './slots.js';

type Named = BootCandidate & { name: string };
const slot = (name: string, partition: number, priority: number, tries: number, successful: boolean): Named => ({ name, partition, priority, tries, successful });

/** Boots N times the way gptprio.next does: choose, decrement tries if > 0; returns the names chosen. */
function bootSequence(slots: Named[], n: number): string[] {
  const seq: string[] = [];
  for (let i = 0; i < n; i++) {
    const chosen = selectBootSlot(slots);
    if (!chosen) {
      seq.push('-');
      continue;
    }
    if (chosen.tries > 0) chosen.tries -= 1;
    seq.push(chosen.name);
  }
  return seq;
}

test('selectBootSlot() reproduces GRUB tests/gptprio_test.in: A(P3,T3,S0) B(P2,T2,S0) C(P1,T0,S1) boots A,A,A,B,B,C,C,C', () => {
  const slots = [slot('A', 2, 3, 3, false), slot('B', 3, 2, 2, false), slot('C', 4, 1, 0, true)];
  assert.deepEqual(bootSequence(slots, 8), ['A', 'A', 'A', 'B', 'B', 'C', 'C', 'C']);
  // tries reach 0 and priorities never change
  assert.deepEqual(slots.map((s) => [s.priority, s.tries]), [[3, 0], [2, 0], [1, 0]]);
});

test('selectBootSlot() with two slots: A(P2,T3,S0) B(P1,T0,S1) boots A,A,A then B for good', () => {
  const slots = [slot('A', 2, 2, 3, false), slot('B', 3, 1, 0, true)];
  assert.deepEqual(bootSequence(slots, 6), ['A', 'A', 'A', 'B', 'B', 'B']);
});

test('selectBootSlot() follows the Flatcar update cycle of coreos-flatcar.md 1.4, including the rollback', () => {
  // steady state on a fresh image: A P1 T0 S1, B P0 T0 S0
  assert.equal(selectBootSlot([slot('A', 3, 1, 0, true), slot('B', 4, 0, 0, false)])?.name, 'A');
  // postinst: A P1 T0 S1, B P2 T1 S0 -> B boots once, its try is spent
  const cycle = [slot('A', 3, 1, 0, true), slot('B', 4, 2, 1, false)];
  assert.deepEqual(bootSequence(cycle, 1), ['B']);
  assert.deepEqual(cycle[1], slot('B', 4, 2, 0, false));
  // B never marked good: the next boots land on A, B keeps its high priority
  assert.deepEqual(bootSequence(cycle, 2), ['A', 'A']);
  assert.equal(cycle[1]!.priority, 2);
  // if B had been marked good (P2 T0 S1) it would keep booting
  assert.deepEqual(bootSequence([slot('A', 3, 1, 0, true), slot('B', 4, 2, 0, true)], 2), ['B', 'B']);
});

test('selectBootSlot() never chooses priority 0, even with tries or successful set', () => {
  assert.equal(selectBootSlot([slot('A', 2, 0, 5, true), slot('B', 3, 1, 0, true)])?.name, 'B');
  assert.equal(selectBootSlot([slot('A', 2, 0, 5, true), slot('B', 3, 0, 1, true)]), null);
});

test('selectBootSlot() breaks a priority tie by the lowest partition number, whatever the array order', () => {
  assert.equal(selectBootSlot([slot('A', 2, 2, 0, true), slot('B', 3, 2, 0, true)])?.name, 'A');
  assert.equal(selectBootSlot([slot('B', 3, 2, 0, true), slot('A', 2, 2, 0, true)])?.name, 'A');
  assert.equal(selectBootSlot([slot('A', 5, 2, 0, true), slot('B', 4, 2, 1, false)])?.name, 'B');
});

test('selectBootSlot() passes over a slot with tries 0 and successful 0, and returns null when none is bootable', () => {
  assert.equal(selectBootSlot([slot('A', 2, 15, 0, false), slot('B', 3, 1, 1, false)])?.name, 'B');
  assert.equal(selectBootSlot([slot('A', 2, 15, 0, false), slot('B', 3, 1, 0, false)]), null);
});

test('selectBootSlot() spends a try of a successful slot too (gptprio.next decrements whenever tries > 0)', () => {
  const slots = [slot('A', 2, 2, 2, true), slot('B', 3, 1, 0, true)];
  assert.deepEqual(bootSequence(slots, 4), ['A', 'A', 'A', 'A']);
  assert.equal(slots[0]!.tries, 0);
});

test('slotState() maps flags to good, trying, bad; empty only when the slot has no flags', () => {
  assert.equal(slotState({ priority: 1, tries: 0, successful: true }), 'good');
  assert.equal(slotState({ priority: 2, tries: 1, successful: false }), 'trying');
  assert.equal(slotState({ priority: 2, tries: 0, successful: false }), 'bad');
  assert.equal(slotState({ priority: 0, tries: 0, successful: false }), 'bad');
  assert.equal(slotState({ priority: 0, tries: 3, successful: true }), 'bad');
  assert.equal(slotState({ priority: 0, tries: 0, successful: false }, false), 'empty');
  assert.equal(isBootable({ priority: 0, tries: 3, successful: true }), false);
});

const f = (priority: number, tries: number, successful: boolean) => ({ priority, tries, successful });
const PARTS = { A: 3, B: 4 };

function apply(before: FlagsBySlot, op: BootOperation, s: SlotName, tries?: number): FlagsBySlot {
  const after = planOperation(before, op, s, tries);
  checkInvariant(before, after, op, s, PARTS);
  return after;
}

test('planOperation() gives the flags of Flatcar\'s postinst and setgoodroot (cgpt add + cgpt prioritize)', () => {
  const fresh = { A: f(1, 0, true), B: f(0, 0, false) };
  assert.deepEqual(apply(fresh, 'mark-active', 'B'), { A: f(1, 0, true), B: f(2, 1, false) });
  assert.deepEqual(apply({ A: f(2, 0, true), B: f(1, 0, true) }, 'mark-active', 'B', 3), { A: f(1, 0, true), B: f(2, 3, false) });
  // B booted (try spent) and healthy: setgoodroot on B
  assert.deepEqual(apply({ A: f(1, 0, true), B: f(2, 0, false) }, 'mark-good', 'B'), { A: f(1, 0, true), B: f(2, 0, true) });
  // B failed and the machine fell back to A: setgoodroot on A pushes B to 1
  assert.deepEqual(apply({ A: f(1, 0, true), B: f(2, 0, false) }, 'mark-good', 'A'), { A: f(2, 0, true), B: f(1, 0, false) });
  assert.deepEqual(apply({ A: f(1, 0, true), B: f(2, 0, false) }, 'mark-bad', 'B'), { A: f(1, 0, true), B: f(0, 0, false) });
  // prioritize on a lone slot gives it 1 and leaves priority 0 alone
  assert.deepEqual(apply({ A: f(5, 0, true), B: f(0, 0, false) }, 'mark-good', 'A'), { A: f(1, 0, true), B: f(0, 0, false) });
});

function refusal(before: FlagsBySlot, op: BootOperation, s: SlotName): string {
  try {
    apply(before, op, s);
  } catch (error) {
    if (isUpdaterError(error)) return error.code;
    throw error;
  }
  return 'allowed';
}

test('checkInvariant() refuses leaving no bootable slot with ERR_NO_BOOTABLE_SLOT', () => {
  assert.equal(refusal({ A: f(1, 0, true), B: f(0, 0, false) }, 'mark-bad', 'A'), 'ERR_NO_BOOTABLE_SLOT');
  assert.equal(refusal({ A: f(1, 0, true), B: f(2, 0, false) }, 'mark-bad', 'A'), 'ERR_NO_BOOTABLE_SLOT');
});

test('checkInvariant() refuses demoting a good slot below a trying one with ERR_GOOD_SLOT_DEMOTED', () => {
  assert.equal(refusal({ A: f(1, 0, true), B: f(2, 1, false) }, 'mark-bad', 'A'), 'ERR_GOOD_SLOT_DEMOTED');
  assert.equal(refusal({ A: f(2, 0, true), B: f(1, 2, false) }, 'mark-bad', 'A'), 'ERR_GOOD_SLOT_DEMOTED');
});

test('checkInvariant() allows mark-active over a good slot, and marking one of two good slots bad', () => {
  assert.equal(refusal({ A: f(2, 0, true), B: f(1, 0, true) }, 'mark-active', 'B'), 'allowed');
  assert.equal(refusal({ A: f(2, 0, true), B: f(1, 0, true) }, 'mark-bad', 'A'), 'allowed');
  assert.equal(refusal({ A: f(1, 0, true), B: f(2, 1, false) }, 'mark-bad', 'B'), 'allowed');
  assert.equal(refusal({ A: f(1, 0, true), B: f(2, 1, false) }, 'mark-good', 'A'), 'allowed');
});
