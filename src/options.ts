// Every option of pgbulk load and pgbulk redrive, as the library takes them (the CLI builds them
// from its flags), every default in one table (DEFAULTS), and the resolvers that apply the
// defaults and refuse what cannot run (as csv-parse's normalize_options does): load(), redrive()
// and openTarget() read the resolved options only, and default or check nothing themselves.
import { resolve } from 'node:path'
import type { Readable } from 'node:stream'
import type { AutoTuneOptions } from './batch/autotune.js'
import { LoadError } from './errors.js'
import type { CsvDialect } from './parse/dialect.js'
import { dialectOf } from './parse/dialect.js'
import type { InputEncoding } from './parse/decode.js'
import { resolveEncoding } from './parse/decode.js'
import type { InputFormat } from './parse/parse-input.js'
import { DEFAULT_MAX_RECORD_BYTES, MAX_RECORD_BYTES_LIMIT } from './parse/record-limits.js'
import type { Rejection } from './reject/rejection.js'
import { newRunId } from './observe/run-id.js'
import type { RowSample } from './observe/sample.js'
import { isSampleFraction } from './observe/sample.js'
import type { BatchEvent } from './report/run-figures.js'
import type { ValueFormats } from './validate/value-formats.js'

/** Defaults chosen by measurement; see "Batch size" in the README. */
export const DEFAULT_BATCH_ROWS = 10_000
export const DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
/**
 * Without a batch size given, the first batch closes at this many rows (the next at the default):
 * the first commit comes while the code is still cold (a batch of 10,000 rows took 0.3 s more),
 * so that a mistake shows early and a stream is seen to flow; one transaction more per run.
 */
export const FIRST_BATCH_ROWS = 1000
/** Attempts per batch before a passing fault ends the run. */
export const DEFAULT_RETRIES = 5
/** The default schema of pgbulk's own tables (checkpoints, the redrive ledger). */
export const DEFAULT_CHECKPOINT_SCHEMA = 'pgbulk'

/** The longest another session should wait on a lock pgbulk holds, or pgbulk on one it needs (--lock-budget). */
const LOCK_BUDGET_MS = 200

/** The default of every option that has one; the CLI shows these in --help. */
export const DEFAULTS = {
  method: 'copy',
  mode: 'append',
  batchRows: DEFAULT_BATCH_ROWS,
  batchBytes: DEFAULT_BATCH_BYTES,
  workers: 1,
  dryRun: false,
  retries: DEFAULT_RETRIES,
  retryBaseDelayMs: 250,
  retryMaxDelayMs: 30_000,
  overridingSystemValue: false,
  ignoreExtra: false,
  header: true,
  encoding: 'utf8',
  maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
  force: false,
  resume: false,
  restart: false,
  checkpoint: true,
  checkpointSchema: DEFAULT_CHECKPOINT_SCHEMA,
  lockBudgetMs: LOCK_BUDGET_MS,
  ledgerDays: 30,
  flushJitterMs: 0,
  startJitterMs: 0,
  follow: false,
  create: false,
  /** --follow without --flush-interval: rows of a followed file wait at most this long (ms). */
  followFlushIntervalMs: 1000,
  followPollMs: 100,
} as const

/** --batch-size auto's lock budget and bounds when not given (the CLI's --lock-budget, --min-batch and --max-batch). */
export const AUTO_TUNE_DEFAULTS = {
  budgetMs: LOCK_BUDGET_MS,
  minRows: 100,
  maxRows: 100_000,
} as const satisfies AutoTuneOptions

/** How rows meet the rows already in the table (--mode). */
export type LoadMode = 'append' | 'ignore' | 'upsert' | 'truncate' | 'replace'

/** The modes that match rows by a key (ON CONFLICT), and count rows inserted and updated. */
export function keyedMode(mode: LoadMode): mode is 'ignore' | 'upsert' {
  return mode === 'ignore' || mode === 'upsert'
}

