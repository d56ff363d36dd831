// The whole-bundle SHA-256 an update server states, checked without a copy of the bundle: a tap on the byte source
// keeps the raw bytes before the image (tar headers, manifest, signature) and after it (tar padding and end blocks);
// the image bytes come from the slot's read-back. sha256(prefix ‖ slot image ‖ tail) is the bundle's hash.
// Format 2 stores chunks compressed, and a delta install downloads only some of them, so neither the slot nor the
// download holds the file: there only the stated size is checked (the signed index covers every chunk).

import { createHash, type Hash } from 'node:crypto';
import { UpdaterError, type ErrorCode } from '../../common/errors.js';
import { padToBlock, TAR_BLOCK, TAR_END_BYTES, TAR_MAX_EXTRA_ZEROS, type BundleLayout } from '../../verify/layout.js';
import { MAX_MANIFEST_BYTES } from '../../verify/manifest.js';
import type { ByteSource } from '../download/byte-source.js';

/** What the update server says the whole bundle file is. */
export interface ExpectedBundle {
  size: number;
  /** SHA-256 of the whole file: 32 bytes, or 64 hex digits. */
  sha256: Buffer | string;
  /** The error code of a mismatch (ERR_OMAHA_HASH for an Omaha offer, ERR_CHANNEL for a static index). */
  mismatchCode: ErrorCode;
  /** For messages: the version offered. */
  version?: string;
}

/** Bytes from offset 0 kept until the head is parsed: the largest head plus the read-ahead of one piece. */
const EARLY_CAP = MAX_MANIFEST_BYTES + 4 * 1024 * 1024;

export class BundleTap {
  readonly expected: ExpectedBundle;
  readonly #sha256: string;
  #early: Buffer[] = [];
  #earlyBytes = 0;
  #layout: BundleLayout | undefined;
  #prefix: Buffer | undefined;
  #tail: Buffer | undefined;
  #tailBytes = 0;
  /** Format 2: only the size can be checked. */
  #sizeOnly = false;

  constructor(expected: ExpectedBundle) {
    this.expected = expected;
    const hex = Buffer.isBuffer(expected.sha256) ? expected.sha256.toString('hex') : expected.sha256.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      throw new UpdaterError(expected.mismatchCode, `Cannot check the bundle: the stated SHA-256 "${hex}" is not 32 bytes`, { data: { sha256: hex } });
    }
    this.#sha256 = hex;
  }

  /** The same source, with every byte it yields seen by the tap at its bundle offset. */
  wrap(source: ByteSource): ByteSource {
    return {
      name: source.name,
      bytesReceived: () => source.bytesReceived(),
      ignoresRange: () => source.ignoresRange?.() ?? false,
      close: () => source.close(),
      read: (start, end) => this.#tapped(source, start, end),
    };
  }

  async *#tapped(source: ByteSource, start: number, end: number | undefined): AsyncGenerator<Buffer> {
    let at = start;
    for await (const piece of source.read(start, end)) {
      this.#record(at, piece);
      at += piece.length;
      yield piece;
    }
  }

  #record(at: number, piece: Buffer): void {
    const layout = this.#layout;
    if (layout === undefined) {
      // Before the head is parsed: the stream from byte 0, contiguous (the head is always read from the start).
      if (at !== this.#earlyBytes || at >= EARLY_CAP) return;
      const kept = piece.subarray(0, EARLY_CAP - at);
      this.#early.push(Buffer.from(kept));
      this.#earlyBytes += kept.length;
      return;
    }
    const from = Math.max(at, layout.imageEnd);
    const to = Math.min(at + piece.length, layout.imageEnd + (this.#tail?.length ?? 0));
    if (to <= from || this.#tail === undefined) return;
    piece.copy(this.#tail, from - layout.imageEnd, from - at, to - at);
    this.#tailBytes = Math.max(this.#tailBytes, to - layout.imageEnd);
  }

  /** The head is parsed: keep the bytes before the image, and whatever of the tail was read ahead already. */
  setLayout(layout: BundleLayout): void {
    if (layout.indexSize > 0) {
      this.#early = [];
      this.#layout = layout;
      this.#sizeOnly = true;
      return;
    }
    const early = Buffer.concat(this.#early, this.#earlyBytes);
    this.#early = [];
    if (early.length < layout.imageOffset) {
      throw new UpdaterError('ERR_INTERNAL', `Cannot check the bundle's SHA-256: only ${early.length} of its first ${layout.imageOffset} bytes were seen`);
    }
    this.#prefix = Buffer.from(early.subarray(0, layout.imageOffset));
    this.#layout = layout;
    // One block more than a reader accepts: a longer tail is refused by the chunk verifier anyway.
    this.#tail = Buffer.alloc(padToBlock(layout.imageSize) - layout.imageSize + TAR_END_BYTES + TAR_MAX_EXTRA_ZEROS + TAR_BLOCK);
    if (early.length > layout.imageEnd) this.#record(layout.imageEnd, early.subarray(layout.imageEnd));
  }

  /** Refuses, before anything is written, a stated size no bundle with this layout can have. */
  checkSize(): void {
    const layout = this.#requireLayout();
    const size = this.expected.size;
    const possible = Number.isSafeInteger(size) && size >= layout.totalSize && size <= layout.totalSize + TAR_MAX_EXTRA_ZEROS && (size - layout.totalSize) % TAR_BLOCK === 0;
    if (!possible) {
      throw this.#mismatch(`the update server stated ${size} bytes, a bundle with this image has ${layout.totalSize} (up to ${TAR_MAX_EXTRA_ZEROS} more in zero blocks)`, {
        size,
        bundleSize: layout.totalSize,
      });
    }
  }

  /** Whether the whole-bundle SHA-256 can be checked (format 1); format 2: only the size. */
  get checksDigest(): boolean {
    return !this.#sizeOnly;
  }

  /** A hash that has seen the bytes before the image; the read-back feeds it the slot's image bytes next (format 2: none). */
  beginDigest(): Hash | undefined {
    if (this.#sizeOnly) return undefined;
    const prefix = this.#prefix;
    if (prefix === undefined) throw new UpdaterError('ERR_INTERNAL', "Cannot check the bundle's SHA-256: the head was not seen");
    return createHash('sha256').update(prefix);
  }

  /** Adds the tail and compares size and digest with what the update server stated; throws the mismatch code. */
  finishDigest(hash: Hash): void {
    const layout = this.#requireLayout();
    const tail = (this.#tail ?? Buffer.alloc(0)).subarray(0, this.#tailBytes);
    const size = layout.imageEnd + tail.length;
    const digest = hash.update(tail).digest('hex');
    if (size !== this.expected.size) {
      throw this.#mismatch(`it has ${size} bytes, the update server stated ${this.expected.size}`, { size, expectedSize: this.expected.size });
    }
    if (digest !== this.#sha256) {
      throw this.#mismatch(`its SHA-256 is ${digest}, the update server stated ${this.#sha256}`, { sha256: digest, expectedSha256: this.#sha256 });
    }
  }

  #requireLayout(): BundleLayout {
    if (this.#layout === undefined) throw new UpdaterError('ERR_INTERNAL', "Cannot check the bundle's SHA-256: the head was not parsed");
    return this.#layout;
  }

  #mismatch(why: string, data: Record<string, unknown>): UpdaterError {
    const what = this.expected.version === undefined ? 'the bundle' : `bundle ${this.expected.version}`;
    return new UpdaterError(this.expected.mismatchCode, `Cannot install ${what}: ${why}`, {
      data,
      hint: 'The file on the server is not the one the update server announced; nothing was made bootable.',
    });
  }
}
