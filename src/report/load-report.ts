import { redactUrl } from '../db/connect.js'
import { EXIT } from '../errors.js'
import type { LoadMode } from '../options.js'
import type { FileReport, RunTotals, StopReason } from './run-figures.js'
import { batchCount } from './words.js'

/**
 * What a run did; also written by --report as JSON. rowsRead = rowsLoaded + rowsRejected + rowsSkipped always holds.
 */
export interface LoadReport extends RunTotals {
  /** The run's id (a UUIDv7): in its checkpoints, batch ledger, logs and the server's application_name. */
  runId: string
  /** The job's name (pgbulk load; a redrive's is "redrive:" and the reject file's path). */
  job: string
  /** Bytes consumed from the inputs (compressed bytes for gzip input). */
  bytesRead: number
  elapsedMs: number
  exitCode: number
  /** false, true (client-side checks only) or 'db' (the database's checks too, all rolled back). */
  dryRun: boolean | 'db'
  /** --mode, when not append. */
  mode?: Exclude<LoadMode, 'append'>
  files: FileReport[]
  /** Set when the run stopped before the end of its input: why, and the line of the last record it dealt with. */
  stopped?: { code: string; message: string; file?: string; line?: number }
  /** The options used, with any password removed. */
  options: Record<string, unknown>
  /** What the run could not do but went on without (a batch ledger it may not create). */
  warnings?: string[]
  /** load --create: the CREATE TABLE statement it ran (absent when the table existed). */
  created?: string
  /** redrive of a fixed CSV of rejects: the reject file its rows went back into, and which was redriven. */
  redriven?: string
}

/**
 * The report of a finished or stopped run: a stop's exit code, else 2 when rows were rejected, else 0.
 * A setup problem met after something was written counts as a stop (3).
 */
export function buildReport(r: {
  totals: RunTotals
  bytesRead: number
  started: number
  dryRun: boolean | 'db'
  files: FileReport[]
  stop: StopReason | undefined
  options: Record<string, unknown>
  mode?: LoadMode
  runId: string
  job: string
  warnings?: string[]
  created?: string
  redriven?: string
}): LoadReport {
  const { stop, totals } = r
  // A resumed job whose earlier runs rejected rows has rejects too: its reject file is not empty.
  const rejected = totals.rowsRejected + r.files.reduce((n, f) => n + (f.resumed?.rowsRejected ?? 0), 0)
  const exitCode = stop
    ? stop.error.exitCode === EXIT.SETUP
      ? EXIT.STOPPED
      : stop.error.exitCode
    : rejected > 0
      ? EXIT.REJECTS
      : EXIT.OK
  return {
    runId: r.runId,
    job: r.job,
    ...totals,
    bytesRead: r.bytesRead,
    elapsedMs: Math.round(performance.now() - r.started),
    exitCode,
    dryRun: r.dryRun,
    ...(r.mode && r.mode !== 'append' ? { mode: r.mode } : {}),
    files: r.files,
    ...(stop
      ? {
          stopped: {
            code: stop.error.code,
            message: stop.error.message,
            file: stop.file,
            ...(stop.line ? { line: stop.line } : {}),
          },
        }
      : {}),
    options: r.options,
    ...(r.warnings ? { warnings: r.warnings } : {}),
    ...(r.created ? { created: r.created } : {}),
    ...(r.redriven ? { redriven: r.redriven } : {}),
  }
}

/** The end-of-run summary for people: counts, where the rejects went, and why a run stopped. */
/** Why rows sent were not stored, by mode (a BEFORE ROW trigger may drop rows in any mode). */
const SKIPPED_BY: Record<LoadMode, string> = {
  append: "by the table's triggers",
  truncate: "by the table's triggers",
  replace: "by the table's triggers",
  ignore: '(their key was in the table already, or earlier in the input)',
  upsert: '(nothing to update, or not newer)',
}

