// The fleet records etcd has not taken yet (offered, installed, committed, rolled-back), kept in STATE_DIR so a
// rollback mark survives a daemon restart (or a kill) before etcd answered: written before the first try, cleared
// once etcd took them, and sent again on the next start.

import { mkdir, readFile, rm } from 'node:fs/promises';
import { replaceFileDurably } from '../../common/file-system.js';
import path from 'node:path';
import { HISTORY_EVENTS, type HistoryEvent } from './fleet-keys.js';

export const PENDING_RECORDS_FILE = 'fleet-pending.json';

export interface PendingRecord {
  event: HistoryEvent;
  version: string;
  /** When it happened (ISO): the history and the rollback mark keep this time, not the time etcd took it. */
  at: string;
}

/** Reads the queue; a missing file is empty, and so is a damaged one (said once through `warn`). */
export async function loadPendingRecords(file: string, warn?: (message: string) => void): Promise<PendingRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value)) throw new Error('not a list');
    return value.filter(
      (r): r is PendingRecord =>
        r !== null && typeof r === 'object' && (HISTORY_EVENTS as readonly unknown[]).includes(r.event) && typeof r.version === 'string' && typeof r.at === 'string',
    );
  } catch {
    warn?.(`fleet: ignoring a damaged ${path.basename(file)} in ${path.dirname(file)}: its records are not sent`);
    return [];
  }
}

/** Writes the queue atomically (temp file, fsync, rename, fsync of the dir), or removes the file when it is empty. */
export async function savePendingRecords(file: string, records: PendingRecord[]): Promise<void> {
  if (records.length === 0) {
    await rm(file, { force: true });
    return;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await replaceFileDurably(file, `${JSON.stringify(records)}\n`, { mode: 0o600 });
}

/** Adds a record unless the same event of the same version waits already (the first time is the one kept). */
export function enqueue(records: PendingRecord[], record: PendingRecord): PendingRecord[] {
  return records.some((r) => r.event === record.event && r.version === record.version) ? records : [...records, record];
}
