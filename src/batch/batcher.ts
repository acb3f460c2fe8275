import type { ValidRow } from '../validate/valid-row.js'

/** Batch limits: a batch closes at whichever comes first. */
export interface BatchLimits {
  maxRows: number
  /** Raw input bytes of the rows in the batch. */
  maxBytes: number
  /** The first batch closes at this many rows instead of maxRows (when fewer). */
  firstRows?: number
}

/**
 * --flush-interval: a batch also closes once its first row has waited `intervalMs`, plus a delay
 * drawn anew for each window, uniform in [0, jitterMs].
 */
export interface FlushWindow {
  intervalMs: number
  jitterMs: number
  /** In [0, 1) (default Math.random): draws each window's jitter. */
  random?: () => number
  /** The clock, in ms (default performance.now). */
  now?: () => number
}

/**
 * Where a batch closes: groups rows into batches by row count and byte size, whichever limit
 * comes first, and, with a flush window, by the time its first row has waited. Pure: add()
 * returns a full batch or undefined, and `deadline` says when the rows gathered must go by time
 * (the loop waits for input until then; see runInput). The loop asks it about other piles of
 * rows too (rejections waiting to be written, parsed rows read ahead), so that one policy sizes
 * them all.
 */
export class Batcher {
  private rows: ValidRow[] = []
  private bytes = 0
  /** When the open window closes (on the window's clock); undefined while nothing waits. */
  private windowEnd: number | undefined
  /** When the open window opened: its first row (or rejection) began to wait. */
  private windowStart: number | undefined
  /** When the rows last taken by flush() began to wait (the window's clock); undefined without a window. */
  takenSince: number | undefined

  /** limits.firstRows until the first batch was taken. */
  private firstRows: number

  constructor(
    readonly limits: BatchLimits,
    readonly window?: FlushWindow,
  ) {
    this.firstRows = limits.firstRows ?? Number.POSITIVE_INFINITY
  }

  /** --batch-size auto: the next batches close at this many rows. */
  setMaxRows(n: number): void {
    this.limits.maxRows = n
  }

  add(row: ValidRow): ValidRow[] | undefined {
    if (this.windowEnd === undefined && this.window) this.touch()
    this.rows.push(row)
    this.bytes += row.nextByte - row.byte
    return this.isFull(this.rows.length, this.bytes) ? this.flush() : undefined
  }

  /**
   * Something began to wait for the next flush (a row, or a rejection to be written with it): with
   * a flush window, opens one if none is open, its deadline drawn now. Once per window, not per row.
   */
  touch(): void {
    const w = this.window
    if (!w || this.windowEnd !== undefined) return
    const jitter = w.jitterMs > 0 ? (w.random ?? Math.random)() * w.jitterMs : 0
    this.windowStart = this.now()
    this.windowEnd = this.windowStart + w.intervalMs + jitter
  }

  /** The window's clock (ms). */
  now(): number {
    return (this.window?.now ?? performance.now.bind(performance))()
  }

  /** When the open window closes, on the window's clock (ms); undefined when none is open. */
  get deadline(): number | undefined {
    return this.windowEnd
  }

  /** How long until the open window closes (0 once it has), or undefined when none is open. */
  msLeft(): number | undefined {
    if (this.windowEnd === undefined) return undefined
    return Math.max(0, this.windowEnd - this.now())
  }

  /** Whether this many rows, of this many input bytes, make a batch. */
  isFull(rows: number, bytes: number): boolean {
    return rows >= Math.min(this.firstRows, this.limits.maxRows) || bytes >= this.limits.maxBytes
  }

  /** How many batches' worth this many rows and bytes are (for reading ahead by about one batch). */
  share(rows: number, bytes: number): number {
    return rows / this.limits.maxRows + bytes / this.limits.maxBytes
  }

  /** The rows gathered so far, or undefined when there are none; the window, if any, closes. */
  flush(): ValidRow[] | undefined {
    this.windowEnd = undefined
    this.takenSince = this.windowStart
    this.windowStart = undefined
    if (this.rows.length === 0) return undefined
    this.firstRows = Number.POSITIVE_INFINITY
    const out = this.rows
    this.rows = []
    this.bytes = 0
    return out
  }
}
