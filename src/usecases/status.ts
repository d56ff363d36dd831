// The one reader of this host's update status: the engine's state (state.json), the slot table, and the running
// daemon's live round and progress. `abupdate status`, the control socket's GET /status, the D-Bus service and
// the fleet report all answer with readStatus()'s HostStatus.

import { toUpdaterError, type UpdaterErrorJson } from '../../common/errors.js';
import { selectBootSlot, type BootControl, type SlotStatus } from '../../partition/boot-control.js';
import type { SlotName, Slots } from '../../partition/slots.js';
import { ChunkBitmap } from '../engine/chunk-bitmap.js';
import { isResting, isRoundState, type EngineStateName } from '../engine/lifecycle.js';
import { isHolderAlive, readLockHolder, type LockHolder } from '../engine/run-lock.js';
import { loadEngineState, type InstallRecord } from '../engine/state-store.js';
import { toUpdate1Status, type Update1Status } from '../dbus/update1.js';

/** One row of the slot table: the flags the bootloader reads, plus what the engine knows the slot holds. */
export interface SlotRow extends SlotStatus {
  label: string;
  uuid: string;
  size: number;
  /** The version the engine wrote (or recorded) in this slot, or null. */
  version: string | null;
  booted: boolean;
  /** The bootloader picks this slot at the next boot. */
  next: boolean;
}

/** An install in progress (or waiting for its reboot), with how much of it is done. */
export interface InstallView extends InstallRecord {
  chunksWritten: number;
  /** 0-100, from the chunks written and verified. */
  percent: number;
}

/** The daemon's round as the daemon reports it (its scheduler's status, src/daemon/scheduler.ts SchedulerStatus). */
export interface RoundView {
  /** The round's lifecycle state (CHECKING_FOR_UPDATE, UPDATE_AVAILABLE, DOWNLOADING, REPORTING_ERROR_EVENT; IDLE between rounds). */
  state: EngineStateName;
  /** Derived from state for clients of the first control API: 'checking', 'installing' or 'idle'. */
  activity: 'idle' | 'checking' | 'installing';
  /** When the next scheduled round runs (ms since the epoch), while the daemon sleeps. */
  nextCheckAt?: number;
  consecutiveFailures: number;
  /** The last round: its outcome ('noupdate', 'available', 'installed', 'error', ...), times (ms), error. */
  lastCycle?: { kind: string; outcome: string; startedAt: number; finishedAt: number; pendingVersion?: string; error?: unknown };
  /** The update the last round found, while it is current. */
  offer?: { version: string; size: number; url: string };
  /** Live progress of the round's install: phase ('check', 'download', 'recheck', 'readback', 'flip') and bytes. */
  progress?: { phase: string; bytesDone?: number; bytesTotal?: number };
}

/** What the running daemon adds: its settings and its round. */
export interface DaemonView {
  checking: 'enabled' | 'disabled';
  server?: string;
  protocol?: string;
  group?: string;
  /** The version the booted slot runs, as the daemon reports it to the server. */
  currentVersion?: string;
  /** When the last check that reached the server finished (ms since the epoch; kept across restarts in metrics.json). */
  lastCheckedAt?: number;
  /** The daemon's update round (named after the daemon's scheduler, which runs the rounds). */
  scheduler?: RoundView;
}

/**
 * The status of this host's updates. Every field is plain JSON (`--json` prints it as it is).
 * D-Bus (update_engine's GetStatus and StatusUpdate) answers with its `update1` (update1FromStatus).
 */
