import type pg from 'pg'
import type { CheckpointProgress } from '../checkpoint/checkpoint-store.js'
import type { BatchFacts } from '../checkpoint/batch-ledger.js'
import { batchComment } from '../observe/run-id.js'
import type { Rejection } from '../reject/rejection.js'
import type { SinkMark } from '../reject/reject-sink.js'
import type { Tally } from '../report/tally.js'
import type { BatchEvent } from '../report/run-figures.js'
import type { RowValidator } from '../validate/validate-row.js'
import type { ValidRow } from '../validate/valid-row.js'
import type { BlockedNow } from '../write/lock-probe.js'
import { probeBlocked } from '../write/lock-probe.js'
import type { CommitJob } from '../write/ordered-commits.js'
import type { WriteResult, Writer } from '../write/types.js'
import { databaseRejectionFields, fatalDatabaseError } from '../write/writer.js'
import type { InputPipeline } from './types.js'

/** What the batches of one input share. */
export interface InputState {
  p: InputPipeline
  validator: RowValidator
  tally: Tally
  /** Count a rejection and tell the caller (the reject file gets it from the batch that writes it). */
  count: (r: Rejection) => void
}

/** One batch, as the reader closed it. */
export interface BatchToSend {
  rows: ValidRow[]
  /** Client-side rejections read before its last row and not yet written: it writes them first. */
  rejects: Rejection[]
  /** Its number in the run. */
  batchNo: number
  /** Where its first record starts: the first line it decides (the previous batch's `at`). */
  from: { byte: number; line: number }
  /** Where the next undecided record starts: what its checkpoint records. */
  at: { byte: number; line: number }
  /** The input's last batch: its checkpoint says done. */
  done: boolean
  /** With a flush window: when its first row (or rejection) began to wait, on the batcher's clock. */
  since?: number | undefined
}

/**
 * A batch's job: its rows, its rejections and its checkpoint stand or fall together. In its
 * transaction, once its turn has come (the batch before committed), it writes its client-side
 * rejections and then the database's (in input order) to the reject file, synced, and saves the
 * checkpoint; with --batch-size auto it then asks who waits on it, just before COMMIT. A batch
 * sent again cuts the reject file back to where it started writing.
 */
