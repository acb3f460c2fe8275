import type { ValidRow } from '../validate/valid-row.js'

/** Batch limits: a batch closes at whichever comes first. */
export interface BatchLimits {
  maxRows: number
  /** Raw input bytes of the rows in the batch. */
  maxBytes: number
}

/** Groups rows into batches by row count and byte size. Pure: add() returns a full batch or undefined. */
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
    if (this.rows.length >= this.limits.maxRows || this.bytes >= this.limits.maxBytes) return this.flush()
    return undefined
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
