import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { Command, CommanderError, Option } from 'commander'
import { EXIT, LoadError } from '../errors.js'
import type { InputFormat, LoadOptions } from '../index.js'
import type { RedriveOptions, RunOptions } from '../index.js'
import { MAX_RECORD_BYTES_LIMIT, forgetJob, listJobs, load, redrive, reportableOptions } from '../index.js'
import type { LoadMode, RejectLimit } from '../options.js'
import { AUTO_TUNE_DEFAULTS as AUTO, DEFAULTS, FIRST_BATCH_ROWS } from '../options.js'
import { defaultJobName } from '../checkpoint/resume-plan.js'
import { logEvent } from '../observe/log-events.js'
import { newRunId } from '../observe/run-id.js'
import type { SampledRow } from '../observe/sample.js'
import { traceContextOf } from '../observe/traceparent.js'
import { redriveJobName } from '../redrive/redrive.js'
import type { Rejection } from '../reject/rejection.js'
import { printable } from '../report/printable.js'
import type { ValueFormats } from '../validate/value-formats.js'
import type { BatchEvent } from '../report/run-figures.js'
import { counted } from '../report/words.js'
import type { LoadReport } from '../report/load-report.js'
import {
  parseBatchSize,
  parseChar,
  parseColumns,
  parseDuration,
  parseFraction,
  parseMap,
  parsePositiveInt,
  parseQuote,
  parseRecordSize,
  parseRejectLimit,
  parseSize,
} from './options.js'
import type { LogFormat, RetryInfo } from './log.js'
import { createRunLogger, describeError } from './log.js'
import { writeMetricsFile } from './metrics-file.js'
import type { ProgressSnapshot } from './progress.js'
import type { TraceJob } from './trace-command.js'
import { registerTrace, runTraceCommand } from './trace-command.js'
import type { InferJob } from './infer-command.js'
import { registerInfer, runInferCommand } from './infer-command.js'
import type { RejectsJob } from './rejects-command.js'
import { registerRejects, runRejectsCommand } from './rejects-command.js'

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WriteStream
  /** Install signal handlers (off in in-process tests). */
  signals: boolean
}

/** What the command line asked for (the CLI always gives --retries: its default shows in --help). */
export type Job =
  | { kind: 'load'; opts: LoadOptions & { retries: number } }
  | { kind: 'redrive'; opts: RedriveOptions & { retries: number } }
  | { kind: 'jobs'; opts: JobsFlags }
  | { kind: 'trace'; opts: TraceJob }
  | { kind: 'infer'; opts: InferJob }
  | { kind: 'rejects'; opts: RejectsJob }

/**
 * The flags of pgbulk load and pgbulk redrive, as commander hands them over: camelCase; a flag
 * without a default is absent when not given.
 */
interface RunFlags {
  table: string
  db?: string
  method: 'copy' | 'insert'
  mode: LoadMode
  key?: string[]
  update?: string[]
  updateIfNewer?: string
  batchSize?: number | 'auto'
  lockBudget: number
  minBatch: number
  maxBatch: number
  batchBytes: number
  workers: number
  maxRejects?: RejectLimit
  /** A bare --dry-run is true (main() turns it into client). */
  dryRun?: true | 'client' | 'db'
  retries: number
  ignoreExtra?: true
  overridingSystemValue?: true
  report?: string
  quiet?: true
  logFormat: LogFormat
  logRejects?: number
  logSampleRows?: number
  idColumn?: string
  metricsFile?: string
}

