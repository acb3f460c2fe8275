/**
 * A growable byte buffer holding the unfinished tail of the input. It only ever appends: bytes
 * before `length` are never overwritten, so records may be views of it (no copy per record), and
 * discarding is moving the start (a view). Appends are amortised O(1): a new allocation holds
 * twice what is live, so a record with a 100 MB field does not cost a copy per chunk; but never
 * more than `maxCapacity` unless one append needs it, so that a record at the parser's size
 * limit costs the limit, not twice it.
 */
export class ByteBuffer {
  bytes: Buffer = Buffer.alloc(0)
  length = 0

  constructor(private readonly maxCapacity = Infinity) {}

  /** Drop the first `n` bytes; the rest starts at index 0. */
  discard(n: number): void {
    if (n === 0) return
    this.bytes = this.bytes.subarray(n)
    this.length -= n
  }

  /** Drop everything, the allocation too (a skipped long line must not keep its buffer alive). */
  release(): void {
    this.bytes = Buffer.alloc(0)
    this.length = 0
  }

  append(chunk: Buffer): void {
    const needed = this.length + chunk.length
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(
        Math.max(needed, Math.min(Math.max(2 * needed, 256 * 1024), this.maxCapacity)),
      )
      this.bytes.copy(grown, 0, 0, this.length)
      this.bytes = grown
    }
    chunk.copy(this.bytes, this.length)
    this.length = needed
  }
}