export function formatSummary(r: LoadReport): string {
  const secs = r.elapsedMs / 1000
  const rate = secs > 0 ? Math.round(r.rowsRead / secs) : r.rowsRead
  const lines: string[] = []
  const verb = r.dryRun ? 'would load' : 'loaded'
  const how = r.rowsUpdated === undefined ? '' : ` (${r.rowsInserted ?? 0} inserted, ${r.rowsUpdated} updated)`
  const skipped = r.rowsSkipped > 0 ? `, ${r.rowsSkipped} skipped ${SKIPPED_BY[r.mode ?? 'append']}` : ''
  lines.push(
    `pgbulk: ${r.rowsRead} rows read, ${r.rowsLoaded} ${verb}${how}, ${r.rowsRejected} rejected${skipped}` +
      `${batchesDone(r)}, ${secs.toFixed(1)} s (${rate} rows/s)`,
  )
  if (r.created)
    lines.push(
      `  created the table (--create):`,
      ...r.created
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`),
    )
  const codes = Object.entries(r.rejectsByCode).sort((a, b) => b[1] - a[1])
  if (codes.length > 0) lines.push(`  rejects by code: ${codes.map(([c, n]) => `${c} ${n}`).join(', ')}`)
  for (const f of r.files) {
    if (f.resumed) {
      const how =
        f.skippedRows === undefined ? 'seeked there' : `read and skipped ${f.skippedRows} committed rows to get there`
      const earlier = `earlier runs had loaded ${f.resumed.rowsLoaded} rows and rejected ${f.resumed.rowsRejected}`
      lines.push(`  resumed ${f.file} at line ${f.resumed.line} (byte ${f.resumed.byte}; ${how}): ${earlier}`)
    }
    if (f.startedOver) {
      const why = `it changed since the unfinished run (${f.startedOver})`
      lines.push(`  loaded ${f.file} from the start: ${why}; --mode ${r.mode ?? 'append'} makes that safe`)
    }
    if (f.mapped?.length) {
      const pairs = f.mapped.map((m) => `${JSON.stringify(m.field)} → ${m.column}`).join(', ')
      lines.push(`  fields of ${f.file} mapped to columns: ${pairs}`)
    }
    if (f.rejectsFile) lines.push(`  rejected rows of ${f.file}: ${f.rejectsFile}`)
  }
  if (r.autoTune && r.autoTune.batches.length > 0) {
    const b = r.autoTune.batches
    const sizes = b.map((x) => x.rows)
    const worst = Math.max(...b.map((x) => x.blockedMs))
    lines.push(
      `  --batch-size auto: batches of ${Math.min(...sizes)} to ${Math.max(...sizes)} rows (last ${sizes.at(-1)}); ` +
        `others waited on pgbulk up to ${worst} ms (budget ${r.autoTune.budgetMs} ms)`,
    )
    const over = b.filter((x) => x.overBudget).length
    if (over > 0)
      lines.push(`  the lock budget could not be kept even at --min-batch (${batchCount(over)}): --report lists them`)
  }
  if (r.stopped) {
    const where = stoppedWhere(r.stopped)
    lines.push(`  stopped early${where}: ${r.stopped.message}`)
    if (r.mode === 'replace' && !r.dryRun)
      lines.push(
        `  the table is as it was: the ${r.rowsLoaded} rows loaded so far wait in pgbulk's staging table ` +
          '(--resume goes on from there and switches at the end; --restart starts over)',
      )
    else if (!r.dryRun)
      lines.push(`  the ${batchCount(r.batches)} committed before the stop stay committed (${r.rowsLoaded} rows)`)
  }
  return lines.join('\n')
}

/** How the summary's first line tells the batches: run and rolled back, none (a dry run), or committed. */
function batchesDone(r: LoadReport): string {
  const batches = batchCount(r.batches)
  if (r.dryRun === 'db') return ` (dry run in the database: ${batches}, all rolled back)`
  if (r.dryRun) return ' (dry run: nothing written)'
  return ` in ${batches}`
}

/** Where a run stopped, for "stopped early": after the line it stopped at, in the file, or nothing. */
function stoppedWhere(stopped: NonNullable<LoadReport['stopped']>): string {
  if (!stopped.file) return ''
  return stopped.line ? ` after ${stopped.file}:${stopped.line}` : ` in ${stopped.file}`
}

/** The options as given, minus callbacks, streams and any password. */
export function reportableOptions(opts: object): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(opts)) {
    // (hooks and streams are not options a user gave: the CLI hands load() its stdout for --rejects -)
    if (typeof v === 'function' || k === 'signal' || k === 'stdin' || k === 'stdout' || v === undefined) continue
    out[k] = k === 'db' && typeof v === 'string' ? redactUrl(v) : v
  }
  return out
}
