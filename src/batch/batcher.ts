import type { ValidRow } from '../validate/valid-row.js'

/** Batch limits: a batch closes at whichever comes first. */
export interface BatchLimits {
  maxRows: number
  /** Raw input bytes of the rows in the batch. */
  maxBytes: number
}

/**
 * Where a batch closes: groups rows into batches by row count and byte size, whichever limit
 * comes first. Pure: add() returns a full batch or undefined. The loop asks it about other piles
 * of rows too (rejections waiting to be written, parsed rows read ahead), so that one policy
 * sizes them all.
 */
export class Batcher {
  private rows: ValidRow[] = []
  private bytes = 0

  constructor(readonly limits: BatchLimits) {}

  /** --batch-size auto: the next batches close at this many rows. */
  setMaxRows(n: number): void {
    this.limits.maxRows = n
  }

  add(row: ValidRow): ValidRow[] | undefined {
    this.rows.push(row)
    this.bytes += row.nextByte - row.byte
    return this.isFull(this.rows.length, this.bytes) ? this.flush() : undefined
  }

  /** Whether this many rows, of this many input bytes, make a batch. */
  isFull(rows: number, bytes: number): boolean {
    return rows >= this.limits.maxRows || bytes >= this.limits.maxBytes
  }

  /** How many batches' worth this many rows and bytes are (for reading ahead by about one batch). */
  share(rows: number, bytes: number): number {
    return rows / this.limits.maxRows + bytes / this.limits.maxBytes
  }

  /** The rows gathered so far, or undefined when there are none. */
  flush(): ValidRow[] | undefined {
    if (this.rows.length === 0) return undefined
    const out = this.rows
    this.rows = []
    this.bytes = 0
    return out
  }
}