/** The flags of pgbulk load. */
interface LoadFlags extends RunFlags {
  format?: InputFormat
  /** false with --no-header. */
  header: boolean
  columns?: string[]
  map?: Record<string, string>
  delimiter?: string
  /** "" for --quote none. */
  quote?: string
  escape?: string
  null?: string[]
  dateOrder?: 'DMY' | 'MDY' | 'YMD'
  decimalComma?: true
  thousands?: string
  currency?: true
  epoch?: 's' | 'ms'
  encoding: string
  maxRecordBytes: number
  rejects?: string
  force?: true
  job?: string
  resume?: true
  restart?: true
  checkpointSchema?: string
  /** false with --no-checkpoint. */
  checkpoint: boolean
  ledgerDays: number
  flushInterval?: number
  flushJitter?: number
  startJitter?: number
  follow?: true
  create?: true
}

/** The flags of pgbulk jobs. */
interface JobsFlags {
  db?: string
  checkpointSchema?: string
  forget?: string
}

/** Options after the command's own: where to load, how, and what to report. */
interface CliExtra {
  report?: string
  quiet: boolean
  /** --log-format (absent for pgbulk jobs). */
  logFormat?: LogFormat
  logRejects?: number
  logSampleRows?: number
  idColumn?: string
  metricsFile?: string
}

const DB_HELP =
  'connection string: postgres:// URL or libpq keyword=value ' +
  '(default: DATABASE_URL; then PG* variables, ~/.pgpass, local socket as the OS user)'

/** Options that pgbulk load and pgbulk redrive share. */
/** The modes of pgbulk load; redrive has all but truncate (emptying the table to load a reject file's rows). */
const LOAD_MODES = ['append', 'ignore', 'upsert', 'truncate', 'replace'] as const

