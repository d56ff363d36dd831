// The engine's persistent state (one JSON file in the state dir), written atomically: temp, fsync, rename, fsync dir.

import { readFile } from 'node:fs/promises';
import { nodeFileSystem, replaceFileDurably, type FileSystem } from '../../common/file-system.js';
import path from 'node:path';
import { UpdaterError, type UpdaterErrorJson } from '../../common/errors.js';
import type { SlotName } from '../../partition/slots.js';
import { FLOOR_FILE, higherVersion, readFloorCopy, writeFloorCopy } from './floor-copy.js';

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
  /** Format 2: the recorded chunk index of what the slot holds (slot-index.ts), its hash and chunking, the image's size. */
  chunkIndex?: { sha256: string; chunking: { min: number; avg: number; max: number }; imageSize: number };
}

/**
 * Why a slot the engine has no record of holds nothing verified: the last install aimed at it was refused (it did not
 * verify; nothing of it was written, or what was is not trusted), or discarded (interrupted and dropped, or its whole
 * bundle was wrong: its first chunk zeroed). Kept until an install into the slot starts again.
 */
export interface SlotNote {
  outcome: 'refused' | 'discarded';
  version: string | null;
  code: string;
  at: string;
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
  /** A delta install: image bytes copied from this host's slots instead of downloaded, over every attempt, and per slot. */
  bytesReused?: number;
  reusedFrom?: Partial<Record<SlotName, number>>;
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
  /** Slots with no record: why (refused or discarded); absent in states written before it existed. */
  slotNotes?: Partial<Record<SlotName, SlotNote>>;
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
  /** Kept for callers that pass one; an unusable state file is an error now, never replaced. */
  warn?: (message: string) => void;
}

/** The schema this abupdate writes and reads. */
export const STATE_SCHEMA = 1;

/**
 * Reads the state. A missing state.json is the empty state (with the floor of floor.json, if any). A state.json
 * that cannot be used is ERR_STATE_UNREADABLE naming the file and what to do, and one written by a newer abupdate
 * (a host rolled back to an older slot) is ERR_STATE_NEWER: neither is moved aside or replaced, because an empty
 * state would drop the anti-rollback floor, the committed version and the bad versions. The floor read is the
 * higher of state.json's and floor.json's, so losing either file never lowers it.
 */
export async function loadEngineState(stateDir: string, _options: LoadOptions = {}): Promise<EngineState> {
  const file = path.join(stateDir, STATE_FILE);
  const floorCopy = await readFloorCopy(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ...emptyEngineState(), floorVersion: floorCopy };
    throw new UpdaterError('ERR_IO', `Cannot read the engine state "${file}": ${(error as Error).message}`, { cause: error });
  }
  const problem = checkEngineState(text);
  if (typeof problem !== 'string') return { ...problem, floorVersion: higherVersion(problem.floorVersion, floorCopy) };
  if (problem.startsWith('schema ')) {
    throw new UpdaterError('ERR_STATE_NEWER', `Cannot read the engine state "${file}": it was written by a newer abupdate (${problem}; this one reads schema ${STATE_SCHEMA})`, {
      data: { file, problem },
      hint: 'Nothing was changed. The host may have rolled back to an older slot: boot the slot with the newer abupdate, or update this one; do not delete the file (it holds the anti-rollback floor).',
    });
  }
  throw new UpdaterError('ERR_STATE_UNREADABLE', `Cannot read the engine state "${file}": ${problem}`, {
    data: { file, problem, floorCopy },
    hint: `Nothing was changed. Restore "${file}" from a backup, or move it aside to start from an empty state (mv "${file}" "${file}.bad"): the anti-rollback floor${floorCopy ? ` (${floorCopy})` : ''} is kept in "${path.join(stateDir, FLOOR_FILE)}", but the bad versions and the install in progress are lost.`,
  });
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
  if (typeof s.schema === 'number' && Number.isInteger(s.schema) && s.schema > STATE_SCHEMA) return `schema ${s.schema}`;
  if (s.schema !== STATE_SCHEMA) return `unknown schema ${JSON.stringify(s.schema)}`;
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
  const body = `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 1)}\n`;
  try {
    await replaceFileDurably(file, body, { fs });
  } catch (error) {
    throw new UpdaterError('ERR_IO', `Cannot write the engine state "${file}": ${(error as Error).message}`, {
      cause: error,
      hint: 'Check that the state dir is writable and has free space (--state-dir).',
    });
  }
  // The floor's second copy, in its own fsync epoch: state.json is durable before floor.json is touched.
  await writeFloorCopy(stateDir, state.floorVersion, fs);
}