/** What a run needs to know about the database side, for pgbulk load and pgbulk redrive alike. */
export interface TargetOptions {
  /** Target table, "[schema.]table", parsed as SQL would (quote names that need it). */
  table: string
  /**
   * Connection string (postgres:// URL or libpq keyword=value); else DATABASE_URL;
   * fields left out come from the PG* variables, then libpq's defaults.
   */
  db?: string
  method?: 'copy' | 'insert'
  /**
   * How rows meet the rows already in the table: append them (the default); ignore a row whose key is
   * there already; upsert (update the row with that key, else insert); truncate (empty the table in
   * the first batch's transaction, then append). ignore and upsert are keyed by --key, else the
   * primary key, else the only unique index on NOT NULL columns.
   */
  mode?: LoadMode
  /** --mode ignore and upsert: the columns of a unique index to match rows by. */
  key?: string[]
  /** --mode upsert: the columns an update sets (default: every column of the row but the key). */
  update?: string[]
  /** --mode upsert: update only when the row's value of this column is greater than the stored one. */
  updateIfNewer?: string
  /** --mode replace: the longest the switch waits for a lock another session holds before it tries again (ms). */
  lockBudgetMs?: number
  /**
   * Store the input's values in GENERATED ALWAYS identity columns (INSERT … OVERRIDING SYSTEM VALUE);
   * else such a column in the input is refused.
   */
  overridingSystemValue?: boolean
  batchRows?: number
  batchBytes?: number
  /**
   * Commit a batch also once its first row has waited this long (ms), whatever its size: for a
   * stream (stdin) whose rows come slowly. Rows wait in pgbulk's memory, not in an open transaction.
   * Default: none (a batch closes by size only).
   */
  flushIntervalMs?: number
  /** With flushIntervalMs: each window waits longer by a delay drawn anew, uniform in [0, flushJitterMs]; default 0. */
  flushJitterMs?: number
  /** In [0, 1): draws the jitters (default Math.random; tests pass their own). */
  random?: () => number
  /** --batch-size auto: the batch size follows the measured lock wait of other sessions (batchRows is ignored). */
  autoTune?: AutoTuneOptions
  /** Connections writing batches at the same time (default 1); commits stay in input order. */
  workers?: number
  /**
   * true: parse and check client-side only, no transaction; 'db': also run everything in the database,
   * inside a transaction that is rolled back.
   */
  dryRun?: boolean | 'db'
  /** Attempts per batch when a passing fault (dropped connection, restart, deadlock, timeout) hits it; default 5. */
  retries?: number
  /** Backoff: the first cap and the largest one, in ms (full jitter in between). */
  retryBaseDelayMs?: number
  retryMaxDelayMs?: number
  /** Told before each retry's wait. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void
  /**
   * The run's id (default: a new UUIDv7): in the report, the checkpoints, the batch ledger, the
   * application_name of every connection and a comment leading each batch's statements.
   * 1 to 40 letters, digits, "-", "_", "." or ":" (anything else is refused); one run's only (an id
   * already in the run log is refused).
   */
  runId?: string
}

/** What pgbulk load and pgbulk redrive share: the target, limits, and hooks for the CLI. */
export interface RunOptions extends TargetOptions {
  maxRejects?: RejectLimit
  /** Drop input fields that match no column instead of failing. */
  ignoreExtra?: boolean
  /** Aborting stops reading; the batch in flight is committed or rolled back. */
  signal?: AbortSignal
  onProgress?: (p: {
    bytesRead: number
    rowsRead: number
    rowsLoaded: number
    rowsRejected: number
    batchRows?: number
  }) => void
  /** Called for each rejected row, after it was written to the reject file. */
  onReject?: (r: Rejection) => void
  /** Called for each batch once it committed (or, in --dry-run=db, once it ran), in input order. */
  onBatch?: (b: BatchEvent) => void
  /**
   * Called once with the job's name, as soon as the run knows it (a load names it once connected:
   * the default name holds the table's name as the database spells it), before anything is loaded.
   */
  onJob?: (job: string) => void
  /**
   * Tell `onRow` of a sample of the rows of committed batches, chosen by a hash of their value of
   * `idColumn` (a column of the table): the same ids for a given fraction in every run. Costs
   * nothing when absent.
   */
  rowSample?: RowSample
}

