// The engine's persistent state (one JSON file in the state dir), written atomically: temp, fsync, rename, fsync dir.

import { readFile, rename } from 'node:fs/promises';
import { nodeFileSystem, type FileSystem } from '../../common/file-system.js';
import path from 'node:path';
import { UpdaterError, type UpdaterErrorJson } from '../../common/errors.js';
import type { SlotName } from '../../partition/slots.js';

/** update_engine's status names, plus the post-boot ones. */
export const ENGINE_STATES = [
  'IDLE',
  'CHECKING_FOR_UPDATE',
  'UPDATE_AVAILABLE',
  'DOWNLOADING',
  'VERIFYING',
  'FINALIZING',
  'UPDATED_NEED_REBOOT',
  'REPORTING_ERROR_EVENT',
  'HEALTH_CHECK',
  'ROLLED_BACK',
] as const;
export type EngineStateName = (typeof ENGINE_STATES)[number];

/** States of the daemon's update round: kept in its memory, never in the state file (src/engine/lifecycle.ts). */
export const ROUND_STATES = ['CHECKING_FOR_UPDATE', 'UPDATE_AVAILABLE', 'REPORTING_ERROR_EVENT'] as const satisfies readonly EngineStateName[];


/** What a slot holds, as far as the engine knows (it wrote it, or it was recorded at first run). */
export interface SlotRecord {
  version: string;
  manifestSha256: string;
  installedAt: string;
}

/** An install in progress (or finished and waiting for the reboot). */
export interface InstallRecord {
  targetSlot: SlotName;
  version: string;
  /** The bundle's path or URL. */
  source: string;
  /** SHA-256 (hex) of the exact manifest bytes; a resume continues only when it is the same. */
  manifestSha256: string;
  keyId: string;
  imageSize: number;
  chunkCount: number;
  /** Chunks written, fsynced and verified: a ChunkBitmap in base64. Never claims unsynced data. */
  chunksDone: string;
  /** How many times an install of this manifest was started (1 = first run). */
  attempts: number;
  /** Bundle bytes received from the source, over every attempt. */
  bytesDownloaded: number;
  startedAt: string;
  updatedAt: string;
}

export interface EngineState {
  schema: 1;
  state: EngineStateName;
  install: InstallRecord | null;
  lastError: UpdaterErrorJson | null;
  slots: Partial<Record<SlotName, SlotRecord>>;
  /** The version last committed (mark-good after a healthy boot). */
  committedVersion: string | null;
  /** The anti-rollback floor: no version below it is installed. */
  floorVersion: string | null;
  /** Versions that failed their health check; not offered again until a newer one exists. */
  badVersions: string[];
  updatedAt: string | null;
}

export const STATE_FILE = 'state.json';

export function emptyEngineState(): EngineState {
  return {
    schema: 1,
    state: 'IDLE',
    install: null,
    lastError: null,
    slots: {},
    committedVersion: null,
    floorVersion: null,
    badVersions: [],
    updatedAt: null,
  };
}

export interface LoadOptions {
  /** Told when the file exists but cannot be used (it is then treated as empty). */
  warn?: (message: string) => void;
}

/** Reads the state; a missing file is the empty state, a corrupt one is moved aside and treated as empty. */
export async function loadEngineState(stateDir: string, options: LoadOptions = {}): Promise<EngineState> {
  const file = path.join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyEngineState();
    throw new UpdaterError('ERR_IO', `Cannot read the engine state "${file}": ${(error as Error).message}`, { cause: error });
  }
  const problem = checkEngineState(text);
  if (typeof problem !== 'string') return problem;
  const aside = `${file}.corrupt`;
  await rename(file, aside).catch(() => undefined);
  options.warn?.(`ignoring the engine state "${file}" (${problem}); starting from an empty state, the old file is kept as "${aside}"`);
  return emptyEngineState();
}

/** The parsed state, or why it cannot be used. */
function checkEngineState(text: string): EngineState | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const s = value as Partial<EngineState>;
  if (s.schema !== 1) return `unknown schema ${JSON.stringify(s.schema)}`;
  if (!ENGINE_STATES.includes(s.state as EngineStateName)) return `unknown state ${JSON.stringify(s.state)}`;
  if (!Array.isArray(s.badVersions) || typeof s.slots !== 'object' || s.slots === null) return 'missing fields';
  const install = s.install;
  if (install !== null && install !== undefined) {
    if (
      (install.targetSlot !== 'A' && install.targetSlot !== 'B') ||
      typeof install.manifestSha256 !== 'string' ||
      typeof install.chunksDone !== 'string' ||
      !Number.isSafeInteger(install.chunkCount) ||
      !Number.isSafeInteger(install.imageSize)
    ) {
      return 'malformed install record';
    }
  }
  // A round state is never written; one found here (a hand-edited file) reads as IDLE, like a round a crash cut short.
  const state = (ROUND_STATES as readonly string[]).includes(s.state as string) ? 'IDLE' : s.state;
  return { ...emptyEngineState(), ...s, state, install: install ?? null } as EngineState;
}

/**
 * Replaces the state file atomically; after it returns, the new state survives a power cut. Only the lifecycle
 * module (src/engine/lifecycle.ts) calls it: every change of the state is an event there (lifecycle.test.ts checks).
 */
export async function saveEngineState(stateDir: string, state: EngineState, fs: FileSystem = nodeFileSystem): Promise<void> {
  await fs.mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, STATE_FILE);
  const temp = path.join(stateDir, `.${STATE_FILE}.${process.pid}.tmp`);
  const body = `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 1)}\n`;
  try {
    const handle = await fs.open(temp, 'w', 0o644);
    try {
      await handle.writeFile(body, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    await syncDir(stateDir, fs);
  } catch (error) {
    await fs.unlink(temp).catch(() => undefined);
    throw new UpdaterError('ERR_IO', `Cannot write the engine state "${file}": ${(error as Error).message}`, {
      cause: error,
      hint: 'Check that the state dir is writable and has free space (--state-dir).',
    });
  }
}

export async function syncDir(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
