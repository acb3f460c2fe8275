import type { Rejection } from '../reject/rejection.js'
import type { FileReport, RunTotals } from './run-figures.js'

/**
 * The one place a run counts rows: each change goes to the input's figures and the run's
 * together, and check() holds both to rows read = loaded + rejected + skipped.
 */
export class Tally {
  readonly file: FileReport
  /** Batches of this input committed by this run. */
  batches = 0
  /** Rows of this input rejected client-side (the rest of its rejects came from the database). */
  clientRejected = 0

  constructor(
    name: string,
    readonly totals: RunTotals,
  ) {
    this.file = { file: name, rowsRead: 0, rowsLoaded: 0, rowsRejected: 0, rowsSkipped: 0, bytesRead: 0 }
  }

  read(): void {
    this.file.rowsRead++
    this.totals.rowsRead++
  }

  /** Rows read whose fate will not be known (their batch failed, or was never sent): not counted as read. */
  unread(rows: number): void {
    this.file.rowsRead -= rows
    this.totals.rowsRead -= rows
  }

  rejected(r: Rejection): void {
    this.file.rowsRejected++
    this.totals.rowsRejected++
    this.totals.rejectsByCode[r.code] = (this.totals.rejectsByCode[r.code] ?? 0) + 1
    if (r.stage !== 'database') this.clientRejected++
  }

  /**
   * A batch committed (or, in a client-side dry run, would have): its rows stored (of which `updated`
   * updated rows already there), and those sent but not stored (a trigger, or a keyed mode, left them out).
   */
  committed(rows: number, loaded: number, skipped: number, updated = 0): void {
    this.file.rowsLoaded += loaded
    this.totals.rowsLoaded += loaded
    if (this.totals.rowsUpdated !== undefined) this.totals.rowsUpdated += updated
    if (this.totals.rowsInserted !== undefined) this.totals.rowsInserted += loaded - updated
    this.file.rowsSkipped += skipped
    this.totals.rowsSkipped += skipped
    if (rows > 0) {
      this.batches++
      this.totals.batches++
    }
  }

  /** Records of a resumed stream read again and skipped: committed by an earlier run, not counted here. */
  skippedCommitted(): void {
    this.file.skippedRows = (this.file.skippedRows ?? 0) + 1
  }

  /** At the end of an input: every row read was loaded, rejected or skipped, in the input and in the run. */
  check(): void {
    for (const [what, f] of [
      [this.file.file, this.file],
      ['the run', this.totals],
    ] as const) {
      if (f.rowsRead !== f.rowsLoaded + f.rowsRejected + f.rowsSkipped)
        throw new Error(
          `the count of ${what} does not add up: ${f.rowsRead} read, ${f.rowsLoaded} loaded, ` +
            `${f.rowsRejected} rejected, ${f.rowsSkipped} skipped`,
        )
    }
  }
}
