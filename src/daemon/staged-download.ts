// Downloads an offered bundle into the state dir, resumable, and checks the size and SHA-256 the update server stated.
//
// Why stage: Omaha (and the static index) state the whole bundle file's SHA-256. Checking it before the engine
// writes a single byte to the slot needs the whole file first; the engine then installs from the local file
// (and does its own signature and chunk checks). A SIGTERM leaves DIR/<sha256>.part, and the next attempt for
// the same offer continues it with an HTTP Range request.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { UpdaterError, type ErrorCode } from '../../common/errors.js';
import { openByteSource } from '../download/byte-source.js';
import type { HttpSourceOptions } from '../download/http-range.js';
import type { Offer } from '../sources/source.js';
import { MAX_IMAGE_SIZE, MAX_MANIFEST_BYTES } from '../../verify/manifest.js';

/** The largest bundle the format allows: the image, the manifest, the signature, tar headers and padding. */
export const MAX_BUNDLE_SIZE = MAX_IMAGE_SIZE + MAX_MANIFEST_BYTES + 64 * 1024;
/** Free space left over after a staged download, so the state dir never fills up completely. */
export const FREE_SPACE_MARGIN = 64 * 1024 * 1024;

export interface StagedDownloadOptions {
  /** Where partial and finished downloads live (STATE_DIR/download). */
  dir: string;
  signal?: AbortSignal;
  /** Called with bytes done of offer.size. */
  onProgress?: (done: number, total: number) => void;
  http?: Omit<HttpSourceOptions, 'signal'>;
}

export interface StagedDownload {
  path: string;
  /** Bytes taken over from an earlier, interrupted attempt. */
  resumedBytes: number;
  bytesDownloaded: number;
}

function mismatchCode(offer: Offer): ErrorCode {
  return offer.source === 'omaha' ? 'ERR_OMAHA_HASH' : 'ERR_CHANNEL';
}

async function hashFile(file: string, hash: ReturnType<typeof createHash>, signal?: AbortSignal): Promise<void> {
  for await (const piece of createReadStream(file, { highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) })) hash.update(piece as Buffer);
}

/** Removes staged files of other offers (an older or withdrawn update). */
export async function pruneStagedDownloads(dir: string, keep: string | undefined): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) if (keep === undefined || !name.startsWith(keep)) await rm(path.join(dir, name), { force: true });
}

/** Returns the path of the complete, checked bundle; throws (and deletes what it got) when it is not what was offered. */
export async function downloadOffer(offer: Offer, options: StagedDownloadOptions): Promise<StagedDownload> {
  if (offer.sha256 === undefined || !/^[0-9a-f]{64}$/.test(offer.sha256)) {
    throw new UpdaterError('ERR_INTERNAL', `Cannot stage the download of ${offer.version}: the offer states no SHA-256`);
  }
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  await pruneStagedDownloads(options.dir, offer.sha256);
  const finished = path.join(options.dir, `${offer.sha256}.bundle`);
  const partial = path.join(options.dir, `${offer.sha256}.part`);
  const done = await stat(finished).catch(() => undefined);
  if (done?.size === offer.size) return { path: finished, resumedBytes: offer.size, bytesDownloaded: 0 };

  if (!Number.isSafeInteger(offer.size) || offer.size <= 0 || offer.size > MAX_BUNDLE_SIZE) {
    throw new UpdaterError(mismatchCode(offer), `Cannot download ${offer.version}: the stated size ${offer.size} is not a possible bundle size (at most ${MAX_BUNDLE_SIZE})`, {
      data: { size: offer.size },
    });
  }
  let start = (await stat(partial).catch(() => undefined))?.size ?? 0;
  if (start > offer.size) {
    await rm(partial, { force: true });
    start = 0;
  }
  const fs = await statfs(options.dir);
  const free = fs.bavail * fs.bsize;
  if (free < offer.size - start + FREE_SPACE_MARGIN) {
    throw new UpdaterError('ERR_NO_SPACE', `Cannot download ${offer.version}: it needs ${offer.size - start} bytes in ${options.dir}, ${free} are free (keeping ${FREE_SPACE_MARGIN} spare)`, {
      data: { dir: options.dir, needed: offer.size - start, free },
      hint: 'Free space in the state dir (STATE_DIR), or move STATE_DIR to a larger file system.',
    });
  }
  const hash = createHash('sha256');
  if (start > 0) await hashFile(partial, hash, options.signal);
  const handle = await open(partial, start > 0 ? 'r+' : 'w');
  let position = start;
  try {
    const source = openByteSource(offer.url, { ...options.http, ...(options.signal ? { signal: options.signal } : {}) });
    options.onProgress?.(position, offer.size);
    // Ask for one byte more than offered: getting it proves the file is larger than the server said.
    for await (const piece of source.read(start, offer.size + 1)) {
      if (position + piece.length > offer.size) {
        throw new UpdaterError(mismatchCode(offer), `Cannot download ${offer.version} from ${offer.url}: the file is larger than the ${offer.size} bytes the update server stated`, {
          data: { url: offer.url, size: offer.size },
          hint: 'The bundle on the server does not match the offer; nothing was installed.',
        });
      }
      await handle.write(piece, 0, piece.length, position);
      hash.update(piece);
      position += piece.length;
      options.onProgress?.(position, offer.size);
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    if (error instanceof UpdaterError && error.code === mismatchCode(offer)) await rm(partial, { force: true });
    throw error;
  }
  await handle.close();
  const digest = hash.digest('hex');
  if (position !== offer.size || digest !== offer.sha256) {
    await rm(partial, { force: true });
    const why = position !== offer.size ? `it has ${position} bytes, the update server stated ${offer.size}` : `its SHA-256 is ${digest}, the update server stated ${offer.sha256}`;
    throw new UpdaterError(mismatchCode(offer), `Cannot use the download of ${offer.version} from ${offer.url}: ${why}`, {
      data: { url: offer.url, size: position, expectedSize: offer.size, sha256: digest, expectedSha256: offer.sha256 },
      hint: 'The file on the server is not the one the update server announced; nothing was installed.',
    });
  }
  await rename(partial, finished);
  return { path: finished, resumedBytes: start, bytesDownloaded: position - start };
}
