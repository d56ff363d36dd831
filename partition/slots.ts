// Finds the A/B slots in a GPT: partitions labelled USR-A/USR-B, or the two with the CoreOS usr type GUID.

import { UpdaterError } from '../common/errors.js';
import type { Gpt, GptPartition } from './gpt.js';
import { COREOS_USR_TYPE_GUID, sameGuid } from './guid.js';

export type SlotName = 'A' | 'B';
export const SLOT_NAMES: readonly SlotName[] = ['A', 'B'];

export interface Slot {
  name: SlotName;
  /** GPT partition number (1-based), as `sgdisk -i N` / `cgpt show -i N`. */
  partition: number;
  label: string;
  /** The partition's unique GUID (PARTUUID), upper case. */
  uuid: string;
  typeGuid: string;
  firstLba: bigint;
  lastLba: bigint;
  /** Byte offset of the slot on the disk: the engine writes the image from here. */
  offset: number;
  /** Byte size of the slot: no image larger than this fits. */
  size: number;
}

export interface Slots {
  A: Slot;
  B: Slot;
}

export function otherSlot(name: SlotName): SlotName {
  return name === 'A' ? 'B' : 'A';
}

export function isSlotName(value: string): value is SlotName {
  return value === 'A' || value === 'B';
}

function toSlot(name: SlotName, p: GptPartition, sectorSize: number): Slot {
  return {
    name,
    partition: p.number,
    label: p.name,
    uuid: p.uniqueGuid,
    typeGuid: p.typeGuid,
    firstLba: p.firstLba,
    lastLba: p.lastLba,
    offset: Number(p.firstLba) * sectorSize,
    size: Number(p.lastLba - p.firstLba + 1n) * sectorSize,
  };
}

/**
 * The slots of GPT: by label USR-A / USR-B when both exist; else the two partitions with the CoreOS
 * usr type GUID (first is A, second B). Anything else is ERR_SLOT_COUNT.
 */
export function findSlots(gpt: Gpt, diskPath = 'the disk'): Slots {
  const byLabel = (label: string) => gpt.partitions.filter((p) => p.name === label);
  const a = byLabel('USR-A');
  const b = byLabel('USR-B');
  if (a.length === 1 && b.length === 1 && a[0] && b[0]) {
    return { A: toSlot('A', a[0], gpt.sectorSize), B: toSlot('B', b[0], gpt.sectorSize) };
  }
  const usr = gpt.partitions.filter((p) => sameGuid(p.typeGuid, COREOS_USR_TYPE_GUID));
  if (usr.length === 2 && usr[0] && usr[1] && a.length + b.length === 0) {
    return { A: toSlot('A', usr[0], gpt.sectorSize), B: toSlot('B', usr[1], gpt.sectorSize) };
  }
  const found = [...a, ...b, ...usr.filter((p) => !a.includes(p) && !b.includes(p))].map((p) => `${p.number} ("${p.name}")`);
  throw new UpdaterError(
    'ERR_SLOT_COUNT',
    `Cannot find the A/B slots on ${diskPath}: expected exactly one USR-A and one USR-B partition, or two with the usr type ${COREOS_USR_TYPE_GUID}; found ${found.length === 0 ? 'none' : found.join(', ')}`,
    {
      data: { labelA: a.length, labelB: b.length, usrTyped: usr.length },
      hint: 'Label the slot partitions USR-A and USR-B (sgdisk -c N:USR-A), or point --disk at the right disk.',
    },
  );
}

export function slotByPartition(slots: Slots, partition: number): Slot | undefined {
  return [slots.A, slots.B].find((s) => s.partition === partition);
}
