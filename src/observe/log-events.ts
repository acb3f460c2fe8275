// The events of --log-format json: one JSON object per line, each with the time, a level, the
// event's name, the run's id, the job's name (once known) and the caller's trace (TRACEPARENT).
// Pure: cli/log.ts writes them. Row data stays out of the log (it is in the reject file): a reject
// event says where and why, not the value.
import { LoadError } from '../errors.js'
import type { Rejection } from '../reject/rejection.js'
import type { LoadReport } from '../report/load-report.js'
import type { BatchEvent } from '../report/run-figures.js'
import type { SampledRow } from './sample.js'
import type { TraceContext } from './traceparent.js'

/** How bad an event is: info (as expected), warn (rows rejected, a passing fault), error (the run failed). */
export type LogLevel = 'info' | 'warn' | 'error'

/** What every line of a run carries. */
export interface LogContext {
  runId: string
  /** Absent until load() or redrive() names the job (see run_start). */
  job?: string
  trace?: TraceContext
}

/** One log line, before it becomes JSON. */
export type LogEvent = Record<string, unknown> & { time: string; level: LogLevel; event: string; runId: string }

/** A line: the common fields first, then the event's own. */
export function logEvent(
  ctx: LogContext,
  level: LogLevel,
  event: string,
  fields: Record<string, unknown>,
  now: Date = new Date(),
): LogEvent {
  return {
    time: now.toISOString(),
    level,
    event,
    runId: ctx.runId,
    ...(ctx.job === undefined ? {} : { job: ctx.job }),
    ...(ctx.trace
      ? { traceId: ctx.trace.traceId, spanId: ctx.trace.spanId, parentSpanId: ctx.trace.parentSpanId }
      : {}),
    ...fields,
  }
}

/** A committed batch: where in its input, what became of its rows, and with --batch-size auto what it cost others. */
export function batchFields(b: BatchEvent): Record<string, unknown> {
  return {
    batch: b.batch,
    file: b.file,
    firstLine: b.firstLine,
    lastLine: b.lastLine,
    rows: b.rows,
    rejected: b.rejected,
    ...(b.skipped > 0 ? { skipped: b.skipped } : {}),
    ms: b.ms,
    ...(b.lagMs === undefined ? {} : { lagMs: b.lagMs }),
    ...(b.txid === undefined ? {} : { txid: b.txid }),
    attempts: b.attempts,
    ...(b.autoTune ? { blockedMs: b.autoTune.blockedMs, nextBatchRows: b.autoTune.nextRows } : {}),
  }
}

/** A rejected row: where it is and why, without its values (those are in the reject file). */
export function rejectFields(r: Rejection): Record<string, unknown> {
  return {
    file: r.file,
    line: r.line,
    code: r.code,
    ...(r.column === undefined ? {} : { column: r.column }),
    ...(r.columnName === undefined ? {} : { columnName: r.columnName }),
    stage: r.stage,
    ...(r.pg?.constraint === undefined ? {} : { constraint: r.pg.constraint }),
    ...(r.batch === undefined ? {} : { batch: r.batch }),
  }
}

/** A batch sent again after a passing fault: the SQLSTATE (or the network error's code), and the wait. */
export function retryFields(info: { attempt: number; delayMs: number; error: unknown }): Record<string, unknown> {
  const e = info.error as { message?: unknown; code?: unknown } | undefined
  return {
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    attempt: info.attempt,
    delayMs: Math.round(info.delayMs),
    message: typeof e?.message === 'string' ? e.message : String(info.error),
  }
}

/** A row of --log-sample-rows. */
export function rowFields(r: SampledRow): Record<string, unknown> {
  return { id: r.id, batch: r.batch, file: r.file, line: r.line }
}

/** The level of a run's end: info when every row loaded, warn when rows were rejected, error when it stopped. */
export function levelOfExit(exitCode: number): LogLevel {
  return exitCode === 0 ? 'info' : exitCode === 2 ? 'warn' : 'error'
}

/** What run_end tells beside the report: the retries, and the reject events --log-rejects left out. */
export interface RunEndExtra {
  retries: number
  rejectsNotLogged?: number
  rowsSampled?: number
}

/** The run's totals from its report, its exit code and time, and why it stopped. */
export function runEndFields(r: LoadReport, extra: RunEndExtra): Record<string, unknown> {
  return {
    exitCode: r.exitCode,
    elapsedMs: r.elapsedMs,
    rowsRead: r.rowsRead,
    rowsLoaded: r.rowsLoaded,
    ...(r.rowsInserted === undefined ? {} : { rowsInserted: r.rowsInserted, rowsUpdated: r.rowsUpdated }),
    rowsRejected: r.rowsRejected,
    rowsSkipped: r.rowsSkipped,
    rejectsByCode: r.rejectsByCode,
    batches: r.batches,
    bytesRead: r.bytesRead,
    retries: extra.retries,
    ...(r.dryRun ? { dryRun: r.dryRun } : {}),
    ...(r.stopped ? { stopped: r.stopped } : {}),
    ...(extra.rejectsNotLogged === undefined ? {} : { rejectsNotLogged: extra.rejectsNotLogged }),
    ...(extra.rowsSampled === undefined ? {} : { rowsSampled: extra.rowsSampled }),
    files: r.files.map((f) => ({
      file: f.file,
      rowsRead: f.rowsRead,
      rowsLoaded: f.rowsLoaded,
      rowsRejected: f.rowsRejected,
      ...(f.rejectsFile ? { rejectsFile: f.rejectsFile } : {}),
    })),
    ...(r.warnings ? { warnings: r.warnings } : {}),
  }
}

/** A run that failed before it started (a LoadError: bad options, no connection, no table…) or an internal error. */
export function errorFields(err: unknown, exitCode: number, elapsedMs: number): Record<string, unknown> {
  if (err instanceof LoadError)
    return { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), exitCode, elapsedMs }
  const message = err instanceof Error ? err.message : String(err)
  return { code: 'INTERNAL', message, exitCode, elapsedMs }
}
