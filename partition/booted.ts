// Finds the booted slot as the kernel says it: the last abupdate.slot=/verity.usr=/mount.usr=/usr=/root= of
// /proc/cmdline and the device mounted at / (through /dev, sysfs and device-mapper); --booted is checked against it.

import { readFileSync } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError } from '../common/errors.js';
import { sameGuid } from './guid.js';
import { lastValue, SLOT_KEYS, splitCmdline } from './kernel-cmdline.js';
import { isSlotName, type SlotName, type Slots } from './slots.js';

export type BootedSource = 'override' | 'cmdline' | 'root-device';

export interface BootedSlot {
  slot: SlotName;
  source: BootedSource;
  /** What decided it, e.g. `abupdate.slot=B` or `/dev/sda4`. */
  detail: string;
}

export interface DetectBootedOptions {
  /** --booted A|B. */
  override?: string | undefined;
  /** Default /proc/cmdline. */
  cmdlinePath?: string;
  /** Default /dev (for /dev/disk/by-partuuid). */
  devRoot?: string;
  /** Default /sys. */
  sysfsRoot?: string;
  /** The device mounted at /; default from /proc/self/mountinfo (mountedRootSource). */
  rootDevice?: () => string | undefined;
  /** The disk holding the slots (--disk): a root partition on another disk is not a slot. */
  diskPath?: string;
}

/** One thing the kernel says about which slot is in use: a command-line word, or the device mounted at /. */
export interface KernelClaim {
  slot: SlotName;
  source: 'cmdline' | 'root-device';
  /** `key=value` as given, or the root device's path. */
  detail: string;
}

export { parseCmdline } from './kernel-cmdline.js';

/** The slot named by a root=/usr= value written as PARTUUID=, PARTLABEL=, or a /dev/disk/by-part* path (text only). */
export function slotFromDeviceSpec(spec: string, slots: Slots): SlotName | undefined {
  const uuid = /^PARTUUID=([0-9a-fA-F-]{36})$/.exec(spec)?.[1] ?? /^\/dev\/disk\/by-partuuid\/([0-9a-fA-F-]{36})$/.exec(spec)?.[1];
  const label = /^PARTLABEL=(.+)$/.exec(spec)?.[1] ?? /^\/dev\/disk\/by-partlabel\/(.+)$/.exec(spec)?.[1];
  for (const slot of [slots.A, slots.B]) {
    if (uuid !== undefined && sameGuid(uuid, slot.uuid)) return slot.name;
    if (label !== undefined && label === slot.label) return slot.name;
  }
  return undefined;
}

/**
 * The source of the filesystem mounted at / as MOUNTINFO (/proc/self/mountinfo's text) gives it: the last line whose
 * mount point is `/` (the one on top, which df shows too), its source field after the ` - ` separator, octal escapes
 * (`\040` for a blank) undone. Undefined when no line mounts `/`.
 */
export function mountedRootSource(mountinfo: string): string | undefined {
  let source: string | undefined;
  for (const line of mountinfo.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS (proc(5))
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields[4] !== '/' || separator < 0) continue;
    const raw = fields[separator + 2];
    if (raw !== undefined) source = raw.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  }
  return source;
}