export interface HostStatus {
  /**
   * The lifecycle state (docs/architecture.md, "The lifecycle table"): the daemon's round state
   * (CHECKING_FOR_UPDATE, UPDATE_AVAILABLE, REPORTING_ERROR_EVENT) while the engine is at rest (IDLE or
   * ROLLED_BACK), else the engine's persisted state (DOWNLOADING ... UPDATED_NEED_REBOOT, HEALTH_CHECK).
   */
  state: EngineStateName;
  /** The engine's persisted state alone (state.json). */
  engineState: EngineStateName;
  /** The booted slot, or null when the disk cannot be read (see diskError). */
  booted: SlotName | null;
  slots: SlotRow[] | null;
  diskError: UpdaterErrorJson | null;
  /** The version the booted slot runs, as far as the daemon or the engine knows, else null. */
  currentVersion: string | null;
  install: InstallView | null;
  /** Live progress of the daemon's install, or null (fraction: 0..1 of the phase's bytes). */
  progress: { phase: string; bytesDone: number; bytesTotal: number; fraction: number } | null;
  /** The update the daemon's last round found, while it is current; else null. */
  offer: { version: string; size: number; url: string } | null;
  /** When the daemon's last round finished (ISO 8601), or null. */
  lastCheckAt: string | null;
  /** The engine's last error (an install or post-boot failure), persisted; a failed round's is in daemon.scheduler.lastCycle. */
  lastError: UpdaterErrorJson | null;
  /** An installed update waits for the reboot (engine state UPDATED_NEED_REBOOT). */
  pendingReboot: boolean;
  committedVersion: string | null;
  /** The anti-rollback floor: no version below it is installed. */
  floorVersion: string | null;
  /** Versions recorded as bad (failed their health check or were rolled back): never installed again until cleared. */
  badVersions: string[];
  /** The process holding the engine's run lock (an install, post-boot, ...), or null. */
  lock: LockHolder | null;
  /** The running daemon's own view (settings, round, live progress), or null when none answers. */
  daemon: DaemonView | null;
  /**
   * update_engine's five values as the daemon's D-Bus GetStatus answers them, computed from the fields above
   * (update1FromStatus, below); null when no daemon with an update round runs.
   */
  update1: Update1Status | null;
}

/** What readStatus() reads from; each caller passes its own (the CLI from the host context, the daemon its seam). */
export interface StatusSources {
  stateDir: string;
  runDir: string;
  /** Opens the disk for the slot table; omitted, or failing, the slots are null (a failure is diskError). */
  disk?: () => Promise<{ control: BootControl; slots: Slots; booted: SlotName }>;
  /** The daemon's view: in the daemon its own, elsewhere read over the control socket; null when none runs. */
  daemon: () => Promise<DaemonView | null>;
  /** The booted slot where the disk is not read (the daemon's status feed): it tells a pending reboot from one done. */
  booted?: SlotName;
  warn?: (message: string) => void;
}

/**
 * The state to show for a slot. The bootloader's view (slotState) calls a slot with no tries left and
 * no commit "bad", which is right for a slot that is not running; the booted slot in that state is the
 * one on trial (its try was spent by this boot) until post-boot commits or rejects it.
 */
export function shownSlotState(s: SlotStatus, booted: SlotName | null | undefined): SlotStatus['state'] {
  return s.name === booted && s.state === 'bad' && s.priority > 0 && !s.successful ? 'trying' : s.state;
}

/**
 * The lifecycle state to show: a round state over an engine at rest, else the engine's. A round that has started
 * its install while the engine is still at rest (it verifies the bundle head before it writes DOWNLOADING) shows
 * UPDATE_AVAILABLE: the offer is there and nothing is written yet.
 */
export function shownState(engineState: EngineStateName, round: RoundView | undefined): EngineStateName {
  if (round === undefined || !isResting(engineState)) return engineState;
  if (isRoundState(round.state)) return round.state;
  if (round.state === 'DOWNLOADING' || round.state === 'VERIFYING' || round.state === 'FINALIZING') return 'UPDATE_AVAILABLE';
  return engineState;
}

