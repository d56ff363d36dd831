// update_engine's D-Bus names and its five-value status (update_engine.xml, dbus_constants.h), mapped from the engine's state.

import type { EngineStateName } from '../engine/state-store.js';

export const UPDATE1_NAME = 'com.coreos.update1';
export const UPDATE1_PATH = '/com/coreos/update1';
export const UPDATE1_INTERFACE = 'com.coreos.update1.Manager';

/** update_engine's UpdateStatusToString() values. */
export const UPDATE_STATUSES = [
  'UPDATE_STATUS_IDLE',
  'UPDATE_STATUS_CHECKING_FOR_UPDATE',
  'UPDATE_STATUS_UPDATE_AVAILABLE',
  'UPDATE_STATUS_DOWNLOADING',
  'UPDATE_STATUS_VERIFYING',
  'UPDATE_STATUS_FINALIZING',
  'UPDATE_STATUS_UPDATED_NEED_REBOOT',
  'UPDATE_STATUS_REPORTING_ERROR_EVENT',
] as const;
export type UpdateStatusName = (typeof UPDATE_STATUSES)[number];

/** update_engine's kVersionZero: new_version when no update is known. */
export const VERSION_ZERO = '0.0.0';

/** GetStatus()'s and StatusUpdate's values, in update_engine.xml's order and types (x d s s x). */
export interface Update1Status {
  /** Seconds since the epoch of the last successful update check, 0 if none (x). */
  lastCheckedTime: number;
  /** Download progress, 0.0 to 1.0 (d). */
  progress: number;
  currentOperation: UpdateStatusName;
  newVersion: string;
  /** Bytes of the update payload, 0 if none (x). */
  newSize: number;
}

/** The engine's view the status is computed from (the lifecycle's status reader gives it). */
export interface Update1Source {
  state: EngineStateName;
  /** ms since the epoch of the last check that reached the server. */
  lastCheckedAt?: number | null;
  /** Bytes done and total of the download phase, while downloading. */
  download?: { done: number; total: number } | null;
  /** The version and bundle size on offer, installing, or installed and waiting for the reboot. */
  newVersion?: string | null;
  newSize?: number | null;
}

/** HEALTH_CHECK and ROLLED_BACK happen after a reboot, where update_engine is idle. */
export function updateStatusName(state: EngineStateName): UpdateStatusName {
  if (state === 'HEALTH_CHECK' || state === 'ROLLED_BACK') return 'UPDATE_STATUS_IDLE';
  return `UPDATE_STATUS_${state}`;
}

/** The five values as update_engine computes them: progress only while downloading, version and size only with an update. */
export function toUpdate1Status(source: Update1Source): Update1Status {
  const currentOperation = updateStatusName(source.state);
  const withUpdate = ['UPDATE_STATUS_UPDATE_AVAILABLE', 'UPDATE_STATUS_DOWNLOADING', 'UPDATE_STATUS_VERIFYING', 'UPDATE_STATUS_FINALIZING', 'UPDATE_STATUS_UPDATED_NEED_REBOOT'].includes(currentOperation);
  const download = source.download;
  const progress = currentOperation === 'UPDATE_STATUS_DOWNLOADING' && download && download.total > 0 ? Math.min(1, download.done / download.total) : 0;
  return {
    lastCheckedTime: source.lastCheckedAt ? Math.floor(source.lastCheckedAt / 1000) : 0,
    progress,
    currentOperation,
    newVersion: withUpdate && source.newVersion ? source.newVersion : VERSION_ZERO,
    newSize: withUpdate && source.newSize ? source.newSize : 0,
  };
}

/** The D-Bus body of GetStatus's reply and of StatusUpdate. */
export function update1Body(status: Update1Status): [bigint, number, string, string, bigint] {
  return [BigInt(Math.trunc(status.lastCheckedTime)), status.progress, status.currentOperation, status.newVersion, BigInt(Math.trunc(status.newSize))];
}

/** update_engine_client -status: printf("LAST_CHECKED_TIME=%" PRIi64 "\nPROGRESS=%f\nCURRENT_OP=%s\nNEW_VERSION=%s\nNEW_SIZE=%" PRIi64 "\n"). */
export function formatStatusLines(status: Update1Status): string {
  return (
    `LAST_CHECKED_TIME=${Math.trunc(status.lastCheckedTime)}\n` +
    `PROGRESS=${status.progress.toFixed(6)}\n` +
    `CURRENT_OP=${status.currentOperation}\n` +
    `NEW_VERSION=${status.newVersion}\n` +
    `NEW_SIZE=${Math.trunc(status.newSize)}\n`
  );
}
