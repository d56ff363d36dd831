// Format 2's per-chunk compression: one zstd frame per chunk (zstd-napi, libzstd), decompressed into a buffer of
// exactly the chunk's declared size, so a frame that would inflate past it fails instead of allocating.

import { UpdaterError } from '../common/errors.js';

type Binding = typeof import('zstd-napi/binding.js');
// Loaded on first use: commands that never touch a format 2 chunk do not load the native module.
let loading: Promise<Binding> | undefined;

/** libzstd's binding (zstd-napi), imported the first time a format 2 chunk is compressed or decompressed. */
export function loadZstd(): Promise<Binding> {
  loading ??= import('zstd-napi/binding.js').then((m: Binding & { default?: Binding }) => m.default ?? m);
  return loading;
}

/** The default level of `bundle create --format 2` (docs/delta.md: -19 is 9 % smaller than -3 on ext4). */
export const DEFAULT_ZSTD_LEVEL = 19;

export class ChunkCompressor {
  readonly #zstd: Binding;
  readonly #level: number;
  #cctx: InstanceType<Binding['CCtx']> | undefined;
  #out = Buffer.alloc(0);

  static async create(level = DEFAULT_ZSTD_LEVEL): Promise<ChunkCompressor> {
    return new ChunkCompressor(await loadZstd(), level);
  }

  private constructor(binding: Binding, level: number) {
    this.#zstd = binding;
    const { minCLevel, maxCLevel } = binding;
    if (!Number.isInteger(level) || level < 1 || level > maxCLevel() || level < minCLevel()) {
      throw new UpdaterError('ERR_USAGE', `zstd level ${level} is outside 1..${maxCLevel()}`);
    }
    this.#level = level;
  }

  /** The chunk as one zstd frame, or undefined when that would not be smaller than the chunk (store it raw). */
  compress(data: Buffer): Buffer | undefined {
    const z = this.#zstd;
    this.#cctx ??= new z.CCtx();
    const bound = z.compressBound(data.length);
    if (this.#out.length < bound) this.#out = Buffer.allocUnsafe(bound);
    const n = this.#cctx.compress(this.#out, data, this.#level);
    return n < data.length ? Buffer.from(this.#out.subarray(0, n)) : undefined;
  }
}

export class ChunkInflater {
  readonly #zstd: Binding;
  #dctx: InstanceType<Binding['DCtx']> | undefined;

  static async create(): Promise<ChunkInflater> {
    return new ChunkInflater(await loadZstd());
  }

  private constructor(binding: Binding) {
    this.#zstd = binding;
  }

  /**
   * Decompresses STORED (already hash-verified) into INTO, which has the chunk's declared size: a frame that
   * yields more (or less) is ERR_CHUNK_INFLATE. Returns INTO.
   */
  inflate(stored: Uint8Array, into: Buffer, index: number): Buffer {
    const z = this.#zstd;
    if (this.#dctx === undefined) {
      this.#dctx = new z.DCtx();
      // A frame may not ask for a window larger than the largest chunk (16 MiB).
      this.#dctx.setParameter(z.DParameter.windowLogMax, 24);
    }
    let n: number;
    try {
      n = this.#dctx.decompress(into, stored);
    } catch (error) {
      throw new UpdaterError('ERR_CHUNK_INFLATE', `Cannot accept chunk ${index}: its zstd frame does not decompress into its ${into.length} bytes (${(error as Error).message})`, {
        cause: error,
        data: { index, size: into.length, reason: (error as Error).message },
        hint: 'The bundle was made wrong or tampered with; get it again from its publisher.',
      });
    }
    if (n !== into.length) {
      throw new UpdaterError('ERR_CHUNK_INFLATE', `Cannot accept chunk ${index}: its zstd frame decompresses to ${n} bytes, the index says ${into.length}`, {
        data: { index, size: into.length, actual: n },
        hint: 'The bundle was made wrong or tampered with; get it again from its publisher.',
      });
    }
    return into;
  }
}