function addRunOptions(cmd: Command, modes: readonly string[] = LOAD_MODES, tableHelp?: string): Command {
  const table = '-t, --table <[schema.]table>'
  const help = 'target table, parsed as SQL (quote names that need it: \'"My Table"\')'
  return (tableHelp ? cmd.option(table, `${help}; ${tableHelp}`) : cmd.requiredOption(table, help))
    .option('--db <url>', DB_HELP)
    .addOption(
      new Option('--method <method>', 'COPY FROM STDIN, or multi-row INSERT')
        .choices(['copy', 'insert'])
        .default(DEFAULTS.method),
    )
    .addOption(
      new Option(
        '--mode <mode>',
        'how rows meet the rows already in the table: append them; ignore a row whose key is there already; ' +
          'upsert: update the row with its key, else insert ' +
          '(in input order: a key repeated in the input ends with its last row)' +
          (modes.includes('truncate')
            ? '; truncate: empty the table in the first batch, then append (readers may see a part meanwhile); ' +
              'replace: load into a staging table, then make the table hold its rows in one transaction'
            : ''),
      )
        .choices(modes)
        .default(DEFAULTS.mode),
    )
    .option(
      '--key <col,...>',
      'with --mode ignore or upsert: the columns to match rows by, those of a unique index ' +
        '(default: the primary key, else the only unique index on NOT NULL columns)',
      parseColumns,
    )
    .option(
      '--update <col,...>',
      'with --mode upsert: the columns an update sets (default: every column of the row but the key)',
      parseColumns,
    )
    .option(
      '--update-if-newer <column>',
      "with --mode upsert: update a row only when the input's value of this column is greater than the stored one",
    )
    .option(
      '--batch-size <rows|auto>',
      `rows per batch (each batch is one transaction; default ${DEFAULTS.batchRows}, ` +
        `the first ${FIRST_BATCH_ROWS} rows a batch of their own so that the first commit comes soon); ` +
        'auto: as large as other sessions allow, from the lock wait measured after each batch',
      parseBatchSize,
    )
    .option(
      '--lock-budget <ms>',
      'with --batch-size auto: the longest another session should wait on a lock pgbulk holds; ' +
        'with --mode replace or truncate: the longest its switch or TRUNCATE waits for a lock before it tries again',
      parsePositiveInt,
      AUTO.budgetMs,
    )
    .option('--min-batch <rows>', 'with --batch-size auto: the smallest batch', parsePositiveInt, AUTO.minRows)
    .option('--max-batch <rows>', 'with --batch-size auto: the largest batch', parsePositiveInt, AUTO.maxRows)
    .addOption(
      new Option('--batch-bytes <size>', 'input bytes per batch; a batch closes at whichever limit comes first')
        .argParser(parseSize)
        .default(DEFAULTS.batchBytes, megabytes(DEFAULTS.batchBytes)),
    )
    .option(
      '--workers <n>',
      'connections writing batches at the same time, for servers with cores to spare ' +
        '(commits, reject lines and checkpoints stay in input order)',
      parsePositiveInt,
      DEFAULTS.workers,
    )
    .option(
      '--max-rejects <n|p%>',
      'stop once more than n rows, or p% of rows read (after 1000), were rejected',
      parseRejectLimit,
    )
    .addOption(
      new Option(
        '--dry-run [where]',
        "check every row and write nothing: --dry-run checks client-side against the table's schema; " +
          "--dry-run=db also runs the database's own checks (constraints, foreign keys, triggers) " +
          'in a transaction that is rolled back',
      ).choices(['client', 'db']),
    )
    .option(
      '--retries <n>',
      'attempts per batch when a passing fault hits it (dropped connection, restart, deadlock, timeout)',
      parsePositiveInt,
      DEFAULTS.retries,
    )
    .option('--ignore-extra', 'drop input fields that match no column instead of failing')
    .option(
      '--overriding-system-value',
      "store the input's values in GENERATED ALWAYS identity columns (else such a column in the input is refused)",
    )
    .option('--report <path>', 'write a JSON report of the run')
    .option('-q, --quiet', 'no progress and no summary')
    .addOption(
      new Option(
        '--log-format <format>',
        'stderr for people (text), or one JSON object per line for log collectors (json): ' +
          'events run_start, batch, retry, reject, row, run_end, error',
      )
        .choices(['text', 'json'])
        .default('text'),
    )
    .option(
      '--log-rejects <fraction>',
      'with --log-format json: a reject event for this share of rejected rows only (0.01: one in a hundred, ' +
        'chosen by file and line); run_end says how many were left out',
      parseFraction,
    )
    .option(
      '--log-sample-rows <fraction>',
      'with --log-format json and --id-column: a row event for this share of the rows loaded, ' +
        "chosen by a hash of the row's id (the same ids in every run)",
      parseFraction,
    )
    .option('--id-column <column>', 'the column whose value names a row, for --log-sample-rows')
    .option(
      '--metrics-file <path>',
      "write the run's figures in Prometheus' text format, labelled by job " +
        "(for node_exporter's textfile collector; other jobs' lines in the file are kept)",
    )
}

/** A size in --help: 16MB. */
function megabytes(bytes: number): string {
  return `${bytes / 1024 ** 2}MB`
}

/** `T` without the undefined values (exactOptionalPropertyTypes: an option not given is left out, not undefined). */
type Given<T> = { [K in keyof T]?: Exclude<T[K], undefined> }

/** The entries of `o` that hold a value. */
function given<T extends object>(o: T): Given<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Given<T>
}

/**
 * --null given once is the dialect's NULL string (the parser's, unquoted fields only); given
 * several times, an empty one keeps an unquoted empty field NULL, and the others are value formats.
 */
function nullsOf(nulls: string[] | undefined): { nullString?: string; formatNulls?: string[] } {
  if (!nulls || nulls.length === 0) return {}
  if (nulls.length === 1) return { nullString: nulls[0]! }
  const first = nulls.includes('') ? undefined : nulls[0]!
  const rest = nulls.filter((n) => n !== '' && n !== first)
  return { ...(first === undefined ? {} : { nullString: first }), ...(rest.length > 0 ? { formatNulls: rest } : {}) }
}