export function batchJob(s: InputState, b: BatchToSend): CommitJob<Writer, WriteResult> {
  const { p, tally } = s
  const base = p.resumedFrom ?? { rowsRead: 0, rowsLoaded: 0, rowsRejected: 0, batches: 0 }
  const readThrough = tally.file.rowsRead
  const clientRejectedThrough = tally.clientRejected
  let mark: SinkMark | undefined
  /** The database's rejections, as written to the reject file by the attempt that committed. */
  let refusals: Rejection[] = []
  let blocked: BlockedNow | undefined
  let started = 0
  // (asked when the batch is made: in input order, so the first transaction of the run empties the table)
  const emptyFirst = p.emptyTable?.() ?? false

  /** What the batch ledger keeps of the batch; nothing for one that decided no line (the input's last checkpoint). */
  const factsOf = (res: WriteResult): BatchFacts | undefined =>
    b.rows.length === 0 && b.rejects.length === 0 && res.rejected.length === 0
      ? undefined
      : {
          batch: b.batchNo,
          firstLine: b.from.line,
          lastLine: b.at.line - 1,
          firstByte: b.from.byte,
          nextByte: b.at.byte,
          rowsLoaded: res.loaded,
          rowsRejected: b.rejects.length + res.rejected.length,
          attempts: res.attempts ?? 1,
          txid: res.xid,
          ms: performance.now() - started,
        }
  const writeAll = async (rs: readonly Rejection[]) => {
    for (const r of rs) await p.sink.write(r)
  }
  const persist = async (client: pg.Client, res: WriteResult, turn: () => Promise<void>) => {
    await turn()
    if (mark) await p.sink.rollbackTo(mark)
    else mark = await p.sink.mark()
    await writeAll(b.rejects)
    // In input order, however the bad rows were found (that depends on each writer's statement sizes).
    refusals = [...res.rejected]
      .sort((x, y) => x.row.byte - y.row.byte)
      .map((f) => s.validator.rejection(f.row, databaseRejectionFields(f.error, b.batchNo, f.attempts)))
    await writeAll(refusals)
    if (p.checkpoint) {
      await p.sink.sync()
      const progress: CheckpointProgress = {
        nextByte: b.at.byte,
        nextLine: b.at.line,
        rowsRead: base.rowsRead + readThrough,
        rowsLoaded: base.rowsLoaded + tally.file.rowsLoaded + res.loaded,
        rowsRejected: base.rowsRejected + clientRejectedThrough + databaseRejected(tally) + res.rejected.length,
        batches: base.batches + tally.batches + (b.rows.length > 0 ? 1 : 0),
        done: b.done,
      }
      await p.checkpoint(client, progress, storedRows(b.rows, res), factsOf(res))
    }
    // Last thing before COMMIT, when every lock of the batch is still held: who waits on it.
    if (p.autoTune) blocked = await probeBlocked(client, p.schema.serverVersionNum)
  }

  return {
    send: (writer, turn) => {
      started ||= performance.now()
      return writer.write(b.rows, {
        beforeCommit: (client, res) => persist(client, res, turn),
        emptyFirst,
        ...(p.runId ? { comment: batchComment(p.runId, b.batchNo) } : {}),
      })
    },
    committed: (res) => {
      if (p.onLoaded || p.sampleRows) {
        const stored = storedRows(b.rows, res)
        p.onLoaded?.(stored)
        p.sampleRows?.(stored, b.batchNo, p.name)
      }
      tally.committed(b.rows.length, res.loaded, res.skipped, res.updated)
      refusals.forEach(s.count)
      let tuned: BatchEvent['autoTune']
      if (p.autoTune && b.rows.length > 0) {
        const trace = p.autoTune.trace({
          batch: b.batchNo,
          rows: b.rows.length,
          bytes: b.rows.reduce((n, r) => n + (r.nextByte - r.byte), 0),
          txMs: performance.now() - started,
          commitMs: res.commitMs ?? 0,
          lockTimeouts: res.lockTimeouts ?? 0,
          blocked,
          at: performance.now(),
        })
        p.batcher.setMaxRows(trace.nextRows)
        p.totals.autoTune?.batches.push(trace)
        tuned = { blockedMs: trace.blockedMs, nextRows: trace.nextRows }
      }
      const f = factsOf(res)
      if (f && p.onBatch) {
        const { firstLine, lastLine, firstByte, nextByte, attempts } = f
        p.onBatch({
          batch: b.batchNo,
          file: p.name,
          ...{ firstLine, lastLine, firstByte, nextByte, attempts },
          rows: res.loaded,
          rejected: f.rowsRejected,
          skipped: res.skipped,
          ...(res.xid === undefined ? {} : { txid: res.xid }),
          ms: Math.round(performance.now() - started),
          committedAt: new Date(),
          ...(b.since === undefined ? {} : { lagMs: Math.round(p.batcher.now() - b.since) }),
          ...(tuned ? { autoTune: tuned } : {}),
        })
      }
    },
    fatal: (err) => {
      const failed = b.rows.length === 0 ? undefined : { file: p.name, line: b.rows[0]!.line, rows: b.rows.length }
      return fatalDatabaseError(err, { batches: p.totals.batches, rows: p.totals.rowsLoaded }, failed)
    },
    failed: async () => {
      // The rows of the failed batch were read but their fate is unknown: they are not counted.
      tally.unread(b.rows.length)
      try {
        if (mark) await p.sink.rollbackTo(mark)
        // Decided rows stay decided: the client-side rejections go to the file all the same.
        await writeAll(b.rejects)
      } catch {
        // The reject file failing too (a full disk) changes nothing: the run stops with the
        // first failure, and the checkpoint, which did not commit, still comes before these rows.
      }
    },
  }
}

/** Rows of this input the database rejected so far (the others were rejected client-side). */
function databaseRejected(tally: Tally): number {
  return tally.file.rowsRejected - tally.clientRejected
}

/** The batch's rows that went in (all but the ones the database refused). */
function storedRows(rows: readonly ValidRow[], res: WriteResult): readonly ValidRow[] {
  if (res.rejected.length === 0) return rows
  const refused = new Set(res.rejected.map((f) => f.row))
  return rows.filter((r) => !refused.has(r))
}
