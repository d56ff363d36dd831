// Remembers, across the reboot, which update was installed from which version, so the first start after it can
// report "complete after reboot" (Omaha 3/2 with previousversion) or a rollback (3/0, errorcode 44), like update_engine.

import { mkdir, readFile } from 'node:fs/promises';
import { replaceFileDurably } from '../../common/file-system.js';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { UpdateEvent } from '../sources/source.js';

export const REPORT_RECORD_FILE = 'daemon-report.json';

export interface ReportRecord {
  /** The version the host ran when it installed the update. */
  previousVersion: string;
  /** The version it installed. */
  installedVersion: string;
  /** The boot id at install time: a different one means the host has rebooted since. */
  bootId: string;
}

export async function loadReportRecord(stateDir: string, logger?: Logger): Promise<ReportRecord | null> {
  let text: string;
  try {
    text = await readFile(path.join(stateDir, REPORT_RECORD_FILE), 'utf8');
  } catch {
    return null;
  }
  try {
    const value = JSON.parse(text) as Partial<ReportRecord>;
    if (typeof value.previousVersion === 'string' && typeof value.installedVersion === 'string' && typeof value.bootId === 'string') {
      return { previousVersion: value.previousVersion, installedVersion: value.installedVersion, bootId: value.bootId };
    }
  } catch {
    // fall through: a damaged record is dropped, it only feeds a report
  }
  logger?.warn(`ignoring a damaged ${REPORT_RECORD_FILE} in ${stateDir}`);
  return null;
}

/** Writes (or with null clears) the record atomically: temp file, fsync, rename, fsync of the state dir. */
export async function saveReportRecord(stateDir: string, record: ReportRecord | null): Promise<void> {
  await replaceFileDurably(path.join(stateDir, REPORT_RECORD_FILE), `${JSON.stringify(record)}\n`, { mode: 0o600 });
}

/**
 * What to report at start: nothing (no record, or still the same boot), complete-after-reboot (running the
 * installed version and post-boot has committed its slot), or an error with ERR_ROLLBACK (rebooted but back
 * on the previous version). Running the installed version before the commit reports nothing yet and keeps
 * the record: the health check may still fail, and then the report is the rollback from the old slot.
 */
export function startupReport(
  record: ReportRecord | null,
  currentVersion: string,
  bootId: string,
  bootedCommitted: boolean,
): { event: UpdateEvent | null; clear: boolean } {
  if (record === null) return { event: null, clear: false };
  if (currentVersion === record.installedVersion) {
    if (!bootedCommitted) return { event: null, clear: false };
    return { event: { kind: 'complete-after-reboot', version: currentVersion, previousVersion: record.previousVersion }, clear: true };
  }
  if (bootId !== '' && bootId === record.bootId) return { event: null, clear: false };
  if (currentVersion === record.previousVersion) {
    return { event: { kind: 'error', code: 'ERR_ROLLBACK', version: record.installedVersion, message: `rolled back from ${record.installedVersion} to ${currentVersion}` }, clear: true };
  }
  // Some third version: the record is stale (manual install, reimage); drop it.
  return { event: null, clear: true };
}

export const ALEPH_VERSION_FILE = 'aleph-version';

/**
 * The version this host first ran abupdate with (Omaha alephversion, update_engine's "aleph-version" pref):
 * read from STATE_DIR/aleph-version, written there with the current version the first time.
 */
export async function alephVersion(stateDir: string, currentVersion: string): Promise<string> {
  const file = path.join(stateDir, ALEPH_VERSION_FILE);
  try {
    const text = (await readFile(file, 'utf8')).trim();
    if (text !== '') return text;
  } catch {
    // first run: remember the current version below
  }
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await replaceFileDurably(file, `${currentVersion}\n`, { mode: 0o600 });
  } catch {
    // a read-only state dir only loses the record, not the request
  }
  return currentVersion;
}