/**
 * A reject limit: stop once more than `count` rows, or more than `percent` % of rows read
 * (after the first 1000), were rejected.
 */
export type RejectLimit = { count: number } | { percent: number }

/** Options of a load; the CLI builds them from its flags. */
export interface LoadOptions extends RunOptions {
  /** File paths, or "-" for stdin. */
  inputs: string[]
  /** Format of every input; by default from each input's extension, else csv. */
  format?: InputFormat
  header?: boolean
  /**
   * CSV/TSV column names: of an input without a header row, its fields; with one, they rename the
   * header's fields (as many names as the header has fields, else HEADER_INVALID).
   */
  columns?: string[]
  /**
   * Input field (a header name, an NDJSON key) → table column, winning over the name matching
   * (exact, case-insensitive, loose: `Customer ID` fills customer_id).
   */
  map?: Record<string, string>
  /**
   * How the input writes values PostgreSQL would not read as they are (dates of numbers in a given
   * order, decimal commas, thousands separators, currency symbols, epoch timestamps, more NULL
   * markers): rewritten client-side, so a dry run finds what the load rejects.
   */
  formats?: ValueFormats
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
  /** Days the batch ledger keeps a batch (older ones are deleted when a load starts); default 30, at most 1,000,000. */
  ledgerDays?: number
  /**
   * Before connecting, sleep a delay drawn uniform in [0, startJitterMs] (ms; default 0), so that
   * many loads started by the same clock (cron) do not all connect at once. Aborting (`signal`)
   * ends the sleep: the load throws ABORTED without connecting.
   */
  startJitterMs?: number
  /**
   * Follow the (one) input like `tail -F`: at its end, wait for appended lines; a rotation or
   * truncation starts the file that takes the path, each with its own checkpoint. Ends only when
   * `signal` aborts (exit 130 after committing what was read). Default flush interval 1 s.
   */
  follow?: boolean
  /** --follow: how often the end of the file is looked at again (ms; default 100). */
  followPollMs?: number
  /**
   * When the table does not exist, create it from the inputs (pgbulk infer's statement, the inputs
   * read with this load's format and dialect) in a transaction of its own; when it does, do nothing.
   */
  create?: boolean
}

/** Options of pgbulk redrive. */
export interface RedriveOptions extends Omit<RunOptions, 'table'> {
  /** The target table; default: the one the reject file's lines name (the load's). */
  table?: string
  /** The reject file to load again; it is rewritten to hold only what still fails. */
  rejectsFile: string
  /** The schema of pgbulk's own tables (the redrive ledger), as for load's checkpoints. */
  checkpointSchema?: string
}

/** The options of T that DEFAULTS has a default for. */
type Defaulted<T> = Extract<keyof typeof DEFAULTS, keyof T>

/** Options with DEFAULTS applied: an option that has a default is always there; the rest are as given. */
type Resolved<T> = Readonly<Omit<T, Defaulted<T>> & { [P in Defaulted<T>]-?: Exclude<T[P], undefined> }>

/** What openTarget() reads: the options of TargetOptions, defaulted and checked (a run id always there). */
export type ResolvedTargetOptions = Resolved<TargetOptions> & { readonly runId: string } & FirstBatch

/** RunOptions, defaulted and checked. */
export type ResolvedRunOptions = Resolved<RunOptions> & { readonly runId: string } & FirstBatch

/** Where no batch size was given: the first batch closes at FIRST_BATCH_ROWS. */
interface FirstBatch {
  readonly firstBatchRows?: number
}

