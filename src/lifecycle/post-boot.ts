// The post-boot decision, run on every boot before the host counts as up: commit a slot on trial
// when its health checks pass, roll back when they fail, and notice when the bootloader already did.

import type { FileSystem } from '../../common/file-system.js';
import { UpdaterError, isUpdaterError, toUpdaterError } from '../../common/errors.js';
import { isBootable, type BootControl, type SlotStatus } from '../../partition/boot-control.js';
import { otherSlot, type SlotName } from '../../partition/slots.js';
import { compareVersions } from '../../verify/version.js';
import { applyEngineEvent } from '../engine/lifecycle.js';
import { loadEngineState, type EngineState } from '../engine/state-store.js';
import type { UpdateEvent } from '../omaha/events.js';
import { runHealthChecks, type HealthConfig, type HealthReport } from './health.js';

export type PostBootOutcome =
  /** The booted slot was on trial and passed: it is committed now. */
  | { action: 'committed'; slot: SlotName; version: string | null; health: HealthReport }
  /** The booted slot was on trial and failed: marked bad, the host reboots into the other slot. */
  | { action: 'rolled-back'; slot: SlotName; version: string | null; health: HealthReport }
  /** It failed, but the other slot cannot boot either: committed anyway, so the host stays bootable. */
  | { action: 'kept-failing'; slot: SlotName; version: string | null; health: HealthReport }
  /** The host came up on the old slot although an update had been activated: the bootloader fell back. */
  | { action: 'rollback-detected'; slot: SlotName; badVersion: string | null }
  /** An update is activated and waits for a reboot that has not happened yet. */
  | { action: 'pending-reboot'; slot: SlotName; next: SlotName }
  /** The booted slot is committed and nothing is in flight. */
  | { action: 'steady'; slot: SlotName; version: string | null };

export interface PostBootOptions {
  control: BootControl;
  booted: SlotName;
  stateDir: string;
  /** The file system the state is written with (tests record it; the flags go through `control`). */
  fs?: FileSystem;
  health: HealthConfig;
  /** Reboots the host whatever REBOOT_STRATEGY says (a failed slot must not keep running). */
  reboot: () => Promise<void>;
  /** Gives the fleet reboot lock back (etcd unlock, FleetLock steady-state); errors are logged, not fatal. */
  releaseLock?: () => Promise<void>;
  /** Tells the update server (Omaha events); errors are logged, not fatal. */
  report?: (event: UpdateEvent) => Promise<void>;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Replaces runHealthChecks (tests of the decision itself). */
  runHealth?: (config: HealthConfig) => Promise<HealthReport>;
}

function statusOf(status: readonly SlotStatus[], slot: SlotName): SlotStatus {
  const found = status.find((s) => s.name === slot);
  if (!found) throw new UpdaterError('ERR_INTERNAL', `Cannot read the flags of slot ${slot}`);
  return found;
}

function addBadVersion(state: EngineState, version: string | null): string[] {
  if (version === null || state.badVersions.includes(version)) return state.badVersions;
  return [...state.badVersions, version];
}

function raiseFloor(floor: string | null, version: string | null): string | null {
  if (version === null) return floor;
  if (floor === null) return version;
  try {
    return compareVersions(version, floor) > 0 ? version : floor;
  } catch {
    return floor;
  }
}