/** The value formats the flags ask for (none: undefined, and the fast paths stay on). */
function formatsOf(o: LoadFlags): { formats?: ValueFormats } {
  const nulls = nullsOf(o.null).formatNulls
  const f = given({
    dateOrder: o.dateOrder,
    decimalComma: o.decimalComma,
    thousands: o.thousands,
    currency: o.currency,
    epoch: o.epoch,
    nulls,
  })
  return Object.keys(f).length > 0 ? { formats: f } : {}
}

/** --lock-budget, for the modes that take a lock of their own (replace's switch, truncate's TRUNCATE). */
function lockBudgetOf(o: RunFlags): number | undefined {
  return o.mode === 'replace' || o.mode === 'truncate' ? o.lockBudget : undefined
}

function runOptionsFrom(o: RunFlags): RunOptions & { retries: number } {
  return {
    table: o.table,
    method: o.method,
    ...(o.batchSize === 'auto'
      ? { autoTune: { budgetMs: o.lockBudget, minRows: o.minBatch, maxRows: o.maxBatch } }
      : o.batchSize === undefined
        ? {}
        : { batchRows: o.batchSize }),
    batchBytes: o.batchBytes,
    workers: o.workers,
    dryRun: o.dryRun === 'db' ? 'db' : Boolean(o.dryRun),
    retries: o.retries,
    ignoreExtra: Boolean(o.ignoreExtra),
    overridingSystemValue: Boolean(o.overridingSystemValue),
    ...given({ db: o.db, maxRejects: o.maxRejects }),
    // (the report's options name a mode other than append, and the key options given)
    ...given({ mode: o.mode === 'append' ? undefined : o.mode, key: o.key, update: o.update }),
    ...given({ updateIfNewer: o.updateIfNewer, lockBudgetMs: lockBudgetOf(o) }),
  }
}

function extraFrom(o: RunFlags): CliExtra {
  return {
    ...given({ report: o.report }),
    quiet: Boolean(o.quiet),
    logFormat: o.logFormat,
    ...given({
      logRejects: o.logRejects,
      logSampleRows: o.logSampleRows,
      idColumn: o.idColumn,
      metricsFile: o.metricsFile,
    }),
  }
}

