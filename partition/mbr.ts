// The protective MBR in LBA 0 that guards a GPT disk from MBR-only tools: detect it, build one.

import type { Disk } from './disk.js';

/** protective: one 0xEE entry; hybrid: 0xEE plus MBR partitions; foreign: MBR without 0xEE; missing: no 0x55AA. */
export type MbrKind = 'protective' | 'hybrid' | 'foreign' | 'missing';

const PARTITION_TABLE = 0x1be;

export async function readMbrKind(disk: Disk): Promise<MbrKind> {
  const sector = await disk.read(0, 512);
  // 0x1FE BootSignature 0x55 0xAA
  if (sector[0x1fe] !== 0x55 || sector[0x1ff] !== 0xaa) return 'missing';
  let protective = false;
  let others = false;
  for (let i = 0; i < 4; i++) {
    // each 16-byte record: 0x04 OSType
    const type = sector[PARTITION_TABLE + i * 16 + 4];
    if (type === 0xee) protective = true;
    else if (type !== 0) others = true;
  }
  if (!protective) return 'foreign';
  return others ? 'hybrid' : 'protective';
}

/** LBA 0 of a GPT disk: one partition of type 0xEE from LBA 1 to the end (capped at 0xFFFFFFFF). */
export function encodeProtectiveMbr(diskSectors: bigint, sectorSize: number): Buffer {
  const sector = Buffer.alloc(sectorSize);
  const at = PARTITION_TABLE;
  sector[at + 0] = 0x00; // BootIndicator
  sector[at + 1] = 0x00; // StartingCHS = 0x000200
  sector[at + 2] = 0x02;
  sector[at + 3] = 0x00;
  sector[at + 4] = 0xee; // OSType: GPT protective
  sector[at + 5] = 0xff; // EndingCHS = 0xFFFFFF
  sector[at + 6] = 0xff;
  sector[at + 7] = 0xff;
  sector.writeUInt32LE(1, at + 8); // StartingLBA
  const size = diskSectors - 1n;
  sector.writeUInt32LE(size > 0xffffffffn ? 0xffffffff : Number(size), at + 12); // SizeInLBA
  sector[0x1fe] = 0x55; // BootSignature
  sector[0x1ff] = 0xaa;
  return sector;
}
