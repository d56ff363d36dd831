// Reads exact byte counts from an async byte stream without closing it, then hands on the rest unread.

import { UpdaterError } from '../common/errors.js';

/** Pulls pieces from an AsyncIterable on demand; what was read but not used stays for `rest()`. */
export class ByteReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #done = false;
  #handedOn = false;
  /** Bytes taken out by read() so far (the offset of the next byte in the stream). */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Pulls one more piece; false at the end of the stream. */
  async #pull(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#iterator.next();
    if (next.done) {
      this.#done = true;
      return false;
    }
    // A copy: the source may reuse its buffer once the next piece is pulled, and pieces wait here across pulls.
    const piece = Buffer.from(next.value);
    if (piece.length > 0) {
      this.#pending.push(piece);
      this.#pendingBytes += piece.length;
    }
    return true;
  }

  /** Exactly `n` bytes, or ERR_BUNDLE_TRUNCATED naming `what` when the stream ends first. */
  async read(n: number, what: string): Promise<Buffer> {
    while (this.#pendingBytes < n) {
      if (!(await this.#pull())) {
        throw new UpdaterError('ERR_BUNDLE_TRUNCATED', `Cannot read bundle: it ends at byte ${this.position + this.#pendingBytes}, inside ${what}`, {
          data: { offset: this.position + this.#pendingBytes, needed: n - this.#pendingBytes },
          hint: 'The download was cut short or the file is incomplete; fetch the bundle again.',
        });
      }
    }
    const all = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending, this.#pendingBytes);
    const out = all.subarray(0, n);
    const left = all.subarray(n);
    this.#pending = left.length > 0 ? [left] : [];
    this.#pendingBytes = left.length;
    this.position += n;
    return out;
  }

  /** The unread bytes, then the rest of the source. Calling return() (or breaking out of for-await) closes the source, started or not. */
  rest(): AsyncIterable<Uint8Array> {
    if (this.#handedOn) throw new UpdaterError('ERR_INTERNAL', 'Cannot hand on the bundle stream: it was handed on already');
    this.#handedOn = true;
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    const source = this.#iterator;
    let finished = this.#done;
    const iterator: AsyncIterableIterator<Uint8Array> = {
      async next(): Promise<IteratorResult<Uint8Array>> {
        const piece = pending.shift();
        if (piece !== undefined) return { done: false, value: piece };
        if (finished) return { done: true, value: undefined };
        const next = await source.next();
        if (next.done) finished = true;
        return next;
      },
      async return(): Promise<IteratorResult<Uint8Array>> {
        pending.length = 0;
        if (!finished) {
          finished = true;
          await source.return?.();
        }
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Closes the source (after an error). */
  async close(): Promise<void> {
    if (!this.#done && !this.#handedOn) {
      this.#done = true;
      await this.#iterator.return?.();
    }
  }
}
