// Every option of pgbulk load and pgbulk redrive, as the library takes them (the CLI builds them
// from its flags), with the defaults the CLI shows.
import type { Readable } from 'node:stream'
import type { AutoTuneOptions } from './batch/autotune.js'
import type { InputFormat } from './parse/parse-input.js'
import type { Rejection } from './reject/rejection.js'

/** Defaults chosen by measurement; see "Batch size" in the README. */
export const DEFAULT_BATCH_ROWS = 10_000
export const DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
/** Attempts per batch before a passing fault ends the run. */
export const DEFAULT_RETRIES = 5

/** What a run needs to know about the database side, for pgbulk load and pgbulk redrive alike. */
export interface TargetOptions {
  /** Target table, "[schema.]table", parsed as SQL would (quote names that need it). */
  table: string
  /** Connection string (postgres:// URL or libpq keyword=value); else DATABASE_URL; fields left out come from the PG* variables, then libpq's defaults. */
  db?: string
  method?: 'copy' | 'insert'
  /** Store the input's values in GENERATED ALWAYS identity columns (INSERT … OVERRIDING SYSTEM VALUE); else such a column in the input is refused. */
  overridingSystemValue?: boolean
  batchRows?: number
  batchBytes?: number
  /** --batch-size auto: the batch size follows the measured lock wait of other sessions (batchRows is ignored). */
  autoTune?: AutoTuneOptions
  /** Connections writing batches at the same time (default 1); commits stay in input order. */
  workers?: number
  /** true: parse and check client-side only, no transaction; 'db': also run everything in the database, inside a transaction that is rolled back. */
  dryRun?: boolean | 'db'
  /** Attempts per batch when a passing fault (dropped connection, restart, deadlock, timeout) hits it; default 5. */
  retries?: number
  /** Backoff: the first cap and the largest one, in ms (full jitter in between). */
  retryBaseDelayMs?: number
  retryMaxDelayMs?: number
  /** Told before each retry's wait. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void
}

/** What pgbulk load and pgbulk redrive share: the target, limits, and hooks for the CLI. */
export interface RunOptions extends TargetOptions {
  maxRejects?: RejectLimit
  /** Drop input fields that match no column instead of failing. */
  ignoreExtra?: boolean
  /** Aborting stops reading; the batch in flight is committed or rolled back. */
  signal?: AbortSignal
  onProgress?: (p: { bytesRead: number; rowsRead: number; rowsLoaded: number; rowsRejected: number; batchRows?: number }) => void
  /** Called for each rejected row, after it was written to the reject file. */
  onReject?: (r: Rejection) => void
}

/** A reject limit: stop once more than `count` rows, or more than `percent` % of rows read (after the first 1000), were rejected. */
export type RejectLimit = { count: number } | { percent: number }

/** Options of a load; the CLI builds them from its flags. */
export interface LoadOptions extends RunOptions {
  /** File paths, or "-" for stdin. */
  inputs: string[]
  /** Format of every input; by default from each input's extension, else csv. */
  format?: InputFormat
  header?: boolean
  /** Column names for CSV/TSV input without a header row. */
  columns?: string[]
  delimiter?: string
  /** Quote character; null turns quoting off. */
  quote?: string | null
  escape?: string
  /** The string meaning NULL; by default an unquoted empty field is NULL. */
  nullString?: string
  encoding?: string
  /**
   * Longest record in bytes (--max-record-bytes; default 64 MiB, at most 256 MiB): a longer one
   * is rejected (RECORD_TOO_LONG) and reading resumes at the next line; memory stays bounded.
   */
  maxRecordBytes?: number
  /** One reject file for all inputs; by default "<input>.rejects.ndjson" beside each input. */
  rejects?: string
  /** Replace existing reject files. */
  force?: boolean
  stdin?: Readable
  /** Where "--rejects -" writes (default: process.stdout). */
  stdout?: NodeJS.WritableStream
  /** Called at the start with the total input size (undefined for stdin). */
  onStart?: (totalBytes: number | undefined) => void
  /** The job's name, for its checkpoints; default: the target table and the inputs' absolute paths. */
  job?: string
  /** Continue the job from its checkpoint. */
  resume?: boolean
  /** Load from the start, forgetting the job's checkpoint. */
  restart?: boolean
  /** Keep checkpoints (default true); false loads without resume. */
  checkpoint?: boolean
  /** The schema of the checkpoint table (default pgbulk). */
  checkpointSchema?: string
}

/** Options of pgbulk redrive. */
export interface RedriveOptions extends RunOptions {
  /** The reject file to load again; it is rewritten to hold only what still fails. */
  rejectsFile: string
  /** The schema of pgbulk's own tables (the redrive ledger), as for load's checkpoints. */
  checkpointSchema?: string
}