/** Build the command tree. Separate from main() so that tests can parse options in-process. */
export function buildProgram(run: (job: Job, extra: CliExtra) => Promise<void>): Command {
  const program = new Command('pgbulk')
    .description(
      'Stream CSV, TSV and NDJSON files into a PostgreSQL table: ' +
        'validated against the live schema, batched, with a reject file for bad rows.',
    )
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')

  addRunOptions(
    program
      .command('load')
      .description('load files (or "-" for stdin) into a table')
      .argument('<input...>', 'files to load, plain or gzip, or - for stdin'),
  )
    .addOption(
      new Option('--format <format>', 'input format (default: from the extension, else csv)').choices([
        'csv',
        'tsv',
        'ndjson',
      ]),
    )
    .option('--no-header', "CSV/TSV input has no header row (give --columns, else the table's column order is used)")
    .option(
      '--columns <a,b,c>',
      'CSV/TSV column names: with --no-header, of the fields; with a header, they rename its fields',
      parseColumns,
    )
    .option(
      '--map <field=column,...>',
      "fill a column from a field of another name (a header name, an NDJSON key): --map 'Customer ID=cust_id' " +
        '(repeatable; header names also match columns ignoring case, spaces and punctuation)',
      parseMap,
    )
    .option('--delimiter <char>', 'field delimiter (default: "," for csv, tab for tsv)', parseChar)
    .option(
      '--quote <char>',
      'quote character, "none" for no quoting (default: \'"\' for csv, none for tsv)',
      parseQuote,
    )
    .option('--escape <char>', 'escape character inside quoted fields (default: the quote, doubled)', parseChar)
    .option(
      '--null <string>',
      'unquoted string that means NULL (default: an unquoted empty field); repeatable: --null "" --null N/A ' +
        '(the markers after the first match quoted fields too)',
      (v: string, before: string[] | undefined) => [...(before ?? []), v],
    )
    .addOption(
      new Option('--date-order <order>', 'dates of numbers only (03.01.2020, 3/1/2020) are day-month-year, …').choices([
        'DMY',
        'MDY',
        'YMD',
      ]),
    )
    .option('--decimal-comma', 'numbers write their decimal point as a comma (1234,56)')
    .option('--thousands <char>', 'numbers group their digits with this character (57,190.56; 1.234,56)')
    .option('--currency', 'numeric columns: drop a currency symbol before or after the number ($58,044.03)')
    .addOption(
      new Option('--epoch <unit>', 'timestamp columns: a plain number is seconds (s) or ms since 1970 UTC').choices([
        's',
        'ms',
      ]),
    )
    .option('--encoding <name>', 'input encoding: utf8, latin1, windows-1252', DEFAULTS.encoding)
    .addOption(
      new Option(
        '--max-record-bytes <size>',
        `longest record (a line, or the lines of a quoted field that holds line breaks), ` +
          `at most ${MAX_RECORD_BYTES_LIMIT / 1024 ** 2}MB: ` +
          'a longer one is rejected, not held in memory, and reading resumes at the next line',
      )
        .argParser(parseRecordSize(MAX_RECORD_BYTES_LIMIT))
        .default(DEFAULTS.maxRecordBytes, megabytes(DEFAULTS.maxRecordBytes)),
    )
    .option(
      '--rejects <path>',
      'reject file (default: <input>.rejects.ndjson beside each input file; pgbulk-rejects.ndjson for stdin and pipes)',
    )
    .option('--force', 'replace an existing reject file; with --resume, resume although the input changed')
    .option('--job <name>', "name of the load, for its checkpoint (default: the table and the inputs' absolute paths)")
    .addOption(new Option('--resume', 'continue the job from its checkpoint').conflicts('restart'))
    .option('--restart', "load from the start, forgetting the job's checkpoint (rows it committed stay in the table)")
    .option('--checkpoint-schema <schema>', `schema of the checkpoint table (default: ${DEFAULTS.checkpointSchema})`)
    .option('--no-checkpoint', 'keep no checkpoint (no resume, and no batch ledger for pgbulk trace)')
    .option(
      '--ledger-days <days>',
      "days the batch ledger keeps a batch for pgbulk trace (older ones are deleted when a load starts; a job's go with --forget)",
      parsePositiveInt,
      DEFAULTS.ledgerDays,
    )
    .option(
      '--flush-interval <duration>',
      'also commit a batch once its first row has waited this long (500ms, 60s, 5m; a plain number is ms): ' +
        'for stdin that stays open, rows wait in memory, never in an open transaction',
      parseDuration,
    )
    .option(
      '--flush-jitter <duration>',
      'with --flush-interval: each window waits longer by a random delay from 0 to this, drawn anew for each',
      parseDuration,
    )
    .option('--create', 'when the table does not exist, create it from the input first (as pgbulk infer prints it)')
    .option(
      '--follow',
      'keep reading the file as it grows, like tail -F (rotation and truncation too; one file); ' +
        'commits every --flush-interval (default 1s), prints a line per batch, stops on SIGTERM/SIGINT',
    )
    .option(
      '--start-jitter <duration>',
      'before connecting, sleep a random time from 0 to this (loads started by cron spread out)',
      parseDuration,
    )
    .action(async (inputs: string[], o: LoadFlags) => {
      const opts = {
        ...runOptionsFrom(o),
        inputs,
        header: o.header,
        encoding: o.encoding,
        force: Boolean(o.force),
        resume: Boolean(o.resume),
        restart: Boolean(o.restart),
        checkpoint: o.checkpoint,
        maxRecordBytes: o.maxRecordBytes,
        // (the report's options name it when not the default)
        ...given({ ledgerDays: o.ledgerDays === DEFAULTS.ledgerDays ? undefined : o.ledgerDays }),
        ...given({ flushIntervalMs: o.flushInterval, flushJitterMs: o.flushJitter, startJitterMs: o.startJitter }),
        ...given({ follow: o.follow, create: o.create }),
        ...formatsOf(o),
        // (in the order the report's options have always listed them)
        ...given({
          format: o.format,
          columns: o.columns,
          map: o.map,
          delimiter: o.delimiter,
          quote: o.quote === '' ? null : o.quote,
          escape: o.escape,
          nullString: nullsOf(o.null).nullString,
          rejects: o.rejects,
          job: o.job,
          checkpointSchema: o.checkpointSchema,
        }),
      } satisfies LoadOptions
      await run({ kind: 'load', opts }, extraFrom(o))
    })

  addRunOptions(
    program
      .command('redrive')
      .description(
        'load the rows of a reject file again, after the data or the schema was fixed: ' +
          'rows that load leave the file, rows that fail again stay with their new reason',
      )
      .argument('<rejects>', 'a reject file written by pgbulk load (edit its "raw" texts to fix rows)'),
    LOAD_MODES.filter((m) => m !== 'truncate' && m !== 'replace'),
    "default: the table the reject file's lines name",
  ).action(async (rejectsFile: string, o: RunFlags) => {
    await run({ kind: 'redrive', opts: { ...runOptionsFrom(o), rejectsFile } }, extraFrom(o))
  })

  program
    .command('jobs')
    .description('list the jobs that have checkpoints (where each input stands), or forget one')
    .option('--db <url>', DB_HELP)
    .option('--checkpoint-schema <schema>', `schema of the checkpoint table (default: ${DEFAULTS.checkpointSchema})`)
    .option(
      '--forget <name>',
      "remove a job's checkpoints, and its batches and runs in the ledger (a finished job, or one you will not resume)",
    )
    .action(async (o: JobsFlags) => {
      const opts = given({ db: o.db, checkpointSchema: o.checkpointSchema, forget: o.forget })
      await run({ kind: 'jobs', opts }, { quiet: false })
    })
  registerTrace(program, (opts) => run({ kind: 'trace', opts }, { quiet: false }))
  registerInfer(program, (opts) => run({ kind: 'infer', opts }, { quiet: false }))
  registerRejects(program, (opts) => run({ kind: 'rejects', opts }, { quiet: false }))
  return program
}

