// Assembles the guest disk: a sparse GPT image (sgdisk) with ESP, USR-A, USR-B and STATE, partitions written in place.

import { mkdir, open, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import { cachedBuild, hashInputs } from './cache.js';
import { runTool } from './run-tool.js';

/** CoreOS/Flatcar's usr partition type: what gptprio and abupdate look for. */
export const USR_TYPE_GUID = '5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6';
const ESP_TYPE = 'EF00';
const LINUX_TYPE = '8300';
const MiB = 1024 * 1024;

export interface PartitionLayout {
  index: number;
  label: 'ESP' | 'USR-A' | 'USR-B' | 'STATE';
  /** Byte offset and size in the disk image. */
  offset: number;
  size: number;
}

export interface DiskLayout {
  sizeBytes: number;
  partitions: PartitionLayout[];
}

/** The fixed layout: 1 MiB alignment, ESP 64 MiB, two 128 MiB slots, 160 MiB state. */
export function guestDiskLayout(sizes: { esp?: number; slot?: number; state?: number } = {}): DiskLayout {
  const esp = sizes.esp ?? 64 * MiB;
  const slot = sizes.slot ?? 128 * MiB;
  const state = sizes.state ?? 160 * MiB; // engine state and logs; the daemon streams bundles into the slot (no copy here)
  const parts: PartitionLayout[] = [];
  let offset = MiB;
  for (const [label, size] of [['ESP', esp], ['USR-A', slot], ['USR-B', slot], ['STATE', state]] as const) {
    parts.push({ index: parts.length + 1, label, offset, size });
    offset += size;
  }
  return { sizeBytes: offset + MiB, partitions: parts };
}

export function partitionOf(layout: DiskLayout, label: PartitionLayout['label']): PartitionLayout {
  const part = layout.partitions.find((p) => p.label === label);
  if (part === undefined) throw new UpdaterError('ERR_SLOT_UNKNOWN', `Cannot find partition "${label}" in the guest disk layout`);
  return part;
}

/** Copies FILE into DISK at the partition's offset (dd conv=notrunc), refusing a file larger than the partition. */
export async function writeIntoPartition(disk: string, part: PartitionLayout, file: string): Promise<void> {
  const size = (await stat(file)).size;
  if (size > part.size) {
    throw new UpdaterError('ERR_IMAGE_TOO_LARGE', `Cannot write "${file}" into ${part.label}: ${size} bytes do not fit in ${part.size}`, {
      hint: 'Make the image smaller or the partition larger (guestDiskLayout sizes).',
    });
  }
  const handle = await open(disk, 'r+');
  try {
    let position = part.offset;
    for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) {
      const bytes = chunk as Buffer;
      await handle.write(bytes, 0, bytes.length, position);
      position += bytes.length;
    }
  } finally {
    await handle.close();
  }
}

export interface DiskInputs {
  layout: DiskLayout;
  esp: string;
  /** Root images for the slots; an absent slot stays empty (zeros). */
  slotA?: string;
  slotB?: string;
  /** A directory whose content becomes the state partition (mke2fs -d); default lib/abupdate and log. */
  stateDir?: string;
}

/** Builds (or finds in the cache) the disk image; gptprio flags: A priority 1 successful, B priority 0. */
export async function buildDisk(inputs: DiskInputs): Promise<string> {
  const key = await hashInputs([
    'disk-v1',
    JSON.stringify(inputs.layout),
    { file: inputs.esp },
    inputs.slotA === undefined ? 'no-a' : { file: inputs.slotA },
    inputs.slotB === undefined ? 'no-b' : { file: inputs.slotB },
    inputs.stateDir === undefined ? 'default-state' : { tree: inputs.stateDir },
  ]);
  const dir = await cachedBuild('disk', key, async (tmp) => {
    const disk = path.join(tmp, 'disk.img');
    await runTool('truncate', ['-s', String(inputs.layout.sizeBytes), disk]);
    const args = ['-o'];
    for (const p of inputs.layout.partitions) {
      const first = p.offset / 512;
      const last = (p.offset + p.size) / 512 - 1;
      const type = p.label === 'ESP' ? ESP_TYPE : p.label === 'STATE' ? LINUX_TYPE : USR_TYPE_GUID;
      args.push('-n', `${p.index}:${first}:${last}`, '-t', `${p.index}:${type}`, '-c', `${p.index}:${p.label}`);
    }
    await runTool('sgdisk', [...args, disk]);
    const slotA = partitionOf(inputs.layout, 'USR-A');
    const slotB = partitionOf(inputs.layout, 'USR-B');
    await runTool('cgpt', ['add', '-i', String(slotA.index), '-P', '1', '-T', '0', '-S', '1', disk]);
    await runTool('cgpt', ['add', '-i', String(slotB.index), '-P', '0', '-T', '0', '-S', '0', disk]);
    await writeIntoPartition(disk, partitionOf(inputs.layout, 'ESP'), inputs.esp);
    if (inputs.slotA !== undefined) await writeIntoPartition(disk, slotA, inputs.slotA);
    if (inputs.slotB !== undefined) await writeIntoPartition(disk, slotB, inputs.slotB);
    let stateDir = inputs.stateDir;
    if (stateDir === undefined) {
      stateDir = path.join(tmp, 'state');
      await mkdir(path.join(stateDir, 'lib', 'abupdate'), { recursive: true });
      await mkdir(path.join(stateDir, 'log'), { recursive: true });
    }
    const state = partitionOf(inputs.layout, 'STATE');
    await runTool('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'STATE', '-E', `offset=${state.offset}`, '-d', stateDir, disk, `${state.size / 1024}k`]);
  });
  return path.join(dir, 'disk.img');
}
