// The figures a run keeps as it goes (per input and for the whole run), shared by the pipeline
// that counts them (through Tally) and the report that prints them. Imports nothing of either.
import type { LoadError } from '../errors.js'

/** Per-input figures. */
export interface FileReport {
  file: string
  rowsRead: number
  rowsLoaded: number
  rowsRejected: number
  /** Rows the table's BEFORE ROW triggers dropped. */
  rowsSkipped: number
  bytesRead: number
  /** The reject file, when this input had rejects. */
  rejectsFile?: string
  /** A resumed input: where this run started, and what earlier runs had committed. */
  resumed?: { byte: number; line: number; rowsLoaded: number; rowsRejected: number }
  /**
   * --resume in --mode ignore or upsert of an input that changed since the unfinished run: how it
   * changed; it was loaded from the start (the mode makes rows loaded again harmless).
   */
  startedOver?: string
  /** Records read again and skipped (they were committed before): gzip and stdin cannot seek. */
  skippedRows?: number
  /** Header fields that fill a column of another name (--map, case, loose match). */
  mapped?: { field: string; column: string }[]
}

/** Counters shared by all inputs of a run (the report's first fields). */
export interface RunTotals {
  /** Rows whose fate was decided (in --dry-run: rowsLoaded counts rows that would load; nothing is written). */
  rowsRead: number
  rowsLoaded: number
  rowsRejected: number
  /**
   * Rows sent without error that the table's BEFORE ROW triggers dropped (returned NULL for): PostgreSQL's own count.
   * read = loaded + rejected + skipped.
   */
  rowsSkipped: number
  /**
   * --mode ignore and upsert: how the rows loaded went in, from what PostgreSQL reported (ON CONFLICT):
   * as new rows, or as updates of rows already there. rowsLoaded = rowsInserted + rowsUpdated.
   */
  rowsInserted?: number
  rowsUpdated?: number
  rejectsByCode: Record<string, number>
  /** Batches committed (in --dry-run=db: batches run and rolled back; 0 in --dry-run). */
  batches: number
  /** --batch-size auto: every batch's size, transaction time, the wait it caused others, and the next size with why. */
  autoTune?: { budgetMs: number; batches: BatchTrace[] }
}

/**
 * A run's counters at the start; with --batch-size auto, an empty batch trace too; in a keyed mode
 * (ignore, upsert), the split of rows loaded into inserted and updated.
 */
export function newTotals(autoTune: { budgetMs: number } | undefined, keyed = false): RunTotals {
  return {
    rowsRead: 0,
    rowsLoaded: 0,
    rowsRejected: 0,
    rowsSkipped: 0,
    ...(keyed ? { rowsInserted: 0, rowsUpdated: 0 } : {}),
    rejectsByCode: {},
    batches: 0,
    ...(autoTune ? { autoTune: { budgetMs: autoTune.budgetMs, batches: [] } } : {}),
  }
}

/** One batch as --batch-size auto saw it. */
export interface BatchTrace {
  batch: number
  rows: number
  /** Input bytes of its rows. */
  bytes: number
  /** Its transaction's time, from the first attempt's BEGIN to COMMIT done. */
  ms: number
  /** The COMMIT's round trip (the WAL flush). */
  commitMs: number
  /** Attempts that failed on a lock wait of its own (lock_not_available) first. */
  lockTimeouts?: number
  /**
   * The longest wait of another session on it just before COMMIT (-1: waiting, length unknown before PostgreSQL 14).
   */
  blockedMs: number
  blockedSessions: number
  nextRows: number
  reason: string
  overBudget?: true
}

/**
 * One batch once it committed (in --dry-run=db: once it ran, rolled back at the end): the lines and
 * bytes of its input it decided, and what became of them. What the batch ledger keeps, and the
 * `batch` event of --log-format json.
 */
export interface BatchEvent {
  /** Its number in the run. */
  batch: number
  /** The input, as messages name it. */
  file: string
  /** The input's lines it decided, first to last (rows loaded, and rows rejected among them). */
  firstLine: number
  lastLine: number
  /** Its bytes of the (decompressed) input: [firstByte, nextByte). */
  firstByte: number
  nextByte: number
  /** Rows that went in (inserted or updated). */
  rows: number
  /** Rows of its lines rejected, client-side or by the database. */
  rejected: number
  /** Rows sent that did not go in (a trigger dropped them; a key already there in --mode ignore). */
  skipped: number
  /** Its transaction's attempts (more than 1 after a passing fault). */
  attempts: number
  /** Its transaction id (txid_current), when it had one. */
  txid?: string
  /** From the first attempt's BEGIN to COMMIT done. */
  ms: number
  committedAt: Date
  /** With a flush window: from its first row's arrival (decided) to its commit, ms. */
  lagMs?: number
  /** --batch-size auto: the longest wait it caused another session, and the next batch's size. */
  autoTune?: { blockedMs: number; nextRows: number }
}

/** Why a run stopped before the end of its input, and after which record (its line). */
export interface StopReason {
  error: LoadError
  file: string
  line?: number
}
