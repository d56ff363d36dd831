// Chunk buffers lent out and given back: the bounded memory of chunks being received and hashed while the one before
// is written, or read back while the one before is hashed (issue 17). The pool never makes more than `count` buffers;
// a taker waits for one.

export class ChunkPool {
  readonly size: number;
  readonly count: number;
  readonly #free: Buffer[] = [];
  readonly #waiting: Array<(buffer: Buffer) => void> = [];
  #made = 0;

  /** COUNT buffers of SIZE bytes, made on first use. */
  constructor(count: number, size: number) {
    if (!Number.isSafeInteger(count) || count < 2) throw new Error(`ChunkPool: count must be at least 2, not ${count}`);
    this.count = count;
    this.size = size;
  }

  /** A free buffer, or the next one given back. */
  async take(): Promise<Buffer> {
    const free = this.#free.pop();
    if (free) return free;
    if (this.#made < this.count) {
      this.#made += 1;
      return Buffer.allocUnsafe(this.size);
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Gives BUFFER back (to a waiting taker first). */
  give(buffer: Buffer): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(buffer);
    else this.#free.push(buffer);
  }
}

/** Format 1 chunks of at most this size are received and written (and read back) through a pool. */
export const POOLED_CHUNK_MAX = 1024 * 1024;
/**
 * Buffers of an install's pool: one chunk received (and hashed) while the one before is written; in the read-back,
 * two reads outstanding. More buffers, and WebCrypto digests of the received chunks, were faster over HTTP and cost
 * 1 MiB of peak RSS each (docs/engine.md, "Both cores").
 */
export const POOL_BUFFERS = 2;

/** The pool an install of MANIFEST uses, or undefined when its chunks take one reused buffer (format 2, large chunks). */
export function chunkPoolFor(manifest: { image: { chunks: Array<{ size: number }>; packed?: unknown } }): ChunkPool | undefined {
  const largest = manifest.image.chunks.reduce((max, c) => Math.max(max, c.size), 0);
  return manifest.image.packed === undefined && largest > 0 && largest <= POOLED_CHUNK_MAX ? new ChunkPool(POOL_BUFFERS, largest) : undefined;
}