/** What load() reads: LoadOptions, defaulted and checked, with the encoding resolved. */
export type ResolvedLoadOptions = Resolved<Omit<LoadOptions, 'encoding'>> &
  FirstBatch & {
    readonly runId: string
    readonly encoding: InputEncoding
    /** The input read for "-" (default: process.stdin, looked up only when read). */
    readonly stdin: Readable
    /** Where "--rejects -" writes (default: process.stdout, looked up only when written). */
    readonly stdout: NodeJS.WritableStream
    /** The CSV/TSV dialect of an input in `format`: the options given, the format's defaults for the rest (dialectOf). */
    dialectFor(format: InputFormat): CsvDialect
    /** An input's reject file: --rejects, else defaultRejectsPath(). */
    rejectsFor(input: RejectsFileOf): string
  }

/** What the default reject file depends on: the input's path, and whether it is a stream (see InputFile). */
interface RejectsFileOf {
  path: string
  stream: boolean
}

/**
 * Where an input's rejects go by default: beside a file; for a stream (stdin, a pipe,
 * /dev/stdin, a process substitution's /dev/fd/63), whose folder is no place for files, in the
 * working directory.
 */
export function defaultRejectsPath(input: RejectsFileOf, dryRun = false): string {
  // (a dry run's report has a name of its own: it never stands in the way of the load after it, nor replaces its rejects)
  const name = dryRun ? 'dry-run.rejects.ndjson' : 'rejects.ndjson'
  return input.stream ? resolve(`pgbulk-${name}`) : `${input.path}.${name}`
}

/** What redrive() reads: RedriveOptions, defaulted and checked. */
export type ResolvedRedriveOptions = Resolved<RedriveOptions & { table: string }> & { readonly runId: string }

/** The most --ledger-days may be (about 2,700 years: PostgreSQL's timestamps reach back to 4713 BC). */
export const MAX_LEDGER_DAYS = 1_000_000

/** The longest duration an option takes (ms): 24 days, below the largest delay a timer takes (2^31 - 1 ms). */
export const MAX_DURATION_MS = 24 * 24 * 60 * 60 * 1000

/** Refuse a duration (ms) that is not a number from `min` (or more than 0) to MAX_DURATION_MS. */
function checkDuration(flag: string, ms: number | undefined, zero: boolean): void {
  if (ms === undefined) return
  if (Number.isFinite(ms) && (zero ? ms >= 0 : ms > 0) && ms <= MAX_DURATION_MS) return
  const from = zero ? 'at least 0' : 'more than 0'
  throw new LoadError('USAGE', `${flag} must be ${from} ms and at most 24 days, not ${String(ms)}`)
}

/** What a run id given by the caller may be (a UUID fits). */
const RUN_ID = /^[A-Za-z0-9_.:-]{1,40}$/

