// The promise checked from the outside after a kill or a crash: the bootloader rule (GRUB gptprio.next on the flags
// as cgpt reads them) picks a slot whose bytes are a verified version; the booted slot's bytes are unchanged;
// the anti-rollback floor is not lower than before.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { execa } from 'execa';
import { selectBootSlot, type SlotFlags } from '../partition/boot-control.js';
import type { SlotName } from '../partition/slots.js';
import { compareVersions } from '../verify/version.js';

export interface SlotPlace {
  partition: number;
  offset: number;
  size: number;
}

/** A version whose image was verified: its bytes are what a slot holding it starts with. */
export interface VerifiedImage {
  version: string;
  size: number;
  sha256: string;
}

export async function hashBytes(file: string, offset: number, length: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    for (let at = 0; at < length; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - at), offset + at);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/**
 * The flags of both slots as cgpt reads them (`cgpt show -i N -A DISK`: attribute bits 48-63, so priority is bits
 * 0-3, tries 4-7, successful 8), or undefined when cgpt cannot read the table.
 */
export async function cgptSlotFlags(diskPath: string, slots: Record<SlotName, SlotPlace>): Promise<Record<SlotName, SlotFlags> | undefined> {
  const flags: Partial<Record<SlotName, SlotFlags>> = {};
  for (const name of ['A', 'B'] as const) {
    const result = await execa('cgpt', ['show', '-i', String(slots[name].partition), '-A', diskPath], { reject: false });
    const bits = Number(result.stdout.trim());
    if (result.exitCode !== 0 || !Number.isInteger(bits)) return undefined;
    flags[name] = { priority: bits & 0xf, tries: (bits >> 4) & 0xf, successful: ((bits >> 8) & 1) === 1 };
  }
  return flags as Record<SlotName, SlotFlags>;
}

/** Which verified version the first bytes of SLOT are, if any. */
export async function slotVersion(diskPath: string, slot: SlotPlace, images: readonly VerifiedImage[]): Promise<string | undefined> {
  const bySize = new Map<number, string>();
  for (const image of images) {
    if (image.size > slot.size) continue;
    const sha = bySize.get(image.size) ?? (await hashBytes(diskPath, slot.offset, image.size));
    bySize.set(image.size, sha);
    if (sha === image.sha256) return image.version;
  }
  return undefined;
}

export interface HostCheck {
  /** The slot the bootloader rule picks now, or null (unbootable). */
  next: SlotName | null;
  /** The verified version in that slot (undefined: its bytes are none). */
  nextVersion: string | undefined;
  flags: Record<SlotName, SlotFlags> | undefined;
  problems: string[];
}

export interface HostExpectations {
  diskPath: string;
  slots: Record<SlotName, SlotPlace>;
  images: readonly VerifiedImage[];
  booted: SlotName;
  /** SHA-256 of the whole booted slot when it was booted. */
  bootedSha256: string;
  /** The highest floor seen so far (the floor must never be lower). */
  floor: string | null;
  /** The floor now, as the product's state reader reports it. */
  currentFloor: string | null;
}

/** Checks the promise; every broken part is one line in `problems`. */
export async function checkHost(e: HostExpectations): Promise<HostCheck> {
  const problems: string[] = [];
  const flags = await cgptSlotFlags(e.diskPath, e.slots);
  let next: SlotName | null = null;
  let nextVersion: string | undefined;
  if (!flags) {
    problems.push('cgpt cannot read the GPT');
  } else {
    const chosen = selectBootSlot((['A', 'B'] as const).map((name) => ({ name, partition: e.slots[name].partition, ...flags[name] })));
    next = chosen?.name ?? null;
    if (next === null) problems.push(`unbootable: no slot has priority > 0 and tries or successful (A ${JSON.stringify(flags.A)}, B ${JSON.stringify(flags.B)})`);
    else {
      nextVersion = await slotVersion(e.diskPath, e.slots[next], e.images);
      if (nextVersion === undefined) problems.push(`the bootloader picks slot ${next}, whose bytes are no verified version`);
    }
  }
  const bootedNow = await hashBytes(e.diskPath, e.slots[e.booted].offset, e.slots[e.booted].size);
  if (bootedNow !== e.bootedSha256) problems.push(`the booted slot ${e.booted} changed`);
  if (e.floor !== null && (e.currentFloor === null || compareVersions(e.currentFloor, e.floor) < 0)) {
    problems.push(`the anti-rollback floor went down from ${e.floor} to ${e.currentFloor ?? 'none'}`);
  }
  return { next, nextVersion, flags, problems };
}
