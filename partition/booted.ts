// Finds the booted slot: --booted override, else /proc/cmdline (abupdate.slot=, or root=/usr=/mount.usr=
// PARTUUID/PARTLABEL), else the device mounted at / mapped to its partition through /dev and sysfs.

import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { getDiskInfoSync } from 'node-disk-info';
import { UpdaterError } from '../common/errors.js';
import { sameGuid } from './guid.js';
import type { SlotName, Slots } from './slots.js';

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
  /** The device mounted at /; default from node-disk-info (df). */
  rootDevice?: () => string | undefined;
  /** The disk holding the slots (--disk): a root partition on another disk is not a slot. */
  diskPath?: string;
}

const CMDLINE_KEYS = ['root', 'usr', 'mount.usr'];

/** `key=value` words of a kernel command line (stops at `--`, which starts init's arguments). */
export function parseCmdline(text: string): Array<[string, string]> {
  const words: Array<[string, string]> = [];
  for (const word of text.trim().split(/\s+/)) {
    if (word === '--') break;
    const eq = word.indexOf('=');
    if (eq > 0) words.push([word.slice(0, eq), word.slice(eq + 1).replace(/^"(.*)"$/, '$1')]);
  }
  return words;
}

/** The slot named by a root=/usr= value: PARTUUID=, PARTLABEL=, or a /dev/disk/by-part* path. */
export function slotFromDeviceSpec(spec: string, slots: Slots): SlotName | undefined {
  const uuid = /^PARTUUID=([0-9a-fA-F-]{36})$/.exec(spec)?.[1] ?? /^\/dev\/disk\/by-partuuid\/([0-9a-fA-F-]{36})$/.exec(spec)?.[1];
  const label = /^PARTLABEL=(.+)$/.exec(spec)?.[1] ?? /^\/dev\/disk\/by-partlabel\/(.+)$/.exec(spec)?.[1];
  for (const slot of [slots.A, slots.B]) {
    if (uuid !== undefined && sameGuid(uuid, slot.uuid)) return slot.name;
    if (label !== undefined && label === slot.label) return slot.name;
  }
  return undefined;
}

function defaultRootDevice(): string | undefined {
  try {
    return getDiskInfoSync().find((d) => d.mounted === '/')?.filesystem;
  } catch {
    return undefined;
  }
}

async function slotFromRootDevice(device: string, slots: Slots, devRoot: string, sysfsRoot: string, diskPath?: string): Promise<SlotName | undefined> {
  let real: string;
  try {
    real = await realpath(device);
  } catch {
    return undefined;
  }
  for (const slot of [slots.A, slots.B]) {
    for (const link of [`${devRoot}/disk/by-partuuid/${slot.uuid.toLowerCase()}`, `${devRoot}/disk/by-partlabel/${slot.label}`]) {
      try {
        if ((await realpath(link)) === real) return slot.name;
      } catch {
        // no such link: try the next way
      }
    }
  }
  // sysfs: /sys/class/block/NAME/partition holds the partition number, uevent PARTNAME (the GPT label),
  // and the directory's parent is the whole disk
  const name = path.basename(real);
  try {
    const dir = await realpath(`${sysfsRoot}/class/block/${name}`);
    const number = Number((await readFile(`${dir}/partition`, 'utf8')).trim());
    const partname = /^PARTNAME=(.*)$/m.exec(await readFile(`${dir}/uevent`, 'utf8').catch(() => ''))?.[1];
    const parent = path.basename(path.dirname(dir));
    const sameDisk = diskPath !== undefined && path.basename(await realpath(diskPath).catch(() => diskPath)) === parent;
    for (const slot of [slots.A, slots.B]) {
      if (slot.partition !== number) continue;
      if (sameDisk || (slot.label !== '' && partname === slot.label)) return slot.name;
    }
  } catch {
    // not a partition
  }
  return undefined;
}

/** The booted slot, or ERR_BOOTED_UNKNOWN with a hint to pass --booted. */
export async function detectBootedSlot(slots: Slots, options: DetectBootedOptions = {}): Promise<BootedSlot> {
  if (options.override !== undefined) {
    if (options.override !== 'A' && options.override !== 'B') {
      throw new UpdaterError('ERR_USAGE', `Cannot use --booted "${options.override}": expected A or B`);
    }
    return { slot: options.override, source: 'override', detail: `--booted ${options.override}` };
  }
  const cmdlinePath = options.cmdlinePath ?? '/proc/cmdline';
  const cmdline = await readFile(cmdlinePath, 'utf8').catch(() => '');
  const words = parseCmdline(cmdline);
  for (const [key, value] of words) {
    if (key === 'abupdate.slot' && (value === 'A' || value === 'B')) return { slot: value, source: 'cmdline', detail: `${key}=${value}` };
  }
  for (const [key, value] of words) {
    if (!CMDLINE_KEYS.includes(key)) continue;
    const slot = slotFromDeviceSpec(value, slots);
    if (slot) return { slot, source: 'cmdline', detail: `${key}=${value}` };
  }
  const device = (options.rootDevice ?? defaultRootDevice)();
  if (device !== undefined && device.startsWith('/')) {
    const slot = await slotFromRootDevice(device, slots, options.devRoot ?? '/dev', options.sysfsRoot ?? '/sys', options.diskPath);
    if (slot) return { slot, source: 'root-device', detail: device };
  }
  throw new UpdaterError(
    'ERR_BOOTED_UNKNOWN',
    `Cannot tell which slot is booted: ${cmdlinePath} has no abupdate.slot= or root=/usr= naming slot A (${slots.A.uuid}) or B (${slots.B.uuid}), and the root device ${device === undefined ? 'is unknown' : `"${device}" is neither slot`}`,
    { data: { cmdlinePath, rootDevice: device ?? null }, hint: 'Pass --booted A or --booted B.' },
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
