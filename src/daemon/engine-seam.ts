// The daemon's view of the install engine: the running version, a pending update, and "install this bundle".

import type { SlotName } from '../../partition/slots.js';
import { loadKeyring } from '../../verify/keyring.js';
import type { ExpectedBundle } from '../engine/bundle-tap.js';
import type { EngineDisk } from '../host/context.js';
import { installBundle, type InstallOptions } from '../engine/install.js';
import type { ProgressPhase, ProgressReporter } from '../engine/progress.js';
import { loadEngineState } from '../engine/state-store.js';
import { resetPendingUpdate } from '../lifecycle/reset-status.js';
import type { Logger } from '../log.js';
import type { InstallProgress } from './scheduler.js';

export interface EngineSeam {
  /** The version the booted slot runs. */
  currentVersion(): Promise<string>;
  /** The version installed into the other slot and waiting for a reboot into it, if any. */
  pendingVersion(): Promise<string | null>;
  /** Versions that failed on this host (health check or no boot): not downloaded again until cleared. */
  badVersions(): Promise<string[]>;
  /** Whether the booted slot is committed (successful in the boot flags: post-boot has passed it). */
  bootedCommitted(): Promise<boolean>;
  /** ResetStatus in UPDATED_NEED_REBOOT: drops the waiting update, the booted slot boots next again; the version dropped or null. */
  resetPending(): Promise<string | null>;
  /** Streams a bundle (URL or path) into the other slot: verified, read back, checked against `expectedBundle`, flipped. */
  install(bundle: string, options: EngineInstallOptions): Promise<EngineInstallResult>;
}

export interface EngineInstallResult {
  alreadyInstalled: boolean;
  version: string;
  /** Bundle bytes this run received, and chunks it found already written (the metrics count them). */
  bytesDownloaded?: number;
  chunksReused?: number;
  /** A delta install: image bytes copied from the host's own slots instead of downloaded. */
  bytesReused?: number;
}

export interface EngineInstallOptions {
  signal: AbortSignal;
  onProgress: (progress: InstallProgress) => void;
  /** The whole bundle file as the update server states it. */
  expectedBundle?: ExpectedBundle;
  http?: InstallOptions['http'];
}

export interface EngineSeamOptions {
  disk: EngineDisk;
  stateDir: string;
  runDir: string;
  keyringDirs: string[];
  compatible: string;
  /** The running version when the engine state does not know it (a fresh host): --current-version. */
  currentVersion?: string;
  tries?: number;
  /** REBOOT_SENTINEL: the install creates it once the new slot boots next (null: none). */
  rebootSentinel?: string | null;
  logger: Logger;
}

/** When nothing says which version runs, compare as the lowest version: every offer is newer. */
export const UNKNOWN_VERSION = '0.0.0';

function progressAdapter(onProgress: (progress: InstallProgress) => void, logger: Logger): ProgressReporter {
  let current: { phase: ProgressPhase; total: number; done: number } = { phase: 'check', total: 0, done: 0 };
  const emit = () => onProgress({ phase: current.phase, bytesDone: current.done, bytesTotal: current.total });
  return {
    phase(phase, total, done = 0) {
      current = { phase, total, done };
      emit();
    },
    update(done) {
      current.done = done;
      emit();
    },
    message: (text) => logger.info(text),
    finish() {},
  };
}

export function createEngineSeam(options: EngineSeamOptions): EngineSeam {
  const booted: SlotName = options.disk.booted;
  const warn = (message: string) => options.logger.warn(message);
  return {
    async currentVersion() {
      const state = await loadEngineState(options.stateDir, { warn });
      return state.slots[booted]?.version ?? options.currentVersion ?? state.committedVersion ?? UNKNOWN_VERSION;
    },
    async badVersions() {
      return (await loadEngineState(options.stateDir, { warn })).badVersions;
    },
    async bootedCommitted() {
      const status = await options.disk.control.status();
      return status.find((s) => s.name === booted)?.successful ?? false;
    },
    async pendingVersion() {
      const state = await loadEngineState(options.stateDir, { warn });
      // Once booted into the target slot the wait is over, even before post-boot commits it.
      const waiting = state.state === 'UPDATED_NEED_REBOOT' && state.install !== null && state.install.targetSlot !== booted;
      return waiting ? (state.install?.version ?? null) : null;
    },
    async resetPending() {
      const { dropped } = await resetPendingUpdate({ control: options.disk.control, booted, stateDir: options.stateDir, runDir: options.runDir, rebootSentinel: options.rebootSentinel ?? null, warn });
      return dropped;
    },
    async install(bundle, { signal, onProgress, expectedBundle, http }) {
      const keyring = await loadKeyring(options.keyringDirs);
      const result = await installBundle({
        source: bundle,
        ...options.disk,
        keyring,
        compatible: options.compatible,
        stateDir: options.stateDir,
        runDir: options.runDir,
        signal,
        progress: progressAdapter(onProgress, options.logger),
        warn,
        ...(expectedBundle ? { expectedBundle } : {}),
        ...(http ? { http } : {}),
        ...(options.tries === undefined ? {} : { tries: options.tries }),
        rebootSentinel: options.rebootSentinel ?? null,
        ...(options.currentVersion === undefined ? {} : { currentVersion: options.currentVersion }),
      });
      return { alreadyInstalled: result.alreadyInstalled, version: result.version, bytesDownloaded: result.bytesDownloaded, chunksReused: result.chunks.reused, bytesReused: result.reused.bytes };
    },
  };
}