/** pgbulk's version, from its package.json: two folders up from src/cli/ (under vitest) and from dist/cli/ alike. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** Run the CLI; returns the process exit code. Only this module touches process: argv, streams, signals. */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, signals: true },
): Promise<number> {
  let exitCode: number = EXIT.OK
  const program = buildProgram(async (job, extra) => {
    exitCode = await runJob(job, extra, io)
  })
  ignoreClosedPipe(io.stdout)
  ignoreClosedPipe(io.stderr)
  // Each subcommand has its own settings (copied when it was added): configure them all.
  const json = jsonLogAsked(argv)
  for (const cmd of [program, ...program.commands]) {
    cmd.exitOverride()
    // (a json log is JSON lines only: no "(run with --help for usage)" after the error event)
    if (json) cmd.showHelpAfterError(false)
    cmd.configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // commander's "error: required option …" gets the prefix of every other pgbulk error; with
      // --log-format json it is the one error event a run that fails before it starts writes.
      outputError: (s, write) =>
        write(json ? usageErrorEvent(s) : printable(s.startsWith('error:') ? `pgbulk: ${s}` : s, true)),
    })
  }
  try {
    // A bare --dry-run must not take the next argument (an input file) as its value.
    await program.parseAsync(argv.map((a) => (a === '--dry-run' ? '--dry-run=client' : a)))
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.SETUP
    io.stderr.write(`pgbulk: internal error: ${printable((err as Error).message)}\n`)
    return EXIT.SETUP
  }
  return exitCode
}

