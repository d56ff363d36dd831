// The grubenv-rauc boot-control backend: RAUC's own meaning of ORDER, A_OK, A_TRY, B_OK, B_TRY, for hosts that boot
// with RAUC's documented GRUB script (rauc/rauc contrib/grub.conf). Every operation writes exactly what RAUC 1.8's
// grub backend writes (src/bootloaders/grub.c):
//   mark-active S  S_OK=1 S_TRY=0 ORDER="S <the other slot>"   (r_grub_set_primary, r_bootchooser_order_primary)
//   mark-good S    S_OK=1 S_TRY=0                               (r_grub_set_state good)
//   mark-bad S     S_OK=0 S_TRY=0                               (r_grub_set_state bad)
// and the script, at boot, picks the first slot in ORDER with S_OK=1 and S_TRY=0 and sets S_TRY=1 on it and on every
// slot it passed over on the way (checked against the real script in qemu/rauc-grub.test.ts): a slot that was not
// marked good again by the next boot is passed over. RAUC counts no tries: one boot per activation.
//
// Read onto the shared model as RAUC's r_grub_get_state reads it: good = listed in ORDER, S_OK=1 and S_TRY=0
// (reported successful, as `rauc status` reports it); anything else is bad. priority = position in ORDER.

import { UpdaterError } from '../common/errors.js';
import { slotState, type BootControl, type FlagsBySlot, type SlotStatus } from './boot-control.js';
import { checkInvariant, type BootOperation } from './boot-operations.js';
import { getGrubVar, readGrubEnv, setGrubVar, writeGrubEnv, type GrubEnv } from './grubenv.js';
import { otherSlot, SLOT_NAMES, type SlotName, type Slots } from './slots.js';

function parseOrder(order: string | undefined): SlotName[] {
  const seen: SlotName[] = [];
  for (const word of (order ?? '').split(/\s+/)) if ((word === 'A' || word === 'B') && !seen.includes(word)) seen.push(word);
  return seen;
}

/** GRUB's `-eq 1` / `-eq 0` on the value (RAUC reads it with g_ascii_strtoull). */
const numberOf = (value: string | undefined): number => (value !== undefined && /^\s*\d+/.test(value) ? Number.parseInt(value, 10) : 0);

function flagsOf(env: GrubEnv): { flags: FlagsBySlot; present: Record<SlotName, boolean> } {
  const order = parseOrder(getGrubVar(env, 'ORDER'));
  const flags = {} as FlagsBySlot;
  const present = {} as Record<SlotName, boolean>;
  for (const name of SLOT_NAMES) {
    const at = order.indexOf(name);
    const ok = getGrubVar(env, `${name}_OK`);
    const tried = getGrubVar(env, `${name}_TRY`);
    const good = at !== -1 && numberOf(ok) === 1 && numberOf(tried) === 0;
    flags[name] = { priority: at === -1 ? 0 : order.length - at, tries: 0, successful: good };
    present[name] = at !== -1 || ok !== undefined || tried !== undefined;
  }
  return { flags, present };
}

/** RAUC's writes for one operation on ENV. */
export function applyRaucOperation(env: GrubEnv, operation: BootOperation | 'boot', slot: SlotName): GrubEnv {
  let next = env;
  if (operation === 'boot') {
    // The script walks ORDER setting S_TRY=1 on every slot it looks at, the one it boots included (a slot it passes
    // over keeps S_TRY=1), then saves A_TRY and B_TRY both (0 where the block had none).
    for (const name of SLOT_NAMES) next = setGrubVar(next, `${name}_TRY`, getGrubVar(next, `${name}_TRY`) ?? '0');
    for (const name of parseOrder(getGrubVar(env, 'ORDER'))) {
      next = setGrubVar(next, `${name}_TRY`, '1');
      if (name === slot) return next;
    }
    return setGrubVar(next, `${slot}_TRY`, '1');
  }
  next = setGrubVar(next, `${slot}_OK`, operation === 'mark-bad' ? '0' : '1');
  next = setGrubVar(next, `${slot}_TRY`, '0');
  if (operation === 'mark-active') next = setGrubVar(next, 'ORDER', `${slot} ${otherSlot(slot)}`);
  return next;
}

/** The grubenv-rauc boot control for SLOTS, over the GRUB environment block FILE. */
export function openGrubenvRaucBootControl(file: string, slots: Slots): BootControl {
  const partitions = { A: slots.A.partition, B: slots.B.partition };
  const toStatus = (env: GrubEnv): SlotStatus[] => {
    const { flags, present } = flagsOf(env);
    return SLOT_NAMES.map((name) => ({ name, partition: partitions[name], ...flags[name], state: slotState(flags[name], present[name]) }));
  };
  const status = async (): Promise<SlotStatus[]> => toStatus(await readGrubEnv(file));
  const apply = async (operation: BootOperation, slot: SlotName): Promise<SlotStatus[]> => {
    const before = await readGrubEnv(file);
    const after = applyRaucOperation(before, operation, slot);
    checkInvariant(flagsOf(before).flags, flagsOf(after).flags, operation, slot, partitions);
    await writeGrubEnv(file, after);
    return toStatus(after);
  };
  return {
    kind: 'grubenv-rauc',
    location: file,
    maxTries: 1,
    status,
    markActive: async (slot, tries = 1) => {
      if (tries !== 1) {
        throw new UpdaterError('ERR_USAGE', `Cannot mark slot ${slot} active with ${tries} tries: RAUC's GRUB script boots an activated slot once`, {
          data: { slot, tries },
          hint: 'Leave --tries out with BOOTLOADER=grubenv-rauc, or use BOOTLOADER=grubenv for counted tries.',
        });
      }
      return apply('mark-active', slot);
    },
    markGood: (slot) => apply('mark-good', slot),
    markBad: (slot) => apply('mark-bad', slot),
    spendTry: async (slot) => {
      const after = applyRaucOperation(await readGrubEnv(file), 'boot', slot);
      await writeGrubEnv(file, after);
      return toStatus(after);
    },
  };
}
