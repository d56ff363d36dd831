// Proves, before a slot is written, that the kernel is not using it: on a block device the partition node
// opens exclusively (O_EXCL fails with EBUSY while it is mounted or held by device-mapper, md or another
// exclusive opener), and the kernel's view of the partition (sysfs start and size) is the GPT entry written.

import { constants } from 'node:fs';
import { open, readdir, readFile, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../common/errors.js';
import type { Slot } from './slots.js';

/** /dev/NAME of partition NUMBER of the whole disk with device number RDEV (found in sysfs). */
export async function partitionNode(rdev: number, number: number, sysfsRoot = '/sys', devRoot = '/dev'): Promise<string> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & 0xfff00) >>> 0);
  const diskDir = await realpath(`${sysfsRoot}/dev/block/${major}:${minor}`).catch(() => undefined);
  for (const entry of diskDir ? await readdir(diskDir).catch(() => []) : []) {
    const value = await readFile(path.join(diskDir as string, entry, 'partition'), 'utf8').catch(() => undefined);
    if (value !== undefined && Number(value.trim()) === number) return `${devRoot}/${entry}`;
  }
  throw new UpdaterError('ERR_DISK_NOT_FOUND', `Cannot find the device node of partition ${number} of block device ${major}:${minor}`, {
    hint: 'Run "partprobe" so the kernel knows the partitions, or pass a disk image file.',
  });
}

export interface SlotNodeCheck {
  /** The partition's node, e.g. /dev/vda4. */
  node: string;
  slot: Slot;
  sysfsRoot?: string;
}

/**
 * The kernel's partition (sysfs `start` and `size`, in 512-byte units) must be the GPT entry of SLOT: otherwise
 * the node writes somewhere else than the table says (the table changed without a re-read, or another table).
 */
export async function checkKernelPartition(check: SlotNodeCheck): Promise<void> {
  const { node, slot } = check;
  const dir = `${check.sysfsRoot ?? '/sys'}/class/block/${path.basename(await realpath(node).catch(() => node))}`;
  const read = async (name: string): Promise<number | undefined> => {
    const text = await readFile(`${dir}/${name}`, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : Number(text.trim());
  };
  const [start, size, partition] = [await read('start'), await read('size'), await read('partition')];
  const expected = { start: slot.offset / 512, size: slot.size / 512, partition: slot.partition };
  if (start === expected.start && size === expected.size && partition === expected.partition) return;
  throw new UpdaterError(
    'ERR_SLOT_KERNEL_MISMATCH',
    `Cannot write slot ${slot.name} through "${node}": the kernel's partition ${partition ?? '?'} spans 512-byte sectors ${start ?? '?'}+${size ?? '?'}, but the GPT entry ${slot.partition} is ${expected.start}+${expected.size}`,
    {
      data: { node, slot: slot.name, kernel: { start: start ?? null, size: size ?? null, partition: partition ?? null }, gpt: expected },
      hint: 'The partition table changed since the kernel read it. Nothing was written; reboot (or run "partprobe" once nothing uses the disk) and check the table with "sgdisk -v".',
    },
  );
}

/** Why NODE is busy, for the message: device-mapper/md holders from sysfs, or mount points from /proc/self/mountinfo. */
async function whoHolds(node: string, sysfsRoot: string): Promise<string[]> {
  const name = path.basename(await realpath(node).catch(() => node));
  const holders = (await readdir(`${sysfsRoot}/class/block/${name}/holders`).catch(() => [] as string[])).map((h) => `held by ${h}`);
  const dev = (await readFile(`${sysfsRoot}/class/block/${name}/dev`, 'utf8').catch(() => '')).trim();
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => dev !== '' && f[2] === dev)
    .map((f) => `mounted at ${f[4]}`);
  return [...holders, ...mounts];
}

/**
 * Opens the partition node NODE of SLOT exclusively (read-write unless READ_ONLY): while the handle is open no
 * one can mount or map it. EBUSY (mounted, device-mapper, md, another exclusive opener) is ERR_SLOT_IN_USE.
 */
export async function openSlotExclusive(node: string, slot: Slot, options: { readOnly?: boolean; sysfsRoot?: string } = {}): Promise<FileHandle> {
  const flags = (options.readOnly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_EXCL;
  try {
    return await open(node, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EBUSY') {
      throw new UpdaterError('ERR_IO', `Cannot open slot ${slot.name} ("${node}"): ${(error as Error).message}`, { cause: error });
    }
    const why = await whoHolds(node, options.sysfsRoot ?? '/sys');
    throw new UpdaterError('ERR_SLOT_IN_USE', `Cannot write slot ${slot.name}: the kernel has "${node}" in use (${why.length > 0 ? why.join(', ') : 'mounted or held exclusively'})`, {
      cause: error,
      data: { node, slot: slot.name, holders: why },
      hint: `Nothing was written. Slot ${slot.name} may be the running system: check which slot is booted (abupdate status) and unmount or release "${node}" if it is not.`,
    });
  }
}

/** Both proofs, before the first write: the kernel's partition is the GPT entry, and no one has it in use. */
export async function checkSlotNotInUse(check: SlotNodeCheck): Promise<void> {
  await checkKernelPartition(check);
  const handle = await openSlotExclusive(check.node, check.slot, { readOnly: true, ...(check.sysfsRoot ? { sysfsRoot: check.sysfsRoot } : {}) });
  await handle.close();
}