/** --log-format json is on the command line (before any "--"), so that a usage error is written as JSON too. */
function jsonLogAsked(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  const args = end < 0 ? argv : argv.slice(0, end)
  return args.some((a, k) => a === '--log-format=json' || (a === '--log-format' && args[k + 1] === 'json'))
}

/** commander's usage error as the json log's error event (a new run id: the run never started). */
function usageErrorEvent(text: string): string {
  const message = text.replace(/^error: /, '').trimEnd()
  const trace = traceContextOf(process.env['TRACEPARENT'])
  const ctx = { runId: newRunId(), ...(trace ? { trace } : {}) }
  return JSON.stringify(logEvent(ctx, 'error', 'error', { code: 'USAGE', message, exitCode: EXIT.SETUP })) + '\n'
}

/** Streams that already have the listener (main() may run more than once in a process). */
const guarded = new WeakSet<NodeJS.WritableStream>()

/**
 * A reader that went away (`pgbulk jobs | head -1`) ends the output, not the command: EPIPE is
 * swallowed instead of crashing with a stack trace, and the command ends with its own status.
 * The listener stays: the error may arrive after main() has returned.
 */
function ignoreClosedPipe(stream: NodeJS.WritableStream): void {
  if (guarded.has(stream)) return
  guarded.add(stream)
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return
    throw err
  })
}