/** The device mounted at /: read from the kernel's mount table (no `df` child: it costs a process, and hangs on a dead NFS mount). */
function defaultRootDevice(): string | undefined {
  try {
    return mountedRootSource(readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

interface Where {
  devRoot: string;
  sysfsRoot: string;
  diskPath: string | undefined;
}

/**
 * The slot a device node is: the node itself behind /dev/disk/by-part* links, else the kernel's view in sysfs
 * (partition number and parent disk, PARTNAME), following a device-mapper device (verity, crypt) down to the
 * partitions under it (`slaves/`).
 */
async function slotFromDevice(device: string, slots: Slots, where: Where): Promise<SlotName | undefined> {
  let real: string;
  try {
    real = await realpath(device);
  } catch {
    return undefined;
  }
  for (const slot of [slots.A, slots.B]) {
    for (const link of [`${where.devRoot}/disk/by-partuuid/${slot.uuid.toLowerCase()}`, `${where.devRoot}/disk/by-partlabel/${slot.label}`]) {
      try {
        if ((await realpath(link)) === real) return slot.name;
      } catch {
        // no such link: try the next way
      }
    }
  }
  return slotFromBlockName(path.basename(real), slots, where, 0);
}

/** sysfs: /sys/class/block/NAME/partition holds the partition number, uevent PARTNAME, the parent dir is the disk. */
async function slotFromBlockName(name: string, slots: Slots, where: Where, depth: number): Promise<SlotName | undefined> {
  let dir: string;
  try {
    dir = await realpath(`${where.sysfsRoot}/class/block/${name}`);
  } catch {
    return undefined;
  }
  const partition = await readFile(`${dir}/partition`, 'utf8').catch(() => undefined);
  if (partition === undefined) {
    // Not a partition: a device-mapper (or md) device names what it is built on in slaves/.
    if (depth > 4) return undefined;
    const below = await readdir(`${dir}/slaves`).catch(() => [] as string[]);
    const found = new Set<SlotName>();
    for (const slave of below) {
      const slot = await slotFromBlockName(slave, slots, where, depth + 1);
      if (slot) found.add(slot);
    }
    return found.size === 1 ? [...found][0] : undefined;
  }
  const number = Number(partition.trim());
  const partname = /^PARTNAME=(.*)$/m.exec(await readFile(`${dir}/uevent`, 'utf8').catch(() => ''))?.[1];
  const parent = path.basename(path.dirname(dir));
  const sameDisk = where.diskPath !== undefined && path.basename(await realpath(where.diskPath).catch(() => where.diskPath as string)) === parent;
  for (const slot of [slots.A, slots.B]) {
    if (slot.partition !== number) continue;
    if (sameDisk || (slot.label !== '' && partname === slot.label)) return slot.name;
  }
  return undefined;
}

/** The slot a root=/usr=/mount.usr=/verity.usr= value names: PARTUUID=, PARTLABEL=, MAJOR:MINOR or a /dev path. */
async function slotFromValue(value: string, slots: Slots, where: Where): Promise<SlotName | undefined> {
  const byText = slotFromDeviceSpec(value, slots);
  if (byText) return byText;
  const numbers = /^(\d+):(\d+)$/.exec(value);
  if (numbers) {
    const dir = await realpath(`${where.sysfsRoot}/dev/block/${numbers[1]}:${numbers[2]}`).catch(() => undefined);
    return dir === undefined ? undefined : slotFromBlockName(path.basename(dir), slots, where, 0);
  }
  if (value.startsWith('/dev/')) return slotFromDevice(`${where.devRoot}${value.slice(4)}`, slots, where);
  return undefined;
}

export interface KernelView {
  cmdlinePath: string;
  rootDevice: string | undefined;
  /** What the kernel says, command-line words first (in SLOT_KEYS order), then the root device. */
  claims: KernelClaim[];
}

/** Everything the kernel says about the slot in use: the last value of each slot key, and the device mounted at /. */
export async function readKernelView(slots: Slots, options: DetectBootedOptions = {}): Promise<KernelView> {
  const cmdlinePath = options.cmdlinePath ?? '/proc/cmdline';
  const words = splitCmdline(await readFile(cmdlinePath, 'utf8').catch(() => ''));
  const where: Where = { devRoot: options.devRoot ?? '/dev', sysfsRoot: options.sysfsRoot ?? '/sys', diskPath: options.diskPath };
  const claims: KernelClaim[] = [];
  for (const key of SLOT_KEYS) {
    const value = lastValue(words, key);
    if (value === undefined) continue;
    const slot = key === 'abupdate.slot' ? (isSlotName(value) ? value : undefined) : await slotFromValue(value, slots, where);
    if (slot) claims.push({ slot, source: 'cmdline', detail: `${key}=${value}` });
  }
  const rootDevice = (options.rootDevice ?? defaultRootDevice)();
  if (rootDevice !== undefined && rootDevice.startsWith('/')) {
    const slot = await slotFromDevice(rootDevice, slots, where);
    if (slot) claims.push({ slot, source: 'root-device', detail: rootDevice });
  }
  return { cmdlinePath, rootDevice, claims };
}

function describeClaims(claims: readonly KernelClaim[]): string {
  return claims.map((c) => `${c.source === 'root-device' ? `/ mounted from "${c.detail}"` : `"${c.detail}"`} (slot ${c.slot})`).join(', ');
}

/**
 * The booted slot as the kernel says it (last root=/usr=/mount.usr=/verity.usr= wins, abupdate.slot=, the root
 * device). --booted is checked against it whenever the kernel says anything: ERR_BOOTED_MISMATCH when they differ,
 * ERR_BOOTED_CONFLICT when the kernel's own words name both slots, ERR_BOOTED_UNKNOWN when nothing names a slot.
 */
export async function detectBootedSlot(slots: Slots, options: DetectBootedOptions = {}): Promise<BootedSlot> {
  if (options.override !== undefined && !isSlotName(options.override)) {
    throw new UpdaterError('ERR_USAGE', `Cannot use --booted "${options.override}": expected A or B`);
  }
  const view = await readKernelView(slots, options);
  const named = [...new Set(view.claims.map((c) => c.slot))];
  if (named.length > 1) {
    throw new UpdaterError('ERR_BOOTED_CONFLICT', `Cannot tell which slot is booted: the kernel names both slots: ${describeClaims(view.claims)}`, {
      data: { cmdlinePath: view.cmdlinePath, claims: view.claims },
      hint: 'Both slots may be in use; nothing is written. Boot with one root=/mount.usr= naming one slot (check the GRUB entry for a duplicated word).',
    });
  }
  const kernel = view.claims[0];
  if (options.override !== undefined) {
    if (kernel && kernel.slot !== options.override) {
      throw new UpdaterError('ERR_BOOTED_MISMATCH', `Cannot use --booted ${options.override}: the kernel says slot ${kernel.slot} is booted: ${describeClaims(view.claims)}`, {
        data: { override: options.override, claims: view.claims },
        hint: `Drop --booted (the kernel's word is used), or pass --booted ${kernel.slot}.`,
      });
    }
    return { slot: options.override, source: 'override', detail: `--booted ${options.override}` };
  }
  if (kernel) return { slot: kernel.slot, source: kernel.source, detail: kernel.detail };
  const device = view.rootDevice;
  throw new UpdaterError(
    'ERR_BOOTED_UNKNOWN',
    `Cannot tell which slot is booted: ${view.cmdlinePath} has no abupdate.slot=, root=, usr=, mount.usr= or verity.usr= naming slot A (${slots.A.uuid}) or B (${slots.B.uuid}), and the root device ${device === undefined ? 'is unknown' : `"${device}" is neither slot`}`,
    { data: { cmdlinePath: view.cmdlinePath, rootDevice: device ?? null }, hint: 'Pass --booted A or --booted B.' },
  );
}

/**
 * The whole disk holding the root filesystem (the default --disk): the device mounted at / mapped to
 * its parent in sysfs, e.g. /dev/vda4 -> /dev/vda. Undefined when / is not on a partition.
 */
export async function findRootDisk(options: Pick<DetectBootedOptions, 'devRoot' | 'sysfsRoot' | 'rootDevice'> = {}): Promise<string | undefined> {
  const device = (options.rootDevice ?? defaultRootDevice)();
  if (device === undefined || !device.startsWith('/')) return undefined;
  try {
    const name = path.basename(await realpath(device));
    const dir = await realpath(`${options.sysfsRoot ?? '/sys'}/class/block/${name}`);
    await readFile(`${dir}/partition`, 'utf8');
    return `${options.devRoot ?? '/dev'}/${path.basename(path.dirname(dir))}`;
  } catch {
    return undefined;
  }
}
