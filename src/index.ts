import { basename, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import type pg from 'pg'
import { Batcher } from './batch/batcher.js'
import { connect, connectionConfig, redactUrl } from './db/connect.js'
import { EXIT, LoadError } from './errors.js'
import type { CsvDialect } from './parse/csv.js'
import type { InputEncoding } from './parse/decode.js'
import { resolveEncoding } from './parse/decode.js'
import type { InputFormat } from './parse/parse-input.js'
import type { RejectLimit, RunTotals, StopReason } from './pipeline.js'
import { preflightInput, runInput } from './pipeline.js'
import { RejectSink } from './reject/reject-sink.js'
import type { FileReport, LoadReport } from './report/load-report.js'
import type { Rejection } from './reject/rejection.js'
import { checkInsertPrivilege, introspectTable } from './schema/introspect.js'
import { checkInputs, openInput } from './source/open-input.js'
import { copySender } from './write/copy-writer.js'
import { insertSender } from './write/insert-writer.js'
import type { RetryPolicy } from './write/writer.js'
import { BatchWriter } from './write/writer.js'

export { LoadError, EXIT } from './errors.js'
export type { LoadReport } from './report/load-report.js'
export type { Rejection } from './reject/rejection.js'

/** Defaults chosen by measurement; see "Batch size" in the README. */
export const DEFAULT_BATCH_ROWS = 10_000
export const DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
/** Attempts per batch before a passing fault ends the run. */
export const DEFAULT_RETRIES = 5

/** Options of a load; the CLI builds them from its flags. */
export interface LoadOptions {
  /** File paths, or "-" for stdin. */
  inputs: string[]
  /** Target table, "[schema.]table", parsed as SQL would (quote names that need it). */
  table: string
  /** postgres:// URL; else DATABASE_URL, else the PG* variables. */
  db?: string
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
  method?: 'copy' | 'insert'
  batchRows?: number
  batchBytes?: number
  /** One reject file for all inputs; by default "<input>.rejects.ndjson" beside each input. */
  rejects?: string
  /** Replace existing reject files. */
  force?: boolean
  maxRejects?: RejectLimit
  /** true: parse and check client-side only, no transaction; 'db': also run everything in the database, inside a transaction that is rolled back. */
  dryRun?: boolean | 'db'
  /** Attempts per batch when a passing fault (dropped connection, restart, deadlock, timeout) hits it; default 5. */
  retries?: number
  /** Backoff: the first cap and the largest one, in ms (full jitter in between). */
  retryBaseDelayMs?: number
  retryMaxDelayMs?: number
  /** Told before each retry's wait. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void
  ignoreExtra?: boolean
  signal?: AbortSignal
  stdin?: Readable
  /** Called at the start with the total input size (undefined for stdin), then as the load goes. */
  onStart?: (totalBytes: number | undefined) => void
  onProgress?: (p: { bytesRead: number; rowsRead: number; rowsLoaded: number; rowsRejected: number }) => void
  /** Called for each rejected row, after it was written to the reject file. */
  onReject?: (r: Rejection) => void
}

/** The format an input is in, from --format or its extension (also under .gz). */
export function formatOf(path: string, explicit: InputFormat | undefined): InputFormat {
  if (explicit) return explicit
  const name = basename(path).toLowerCase().replace(/\.gz$/, '')
  if (name.endsWith('.tsv') || name.endsWith('.tab')) return 'tsv'
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'ndjson'
  return 'csv'
}

/** Where an input's rejects go by default. */
export function defaultRejectsPath(input: string): string {
  return input === '-' ? resolve('pgbulk-rejects.ndjson') : `${input}.rejects.ndjson`
}

/**
 * Load every input into the table: the library API behind `pgbulk load`. Setup problems (bad
 * options, no connection, no table, unreadable input, existing reject file) throw a LoadError
 * before anything is written; once loading has begun, the result is a report, whose exitCode and
 * `stopped` say whether the run finished.
 */
export async function load(opts: LoadOptions): Promise<LoadReport> {
  const started = performance.now()
  const encoding = resolveEncoding(opts.encoding ?? 'utf8')
  if (!encoding) throw new LoadError('USAGE', `unsupported --encoding ${JSON.stringify(opts.encoding)}`, 'use utf8, latin1 or windows-1252')
  const files = await checkInputs(opts.inputs)
  const formats = files.map((f) => formatOf(f.path, opts.format))
  const sinks = new Map<string, RejectSink>()
  for (const f of files) {
    const path = opts.rejects ?? defaultRejectsPath(f.path)
    if (!sinks.has(path)) sinks.set(path, await RejectSink.prepare(path, opts.force ?? false))
  }

  const config = connectionConfig(opts.db)
  let client = await connect(config)
  const totals: RunTotals = { rowsRead: 0, rowsLoaded: 0, rowsRejected: 0, rejectsByCode: {}, batches: 0 }
  const fileReports: FileReport[] = []
  let stop: StopReason | undefined
  let bytesBefore = 0
  try {
    const schema = await introspectTable(client, opts.table)
    if (opts.dryRun !== true) await checkInsertPrivilege(client, schema)
    const retry: RetryPolicy = {
      attempts: opts.retries ?? DEFAULT_RETRIES,
      baseDelayMs: opts.retryBaseDelayMs ?? 250,
      maxDelayMs: opts.retryMaxDelayMs ?? 30_000,
      random: Math.random,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
    }
    const writer =
      opts.dryRun === true
        ? undefined
        : new BatchWriter(client, schema, opts.method === 'insert' ? insertSender : copySender, () => connect(config), retry, opts.dryRun !== 'db')
    const batcher = new Batcher({ maxRows: opts.batchRows ?? DEFAULT_BATCH_ROWS, maxBytes: opts.batchBytes ?? DEFAULT_BATCH_BYTES })
    const pipelines = files.map((f, k) => ({
      schema,
      parse: { format: formats[k]!, encoding, dialect: dialectFor(formats[k]!, opts) },
      ...(opts.columns ? { columnNames: opts.columns } : {}),
      header: opts.header ?? true,
      ignoreExtra: opts.ignoreExtra ?? false,
    }))
    for (const [k, f] of files.entries()) {
      if (f.path !== '-') await preflightInput({ ...pipelines[k]!, input: await openInput(f, process.stdin) })
    }
    const totalBytes = files.every((f) => f.size !== undefined) ? files.reduce((s, f) => s + (f.size ?? 0), 0) : undefined
    opts.onStart?.(totalBytes)
    for (const [k, f] of files.entries()) {
      const input = await openInput(f, opts.stdin ?? process.stdin, opts.signal)
      const progress = () =>
        opts.onProgress?.({
          bytesRead: bytesBefore + input.bytesConsumed(),
          rowsRead: totals.rowsRead,
          rowsLoaded: totals.rowsLoaded,
          rowsRejected: totals.rowsRejected,
        })
      const result = await runInput({
        ...pipelines[k]!,
        input,
        writer,
        batcher,
        sink: sinks.get(opts.rejects ?? defaultRejectsPath(f.path))!,
        totals,
        rejectLimit: opts.maxRejects,
        signal: opts.signal,
        onProgress: progress,
        onReject: opts.onReject,
      })
      progress()
      bytesBefore += result.file.bytesRead
      fileReports.push(result.file)
      if (result.stop) {
        stop = result.stop
        break
      }
    }
    await writer?.close()
    if (writer) client = writer.connection
  } finally {
    for (const s of sinks.values()) await s.close()
    await endQuietly(client)
  }

  const exitCode = stop ? (stop.error.exitCode === EXIT.SETUP ? EXIT.STOPPED : stop.error.exitCode) : totals.rowsRejected > 0 ? EXIT.REJECTS : EXIT.OK
  return {
    ...totals,
    bytesRead: bytesBefore,
    elapsedMs: Math.round(performance.now() - started),
    exitCode,
    dryRun: opts.dryRun ?? false,
    files: fileReports,
    ...(stop ? { stopped: { code: stop.error.code, message: stop.error.message, file: stop.file, ...(stop.line ? { line: stop.line } : {}) } } : {}),
    options: reportableOptions(opts),
  }
}

function dialectFor(format: InputFormat, opts: LoadOptions): CsvDialect {
  const tsv = format === 'tsv'
  return {
    delimiter: opts.delimiter ?? (tsv ? '\t' : ','),
    quote: opts.quote === undefined ? (tsv ? null : '"') : opts.quote,
    escape: opts.escape ?? null,
    nullString: opts.nullString ?? null,
  }
}

/** The options as given, minus callbacks, streams and any password. */
export function reportableOptions(opts: LoadOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(opts)) {
    if (typeof v === 'function' || k === 'signal' || k === 'stdin' || v === undefined) continue
    out[k] = k === 'db' && typeof v === 'string' ? redactUrl(v) : v
  }
  return out
}

async function endQuietly(client: pg.Client): Promise<void> {
  await client.end().catch(() => {})
}

export type { InputEncoding, InputFormat }
