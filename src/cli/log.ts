// What a run of pgbulk load or pgbulk redrive tells on stderr, in one of two forms: text for
// people (a progress line, the first rejected rows, retries, a summary) or, with --log-format json,
// one JSON object per line for log collectors (observe/log-events.ts builds them). runJob() tells
// the log what happens; the log decides what it looks like.
import { existsSync } from 'node:fs'
import { LoadError } from '../errors.js'
import { formatLocation } from '../location.js'
import type { LogContext, LogEvent, LogLevel } from '../observe/log-events.js'
import {
  batchFields,
  errorFields,
  levelOfExit,
  logEvent,
  rejectFields,
  retryFields,
  rowFields,
  runEndFields,
} from '../observe/log-events.js'
import type { SampledRow } from '../observe/sample.js'
import { inSample } from '../observe/sample.js'
import type { Rejection } from '../reject/rejection.js'
import type { LoadReport } from '../report/load-report.js'
import { formatSummary } from '../report/load-report.js'
import { printable } from '../report/printable.js'
import { counted } from '../report/words.js'
import type { BatchEvent } from '../report/run-figures.js'
import type { ProgressSnapshot } from './progress.js'
import { createProgress } from './progress.js'

/** --log-format. */
export type LogFormat = 'text' | 'json'

/** A retry as the library tells it. */
export interface RetryInfo {
  attempt: number
  delayMs: number
  error: unknown
}

/** The story of one run, as runJob() tells it. */
export interface RunLogger {
  /** The run knows its job (load() or redrive() named it): json writes run_start. */
  started(job: string): void
  /** Reading begins; the total input size when known (the progress bar's 100%). */
  reading(totalBytes: number | undefined): void
  progress(p: ProgressSnapshot): void
  reject(r: Rejection): void
  retry(info: RetryInfo): void
  batch(b: BatchEvent): void
  row(r: SampledRow): void
  /** A signal asked the run to stop after the batch in flight. */
  signal(sig: NodeJS.Signals): void
  /** The run ended with a report (finished or stopped). */
  finished(report: LoadReport, end: RunEnd): void
  /** The run failed before it started (or an internal error). */
  failed(err: unknown, exitCode: number): void
  /** Something the run could not do beside loading (the report or the metrics file). */
  warn(message: string): void
}

/** What the end of a run tells beside its report. */
export interface RunEnd {
  retries: number
  /** pgbulk redrive: the reject file it rewrote. */
  redriveFile?: string
}

/** How the log is made: where it writes, and what the command line asked for. */
export interface RunLoggerOptions {
  stderr: NodeJS.WriteStream
  quiet: boolean
  /** --retries, for the text form's "attempt 2 of 5". */
  retries: number
  runId: string
  /** Known upfront with --job (and for a redrive); else from started(). */
  job?: string
  trace?: LogContext['trace']
  /** The options as run_start shows them (reportableOptions: no password). */
  options: Record<string, unknown>
  /** --follow: the text form prints a line per batch instead of a progress bar. */
  follow?: boolean
  /** --log-rejects: the share of rejected rows that get a reject event (default all). */
  logRejects?: number
  /** --log-sample-rows was given: run_end counts the row events. */
  sampleRows?: boolean
}

export function createRunLogger(format: LogFormat, o: RunLoggerOptions): RunLogger {
  return format === 'json' ? jsonLog(o) : textLog(o)
}

/** --follow's line per batch: when it committed, its lines, rows, rejects, commit time, and the lag of its oldest row. */
function windowLine(b: BatchEvent): string {
  const lag = b.lagMs === undefined ? '' : `, lag ${(b.lagMs / 1000).toFixed(2)} s`
  const lines = b.firstLine === b.lastLine ? `line ${b.firstLine}` : `lines ${b.firstLine}-${b.lastLine}`
  return (
    `${b.committedAt.toISOString()} ${b.file} ${lines}: ${counted(b.rows, 'row', 'rows')} loaded, ${b.rejected} rejected, ` +
    `batch ${b.batch} committed in ${b.ms} ms${lag}`
  )
}

/** Rejected rows printed on stderr as they happen; the rest are only in the reject file. */
const SHOWN_REJECTS = 10

