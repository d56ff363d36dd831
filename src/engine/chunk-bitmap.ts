// A compact set of chunk indexes (one bit per chunk), stored in the engine state as base64.

export class ChunkBitmap {
  readonly count: number;
  private readonly bits: Uint8Array;

  constructor(count: number, bits?: Uint8Array) {
    this.count = count;
    this.bits = new Uint8Array(Math.ceil(count / 8));
    if (bits) this.bits.set(bits.subarray(0, this.bits.length));
    // Bits past `count` in the last byte are never set, so equality and counting stay exact.
    const tail = count % 8;
    const last = this.bits.length - 1;
    if (tail !== 0 && last >= 0) this.bits[last] = (this.bits[last] ?? 0) & ((1 << tail) - 1);
  }

  static fromBase64(count: number, text: string): ChunkBitmap {
    return new ChunkBitmap(count, Buffer.from(text, 'base64'));
  }

  toBase64(): string {
    return Buffer.from(this.bits).toString('base64');
  }

  has(index: number): boolean {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) return false;
    return (((this.bits[index >> 3] ?? 0) >> (index & 7)) & 1) === 1;
  }

  set(index: number, value = true): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new RangeError(`chunk index ${index} is outside 0..${this.count - 1}`);
    }
    const byte = this.bits[index >> 3] ?? 0;
    const mask = 1 << (index & 7);
    this.bits[index >> 3] = value ? byte | mask : byte & ~mask;
  }

  /** How many chunks are in the set. */
  size(): number {
    let total = 0;
    for (const byte of this.bits) {
      let b = byte;
      while (b !== 0) {
        b &= b - 1;
        total += 1;
      }
    }
    return total;
  }

  /** The lowest index not in the set, or `count` when all are. */
  firstMissing(from = 0): number {
    for (let i = Math.max(0, from); i < this.count; i += 1) if (!this.has(i)) return i;
    return this.count;
  }

  clone(): ChunkBitmap {
    return new ChunkBitmap(this.count, this.bits);
  }
}
