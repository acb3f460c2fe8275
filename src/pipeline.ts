import { EXIT, LoadError } from './errors.js'
import type { Batcher } from './batch/batcher.js'
import type { BatchSizeController } from './batch/autotune.js'
import { readAhead } from './batch/read-ahead.js'
import type { BlockedNow } from './write/lock-probe.js'
import { probeBlocked } from './write/lock-probe.js'
import type { ParseOptions } from './parse/parse-input.js'
import type { ParsedRecord } from './parse/parsed-record.js'
import type { RejectSink } from './reject/reject-sink.js'
import type { Rejection } from './reject/rejection.js'
import type { FileReport } from './report/load-report.js'
import type { TableSchema } from './schema/introspect.js'
import type { ValidRow } from './validate/valid-row.js'
import { RowValidator } from './validate/validate-row.js'
import type { RejectLimit } from './options.js'
import type pg from 'pg'
import type { CheckpointProgress } from './checkpoint/checkpoint-store.js'
import type { SinkMark } from './reject/reject-sink.js'
import type { BatchWriter, WriteResult } from './write/writer.js'
import { databaseRejectionFields, fatalDatabaseError } from './write/writer.js'
import type { WriterPool } from './write/writer-pool.js'

/** Counters shared by all inputs of a run. */
export interface RunTotals {
  rowsRead: number
  rowsLoaded: number
  rowsRejected: number
  /** Rows a BEFORE ROW trigger dropped (returned NULL for): read = loaded + rejected + skipped. */
  rowsSkipped: number
  rejectsByCode: Record<string, number>
  batches: number
  /** --batch-size auto: each batch's size, transaction time, the wait it caused others, and the next size with why. */
  autoTune?: { budgetMs: number; batches: BatchTrace[] }
}

