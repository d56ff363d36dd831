// The grubenv boot-control backend: RAUC's variable names ORDER, A_OK, A_TRY, B_OK, B_TRY in a GRUB
// environment block, with the meaning partition/grub/abupdate-ab.cfg boots by.
//
// Mapping onto gptprio's fields (so both backends share one state model and one bootloader rule):
//   priority   position in ORDER: with two slots listed the first is 2 and the second 1; a slot
//              listed alone is 1; a slot not in ORDER is 0 (never booted). Like `cgpt prioritize`.
//   tries      X_TRY when it is 0..3 (the snippet counts 3->2->1->0); any other value reads as 0,
//              because the snippet would not treat it as a try.
//   successful X_OK = "1".
//   empty      the slot is not in ORDER and has neither X_OK nor X_TRY (never installed).

import { UpdaterError } from '../common/errors.js';
import type { FileSystem } from '../common/file-system.js';
import type { BootControl, FlagsBySlot } from './boot-control.js';
import { createBootControl, type FlagStore } from './boot-operations.js';
import { getGrubVar, readGrubEnv, setGrubVar, writeGrubEnv } from './grubenv.js';
import { SLOT_NAMES, type SlotName, type Slots } from './slots.js';

/** The snippet's if-chains handle 1..3 tries. */
export const GRUBENV_MAX_TRIES = 3;

function parseOrder(order: string | undefined): SlotName[] {
  const seen: SlotName[] = [];
  for (const word of (order ?? '').split(/\s+/)) {
    if ((word === 'A' || word === 'B') && !seen.includes(word)) seen.push(word);
  }
  return seen;
}

function parseTries(value: string | undefined): number {
  return value !== undefined && /^[0-3]$/.test(value) ? Number(value) : 0;
}

export function grubenvStore(file: string, slots: Pick<Slots, 'A' | 'B'>, options: { fs?: FileSystem } = {}): FlagStore {
  return {
    kind: 'grubenv',
    location: file,
    maxTries: GRUBENV_MAX_TRIES,
    async read() {
      const env = await readGrubEnv(file);
      const order = parseOrder(getGrubVar(env, 'ORDER'));
      const flags = {} as FlagsBySlot;
      const present = {} as Record<SlotName, boolean>;
      for (const name of SLOT_NAMES) {
        const at = order.indexOf(name);
        const ok = getGrubVar(env, `${name}_OK`);
        const tryValue = getGrubVar(env, `${name}_TRY`);
        flags[name] = { priority: at === -1 ? 0 : order.length - at, tries: parseTries(tryValue), successful: ok === '1' };
        present[name] = at !== -1 || ok !== undefined || tryValue !== undefined;
      }
      return { flags, present };
    },
    async write(flags) {
      for (const name of SLOT_NAMES) {
        if (flags[name].tries > GRUBENV_MAX_TRIES) {
          throw new UpdaterError('ERR_INTERNAL', `Cannot write ${name}_TRY=${flags[name].tries}: the grubenv backend counts at most ${GRUBENV_MAX_TRIES} tries`);
        }
      }
      const order = SLOT_NAMES.filter((n) => flags[n].priority > 0).sort(
        (a, b) => flags[b].priority - flags[a].priority || slots[a].partition - slots[b].partition,
      );
      let env = await readGrubEnv(file);
      env = setGrubVar(env, 'ORDER', order.join(' '));
      for (const name of SLOT_NAMES) {
        env = setGrubVar(env, `${name}_OK`, flags[name].successful ? '1' : '0');
        env = setGrubVar(env, `${name}_TRY`, String(flags[name].tries));
      }
      await writeGrubEnv(file, env, options.fs);
    },
  };
}

/** The grubenv boot control for SLOTS (found on the disk; their partition numbers break ties). */
export function openGrubenvBootControl(file: string, slots: Slots, options: { fs?: FileSystem } = {}): BootControl {
  return createBootControl(grubenvStore(file, slots, options), slots);
}
