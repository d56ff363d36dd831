// Shared CLI plumbing for the slot commands: options + update.conf -> disk, slots, boot control,
// booted slot; the SLOT argument (A, B, booted, other); the slot table as text and JSON.

import { UpdaterError } from '../../common/errors.js';
import { selectBootSlot, type BootControl, type BootloaderKind, type SlotStatus } from '../../partition/boot-control.js';
import { detectBootedSlot, findRootDisk, type BootedSlot } from '../../partition/booted.js';
import { openBootControl } from '../../partition/open-boot-control.js';
import { otherSlot, type SlotName, type Slots } from '../../partition/slots.js';
import { COMMON_HELP, COMMON_OPTIONS, stringOption, type OptionValues } from './command.js';
import type { LoadedConfig } from '../config/load-config.js';
import { loadConfigForCommand } from './config-command.js';

export const SLOT_CONTEXT_OPTIONS = {
  json: COMMON_OPTIONS.json,
  disk: COMMON_OPTIONS.disk,
  booted: COMMON_OPTIONS.booted,
  bootloader: COMMON_OPTIONS.bootloader,
  grubenv: COMMON_OPTIONS.grubenv,
  config: COMMON_OPTIONS.config,
} as const;

export const SLOT_CONTEXT_HELP = [COMMON_HELP.disk, COMMON_HELP.booted, COMMON_HELP.bootloader, COMMON_HELP.grubenv, COMMON_HELP.config, COMMON_HELP.json];

export interface SlotContext extends SlotDisk {
  /** Null when it cannot be told; `bootedError` says why. */
  booted: BootedSlot | null;
  bootedError: UpdaterError | null;
}

/** The disk and its boot control as the options (then update.conf) name them. */
export interface SlotDisk {
  diskPath: string;
  bootloader: BootloaderKind;
  /** The grubenv file (grubenv backend only). */
  grubenvPath: string | undefined;
  slots: Slots;
  control: BootControl;
}

/** Opens the disk named by --disk, DISK or the disk / is on, and its boot control (--bootloader, BOOTLOADER). */
export async function openSlotDisk(values: OptionValues, config: LoadedConfig): Promise<SlotDisk> {
  const diskPath = stringOption(values, 'disk') ?? (config.values.DISK || undefined) ?? (await findRootDisk());
  if (diskPath === undefined) {
    throw new UpdaterError('ERR_DISK_NOT_FOUND', 'Cannot find the disk with the slots: no --disk, no DISK in update.conf, and / is not on a disk partition', {
      hint: 'Pass --disk PATH (a whole-disk device or a disk image file).',
    });
  }
  const bootloader = stringOption(values, 'bootloader') ?? config.values.BOOTLOADER;
  if (bootloader !== 'gptprio' && bootloader !== 'grubenv') {
    throw new UpdaterError('ERR_USAGE', `Cannot use --bootloader "${bootloader}": expected gptprio or grubenv`);
  }
  const grubenvPath = bootloader === 'grubenv' ? (stringOption(values, 'grubenv') ?? config.values.GRUBENV ?? '/boot/grub/grubenv') : undefined;
  const { control, slots } = await openBootControl({ diskPath, bootloader, grubenvPath });
  return { diskPath, bootloader, grubenvPath, slots, control };
}

/** Opens the disk and boot control named by the options (then update.conf), and detects the booted slot. */
export async function openSlotContext(values: OptionValues, env: NodeJS.ProcessEnv): Promise<SlotContext> {
  const disk = await openSlotDisk(values, await loadConfigForCommand(values, env));
  let booted: BootedSlot | null = null;
  let bootedError: UpdaterError | null = null;
  const override = stringOption(values, 'booted');
  try {
    booted = await detectBootedSlot(disk.slots, { override: override?.toUpperCase(), diskPath: disk.diskPath });
  } catch (error) {
    if (!(error instanceof UpdaterError) || error.code !== 'ERR_BOOTED_UNKNOWN') throw error;
    bootedError = error;
  }
  return { ...disk, booted, bootedError };
}

/** The booted slot, or the detection error. */
export function requireBooted(sc: SlotContext): SlotName {
  if (sc.booted) return sc.booted.slot;
  throw sc.bootedError ?? new UpdaterError('ERR_BOOTED_UNKNOWN', 'Cannot tell which slot is booted', { hint: 'Pass --booted A or --booted B.' });
}

/** A, B, booted or other (case-insensitive) to a slot name. */
export function resolveSlotArgument(sc: SlotContext, arg: string, command: string): SlotName {
  const word = arg.toLowerCase();
  if (word === 'a' || word === 'b') return word.toUpperCase() as SlotName;
  if (word === 'booted') return requireBooted(sc);
  if (word === 'other') return otherSlot(requireBooted(sc));
  throw new UpdaterError('ERR_SLOT_UNKNOWN', `Cannot run "abupdate ${command}": "${arg}" is not a slot`, { hint: 'Name the slot A, B, booted or other.' });
}

export interface SlotRowJson {
  name: SlotName;
  partition: number;
  label: string;
  uuid: string;
  priority: number;
  tries: number;
  successful: boolean;
  state: SlotStatus['state'];
}

export interface SlotsReport {
  disk: string;
  bootloader: BootloaderKind;
  booted: SlotName | null;
  slots: SlotRowJson[];
  next: SlotName | null;
}

/**
 * The state to show for a slot. The bootloader's view (slotState) calls a slot with no tries left and
 * no commit "bad", which is right for a slot that is not running; the booted slot in that state is the
 * one on trial (its try was spent by this boot) until post-boot commits or rejects it.
 */
export function shownSlotState(s: SlotStatus, booted: SlotName | null | undefined): SlotStatus['state'] {
  return s.name === booted && s.state === 'bad' && s.priority > 0 && !s.successful ? 'trying' : s.state;
}

/** The `slots --json` shape, for STATUS (read now when not given). */
export async function slotsReport(sc: SlotContext, status?: SlotStatus[]): Promise<SlotsReport> {
  const rows = status ?? (await sc.control.status());
  return {
    disk: sc.diskPath,
    bootloader: sc.bootloader,
    booted: sc.booted?.slot ?? null,
    slots: rows.map((s) => ({
      name: s.name,
      partition: s.partition,
      label: sc.slots[s.name].label,
      uuid: sc.slots[s.name].uuid,
      priority: s.priority,
      tries: s.tries,
      successful: s.successful,
      state: shownSlotState(s, sc.booted?.slot),
    })),
    next: selectBootSlot(rows)?.name ?? null,
  };
}

/** The report as a readable table. */
export function slotsTable(report: SlotsReport): string {
  const header = ['SLOT', 'PART', 'LABEL', 'UUID', 'PRIO', 'TRIES', 'OK', 'STATE', ''];
  const rows = report.slots.map((s) => [
    s.name,
    String(s.partition),
    s.label || '-',
    s.uuid,
    String(s.priority),
    String(s.tries),
    s.successful ? 'yes' : 'no',
    s.state,
    [s.name === report.booted ? 'booted' : '', s.name === report.next ? 'boots next' : ''].filter(Boolean).join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [
    `Disk ${report.disk} (${report.bootloader}); booted: ${report.booted ?? 'unknown'}; next boot: ${report.next ?? 'none (no bootable slot)'}`,
    line(header),
    ...rows.map(line),
  ].join('\n');
}