/** Apply the defaults of what pgbulk load and pgbulk redrive share; refuse --batch-size auto bounds that cannot be. */
export function resolveRunOptions(given: RunOptions): ResolvedRunOptions {
  const { autoTune } = given
  if (autoTune && autoTune.minRows > autoTune.maxRows) {
    throw new LoadError('USAGE', `--min-batch ${autoTune.minRows} is larger than --max-batch ${autoTune.maxRows}`)
  }
  // (it is written into the SQL of every batch, inside a comment, and into application_name)
  if (given.runId !== undefined && !RUN_ID.test(given.runId))
    throw new LoadError(
      'USAGE',
      `a run id is 1 to 40 letters, digits, '-', '_', '.' or ':', not ${JSON.stringify(given.runId)}`,
    )
  checkDuration('--flush-interval', given.flushIntervalMs, false)
  checkDuration('--flush-jitter', given.flushJitterMs, true)
  // (a jitter delays a window: without one there is nothing to delay)
  if (given.flushJitterMs && given.flushIntervalMs === undefined)
    throw new LoadError('USAGE', '--flush-jitter needs --flush-interval')
  const mode = given.mode ?? DEFAULTS.mode
  if (given.key && !keyedMode(mode) && mode !== 'replace')
    throw new LoadError('USAGE', '--key applies to --mode ignore, upsert and replace')
  for (const [flag, value] of [
    ['--update', given.update],
    ['--update-if-newer', given.updateIfNewer],
  ] as const) {
    if (value !== undefined && mode !== 'upsert') throw new LoadError('USAGE', `${flag} applies to --mode upsert`)
  }
  if (given.rowSample && !isSampleFraction(given.rowSample.fraction))
    throw new LoadError(
      'USAGE',
      `a row sample's fraction must be more than 0 and at most 1, not ${given.rowSample.fraction}`,
    )
  return Object.freeze({
    ...given,
    method: given.method ?? DEFAULTS.method,
    mode,
    overridingSystemValue: given.overridingSystemValue ?? DEFAULTS.overridingSystemValue,
    batchRows: given.batchRows ?? DEFAULTS.batchRows,
    ...(given.batchRows === undefined && given.autoTune === undefined ? { firstBatchRows: FIRST_BATCH_ROWS } : {}),
    batchBytes: given.batchBytes ?? DEFAULTS.batchBytes,
    flushJitterMs: given.flushJitterMs ?? DEFAULTS.flushJitterMs,
    // (fewer than one connection is one)
    workers: Math.max(1, given.workers ?? DEFAULTS.workers),
    dryRun: given.dryRun ?? DEFAULTS.dryRun,
    retries: given.retries ?? DEFAULTS.retries,
    retryBaseDelayMs: given.retryBaseDelayMs ?? DEFAULTS.retryBaseDelayMs,
    retryMaxDelayMs: given.retryMaxDelayMs ?? DEFAULTS.retryMaxDelayMs,
    ignoreExtra: given.ignoreExtra ?? DEFAULTS.ignoreExtra,
    // (--lock-budget is one setting: the auto-tuner's budget when that is what was given)
    lockBudgetMs: given.lockBudgetMs ?? autoTune?.budgetMs ?? DEFAULTS.lockBudgetMs,
    runId: given.runId ?? newRunId(),
  })
}

/** Value formats that cannot be read: a separator that is a digit, or that is also the decimal point. */
function checkFormats(f: ValueFormats | undefined): void {
  if (f?.thousands === undefined) return
  const t = f.thousands
  if (t.length !== 1 || /[0-9+\-eE]/.test(t))
    throw new LoadError(
      'USAGE',
      `--thousands must be one character that is not a digit, sign or "e", not ${JSON.stringify(t)}`,
    )
  if (t === (f.decimalComma ? ',' : '.'))
    throw new LoadError(
      'USAGE',
      `--thousands ${JSON.stringify(t)} is also the decimal point${f.decimalComma ? ' (--decimal-comma)' : ''}`,
      f.decimalComma
        ? 'numbers like 1.234,56 are --decimal-comma --thousands .'
        : 'numbers like 1.234,56 need --decimal-comma',
    )
}

/** --follow: refused where it cannot be (more than one input, stdin, a mode that ends), and its flush interval. */
function followed(given: LoadOptions): LoadOptions {
  if (given.inputs.length !== 1 || given.inputs[0] === '-')
    throw new LoadError(
      'USAGE',
      given.inputs[0] === '-' && given.inputs.length === 1
        ? '--follow follows a file: stdin is read until it closes without it'
        : `--follow follows one file, not ${given.inputs.length}: run one pgbulk per file`,
    )
  if (given.mode === 'truncate' || given.mode === 'replace')
    throw new LoadError('USAGE', `--mode ${given.mode} needs the input to end: it cannot --follow`)
  return { ...given, flushIntervalMs: given.flushIntervalMs ?? DEFAULTS.followFlushIntervalMs }
}

/**
 * Apply the defaults of a load and refuse what cannot run, before anything is opened: an encoding
 * pgbulk does not read, --resume with --restart, a record limit out of range, then what
 * resolveRunOptions() refuses.
 */
