// `abupdate status`: booted slot, slot table, engine state, install progress, last error, pending reboot.

import { toUpdaterError, type UpdaterErrorJson } from '../../common/errors.js';
import { selectBootSlot, type SlotStatus } from '../../partition/boot-control.js';
import type { SlotName } from '../../partition/slots.js';
import { ChunkBitmap } from '../engine/chunk-bitmap.js';
import { formatBytes } from '../engine/progress.js';
import { readLockHolder, isHolderAlive, type LockHolder } from '../engine/run-lock.js';
import { loadEngineState, type EngineState } from '../engine/state-store.js';
import { report, type Command } from './command.js';
import { readDaemonStatus } from '../daemon/control-client.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import { shownSlotState } from './slot-context.js';

interface SlotRow extends SlotStatus {
  label: string;
  uuid: string;
  size: number;
  version: string | null;
  booted: boolean;
  next: boolean;
}

export interface StatusReport {
  booted: SlotName | null;
  slots: SlotRow[] | null;
  diskError: UpdaterErrorJson | null;
  state: EngineState['state'];
  install: (NonNullable<EngineState['install']> & { chunksWritten: number; percent: number }) | null;
  lastError: UpdaterErrorJson | null;
  pendingReboot: boolean;
  committedVersion: string | null;
  floorVersion: string | null;
  /** Versions recorded as bad (failed their health check or were rolled back): never installed again until cleared. */
  badVersions: string[];
  lock: LockHolder | null;
  /** The running daemon's own view (activity, live install progress, next check), or null when none answers. */
  daemon: DaemonStatus | null;
}

function daemonText(d: DaemonStatus | null): string {
  if (d === null) return 'Daemon: not running';
  if (d.checking === 'disabled') return 'Daemon: running; update checks are disabled (SERVER=disabled)';
  const s = d.scheduler;
  if (s === undefined) return 'Daemon: running';
  if (s.activity === 'installing') {
    const p = s.progress;
    const done = p?.bytesDone !== undefined && p.bytesTotal ? ` ${Math.floor((p.bytesDone * 100) / p.bytesTotal)}% (${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)})` : '';
    return `Daemon: installing ${s.offer?.version ?? 'an update'}${p ? `: ${p.phase}${done}` : ''}`;
  }
  const next = s.nextCheckAt !== undefined ? `; next check ${new Date(s.nextCheckAt).toISOString()}` : '';
  const failures = s.consecutiveFailures > 0 ? `; ${s.consecutiveFailures} failed check(s) in a row` : '';
  return `Daemon: ${s.activity}${next}${failures}`;
}

function statusText(r: StatusReport): string {
  const lines = [`Booted slot: ${r.booted ?? 'unknown'}`];
  if (r.slots) {
    lines.push('', 'SLOT  PART  LABEL   STATE    PRIO  TRIES  OK  VERSION');
    for (const s of r.slots) {
      const mark = `${s.booted ? ' (booted)' : ''}${s.next ? ' (boots next)' : ''}`;
      lines.push(
        `${s.name.padEnd(4)}  ${String(s.partition).padEnd(4)}  ${s.label.padEnd(6)}  ${s.state.padEnd(7)}  ${String(s.priority).padEnd(4)}  ${String(s.tries).padEnd(5)}  ${s.successful ? 'y' : 'n'}   ${s.version ?? '-'}${mark}`,
      );
    }
  } else if (r.diskError) {
    lines.push(`Slots: unknown (${r.diskError.message})`);
  }
  lines.push('', `Engine state: ${r.state}${r.pendingReboot ? ' (reboot pending)' : ''}`);
  if (r.install) {
    const i = r.install;
    lines.push(
      `Install: ${i.version} into slot ${i.targetSlot} from ${i.source}`,
      `  ${i.chunksWritten}/${i.chunkCount} chunks (${i.percent}%) of ${formatBytes(i.imageSize)}, ${formatBytes(i.bytesDownloaded)} downloaded, attempt ${i.attempts}, updated ${i.updatedAt}`,
    );
  }
  if (r.committedVersion) lines.push(`Committed version: ${r.committedVersion}${r.floorVersion ? ` (floor ${r.floorVersion})` : ''}`);
  if (r.badVersions.length > 0) lines.push(`Bad versions (not installed again): ${r.badVersions.join(', ')}; "abupdate clear-bad" forgets them`);
  lines.push(daemonText(r.daemon));
  if (r.lock) lines.push(`Running: pid ${r.lock.pid} ("${r.lock.command}") since ${r.lock.since}`);
  if (r.lastError) lines.push(`Last error: ${r.lastError.message} [${r.lastError.code}]`);
  return lines.join('\n');
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'booted slot, slot table, engine state, progress, last error',
  usage: 'abupdate status [--disk PATH] [--booted A|B] [--state-dir DIR] [--run-dir DIR] [--json]',
  description: [
    'Shows the booted slot, the slot table with the flags the bootloader reads and the version in',
    'each slot, the engine state with the progress of an install, the last error and whether a',
    'reboot is pending.',
  ].join('\n'),
  async run(ctx) {
    const host = await ctx.host();
    const state = await loadEngineState(host.stateDir, { warn: (m) => ctx.stderr.write(`abupdate: warning: ${m}\n`) });
    let slots: SlotRow[] | null = null;
    let booted: SlotName | null = null;
    let diskError: UpdaterErrorJson | null = null;
    try {
      const disk = await host.engineDisk();
      booted = disk.booted;
      const status = await disk.control.status();
      const next = selectBootSlot(status);
      slots = status.map((s) => ({
        ...s,
        state: shownSlotState(s, booted),
        label: disk.slots[s.name].label,
        uuid: disk.slots[s.name].uuid,
        size: disk.slots[s.name].size,
        version: state.slots[s.name]?.version ?? null,
        booted: s.name === booted,
        next: next?.name === s.name,
      }));
    } catch (error) {
      diskError = toUpdaterError(error, 'read the slots').toJSON();
    }
    const install = state.install
      ? (() => {
          const i = state.install;
          const written = ChunkBitmap.fromBase64(i.chunkCount, i.chunksDone).size();
          return { ...i, chunksWritten: written, percent: i.chunkCount ? Math.floor((written * 100) / i.chunkCount) : 100 };
        })()
      : null;
    const holder = await readLockHolder(host.runDir);
    const result: StatusReport = {
      booted,
      slots,
      diskError,
      state: state.state,
      install,
      lastError: state.lastError,
      pendingReboot: state.state === 'UPDATED_NEED_REBOOT',
      committedVersion: state.committedVersion,
      floorVersion: state.floorVersion,
      badVersions: state.badVersions,
      lock: holder && isHolderAlive(holder) ? holder : null,
      daemon: await readDaemonStatus<DaemonStatus>(host.runDir),
    };
    report(ctx, statusText(result), result);
    return 0;
  },
};
