// `abupdate status`: booted slot, slot table, engine state, install progress, last error, pending reboot.

import { readDaemonStatus } from '../daemon/control-client.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import { formatBytes } from '../engine/progress.js';
import { readStatus, type DaemonView, type HostStatus } from '../usecases/status.js';
import { report, type Command } from './command.js';

/** `status --json` is readStatus()'s HostStatus (src/usecases/status.ts). */
export type StatusReport = HostStatus;

function daemonText(d: DaemonView | null): string {
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
  const round = s.activity === 'idle' ? '' : ` (${s.state})`;
  return `Daemon: ${s.activity}${round}${next}${failures}`;
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
  const engine = r.engineState !== r.state ? ` (the engine's own: ${r.engineState})` : '';
  lines.push('', `Engine state: ${r.state}${engine}${r.pendingReboot ? ' (reboot pending)' : ''}`);
  if (r.install) {
    const i = r.install;
    lines.push(
      `Install: ${i.version} into slot ${i.targetSlot} from ${i.source}`,
      `  ${i.chunksWritten}/${i.chunkCount} chunks (${i.percent}%) of ${formatBytes(i.imageSize)}, ${formatBytes(i.bytesDownloaded)} downloaded${i.bytesReused ? `, reused ${Object.entries(i.reusedFrom ?? {}).map(([slot, bytes]) => `${formatBytes(bytes)} from slot ${slot}`).join(', ')}` : ''}, attempt ${i.attempts}, updated ${i.updatedAt}`,
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
    // parse -> host context -> the one status reader -> render
    const host = await ctx.host();
    const result = await readStatus({
      stateDir: host.stateDir,
      runDir: host.runDir,
      disk: () => host.engineDisk(),
      daemon: async () => (await readDaemonStatus<DaemonStatus>(host.runDir))?.daemon ?? null,
      warn: (m) => ctx.stderr.write(`abupdate: warning: ${m}\n`),
    });
    report(ctx, statusText(result), result);
    return 0;
  },
};
