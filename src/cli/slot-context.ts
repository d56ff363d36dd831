// Shared CLI plumbing for the slot commands: the SLOT argument (A, B, booted, other) and the slot table as text and JSON.

import { UpdaterError } from '../../common/errors.js';
import { selectBootSlot, type BootloaderKind, type SlotStatus } from '../../partition/boot-control.js';
import { otherSlot, type SlotName } from '../../partition/slots.js';
import { requireBooted, type HostDisk } from '../host/context.js';
import { shownSlotState } from '../usecases/status.js';

/** A, B, booted or other (case-insensitive) to a slot name. */
export function resolveSlotArgument(sc: HostDisk, arg: string, command: string): SlotName {
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

/** The `slots --json` shape, for STATUS (read now when not given). */
export async function slotsReport(sc: HostDisk, status?: SlotStatus[]): Promise<SlotsReport> {
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