async function runJob(job: Job, extra: CliExtra, io: CliIo): Promise<number> {
  if (job.kind === 'jobs') return runJobsCommand(job.opts, io)
  if (job.kind === 'trace') return runTraceCommand(job.opts, io)
  if (job.kind === 'infer') return runInferCommand(job.opts, io)
  if (job.kind === 'rejects') return runRejectsCommand(job.opts, io)
  const started = performance.now()
  // Made here rather than by load(), so that every line of the log carries it, run_start and setup errors too.
  const runId = newRunId()
  const opts = { ...job.opts, runId }
  // (a load's default job name holds the table's name as the database spells it: known once connected)
  let jobName = job.kind === 'redrive' ? redriveJobName(job.opts.rejectsFile) : job.opts.job
  const trace = traceContextOf(process.env['TRACEPARENT'])
  const log = createRunLogger(extra.logFormat ?? 'text', {
    stderr: io.stderr,
    quiet: extra.quiet,
    retries: opts.retries,
    runId,
    options: reportableOptions(opts),
    ...given({ job: jobName, trace, logRejects: extra.logRejects }),
    sampleRows: extra.logSampleRows !== undefined,
    follow: job.kind === 'load' && job.opts.follow === true,
  })
  const controller = new AbortController()
  let signals = 0
  const onSignal = (sig: NodeJS.Signals) => {
    signals++
    if (signals > 1) process.exit(EXIT.INTERRUPTED)
    log.signal(sig)
    controller.abort()
  }
  if (io.signals) {
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  let retries = 0
  let report: LoadReport | undefined
  let exitCode: number
  let errorText: string | undefined
  try {
    checkLogFlags(extra)
    const hooks = {
      signal: controller.signal,
      onJob: (name: string) => {
        jobName = name
        log.started(name)
      },
      onProgress: (p: ProgressSnapshot) => log.progress(p),
      onReject: (r: Rejection) => log.reject(r),
      onRetry: (info: RetryInfo) => {
        retries++
        log.retry(info)
      },
      onBatch: (b: BatchEvent) => log.batch(b),
      ...(extra.logSampleRows !== undefined && extra.idColumn !== undefined
        ? {
            rowSample: {
              idColumn: extra.idColumn,
              fraction: extra.logSampleRows,
              onRow: (r: SampledRow) => log.row(r),
            },
          }
        : {}),
    } satisfies Partial<RunOptions>
    if (job.kind === 'load') {
      report = await load({ ...job.opts, runId, ...hooks, stdout: io.stdout, onStart: (total) => log.reading(total) })
    } else {
      log.reading(undefined)
      report = await redrive({ ...job.opts, runId, ...hooks })
    }
    exitCode = report.exitCode
    log.finished(report, {
      retries,
      ...(job.kind === 'redrive' ? { redriveFile: report.redriven ?? job.opts.rejectsFile } : {}),
    })
  } catch (err) {
    exitCode = err instanceof LoadError ? err.exitCode : EXIT.SETUP
    errorText = describeError(err)
    log.failed(err, exitCode)
  } finally {
    if (io.signals) {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    // Stop listening to a stdin that is still open (an interrupted load), so the process can end.
    if (job.kind === 'load' && job.opts.inputs.includes('-') && io.signals) process.stdin.destroy()
  }
  if (extra.report) {
    const body = report ?? { runId, exitCode, error: errorText?.trim(), options: reportableOptions(opts) }
    await writeFile(extra.report, JSON.stringify(body, null, 2) + '\n').catch((err: Error) => {
      log.warn(`cannot write the report ${extra.report}: ${err.message}`)
    })
  }
  if (extra.metricsFile) {
    const metrics = {
      // (a failure before the job was named: --job, else the name made of the table as given; see the README)
      job: report?.job ?? jobName ?? (job.kind === 'load' ? defaultJobName(job.opts.table, job.opts.inputs) : runId),
      ...(report ? { totals: report, dryRun: report.dryRun !== false } : {}),
      retries,
      durationSeconds: (performance.now() - started) / 1000,
      exitCode,
      endedAt: Date.now() / 1000,
    }
    await writeMetricsFile(extra.metricsFile, metrics).catch((err: Error) => {
      log.warn(`cannot write the metrics file ${extra.metricsFile}: ${err.message}`)
    })
  }
  return exitCode
}

/** The log flags that only mean something together: refused (exit 1) rather than ignored. */
function checkLogFlags(extra: CliExtra): void {
  const json = extra.logFormat === 'json'
  if (extra.logRejects !== undefined && !json) throw new LoadError('USAGE', '--log-rejects needs --log-format json')
  if (extra.logSampleRows !== undefined && (!json || extra.idColumn === undefined))
    throw new LoadError('USAGE', '--log-sample-rows needs --log-format json and --id-column')
  if (extra.idColumn !== undefined && extra.logSampleRows === undefined)
    throw new LoadError('USAGE', '--id-column names the rows of --log-sample-rows: give that too')
}

/** pgbulk jobs: one line per job and input, newest first; or forget a job. */
async function runJobsCommand(opts: JobsFlags, io: CliIo): Promise<number> {
  try {
    if (opts.forget !== undefined) {
      const n = await forgetJob(opts.forget, opts)
      if (n === 0) throw new LoadError('USAGE', `no job named ${JSON.stringify(opts.forget)}`, 'pgbulk jobs lists them')
      io.stdout.write(`forgot job ${printable(JSON.stringify(opts.forget))} (${counted(n, 'input', 'inputs')})\n`)
      return EXIT.OK
    }
    const jobs = await listJobs(opts)
    if (jobs.length === 0) io.stdout.write('no jobs\n')
    for (const j of jobs) {
      const state = j.done ? 'finished' : 'unfinished'
      // Fields escaped one by one (a tab in a job's name must not look like a separator).
      const fields = [
        printable(j.job),
        printable(j.input),
        state,
        `line ${j.nextLine} (byte ${j.nextByte})`,
        `${j.rowsLoaded} loaded, ${j.rowsRejected} rejected, ${j.batches} batches`,
        printable(j.target),
        j.updatedAt.toISOString(),
        `run ${printable(j.runId ?? '-')}`,
      ]
      io.stdout.write(fields.join('\t') + '\n')
    }
    return EXIT.OK
  } catch (err) {
    io.stderr.write(describeError(err))
    return err instanceof LoadError ? err.exitCode : EXIT.SETUP
  }
}