/** Runs the post-boot decision once. Safe to run again after a crash at any point in it. */
export async function runPostBoot(options: PostBootOptions): Promise<PostBootOutcome> {
  const log = options.log ?? (() => {});
  const { control, booted } = options;
  const other = otherSlot(booted);
  const status = await control.status();
  const mine = statusOf(status, booted);
  const theirs = statusOf(status, other);
  const state = await loadEngineState(options.stateDir, { warn: log });
  // The slot record is written right after the flip; a crash between the two leaves only the install record.
  const version = state.slots[booted]?.version ?? (state.install?.targetSlot === booted ? state.install.version : null);

  const quietly = async (what: string, action: (() => Promise<void>) | undefined): Promise<void> => {
    if (!action) return;
    try {
      await action();
    } catch (error) {
      log(`post-boot: could not ${what}: ${toUpdaterError(error, what).message}`);
    }
  };
  const report = (event: UpdateEvent): Promise<void> => quietly('report to the update server', options.report && (() => options.report!(event)));
  /** Everything after mark-good; also run when a crash cut it short after mark-good (state HEALTH_CHECK). */
  const warn = { warn: log, ...(options.fs ? { fs: options.fs } : {}) };
  const finishCommit = async (before: EngineState): Promise<void> => {
    const previous = before.slots[other]?.version ?? before.committedVersion ?? '0.0.0';
    await applyEngineEvent(
      options.stateDir,
      'health-passed',
      (current) => ({ install: null, lastError: null, committedVersion: version ?? current.committedVersion, floorVersion: raiseFloor(current.floorVersion, version) }),
      warn,
    );
    await quietly('release the reboot lock', options.releaseLock);
    if (version) await report({ kind: 'complete-after-reboot', version, previousVersion: previous });
  };

  if (!mine.successful) {
    // On trial: the bootloader has spent (some of) its tries. Health decides.
    log(`post-boot: slot ${booted}${version ? ` (version ${version})` : ''} is on trial; running health checks`);
    await applyEngineEvent(options.stateDir, 'health-check-started', {}, warn);
    const health = await (options.runHealth ?? ((config) => runHealthChecks(config, { log, ...(options.signal ? { signal: options.signal } : {}) })))(options.health);
    if (options.signal?.aborted) throw new UpdaterError('ERR_ABORTED', 'Cannot finish the post-boot check: stopped while checking health');
    if (health.ok) {
      await control.markGood(booted);
      log(`post-boot: slot ${booted} is healthy and committed${version ? ` (version ${version})` : ''}`);
      await finishCommit(state);
      return { action: 'committed', slot: booted, version, health };
    }
    const failed = health.results.filter((r) => !r.ok).map((r) => `${r.kind} "${r.name}": ${r.detail}`);
    const error = new UpdaterError('ERR_HEALTH_CHECK', `Cannot commit slot ${booted}: ${failed.length} health check(s) failed: ${failed.join('; ')}`, {
      data: { slot: booted, version, results: health.results },
    });
    try {
      await control.markBad(booted);
    } catch (caught) {
      if (!isUpdaterError(caught, 'ERR_NO_BOOTABLE_SLOT')) throw caught;
      // Rolling back would leave no bootable slot: keep the only bootable one, loudly.
      await control.markGood(booted);
      await applyEngineEvent(options.stateDir, 'health-failed-kept', (current) => ({ install: null, lastError: error.toJSON(), committedVersion: version ?? current.committedVersion }), warn);
      log(`post-boot: ${error.message}; slot ${other} cannot boot, so slot ${booted} is kept (committed) to stay bootable`);
      await quietly('release the reboot lock', options.releaseLock);
      await report({ kind: 'error', code: 'ERR_HEALTH_CHECK', ...(version ? { version } : {}) });
      return { action: 'kept-failing', slot: booted, version, health };
    }
    await applyEngineEvent(options.stateDir, 'health-failed', (current) => ({ install: null, lastError: error.toJSON(), badVersions: addBadVersion(current, version) }), warn);
    log(`post-boot: ${error.message}; slot ${booted} marked bad, rebooting into slot ${other}`);
    await report({ kind: 'error', code: 'ERR_HEALTH_CHECK', ...(version ? { version } : {}) });
    await options.reboot();
    return { action: 'rolled-back', slot: booted, version, health };
  }

  if (state.state === 'HEALTH_CHECK' && state.install?.targetSlot !== other) {
    // Committed (mark-good) but the bookkeeping after it was cut short: finish it now.
    await finishCommit(state);
    return { action: 'steady', slot: booted, version };
  }
  const install = state.install;
  // HEALTH_CHECK with the other slot as target: it failed its check and was marked bad, then the
  // power went before the state said so.
  const activated = (state.state === 'UPDATED_NEED_REBOOT' || state.state === 'HEALTH_CHECK') && install !== null && install.targetSlot === other;
  if (activated && !isBootable(theirs)) {
    // The update was activated, yet we run the old slot and the new one has no tries left: the
    // bootloader fell back (panic, hang + watchdog, power loss). Record it so it is not retried.
    const badVersion = install.version;
    const error = new UpdaterError('ERR_ROLLBACK', `Cannot boot version ${badVersion} in slot ${other}: its tries ran out without a commit, so slot ${booted} was booted again`, {
      data: { slot: other, version: badVersion },
      hint: `Version ${badVersion} will not be installed again until a newer one is offered; "abupdate clear-bad ${badVersion}" allows it again.`,
    });
    await applyEngineEvent(options.stateDir, 'rollback-detected', (current) => ({ install: null, lastError: error.toJSON(), badVersions: addBadVersion(current, badVersion) }), warn);
    log(`post-boot: ${error.message}`);
    await quietly('release the reboot lock', options.releaseLock);
    await report({ kind: 'error', code: 'ERR_ROLLBACK', version: badVersion });
    return { action: 'rollback-detected', slot: booted, badVersion };
  }
  if (activated) {
    log(`post-boot: slot ${other} (version ${install.version}) is activated and boots next; waiting for the reboot`);
    return { action: 'pending-reboot', slot: booted, next: other };
  }
  if (state.committedVersion !== version && version !== null) {
    // A manual rollback (or a commit whose bookkeeping was cut short) lands here: the booted slot is
    // good, so it is simply the committed version now.
    await applyEngineEvent(options.stateDir, 'commit-recorded', { committedVersion: version }, warn);
  }
  // Nothing is in flight, so this host must not hold the fleet's reboot lock: give it back (idempotent).
  // This also frees a lock left behind by a rollback reboot or a crash (locksmith's stuck-lock problem).
  await quietly('release the reboot lock', options.releaseLock);
  return { action: 'steady', slot: booted, version };
}