/** Reads the whole status once. Never throws for an unreadable disk or an absent daemon: those are fields. */
export async function readStatus(sources: StatusSources): Promise<HostStatus> {
  const engine = await loadEngineState(sources.stateDir, sources.warn ? { warn: sources.warn } : {});
  let slots: SlotRow[] | null = null;
  let booted: SlotName | null = sources.booted ?? null;
  let diskError: UpdaterErrorJson | null = null;
  if (sources.disk) {
    try {
      const disk = await sources.disk();
      booted = disk.booted;
      const flags = await disk.control.status();
      const next = selectBootSlot(flags);
      slots = flags.map((s) => ({
        ...s,
        state: shownSlotState(s, disk.booted),
        label: disk.slots[s.name].label,
        uuid: disk.slots[s.name].uuid,
        size: disk.slots[s.name].size,
        version: engine.slots[s.name]?.version ?? null,
        booted: s.name === disk.booted,
        next: next?.name === s.name,
      }));
    } catch (error) {
      diskError = toUpdaterError(error, 'read the slots').toJSON();
    }
  }
  const i = engine.install;
  const written = i ? ChunkBitmap.fromBase64(i.chunkCount, i.chunksDone).size() : 0;
  const install = i ? { ...i, chunksWritten: written, percent: i.chunkCount ? Math.floor((written * 100) / i.chunkCount) : 100 } : null;
  const holder = await readLockHolder(sources.runDir);
  const daemon = await sources.daemon();
  const round = daemon?.scheduler;
  // The install's live progress ends with it: once state.json says UPDATED_NEED_REBOOT, a round still winding down
  // (its last 'flip' progress not yet dropped) shows none, so every reader agrees from that write on.
  const p = engine.state === 'UPDATED_NEED_REBOOT' ? undefined : round?.progress;
  const finished = round?.lastCycle?.finishedAt;
  const status: Omit<HostStatus, 'update1'> = {
    state: shownState(engine.state, round),
    engineState: engine.state,
    booted,
    slots,
    diskError,
    currentVersion: daemon?.currentVersion ?? (booted ? engine.slots[booted]?.version : undefined) ?? engine.committedVersion ?? null,
    install,
    progress: p ? { phase: p.phase, bytesDone: p.bytesDone ?? 0, bytesTotal: p.bytesTotal ?? 0, fraction: p.bytesTotal ? Math.min(1, (p.bytesDone ?? 0) / p.bytesTotal) : 0 } : null,
    offer: round?.offer ? { version: round.offer.version, size: round.offer.size, url: round.offer.url } : null,
    lastCheckAt: typeof finished === 'number' ? new Date(finished).toISOString() : null,
    lastError: engine.lastError,
    // Booted into the new slot already (post-boot has not run yet), the reboot is no longer pending.
    pendingReboot: engine.state === 'UPDATED_NEED_REBOOT' && (booted === null || engine.install === null || engine.install.targetSlot !== booted),
    committedVersion: engine.committedVersion,
    floorVersion: engine.floorVersion,
    badVersions: engine.badVersions,
    lock: holder && isHolderAlive(holder) ? holder : null,
    daemon,
  };
  return { ...status, update1: update1FromStatus(status) };
}

/** The fields of the host status the five values come from (everything but update1 itself). */
export type Update1Basis = Pick<HostStatus, 'state' | 'pendingReboot' | 'install' | 'progress' | 'offer' | 'daemon'>;

/**
 * The five values as the running daemon's D-Bus service answers them; null when no daemon with an update round runs
 * (none answers, or SERVER=disabled: then nothing answers GetStatus either).
 * - current_operation: UPDATE_STATUS_ + state; UPDATED_NEED_REBOOT only while the reboot is still pending (after
 *   the reboot into the new slot, before post-boot, update_engine is idle);
 * - progress: the daemon's live download fraction while DOWNLOADING;
 * - new_version / new_size: the round's offer, or once installed the version waiting for the reboot (with the
 *   offer's size when the offer is that version; after a restart of the daemon only the version is known);
 * - last_checked_time: the last check that reached the server (the daemon keeps it across restarts).
 */
export function update1FromStatus(status: Update1Basis): Update1Status | null {
  const daemon = status.daemon;
  if (daemon === null || daemon.checking === 'disabled') return null;
  const lastCheckedAt = daemon.lastCheckedAt ?? null;
  const state = status.state === 'UPDATED_NEED_REBOOT' && !status.pendingReboot ? 'IDLE' : status.state;
  const p = status.progress;
  const download = state === 'DOWNLOADING' && p !== null && (p.phase === 'download' || p.phase === 'recheck') ? { done: p.bytesDone, total: p.bytesTotal } : null;
  if (state === 'UPDATED_NEED_REBOOT') {
    const version = status.install?.version ?? status.offer?.version ?? null;
    const size = status.offer !== null && status.offer.version === version ? status.offer.size : null;
    return toUpdate1Status({ state, lastCheckedAt, newVersion: version, newSize: size });
  }
  const offer = status.offer;
  const newVersion = offer?.version ?? status.install?.version ?? null;
  return toUpdate1Status({ state, lastCheckedAt, download, newVersion, newSize: offer?.size ?? null });
}
