import { readAhead } from '../batch/read-ahead.js'
import { EXIT, LoadError } from '../errors.js'
import { PendingRejects } from '../reject/pending-rejects.js'
import type { Rejection } from '../reject/rejection.js'
import type { FileReport, StopReason } from '../report/run-figures.js'
import { Tally } from '../report/tally.js'
import type { ValidRow } from '../validate/valid-row.js'
import { blocksAny } from '../write/lock-probe.js'
import { OrderedCommits } from '../write/ordered-commits.js'
import { batchJob } from './batch-job.js'
import type { Decided } from './decide.js'
import { decide, rawBytes } from './decide.js'
import { newValidator } from './header.js'
import { overRejectLimit } from './reject-limit.js'
import type { InputPipeline } from './types.js'

/**
 * One input through parse → validate → batch → write, with rejects to the sink: read and decide
 * each record (about one batch ahead of the writing), pile valid rows into batches and send each
 * as it closes, in input order (batch-job.ts, ordered-commits.ts), and count every row once
 * (Tally). Returns the input's figures, and a StopReason when the run must not go on.
 */
export async function runInput(p: InputPipeline): Promise<{ file: FileReport; stop?: StopReason }> {
  const tally = new Tally(p.name, p.totals)
  const validator = newValidator(p)
  const count = (r: Rejection) => {
    p.onReject?.(r)
    tally.rejected(r)
  }
  const state = { p, validator, tally, count }
  const pending = new PendingRejects()
  const commits = p.writers
    ? new OrderedCommits(p.writers, (me, earlier) =>
        blocksAny(
          me.connection,
          earlier.map((w) => w.connection),
        ),
      )
    : undefined
  const writeAll = async (rs: readonly Rejection[]) => {
    for (const r of rs) await p.sink.write(r)
  }
  const rejectsBefore = p.sink.count
  /** Where the next undecided record starts: what a checkpoint records (two numbers, not an object per row). */
  let nextByte = p.startAt?.byte ?? 0
  let nextLine = p.startAt?.line ?? 1
  /** Where the batch being piled up starts: the next record of the last batch sent. */
  let from = { byte: nextByte, line: nextLine }
  /** Line of the last record whose fate was decided: where a stopped run stopped. */
  let lastLine: number | undefined
  let stop: StopReason | undefined
  const stopHere = (error: LoadError) => {
    stop = { error, file: p.name, ...(lastLine === undefined ? {} : { line: lastLine }) }
  }

  /**
   * Send a batch (and the rejections read before it). With a checkpoint, an empty batch still
   * records progress (and, at the end, done). Once a batch has failed, no other is sent: these
   * rows were read but will not be written, so they are not counted as read; the rejections
   * waiting stay pending, and the stop writes them.
   */
  const flush = async (rows: ValidRow[] | undefined, done = false) => {
    const batch = rows ?? []
    if (commits?.failure) {
      tally.unread(batch.length)
      throw commits.failure.error
    }
    const rejects = pending.take()
    if (!commits || (batch.length === 0 && !p.checkpoint)) {
      await commits?.settle()
      await writeAll(rejects)
      if (!commits) tally.committed(0, batch.length, 0) // a client-side dry run: these would load
      return
    }
    const at = { byte: nextByte, line: nextLine }
    const start = from
    from = at
    const since = p.batcher.takenSince
    await commits.submit((inFlight) =>
      batchJob(state, { rows: batch, rejects, batchNo: p.totals.batches + inFlight + 1, from: start, at, done, since }),
    )
  }

  const decided = readAhead(decide(p, validator, tally), 1, (d) => p.batcher.share(d.recs.length, rawBytes(d.recs)))
  const chunks = decided[Symbol.asyncIterator]()
  /** The chunk asked for and not yet received: kept when a flush window closes first, and awaited again after. */
  let asked: Promise<IteratorResult<Decided>> | undefined
  let finished = false
  try {
    try {
      outer: for (;;) {
        // --flush-interval: rows that have waited long enough go now (also when input keeps coming), and
        // while the input is idle the wait for it ends at the window's deadline, so rows wait in memory,
        // never in an open transaction.
        if (p.batcher.msLeft() === 0) await flush(p.batcher.flush())
        asked ??= chunks.next()
        const left = p.batcher.msLeft()
        const got = left === undefined ? await asked : await beforeDeadline(asked, Math.ceil(left))
        if (got === EXPIRED) continue
        asked = undefined
        if (got.done) {
          finished = true
          break
        }
        const { recs, results } = got.value
        for (let k = 0; k < recs.length; k++) {
          if (p.signal?.aborted) break outer
          const rec = recs[k]!
          const r = results[k]!
          tally.read()
          lastLine = rec.line
          nextByte = rec.nextByte
          nextLine = rec.nextLine
          if ('stage' in r) {
            pending.add(r)
            p.batcher.touch()
            count(r)
            // (a stretch of bad rows as long as a batch is written out with the rows read so far)
            if (pending.due((rows, bytes) => p.batcher.isFull(rows, bytes))) await flush(p.batcher.flush())
          } else {
            const batch = p.batcher.add(r)
            // (the reject limit is looked at after a rejection or a batch: as it always was)
            if (!batch) continue
            await flush(batch)
          }
          const limit = overRejectLimit(p.rejectLimit, p.totals)
          if (limit) {
            stopHere(limit)
            break outer
          }
        }
        tally.file.bytesRead = p.bytesConsumed()
        p.onProgress?.()
      }
    } finally {
      // (as for await does on a break or a throw: the source is stopped and closed) A batch that failed
      // while a chunk was still asked for (its window closed while the input was idle) does not wait for
      // it: the source is told to stop, and ends when its input does (the CLI closes stdin on the way out).
      if (!finished) {
        const closing = chunks.return?.()
        if (asked === undefined) await closing
        else closing?.catch(() => {})
      }
    }
    if (!stop && p.signal?.aborted) stopHere(new LoadError('ABORTED', 'interrupted'))
    // What was already read and validated is written, on a stop as well: every row read ends up loaded or rejected.
    await flush(p.batcher.flush(), !stop)
    await commits?.settle()
    const limit = stop ? undefined : overRejectLimit(p.rejectLimit, p.totals)
    if (limit) stopHere(limit)
  } catch (err) {
    // Batches in flight commit or roll back first; decided client-side rejections are kept.
    await commits?.drain()
    await writeAll(pending.take())
    if (!(err instanceof LoadError)) throw err
    // A setup problem is exit 1 only while nothing has been written; after that the run stopped early.
    if (err.exitCode === EXIT.SETUP && p.totals.batches === 0) throw err
    stopHere(err)
    // Rows waiting in the batcher were read but will not be written: they are not counted as read.
    tally.unread(p.batcher.flush()?.length ?? 0)
  }
  tally.file.bytesRead = p.bytesConsumed()
  if (p.sink.count > rejectsBefore) tally.file.rejectsFile = p.sink.path
  if (validator.mapped.length > 0) tally.file.mapped = validator.mapped
  tally.check()
  return stop ? { file: tally.file, stop } : { file: tally.file }
}

/** What beforeDeadline() gives when the time ran out first. */
const EXPIRED = Symbol('expired')

/**
 * Wait for `p`, at most `ms`: its result, or EXPIRED. `p` is left as it is (the caller keeps it and
 * awaits it again), and the timer is cleared either way, so that none keeps the process alive.
 */
async function beforeDeadline<T>(p: Promise<T>, ms: number): Promise<T | typeof EXPIRED> {
  let timer: NodeJS.Timeout | undefined
  // (a longer delay than a timer takes would fire at once: it is waited in steps, the loop asking again)
  const delay = Math.min(ms, 2 ** 31 - 1)
  const expiry = new Promise<typeof EXPIRED>((resolve) => (timer = setTimeout(resolve, delay, EXPIRED)))
  try {
    return await Promise.race([p, expiry])
  } finally {
    clearTimeout(timer)
  }
}
