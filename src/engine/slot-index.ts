// A slot's recorded chunk index: the format 2 index of the bundle last installed into it, kept beside the state so
// that the next delta install knows the slot's chunks without reading it. Trusted only while state.json's record of
// the slot names its hash and the bundle's chunking is the same; a stale or damaged file is ignored (the slot is
// chunked read-only instead), and every chunk is hashed again when it is copied.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { nodeFileSystem, replaceFileDurably, type FileSystem } from '../../common/file-system.js';
import type { SlotName } from '../../partition/slots.js';
import type { PackedImage } from '../../verify/manifest.js';
import type { SlotRecord } from './state-store.js';

export function slotIndexPath(stateDir: string, slot: SlotName): string {
  return path.join(stateDir, `chunk-index-${slot}`);
}

/** Writes the index durably (before the state names it: a crash between the two leaves an unnamed file, ignored). */
export async function saveSlotIndex(stateDir: string, slot: SlotName, index: Buffer, fs: FileSystem = nodeFileSystem): Promise<void> {
  await fs.mkdir(stateDir, { recursive: true });
  await replaceFileDurably(slotIndexPath(stateDir, slot), index, { fs });
}

/** The slot's recorded index when the state vouches for it and it was cut like PACKED's chunks; else undefined. */
export async function loadSlotIndex(stateDir: string, slot: SlotName, record: SlotRecord | undefined, packed: PackedImage): Promise<Buffer | undefined> {
  const known = record?.chunkIndex;
  if (!known) return undefined;
  const { min, avg, max } = packed.chunking;
  if (known.chunking.min !== min || known.chunking.avg !== avg || known.chunking.max !== max) return undefined;
  let bytes: Buffer;
  try {
    bytes = await readFile(slotIndexPath(stateDir, slot));
  } catch {
    return undefined;
  }
  return createHash('sha256').update(bytes).digest('hex') === known.sha256 ? bytes : undefined;
}
