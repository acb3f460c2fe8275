/**
 * A growable byte buffer holding the unfinished tail of the input. Appends are amortised O(1)
 * (capacity doubles), so a record with a 100 MB field does not cost a copy per chunk.
 */
export class ByteBuffer {
  bytes: Buffer = Buffer.alloc(0)
  length = 0

  /** Drop the first `n` bytes, keeping the rest at the front. */
  discard(n: number): void {
    if (n === 0) return
    this.bytes.copyWithin(0, n, this.length)
    this.length -= n
  }

  append(chunk: Buffer): void {
    const needed = this.length + chunk.length
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.bytes.length * 2, 64 * 1024))
      this.bytes.copy(grown, 0, 0, this.length)
      this.bytes = grown
    }
    chunk.copy(this.bytes, this.length)
    this.length = needed
  }
}