function textLog(o: RunLoggerOptions): RunLogger {
  const { stderr, quiet } = o
  // (--follow: no bar for an input without an end; its lines are written as they come)
  const progress =
    o.follow && !quiet
      ? { start() {}, update() {}, log: (line: string) => void stderr.write(line), stop() {} }
      : createProgress(stderr, quiet)
  let shown = 0
  return {
    started() {},
    reading: (total) => progress.start(total),
    progress: (p) => progress.update(p),
    reject(r) {
      if (quiet || ++shown > SHOWN_REJECTS) return
      // Messages quote the data (a database error quotes the value as it is): escaped for the terminal.
      progress.log(printable(`${rejectionWhere(r)}: ${r.message}${rejectionCode(r)}`) + '\n')
    },
    retry({ attempt, delayMs, error }) {
      if (quiet) return
      const e = error as { message?: string; code?: string }
      const fault = `${e.message ?? String(error)}${e.code ? ` (${e.code})` : ''}`
      const seconds = (delayMs / 1000).toFixed(1)
      const again = `sending the batch again in ${seconds} s (attempt ${attempt + 1} of ${o.retries})`
      progress.log(printable(`pgbulk: ${fault}; ${again}`) + '\n')
    },
    batch(b) {
      if (o.follow && !quiet) stderr.write(printable(windowLine(b)) + '\n')
    },
    row() {},
    signal(sig) {
      progress.log(
        `\npgbulk: ${sig} received: finishing the batch in flight, then stopping (send again to quit at once)\n`,
      )
    },
    finished(report, end) {
      progress.stop()
      if (!quiet && shown > SHOWN_REJECTS)
        stderr.write(`… and ${shown - SHOWN_REJECTS} more rejected rows (see the reject file)\n`)
      if (!quiet) stderr.write(printable(formatSummary(report), true) + '\n')
      if (!quiet && end.redriveFile !== undefined && !report.dryRun) {
        const path = end.redriveFile
        const rest = 'only the rows that still fail (with their new reasons) and any the run did not reach'
        stderr.write(
          existsSync(path)
            ? `  ${printable(path)} now holds ${rest}\n`
            : `  every row loaded: ${printable(path)} was removed\n`,
        )
      }
      if (report.stopped && quiet) stderr.write(`pgbulk: stopped early: ${printable(report.stopped.message)}\n`)
      for (const w of report.warnings ?? []) stderr.write(`pgbulk: warning: ${printable(w, true)}\n`)
    },
    failed(err) {
      progress.stop()
      stderr.write(describeError(err))
      if (process.env['PGBULK_DEBUG'] && err instanceof Error && err.stack) stderr.write(err.stack + '\n')
    },
    warn(message) {
      stderr.write(`pgbulk: ${printable(message)}\n`)
    },
  }
}

function jsonLog(o: RunLoggerOptions): RunLogger {
  const t0 = performance.now()
  const ctx: LogContext = { runId: o.runId, ...(o.job === undefined ? {} : { job: o.job }) }
  if (o.trace) ctx.trace = o.trace
  const write = (level: LogLevel, event: string, fields: Record<string, unknown>) => {
    const line: LogEvent = logEvent(ctx, level, event, fields)
    o.stderr.write(JSON.stringify(line) + '\n')
  }
  const fraction = o.logRejects
  let notLogged = 0
  let sampled = 0
  return {
    started(job) {
      ctx.job = job
      write('info', 'run_start', { options: o.options, pid: process.pid })
    },
    reading() {},
    progress() {},
    reject(r) {
      // Sampled by place (file and line), so a rerun of the same file logs the same rows.
      if (fraction !== undefined && !inSample(`${r.file}:${r.line}`, fraction)) {
        notLogged++
        return
      }
      write('warn', 'reject', rejectFields(r))
    },
    retry: (info) => write('warn', 'retry', retryFields(info)),
    batch: (b) => write('info', 'batch', batchFields(b)),
    row(r) {
      sampled++
      write('info', 'row', rowFields(r))
    },
    signal: (sig) => write('warn', 'signal', { signal: sig }),
    finished(report, end) {
      ctx.job = report.job
      // (each a warn event of its own, as text prints them: in run_end only, a run that exits 0 logs them at info)
      for (const w of report.warnings ?? []) write('warn', 'warning', { message: w })
      write(
        levelOfExit(report.exitCode),
        'run_end',
        runEndFields(report, {
          retries: end.retries,
          ...(fraction === undefined ? {} : { rejectsNotLogged: notLogged }),
          ...(o.sampleRows ? { rowsSampled: sampled } : {}),
        }),
      )
    },
    failed(err, exitCode) {
      write('error', 'error', errorFields(err, exitCode, Math.round(performance.now() - t0)))
    },
    warn: (message) => write('warn', 'warning', { message }),
  }
}

/** One error for people: message, code, hint; never a stack trace (PGBULK_DEBUG=1 adds one). */
export function describeError(err: unknown): string {
  if (err instanceof LoadError) {
    const hint = err.hint ? `  hint: ${printable(err.hint, true)}\n` : ''
    return `pgbulk: error: ${printable(err.message, true)} (${err.code})\n${hint}`
  }
  const message = printable((err as Error).message ?? String(err), true)
  return `pgbulk: internal error: ${message}\n  (set PGBULK_DEBUG=1 for a stack trace, and report it)\n`
}

/** Where a rejected row is, for the lines shown while loading: file:line (byte, column). */
function rejectionWhere(r: Rejection): string {
  return formatLocation({
    file: r.file,
    line: r.line,
    byte: r.byte,
    ...(r.column === undefined ? {} : { column: r.column }),
  })
}

/** A rejection's code as shown: a database's is a SQLSTATE, pgbulk's own is its name. */
function rejectionCode(r: Rejection): string {
  return r.stage === 'database' ? ` (SQLSTATE ${r.code})` : ` (${r.code})`
}