export function resolveLoadOptions(options: LoadOptions): ResolvedLoadOptions {
  const given = options.follow ? followed(options) : options
  const encoding = resolveEncoding(given.encoding ?? DEFAULTS.encoding)
  if (!encoding) {
    const hint = 'use utf8, latin1 or windows-1252'
    throw new LoadError('USAGE', `unsupported --encoding ${JSON.stringify(given.encoding)}`, hint)
  }
  if (given.resume && given.restart) throw new LoadError('USAGE', '--resume and --restart exclude each other')
  if (given.mode === 'replace' && given.checkpoint === false) {
    const why = 'the new rows wait in a table of pgbulk until the switch, which --resume needs checkpoints to find'
    throw new LoadError('USAGE', `--mode replace keeps checkpoints: ${why}`)
  }
  const ledgerDays = given.ledgerDays ?? DEFAULTS.ledgerDays
  // (the cutoff, now() less that many days, must be a timestamp: 99999999 days failed as an internal error)
  if (!(ledgerDays > 0 && ledgerDays <= MAX_LEDGER_DAYS))
    throw new LoadError(
      'USAGE',
      `--ledger-days must be more than 0 and at most ${MAX_LEDGER_DAYS}, not ${String(ledgerDays)}`,
    )
  checkDuration('--start-jitter', given.startJitterMs, true)
  checkFormats(given.formats)
  if (given.create && given.dryRun)
    throw new LoadError('USAGE', '--create makes a table, which a dry run does not: pgbulk infer prints the statement')
  const maxRecordBytes = given.maxRecordBytes ?? DEFAULTS.maxRecordBytes
  if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < 1 || maxRecordBytes > MAX_RECORD_BYTES_LIMIT) {
    const range = `from 1 to ${MAX_RECORD_BYTES_LIMIT}, not ${String(given.maxRecordBytes)}`
    throw new LoadError('USAGE', `--max-record-bytes must be a whole number of bytes ${range}`)
  }
  return Object.freeze({
    ...resolveRunOptions(given),
    inputs: given.inputs,
    encoding,
    maxRecordBytes,
    header: given.header ?? DEFAULTS.header,
    force: given.force ?? DEFAULTS.force,
    resume: given.resume ?? DEFAULTS.resume,
    restart: given.restart ?? DEFAULTS.restart,
    checkpoint: given.checkpoint ?? DEFAULTS.checkpoint,
    checkpointSchema: given.checkpointSchema ?? DEFAULTS.checkpointSchema,
    ledgerDays,
    startJitterMs: given.startJitterMs ?? DEFAULTS.startJitterMs,
    follow: given.follow ?? DEFAULTS.follow,
    create: given.create ?? DEFAULTS.create,
    followPollMs: given.followPollMs ?? DEFAULTS.followPollMs,
    get stdin() {
      return given.stdin ?? process.stdin
    },
    get stdout() {
      return given.stdout ?? process.stdout
    },
    // A function of the format, not a value: the format is each input's own (formatOf: --format, else
    // its extension). The formats' defaults stay in dialectOf (parse/dialect.ts), beside the dialect type,
    // because redrive reads each reject line with the dialect recorded in it, not with options.
    dialectFor: (format: InputFormat) => dialectOf(format, given),
    rejectsFor: (input: RejectsFileOf) => given.rejects ?? defaultRejectsPath(input, (given.dryRun ?? false) !== false),
  })
}

/** Apply the defaults of a redrive and refuse what cannot run. */
export function resolveRedriveOptions(given: RedriveOptions & { table: string }): ResolvedRedriveOptions {
  if (given.mode === 'truncate' || given.mode === 'replace')
    throw new LoadError('USAGE', `--mode ${given.mode} does not apply to pgbulk redrive: it would empty the table`)
  return Object.freeze({
    ...resolveRunOptions(given),
    rejectsFile: given.rejectsFile,
    checkpointSchema: given.checkpointSchema ?? DEFAULTS.checkpointSchema,
  })
}
