import type { LedgerRow } from '../checkpoint/batch-ledger.js'
import type { Checkpoint } from '../checkpoint/checkpoint-store.js'
import type { RunRecord } from '../checkpoint/run-log.js'
import type { Rejection } from '../reject/rejection.js'

/** What became of one input line. */
export type TraceStatus = 'loaded' | 'rejected' | 'not loaded'

/** pgbulk trace's answer for one line of an input; the fields that do not apply are left out. */
export interface TraceAnswer {
  /** The input's checkpoint key: its absolute path, or "stdin". */
  input: string
  /** The line where the record starts (a record with quoted line breaks spans several). */
  line: number
  status: TraceStatus
  /** The run that loaded the line (a redrive's, when a redrive loaded it), or the run that stopped before it. */
  runId?: string
  /** The job of that run. */
  job?: string
  /** A redrive loaded the line, from the reject file. */
  redrive?: true
  batch?: number
  firstLine?: number
  lastLine?: number
  /** When the batch committed, ISO 8601. */
  committedAt?: string
  /** The batch's transaction id. */
  txid?: string
  /** A row with the line's key is in the table now (when the table has a key and the input could be read). */
  inTable?: boolean
  /** The line's key, by column (its texts as they stand in the input), when inTable was asked. */
  key?: Record<string, string | null>
  /** The table inTable looked in, as "schema"."table". */
  target?: string
  /** Rejected: the reject file's code (pgbulk's, or a SQLSTATE), message, stage and column. */
  code?: string
  message?: string
  stage?: string
  column?: number
  columnName?: string
  /** Not loaded: the run that stopped before the line had no end (killed), or ended with this exit code. */
  killed?: boolean
  exitCode?: number
  /** Not loaded, or something the answer cannot be sure of: why, in words. */
  why?: string
  /** The input changed since its checkpoint was taken (how): the line read now may not be the one the load read. */
  inputChanged?: string
}

/** Everything decideLine() weighs for one line, read beforehand. */
export interface LineFacts {
  input: string
  line: number
  /** The input's line 1 is a header row. */
  header: boolean
  /** The input's reject-file entries (of this input), in file order. */
  rejections: readonly Rejection[]
  /** Ledger rows of the job and of the redrives of its reject file that hold the line, newest first. */
  batches: readonly LedgerRow[]
  /** The job's checkpoint of the input. */
  checkpoint: Pick<Checkpoint, 'nextLine' | 'nextByte' | 'done'> | undefined
  /** The job's latest run. */
  lastRun: Pick<RunRecord, 'runId' | 'job' | 'endedAt' | 'exitCode'> | undefined
  /** How many lines the input has, when it was read now and the line lies past them. */
  inputLines?: number | undefined
}

/**
 * A reject-file entry is the line's fate only once its batch committed: a run killed after writing
 * a batch's reject lines but before its COMMIT leaves lines at or past its checkpoint, which the
 * resume drops and decides again.
 */
function committed(r: Rejection, cp: LineFacts['checkpoint']): boolean {
  return !cp || cp.done || r.byte < cp.nextByte
}

/** The latest committed reject-file entry for `line`, if any. */
export function latestRejection(
  rejections: readonly Rejection[],
  line: number,
  cp: LineFacts['checkpoint'],
): Rejection | undefined {
  let found: Rejection | undefined
  for (const r of rejections) if (r.line === line && committed(r, cp)) found = r
  return found
}

/** Where a ledger row puts the line. */
function batchFields(b: LedgerRow): Partial<TraceAnswer> {
  return {
    runId: b.runId,
    job: b.job,
    batch: b.batch,
    firstLine: b.firstLine,
    lastLine: b.lastLine,
    committedAt: b.committedAt.toISOString(),
    ...(b.txid === undefined ? {} : { txid: b.txid }),
  }
}

/**
 * What became of a line, by the order of truth: the reject file (a line a load rejected lies inside
 * a load batch's range, so it is asked first; a line a redrive loaded has left it), then a
 * redrive's batch that loaded it, then a load batch whose range holds it; else it was not loaded,
 * and the checkpoint says why.
 */
export function decideLine(f: LineFacts): TraceAnswer {
  const base = { input: f.input, line: f.line }
  if (f.header && f.line === 1)
    return { ...base, status: 'not loaded', why: 'line 1 is the header row (column names), not a row' }
  const loadBatch = f.batches.find((b) => b.lines === undefined)
  const rejection = latestRejection(f.rejections, f.line, f.checkpoint)
  if (rejection) {
    return {
      ...base,
      status: 'rejected',
      ...(loadBatch ? batchFields(loadBatch) : {}),
      code: rejection.code,
      message: rejection.message,
      stage: rejection.stage,
      ...(rejection.column === undefined ? {} : { column: rejection.column }),
      ...(rejection.columnName === undefined ? {} : { columnName: rejection.columnName }),
    }
  }
  const redriven = f.batches.find((b) => b.lines?.includes(f.line))
  if (redriven) return { ...base, status: 'loaded', ...batchFields(redriven), redrive: true }
  if (loadBatch) return { ...base, status: 'loaded', ...batchFields(loadBatch) }
  return { ...base, status: 'not loaded', ...whyNotLoaded(f) }
}

function whyNotLoaded(f: LineFacts): Partial<TraceAnswer> {
  const cp = f.checkpoint
  const run = f.lastRun
  if (f.inputLines !== undefined && f.line > f.inputLines)
    return { why: `the input has ${f.inputLines} lines: line ${f.line} lies past its end` }
  if (!cp) return { why: `job ${JSON.stringify(run?.job ?? '')} has no checkpoint of this input (forgotten?)` }
  if (cp.done && f.line >= cp.nextLine)
    return { why: `the input had ${cp.nextLine - 1} lines when it was loaded: line ${f.line} lies past its end` }
  if (!cp.done && f.line >= cp.nextLine) {
    const ended = run?.endedAt !== undefined
    const how = ended
      ? `ended with exit code ${run.exitCode ?? '?'} before this line`
      : 'was killed before this line, or is still running (it recorded no end)'
    return {
      ...(run ? { runId: run.runId, job: run.job } : {}),
      ...(ended ? { exitCode: run.exitCode ?? -1 } : { killed: true }),
      why: `the run ${how}: its checkpoint stops at line ${cp.nextLine} (--resume loads the rest)`,
    }
  }
  return {
    why:
      `the job's checkpoint is past this line, but no batch in the ledger holds it ` +
      `(its entries were trimmed as too old, or the run kept no ledger)`,
  }
}
