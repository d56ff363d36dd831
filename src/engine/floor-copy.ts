// The anti-rollback floor's second copy (state-dir/floor.json), written in its own fsync epoch after state.json, and
// the highest floor that can still be proven from every source: so losing or corrupting any one file never lowers it.

import { readFile } from 'node:fs/promises';
import { nodeFileSystem, replaceFileDurably, type FileSystem } from '../../common/file-system.js';
import path from 'node:path';
import { UpdaterError } from '../../common/errors.js';
import { compareVersions, isVersion } from '../../verify/version.js';

export const FLOOR_FILE = 'floor.json';

/** The higher of two versions (null is lowest; a value that is no version never wins over one that is). */
export function higherVersion(a: string | null | undefined, b: string | null | undefined): string | null {
  const okA = isVersion(a) ? a : null;
  const okB = isVersion(b) ? b : null;
  if (okA === null) return okB;
  if (okB === null) return okA;
  return compareVersions(okA, okB) >= 0 ? okA : okB;
}

/** The highest of VERSIONS, or null. */
export function highestVersion(versions: ReadonlyArray<string | null | undefined>): string | null {
  return versions.reduce<string | null>((best, v) => higherVersion(best, v), null);
}

/** The floor recorded in floor.json, or null when there is none; an unreadable copy is ERR_STATE_UNREADABLE. */
export async function readFloorCopy(stateDir: string): Promise<string | null> {
  const file = path.join(stateDir, FLOOR_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UpdaterError('ERR_STATE_UNREADABLE', `Cannot read the anti-rollback floor "${file}": ${(error as Error).message}`, { cause: error, data: { file } });
  }
  let floor: unknown;
  try {
    floor = (JSON.parse(text) as { floorVersion?: unknown }).floorVersion;
  } catch {
    floor = undefined;
  }
  if (!isVersion(floor)) {
    throw new UpdaterError('ERR_STATE_UNREADABLE', `Cannot read the anti-rollback floor "${file}": it holds no floorVersion`, {
      data: { file },
      hint: `Nothing was changed. The floor is also in state.json: if that is readable, remove "${file}" and it is written again from there; never lower it by hand.`,
    });
  }
  return floor;
}

/**
 * Writes FLOOR to floor.json (temp, fsync, rename, fsync dir) unless the copy holds it or a higher one already.
 * Called only after state.json is durable: the two files are never both being replaced at one moment.
 */
export async function writeFloorCopy(
  stateDir: string,
  floor: string | null,
  fs: FileSystem = nodeFileSystem,
): Promise<void> {
  if (floor === null) return;
  const current = await readFloorCopy(stateDir).catch(() => null);
  if (current !== null && higherVersion(current, floor) === current) return;
  const file = path.join(stateDir, FLOOR_FILE);
  try {
    await replaceFileDurably(file, Buffer.from(`${JSON.stringify({ floorVersion: floor, updatedAt: new Date().toISOString() })}\n`, 'utf8'), { fs });
  } catch (error) {
    throw new UpdaterError('ERR_IO', `Cannot write the anti-rollback floor "${file}": ${(error as Error).message}`, { cause: error });
  }
}
