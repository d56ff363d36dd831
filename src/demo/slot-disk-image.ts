// A sparse GPT disk image file for the demo (and the test fixtures): EFI-SYSTEM, USR-A, USR-B (CoreOS usr type), STATE,
// written by abupdate's own GPT layer, so it needs no sgdisk.

import { open } from 'node:fs/promises';
import { openDisk } from '../../partition/disk.js';
import { createGpt } from '../../partition/gpt.js';
import { COREOS_USR_TYPE_GUID, EFI_SYSTEM_TYPE_GUID, LINUX_DATA_TYPE_GUID, randomGuid } from '../../partition/guid.js';
import { encodeGptprio } from '../../partition/gptprio.js';

const MiB = 1024 * 1024;

export interface SlotDiskImageLayout {
  /** Whole disk. */
  sizeMiB: number;
  espSizeMiB: number;
  /** Each slot. */
  slotSizeMiB: number;
  sectorSize: 512 | 4096;
  /** Labels of the slot partitions; '' leaves one unlabelled. */
  labels: [string, string];
}

/** The gptprio flags of slot A on a freshly installed host (as Flatcar images ship): priority 1, successful. */
export const FRESH_SLOT_A_ATTRIBUTES = encodeGptprio(0n, { priority: 1, tries: 0, successful: true });

/**
 * Writes FILE: partition 1 EFI-SYSTEM, 2 USR-A (priority 1, successful), 3 USR-B (no flags), 4 STATE (the rest).
 * The file is sparse; the partitions' contents are zeros.
 */
export async function writeSlotDiskImage(file: string, layout: SlotDiskImageLayout): Promise<void> {
  const { sectorSize } = layout;
  const size = layout.sizeMiB * MiB;
  if (2 * layout.slotSizeMiB + layout.espSizeMiB + 2 > layout.sizeMiB) throw new Error(`writeSlotDiskImage: ${layout.sizeMiB} MiB is too small for the slots`);
  const handle = await open(file, 'w');
  await handle.truncate(size);
  await handle.close();
  const disk = await openDisk(file, { writable: true, sectorSize });
  try {
    const s = (mib: number) => BigInt((mib * MiB) / sectorSize);
    const first = s(1);
    const espEnd = first + s(layout.espSizeMiB) - 1n;
    const aEnd = espEnd + s(layout.slotSizeMiB);
    const bEnd = aEnd + s(layout.slotSizeMiB);
    const arraySectors = BigInt((128 * 128) / sectorSize);
    const last = BigInt(size / sectorSize) - 1n - arraySectors - 1n; // backup array and header at the end
    const part = (number: number, typeGuid: string, name: string, firstLba: bigint, lastLba: bigint, attributes = 0n) => ({
      number, typeGuid, uniqueGuid: randomGuid(), firstLba, lastLba, attributes, name,
    });
    await createGpt(disk, {
      partitions: [
        part(1, EFI_SYSTEM_TYPE_GUID, 'EFI-SYSTEM', first, espEnd),
        part(2, COREOS_USR_TYPE_GUID, layout.labels[0], espEnd + 1n, aEnd, FRESH_SLOT_A_ATTRIBUTES),
        part(3, COREOS_USR_TYPE_GUID, layout.labels[1], aEnd + 1n, bEnd),
        part(4, LINUX_DATA_TYPE_GUID, 'STATE', bEnd + 1n, last),
      ],
    });
  } finally {
    await disk.close();
  }
}
