/**
 * --batch-size auto: the batch size from measured lock wait. A pure controller: each committed
 * batch's figures go in, the next batch's size and the reason come out. It steers the time a
 * batch's transaction is open (others wait about the time left in it), not the row count:
 * - ms per row is an EWMA; the goal size is a target duration divided by it;
 * - the target is half the lock budget while contention was seen in the last `quietMs`, and the
 *   whole budget (`freeHoldMs`) otherwise: the first DDL after a quiet spell then waits about the
 *   budget at worst (a half-second hold let it wait 300 ms and more in the benchmark);
 * - when another session waited longer than the budget (directly or behind a waiter on us), or
 *   a lock timeout hit: halve at once, then hold still for a few batches;
 * - shrink at once to a goal well below the size; grow at most ×2 per batch while quiet, and by
 *   10% at most while contended with waits under half the budget (a dead band, so no oscillation);
 * - stay within [minRows, maxRows]; say so when even the smallest batch keeps others waiting
 *   past the budget.
 */

import type { BatchTrace } from '../report/run-figures.js'

export interface AutoTuneOptions {
  /** The longest any other session should wait on a lock pgbulk holds (--lock-budget). */
  budgetMs: number
  minRows: number
  maxRows: number
  /** The first batch's size. */
  startRows?: number
  /** How long contention is remembered. */
  quietMs?: number
  /** The transaction time aimed at while nothing waited lately (default: the budget). */
  freeHoldMs?: number
}

/** What one committed batch measured. */
export interface BatchSample {
  rows: number
  /** Its transaction's time, from BEGIN to COMMIT done. */
  txMs: number
  /**
   * The longest time another session had been waiting on it (through any chain of waiters), seen just before COMMIT.
   */
  blockedMs: number
  /** Sessions waiting on it then. */
  blockedSessions: number
  /** It failed a lock wait itself (lock_timeout) before it went through. */
  lockTimeout?: boolean
  /** When it committed (ms, any clock that only goes forward). */
  at: number
}

export interface SizeDecision {
  size: number
  reason: string
  /** The budget cannot be kept: others waited past it even at the smallest size. */
  overBudget?: boolean
}

const COOLDOWN_BATCHES = 3
const EWMA = 0.3

export class BatchSizeController {
  private size: number
  private msPerRow: number | undefined
  private lastContention = Number.NEGATIVE_INFINITY
  private cooldown = 0
  private readonly quietMs: number
  private readonly freeHoldMs: number

  constructor(private readonly opts: AutoTuneOptions) {
    this.quietMs = opts.quietMs ?? 10_000
    this.freeHoldMs = opts.freeHoldMs ?? opts.budgetMs
    this.size = this.clamp(opts.startRows ?? 2000)
  }

  /** The size of the next batch. */
  get rows(): number {
    return this.size
  }

  private clamp(n: number): number {
    return Math.max(this.opts.minRows, Math.min(this.opts.maxRows, Math.round(n)))
  }

  /** Take a committed batch's figures; returns the next size and why. */
  next(s: BatchSample): SizeDecision {
    if (s.rows > 0 && s.txMs > 0) {
      const x = s.txMs / s.rows
      this.msPerRow = this.msPerRow === undefined ? x : EWMA * x + (1 - EWMA) * this.msPerRow
    }
    if (s.blockedSessions > 0 || s.lockTimeout) this.lastContention = s.at
    const contended = s.at - this.lastContention < this.quietMs
    const budget = this.opts.budgetMs
    const was = this.size

    if (s.lockTimeout || s.blockedMs > budget) {
      this.cooldown = COOLDOWN_BATCHES
      const overBudget = was <= this.opts.minRows
      this.size = this.clamp(was / 2)
      const why = s.lockTimeout
        ? 'a lock wait timed out'
        : `another session waited ${Math.round(s.blockedMs)} ms (budget ${budget} ms)`
      return overBudget
        ? {
            size: this.size,
            reason: `${why} at the smallest batch (--min-batch ${this.opts.minRows}): the budget cannot be kept`,
            overBudget: true,
          }
        : { size: this.size, reason: `${why}: halved` }
    }
    const target = contended ? budget / 2 : this.freeHoldMs
    const goal = this.msPerRow ? target / this.msPerRow : this.opts.maxRows
    if (goal < 0.7 * was) {
      this.size = this.clamp(goal)
      const takes = Math.round((this.msPerRow ?? 0) * was)
      return {
        size: this.size,
        reason: `a batch takes ${takes} ms, more than the ${Math.round(target)} ms aimed at: shrunk`,
      }
    }
    if (this.cooldown > 0) {
      this.cooldown--
      return { size: was, reason: 'holding after a cut' }
    }
    if (!contended) {
      this.size = this.clamp(Math.min(goal, was * 2))
      return { size: this.size, reason: this.size > was ? 'nothing waited: grown' : 'steady' }
    }
    if (s.blockedMs < budget / 2) {
      this.size = this.clamp(Math.min(goal, was * 1.1))
      return {
        size: this.size,
        reason: this.size > was ? `others waited at most ${Math.round(s.blockedMs)} ms: grown a little` : 'steady',
      }
    }
    return { size: was, reason: `others waited ${Math.round(s.blockedMs)} ms, within the budget: held` }
  }

  /** Take a committed batch as the writer measured it; returns its line for the report, with the next size. */
  trace(m: BatchMeasure): BatchTrace {
    const b = m.blocked ?? { blockedMs: 0, sessions: 0 }
    const d = this.next({
      rows: m.rows,
      txMs: m.txMs,
      blockedMs: b.blockedMs < 0 ? m.txMs : b.blockedMs,
      blockedSessions: b.sessions,
      lockTimeout: m.lockTimeouts > 0,
      at: m.at,
    })
    return {
      batch: m.batch,
      rows: m.rows,
      bytes: m.bytes,
      ms: Math.round(m.txMs),
      commitMs: Math.round(m.commitMs),
      ...(m.lockTimeouts ? { lockTimeouts: m.lockTimeouts } : {}),
      blockedMs: Math.round(b.blockedMs),
      blockedSessions: b.sessions,
      nextRows: d.size,
      reason: d.reason,
      ...(d.overBudget ? { overBudget: true as const } : {}),
    }
  }
}

/** One committed batch as its writer measured it. */
export interface BatchMeasure {
  batch: number
  rows: number
  /** Input bytes of its rows. */
  bytes: number
  txMs: number
  commitMs: number
  lockTimeouts: number
  /** Who waited on it just before COMMIT (lock-probe.ts); blockedMs -1: waiting, for how long unknown. */
  blocked: { blockedMs: number; sessions: number } | undefined
  /** When it committed (ms, any clock that only goes forward). */
  at: number
}
