import { describe, expect, it } from 'vitest'
import { BatchSizeController, type SizeDecision } from '../../src/batch/autotune.js'
import { rng } from '../helpers/random.js'

// A synthetic loader: a batch takes fixedMs + msPerRow·rows (with noise); while a competitor is
// on, someone arrives during the transaction and waits out the rest of it (about 90% of it).
function simulate(opts: {
  batches: number
  fixedMs?: number
  msPerRow?: number
  contended?: (k: number) => boolean
  budgetMs?: number
  minRows?: number
  maxRows?: number
  seed?: number
}) {
  const r = rng(opts.seed ?? 1)
  const budgetMs = opts.budgetMs ?? 200
  const c = new BatchSizeController({ budgetMs, minRows: opts.minRows ?? 100, maxRows: opts.maxRows ?? 100_000 })
  let at = 0
  const log: { size: number; txMs: number; blockedMs: number; decision: SizeDecision }[] = []
  for (let k = 0; k < opts.batches; k++) {
    const size = c.rows
    const txMs = ((opts.fixedMs ?? 5) + (opts.msPerRow ?? 0.01) * size) * Math.exp((r() - 0.5) * 0.2)
    at += txMs
    const on = opts.contended?.(k) ?? false
    const blockedMs = on ? txMs * (0.8 + 0.2 * r()) : 0
    const decision = c.next({ rows: size, txMs, blockedMs, blockedSessions: on ? 1 : 0, at })
    log.push({ size, txMs, blockedMs, decision })
  }
  return log
}

describe('batch size controller (--batch-size auto)', () => {
  it('grows while nothing waits, to a transaction as long as the budget, and then holds steady', () => {
    const log = simulate({ batches: 40 })
    const last = log.slice(-10).map((b) => b.size)
    // 200 ms / 0.01 ms per row is about 20,000 rows (less the 5 ms of each commit).
    expect(Math.min(...last)).toBeGreaterThan(16_000)
    expect(Math.max(...last) / Math.min(...last)).toBeLessThan(1.3)
    expect(log[1]!.decision.reason).toMatch(/grown/)
  })

  it('cuts at once when others wait past the budget, keeps them under it afterwards, and does not collapse', () => {
    const log = simulate({ batches: 80, contended: (k) => k >= 30 })
    const after = log.slice(30)
    // The first batch seen waited on is cut at once (halved when the wait passed the budget,
    // else shrunk to half the budget's worth of work).
    expect(after[0]!.decision.reason).toMatch(/halved|shrunk/)
    expect(after[0]!.decision.size).toBeLessThan(0.7 * after[0]!.size)
    // Within a few batches every wait is under the budget, and stays so.
    const settled = after.slice(6)
    expect(settled.every((b) => b.blockedMs <= 200)).toBe(true)
    // Not collapsed: about half the budget of work per batch (100 ms / 0.01 ms per row), far from --min-batch.
    expect(Math.min(...settled.map((b) => b.size))).toBeGreaterThan(3000)
    // No oscillation: sizes stay within a narrow band.
    const sizes = settled.map((b) => b.size)
    expect(Math.max(...sizes) / Math.min(...sizes)).toBeLessThan(1.8)
  })

  it('recovers after the contention ends', () => {
    const log = simulate({ batches: 400, contended: (k) => k >= 20 && k < 60 })
    const contendedSize = log[59]!.size
    // Back to a transaction as long as the budget: about twice the contended size (half the budget).
    expect(Math.min(...log.slice(-10).map((b) => b.size))).toBeGreaterThan(1.6 * contendedSize)
  })

  it('says so when even the smallest batch keeps others waiting past the budget', () => {
    const log = simulate({ batches: 30, fixedMs: 400, contended: () => true })
    expect(log.at(-1)!.size).toBe(100)
    expect(log.some((b) => b.decision.overBudget && /budget cannot be kept/.test(b.decision.reason))).toBe(true)
  })

  it('halves on a lock timeout', () => {
    const c = new BatchSizeController({ budgetMs: 200, minRows: 10, maxRows: 1e6, startRows: 8000 })
    expect(c.next({ rows: 8000, txMs: 50, blockedMs: 0, blockedSessions: 0, lockTimeout: true, at: 1 }).size).toBe(4000)
  })

  it('stays within its bounds whatever it is told', () => {
    const r = rng(5)
    const c = new BatchSizeController({ budgetMs: 150, minRows: 50, maxRows: 5000 })
    for (let k = 0; k < 2000; k++) {
      const rows = c.rows
      const d = c.next({
        rows,
        txMs: r() * 2000,
        blockedMs: r() < 0.5 ? r() * 1000 : 0,
        blockedSessions: r() < 0.5 ? 1 : 0,
        lockTimeout: r() < 0.05,
        at: k * 100,
      })
      expect(d.size).toBeGreaterThanOrEqual(50)
      expect(d.size).toBeLessThanOrEqual(5000)
    }
  })
})
