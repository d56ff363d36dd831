// What a host holding OLD downloads to install the format 2 bundle NEW: the same search for local chunks a delta install
// makes (src/engine/local-chunks.ts), run against a slot, an image file or an older bundle, without writing anything.

import { stat } from 'node:fs/promises';
import { UpdaterError } from '../../common/errors.js';
import type { SlotName } from '../../partition/slots.js';
import { inspectBundleHead } from '../../verify/bundle-head.js';
import type { Keyring } from '../../verify/keyring.js';
import { padToBlock, TAR_END_BYTES, type BundleLayout } from '../../verify/layout.js';
import type { Manifest, PackedImage } from '../../verify/manifest.js';
import { isUrl, openByteSource } from '../download/byte-source.js';
import { ChunkBitmap } from '../engine/chunk-bitmap.js';
import { findLocalChunks, type LocalSlot } from '../engine/local-chunks.js';

/** Where the old chunks are: a slot of this host, an image file, or a bundle (file, or URL of a format 2 bundle). */
export type DiffFrom =
  | {
      kind: 'slot';
      slot: SlotName;
      local: Omit<LocalSlot, 'slot' | 'recorded'>;
      /** The slot's recorded index, if it is usable with NEW's chunking (asked once NEW's head is read). */
      recorded?: (packed: PackedImage) => Promise<Buffer | undefined>;
    }
  | { kind: 'image'; path: string }
  | { kind: 'bundle'; location: string };

export interface BundleDiff {
  version: string;
  format: 1 | 2;
  chunks: number;
  /** Chunks (and their image bytes) the old side has. */
  localChunks: number;
  localBytes: number;
  /** What the host fetches: the head (manifest, signature, index), the missing chunks as stored, the tar end. */
  download: { head: number; chunks: number; tail: number; total: number };
  bundleSize: number;
  imageSize: number;
  /** How the old side was read: its recorded or bundled index, or chunked. */
  how: 'index' | 'scanned' | 'none';
}

async function headOf(location: string, keyring: Keyring, signal?: AbortSignal): Promise<{ manifest: Manifest; layout: BundleLayout; indexBytes: Buffer | undefined; close: () => Promise<void> }> {
  const source = openByteSource(location, signal ? { signal } : {});
  const stream = source.read(0)[Symbol.asyncIterator]();
  const head = await inspectBundleHead({ [Symbol.asyncIterator]: () => stream }, { keyring });
  return { manifest: head.manifest, layout: head.layout, indexBytes: head.indexBytes, close: async () => void (await stream.return?.()) };
}

/** Reads NEW's head (never its image) and finds which of its chunks OLD has. Trust is not needed for a report; `bundle info` checks it. */
export async function diffBundle(from: DiffFrom, newLocation: string, keyring: Keyring, signal?: AbortSignal): Promise<BundleDiff> {
  const next = await headOf(newLocation, keyring, signal);
  await next.close();
  const { manifest, layout } = next;
  const chunks = manifest.image.chunks;
  const tail = padToBlock(layout.storedSize) - layout.storedSize + TAR_END_BYTES;
  const base = { version: manifest.version, format: manifest.format, chunks: chunks.length, bundleSize: layout.totalSize, imageSize: manifest.image.size };
  if (!manifest.image.packed) {
    return { ...base, localChunks: 0, localBytes: 0, download: { head: layout.imageOffset, chunks: layout.storedSize, tail, total: layout.totalSize }, how: 'none' };
  }
  let local: LocalSlot;
  if (from.kind === 'slot') {
    const recorded = await from.recorded?.(manifest.image.packed);
    local = { slot: from.slot, ...from.local, ...(recorded ? { recorded } : {}) };
  }
  else if (from.kind === 'image') local = { slot: 'A', path: from.path, offset: 0, size: (await stat(from.path)).size };
  else {
    const old = await headOf(from.location, keyring, signal);
    await old.close();
    if (old.indexBytes) local = { slot: 'A', path: from.location, offset: 0, size: old.manifest.image.size, recorded: old.indexBytes };
    else if (!isUrl(from.location)) local = { slot: 'A', path: from.location, offset: old.layout.imageOffset, size: old.manifest.image.size }; // format 1: the image is raw in the file
    else {
      throw new UpdaterError('ERR_USAGE', `Cannot diff from "${from.location}": a format 1 bundle must be a local file (its image is read to find the chunks)`, {
        hint: 'Download it first, or give the slot or image it was installed from.',
      });
    }
  }
  const plan = await findLocalChunks(manifest, new ChunkBitmap(chunks.length), [local], local.slot === 'A' ? 'B' : 'A', signal ? { signal } : {});
  let localBytes = 0;
  let fetched = 0;
  chunks.forEach((chunk, k) => {
    if (plan.chunks.has(k)) localBytes += chunk.size;
    else fetched += chunk.stored?.size ?? chunk.size;
  });
  return {
    ...base,
    localChunks: plan.chunks.size,
    localBytes,
    download: { head: layout.imageOffset, chunks: fetched, tail, total: layout.imageOffset + fetched + tail },
    how: plan.how[local.slot] === 'recorded' ? 'index' : 'scanned',
  };
}