/** A run's counters at the start; with --batch-size auto, an empty batch trace too. */
export function newTotals(autoTune: { budgetMs: number } | undefined): RunTotals {
  return {
    rowsRead: 0,
    rowsLoaded: 0,
    rowsRejected: 0,
    rowsSkipped: 0,
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
  /** The longest wait of another session on it just before COMMIT (-1: waiting, length unknown before PostgreSQL 14). */
  blockedMs: number
  blockedSessions: number
  nextRows: number
  reason: string
  overBudget?: true
}

/** Rows read before a percentage limit applies, so that one early bad row does not stop a run. */
export const REJECT_PERCENT_MIN_ROWS = 1000

/** Everything one input's pipeline needs. */
export interface InputPipeline {
  /** What messages and rejections call the input. */
  name: string
  /** The input's absolute path or "stdin", kept in each rejection (absent in a redrive, whose rows keep theirs). */
  input?: string | undefined
  /** The parse stage's output. */
  records: AsyncIterable<ParsedRecord[]> | Iterable<ParsedRecord[]>
  /** Bytes consumed from the input so far. */
  bytesConsumed: () => number
  schema: TableSchema
  parse: ParseOptions
  /** CSV/TSV column names when there is no header row. */
  columnNames?: string[]
  header: boolean
  ignoreExtra: boolean
  /** The writers; none in a client-side dry run. */
  writers: WriterPool | undefined
  batcher: Batcher
  /** --batch-size auto: sets the batcher's size after each batch. */
  autoTune?: BatchSizeController | undefined
  sink: RejectSink
  totals: RunTotals
  rejectLimit: RejectLimit | undefined
  signal: AbortSignal | undefined
  onProgress: (() => void) | undefined
  onReject: ((r: Rejection) => void) | undefined
  /** Told of the rows of each batch once committed (pgbulk redrive drops them from its file). */
  onLoaded?: ((rows: readonly ValidRow[]) => void) | undefined
  /** Records before this byte offset were committed by an earlier run: read, not counted, skipped (gzip and stdin, which cannot seek). */
  skipBefore?: number
  /** Where a resumed input starts (the checkpoint's position). */
  startAt?: { byte: number; line: number }
  /**
   * Saves where the input stands, inside each batch's transaction, told the batch's rows that
   * went in (pgbulk redrive records them); absent when the run keeps no checkpoint.
   */
  checkpoint?: ((client: pg.Client, progress: CheckpointProgress, stored: readonly ValidRow[]) => Promise<void>) | undefined
  /** What earlier runs of this job did with this input: checkpoints count from there. */
  resumedFrom?: Pick<CheckpointProgress, 'rowsRead' | 'rowsLoaded' | 'rowsRejected' | 'batches'> | undefined
}

/** Records of a chunk and what validation made of each (two arrays, not an object per row). */
interface Decided {
  recs: ParsedRecord[]
  results: (ValidRow | Rejection)[]
}

/** Why a run stopped before the end of its input, and after which record (its line). */
export interface StopReason {
  error: LoadError
  file: string
  line?: number
}

type HeaderOptions = Pick<InputPipeline, 'name' | 'input' | 'records' | 'schema' | 'parse' | 'columnNames' | 'header' | 'ignoreExtra'>

function newValidator(p: HeaderOptions): RowValidator {
  const v = new RowValidator(p.schema, {
    file: p.name,
    input: p.input,
    encoding: p.parse.encoding,
    ignoreExtra: p.ignoreExtra,
    format: p.parse.format,
    dialect: p.parse.dialect,
  })
  if (p.parse.format !== 'ndjson' && !p.header) v.setColumnNames(p.columnNames ?? p.schema.columns.map((c) => c.name))
  return v
}

function applyHeader(rec: ParsedRecord, validator: RowValidator, name: string): void {
  if (rec.kind !== 'fields') {
    throw new LoadError(
      'HEADER_INVALID',
      `${name}:${rec.line}: the header row cannot be read: ${rec.kind === 'problem' ? rec.problem.message : 'not CSV fields'}`,
      'check --format, --delimiter and --encoding, or pass --no-header with --columns',
    )
  }
  validator.setColumnNames(rec.texts.map((v) => v ?? ''))
}

/**
 * Check an input's header (CSV/TSV) or first object (NDJSON) against the table, reading no
 * further, so that a column name that matches nothing fails before any row of any input is written.
 */
export async function preflightInput(p: HeaderOptions): Promise<string[] | undefined> {
  const validator = newValidator(p)
  if (p.parse.format !== 'ndjson' && !p.header) return undefined
  for await (const records of p.records) {
    if (p.parse.format !== 'ndjson') {
      const head = records[0]
      if (!head) continue
      applyHeader(head, validator, p.name)
      return head.kind === 'fields' ? head.texts.map((v) => v ?? '') : undefined
    }
    const first = records.find((r) => r.kind === 'object')
    if (first) {
      validator.validate(first) // throws on a key that matches no column
      return undefined
    }
  }
  return undefined
}

/**
 * One input through source → parse → validate → batch → write, with rejects to the sink.
 * Returns the input's figures, and a StopReason when the run must not go on.
 */
export async function runInput(p: InputPipeline): Promise<{ file: FileReport; stop?: StopReason }> {
  const file: FileReport = { file: p.name, rowsRead: 0, rowsLoaded: 0, rowsRejected: 0, rowsSkipped: 0, bytesRead: 0 }
  const validator = newValidator(p)
  const rejectsBefore = p.sink.count
  let needHeader = p.parse.format !== 'ndjson' && p.header
  let stop: StopReason | undefined

  /** Count a rejection (the reject file gets it in order, see `pending`). */
  const count = (r: Rejection) => {
    p.onReject?.(r)
    file.rowsRejected++
    p.totals.rowsRejected++
    p.totals.rejectsByCode[r.code] = (p.totals.rejectsByCode[r.code] ?? 0) + 1
  }
  /**
   * Client-side rejections not yet in the reject file. The next batch writes them, before its own
   * database rejections, in its transaction's hook: batches that commit in order then write the
   * file in order, and a batch sent again cuts back only what it wrote itself.
   */
  let pending: Rejection[] = []
  let pendingBytes = 0
  const reject = (r: Rejection) => {
    pending.push(r)
    pendingBytes += r.raw.length
    count(r)
  }
  /**
   * Rejections wait for the next batch, but not for ever: a stretch of bad rows as long as a
   * batch (rows or bytes) is written out with the rows read so far, so that memory stays bounded
   * however many rows in a row are bad.
   */
  const rejectsDue = () => pending.length >= p.batcher.limits.maxRows || pendingBytes >= p.batcher.limits.maxBytes
  const writeAll = async (rs: readonly Rejection[]) => {
    for (const r of rs) await p.sink.write(r)
  }

  const base = p.resumedFrom ?? { rowsRead: 0, rowsLoaded: 0, rowsRejected: 0, batches: 0 }
  let batchesOfInput = 0
  let dbRejected = 0
  /** Where the next undecided record starts: what a checkpoint records. */
  let next = p.startAt ?? { byte: 0, line: 1 }

  /** The last batch sent: resolves once it is committed and counted (true), or failed (false). */
  let tail: Promise<boolean> = Promise.resolve(true)
  /** The writers of the batches in flight, in input order. */
  const inFlight: BatchWriter[] = []
  const jobs = new Set<Promise<void>>()
  /** The first batch failure: the run stops with it. */
  let failure: { error: unknown } | undefined
  /** Wait for the batches in flight; throw the first failure. */
  const settle = async () => {
    await Promise.all(jobs)
    if (failure) throw failure.error
  }

  /**
   * Write a batch. Its rejections go to the reject file, synced, and the checkpoint is saved,
   * inside the batch's transaction: the batch, its rejects and its checkpoint stand or fall
   * together. With a checkpoint, an empty batch still records progress (and, at the end, done).
   * With several writers the batch is sent while earlier ones are still in flight, and its hook
   * waits for the one before to commit: commits, reject lines and checkpoints stay in input order.
   */
  const flush = async (rows: ValidRow[] | undefined, done = false) => {
    const batch = rows ?? []
    // Once a batch has failed, no other is sent: these rows were read but will not be written, so
    // they are not counted as read; the rejections waiting stay pending, and the stop writes them.
    if (failure) {
      file.rowsRead -= batch.length
      p.totals.rowsRead -= batch.length
      throw failure.error
    }
    const takePending = () => {
      const own = pending
      pending = []
      pendingBytes = 0
      return own
    }
    if (!p.writers || (batch.length === 0 && !p.checkpoint)) {
      await settle()
      await writeAll(takePending())
      file.rowsLoaded += p.writers ? 0 : batch.length
      p.totals.rowsLoaded += p.writers ? 0 : batch.length
      return
    }
    const own = takePending()
    const writer = await p.writers.acquire()
    const batchNo = p.totals.batches + inFlight.length + 1
    const at = next
    const readThrough = file.rowsRead
    // (database rejections are counted as their batch completes: the rest were rejected client-side)
    const clientRejectedThrough = file.rowsRejected - dbRejected
    const prev = tail
    const earlier = [...inFlight]
    inFlight.push(writer)
    let mark: SinkMark | undefined
    // The database's rejections, as written to the reject file by the attempt that committed.
    let refusals: Rejection[] = []
    // --batch-size auto: who waited on the batch, seen just before COMMIT.
    let blocked: BlockedNow | undefined
    const persist = async (client: pg.Client, res: WriteResult) => {
      if (!(await waitTurn(prev, writer, earlier))) throw new EarlierBatchFailed()
      if (mark) await p.sink.rollbackTo(mark)
      else mark = await p.sink.mark()
      await writeAll(own)
      // In input order, however the bad rows were found (that depends on each writer's statement sizes).
      refusals = [...res.rejected]
        .sort((x, y) => x.row.byte - y.row.byte)
        .map((f) => validator.rejection(f.row, databaseRejectionFields(f.error, batchNo, f.attempts)))
      await writeAll(refusals)
      if (p.checkpoint) {
        await p.sink.sync()
        const refused = new Set(res.rejected.map((f) => f.row))
        await p.checkpoint(
          client,
          {
            nextByte: at.byte,
            nextLine: at.line,
            rowsRead: base.rowsRead + readThrough,
            rowsLoaded: base.rowsLoaded + file.rowsLoaded + res.loaded,
            rowsRejected: base.rowsRejected + clientRejectedThrough + dbRejected + res.rejected.length,
            batches: base.batches + batchesOfInput + (batch.length > 0 ? 1 : 0),
            done,
          },
          refused.size === 0 ? batch : batch.filter((r) => !refused.has(r)),
        )
      }
      // Last thing before COMMIT, when every lock of the batch is still held: who waits on it.
      if (p.autoTune) blocked = await probeBlocked(client, p.schema.serverVersionNum)
    }
    let settled!: (ok: boolean) => void
    tail = new Promise((resolve) => (settled = resolve))
    const job = (async () => {
      let result: WriteResult | undefined
      const started = performance.now()
      try {
        for (;;) {
          try {
            result = await writer.write(batch, persist)
            break
          } catch (err) {
            // An earlier batch waits for a lock this one holds: roll back, let it commit, send again.
            if (!(err instanceof GiveWay)) throw err
            await prev
          }
        }
      } catch (err) {
        // The rows of the failed batch were read but their fate is unknown: they are not counted.
        file.rowsRead -= batch.length
        p.totals.rowsRead -= batch.length
        if (!failure && !(err instanceof EarlierBatchFailed)) {
          const failed = batch.length === 0 ? undefined : { file: p.name, line: batch[0]!.line, rows: batch.length }
          failure = { error: fatalDatabaseError(err, { batches: p.totals.batches, rows: p.totals.rowsLoaded }, failed) }
        }
        try {
          if (mark) await p.sink.rollbackTo(mark)
          // Decided rows stay decided: the client-side rejections go to the file all the same.
          await writeAll(own)
        } catch {
          // The reject file failing too (a full disk) changes nothing: the run stops with the
          // first failure, and the checkpoint, which did not commit, still comes before these rows.
        }
        settled(false)
        return
      } finally {
        inFlight.splice(inFlight.indexOf(writer), 1)
        p.writers!.release(writer)
      }
      if (batch.length > 0) {
        batchesOfInput++
        p.totals.batches++
      }
      if (p.onLoaded) {
        const refused = new Set(result.rejected.map((f) => f.row))
        p.onLoaded(batch.filter((r) => !refused.has(r)))
      }
      file.rowsLoaded += result.loaded
      p.totals.rowsLoaded += result.loaded
      file.rowsSkipped += result.skipped
      p.totals.rowsSkipped += result.skipped
      dbRejected += refusals.length
      refusals.forEach(count)
      if (p.autoTune && batch.length > 0) tune(batchNo, batch, performance.now() - started, blocked, result)
      settled(true)
    })()
    jobs.add(job)
    void job.then(
      () => jobs.delete(job),
      () => jobs.delete(job),
    )
    // One writer: the batch is done before the next row is read, as it always was.
    if (p.writers.size === 1) await settle()
  }

  /** --batch-size auto: the next batches' size from what this one measured, and its line in the report. */
  const tune = (batchNo: number, batch: readonly ValidRow[], txMs: number, blocked: BlockedNow | undefined, result: WriteResult) => {
    const b = blocked ?? { blockedMs: 0, sessions: 0 }
    const rows = batch.length
    const d = p.autoTune!.next({
      rows,
      txMs,
      blockedMs: b.blockedMs < 0 ? txMs : b.blockedMs,
      blockedSessions: b.sessions,
      lockTimeout: (result.lockTimeouts ?? 0) > 0,
      at: performance.now(),
    })
    p.batcher.setMaxRows(d.size)
    p.totals.autoTune?.batches.push({
      batch: batchNo,
      rows,
      bytes: batch.reduce((n, r) => n + (r.nextByte - r.byte), 0),
      ms: Math.round(txMs),
      commitMs: Math.round(result.commitMs ?? 0),
      ...(result.lockTimeouts ? { lockTimeouts: result.lockTimeouts } : {}),
      blockedMs: Math.round(b.blockedMs),
      blockedSessions: b.sessions,
      nextRows: d.size,
      reason: d.reason,
      ...(d.overBudget ? { overBudget: true as const } : {}),
    })
  }

  const overLimit = (): LoadError | undefined => {
    const lim = p.rejectLimit
    if (!lim) return undefined
    const rej = p.totals.rowsRejected
    if ('count' in lim) {
      return rej > lim.count ? new LoadError('REJECT_LIMIT_EXCEEDED', `more than ${lim.count} rows rejected (--max-rejects ${lim.count})`) : undefined
    }
    const read = p.totals.rowsRead
    if (read < REJECT_PERCENT_MIN_ROWS || (rej * 100) / read <= lim.percent) return undefined
    return new LoadError('REJECT_LIMIT_EXCEEDED', `${((rej * 100) / read).toFixed(1)}% of rows rejected, more than --max-rejects ${lim.percent}%`)
  }

  /** Line of the last record whose fate was decided: where a stopped run stopped. */
  let lastLine: number | undefined
  const stopHere = (error: LoadError) => {
    stop = { error, file: p.name, ...(lastLine === undefined ? {} : { line: lastLine }) }
  }
  /** Parse and validate: run ahead of the writing by about one batch, so that the two overlap. */
  async function* decide(): AsyncGenerator<Decided> {
    for await (const records of p.records) {
      const out: Decided = { recs: [], results: [] }
      try {
        for (const rec of records) {
          if (needHeader) {
            needHeader = false
            applyHeader(rec, validator, p.name)
            continue
          }
          if (p.skipBefore !== undefined && rec.byte < p.skipBefore) {
            file.skippedRows = (file.skippedRows ?? 0) + 1
            continue
          }
          // (a record and its result are added together: a validator that throws must not leave a record without one)
          const result = validator.validate(rec)
          out.recs.push(rec)
          out.results.push(result)
        }
      } finally {
        // (what was decided before a run problem still comes first; an empty chunk still reports progress)
        yield out
      }
    }
  }
  // About one batch ahead, of the size batches have now (--batch-size auto changes it).
  const weight = (d: Decided) => d.recs.length / p.batcher.limits.maxRows + d.recs.reduce((n, r) => n + r.raw.length, 0) / p.batcher.limits.maxBytes

  try {
    outer: for await (const { recs, results } of readAhead(decide(), 1, weight)) {
      for (let k = 0; k < recs.length; k++) {
        const rec = recs[k]!
        const r = results[k]!
        if (p.signal?.aborted) break outer
        file.rowsRead++
        p.totals.rowsRead++
        lastLine = rec.line
        next = { byte: rec.nextByte, line: rec.nextLine }
        if ('stage' in r) {
          reject(r)
          if (rejectsDue()) await flush(p.batcher.flush())
        } else {
          const batch = p.batcher.add(r)
          if (!batch) continue
          await flush(batch)
        }
        const limit = overLimit()
        if (limit) {
          stopHere(limit)
          break outer
        }
      }
      file.bytesRead = p.bytesConsumed()
      p.onProgress?.()
    }
    if (!stop && p.signal?.aborted) stopHere(new LoadError('ABORTED', 'interrupted'))
    // What was already read and validated is written, on a stop as well: every row read ends up loaded or rejected.
    await flush(p.batcher.flush(), !stop)
    await settle()
    const limit = stop ? undefined : overLimit()
    if (limit) stopHere(limit)
  } catch (err) {
    // Batches in flight commit or roll back first; decided client-side rejections are kept.
    await Promise.all(jobs)
    await writeAll(pending)
    pending = []
    if (!(err instanceof LoadError)) throw err
    // A setup problem is exit 1 only while nothing has been written; after that the run stopped early.
    if (err.exitCode === EXIT.SETUP && p.totals.batches === 0) throw err
    stopHere(err)
    // Rows waiting in the batcher were read but will not be written: they are not counted as read.
    const dropped = p.batcher.flush()?.length ?? 0
    file.rowsRead -= dropped
    p.totals.rowsRead -= dropped
  }
  file.bytesRead = p.bytesConsumed()
  if (p.sink.count > rejectsBefore) file.rejectsFile = p.sink.path
  return stop ? { file, stop } : { file }
}

/** A batch's hook found that an earlier batch failed: this one must not commit (the run stops with that failure). */
class EarlierBatchFailed extends Error {}

/** A batch's hook found that an earlier batch waits for a lock this one holds: roll back and send it again after that one. */
class GiveWay extends Error {}

/** The backend of a connection (node-postgres keeps it from BackendKeyData but does not type it). */
function backendPid(client: pg.Client): number | null {
  return (client as unknown as { processID: number | null }).processID
}

/**
 * Wait until the batch before has committed (true) or failed (false). Every 100 ms, ask the
 * server whether a batch still in flight before this one is waiting for a lock that this one
 * holds (two batches writing the same key): this one then gives way (GiveWay), else the two
 * would wait for each other for ever, one in the database and one here.
 */
async function waitTurn(prev: Promise<boolean>, me: BatchWriter, earlier: readonly BatchWriter[]): Promise<boolean> {
  if (earlier.length === 0) return prev
  for (;;) {
    const done = await Promise.race([prev, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100))])
    if (done !== undefined) return done
    const pids = earlier.map((w) => backendPid(w.connection)).filter((x): x is number => x !== null)
    const r = await me.connection.query<{ blocking: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM pg_catalog.unnest($2::pg_catalog.int4[]) AS e(pid) WHERE $1::pg_catalog.int4 OPERATOR(pg_catalog.=) ANY (pg_catalog.pg_blocking_pids(e.pid))) AS blocking',
      [backendPid(me.connection), pids],
    )
    if (r.rows[0]?.blocking) throw new GiveWay()
  }
}
