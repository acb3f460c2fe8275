import { describe, expect, it } from 'vitest'
import { Batcher } from '../../src/batch/batcher.js'
import type { ValidRow } from '../../src/validate/valid-row.js'

function row(line: number, bytes: number): ValidRow {
  return { line, byte: line * 1000, nextByte: line * 1000 + bytes, raw: Buffer.alloc(0), values: [], shape: '' }
}

describe('batcher', () => {
  it('closes a batch at the row limit', () => {
    const b = new Batcher({ maxRows: 3, maxBytes: 1e9 })
    expect([1, 2].map((i) => b.add(row(i, 10)))).toEqual([undefined, undefined])
    expect(b.add(row(3, 10))?.map((r) => r.line)).toEqual([1, 2, 3])
    expect(b.add(row(4, 10))).toBeUndefined()
    expect(b.flush()?.map((r) => r.line)).toEqual([4])
    expect(b.flush()).toBeUndefined()
  })

  it('closes a batch at the byte limit, whichever comes first', () => {
    const b = new Batcher({ maxRows: 100, maxBytes: 25 })
    expect(b.add(row(1, 10))).toBeUndefined()
    expect(b.add(row(2, 10))).toBeUndefined()
    expect(b.add(row(3, 10))?.map((r) => r.line)).toEqual([1, 2, 3])
    // A single row larger than the limit is a batch of its own.
    expect(b.add(row(4, 1000))?.map((r) => r.line)).toEqual([4])
  })

  it('closes the first batch at firstRows and every later one at maxRows', () => {
    const b = new Batcher({ maxRows: 3, maxBytes: 1e9, firstRows: 2 })
    const lines = (rows: ValidRow[] | undefined) => rows?.map((r) => r.line)
    expect(b.add(row(1, 10))).toBeUndefined()
    expect(lines(b.add(row(2, 10)))).toEqual([1, 2])
    expect([3, 4].map((i) => b.add(row(i, 10)))).toEqual([undefined, undefined])
    expect(lines(b.add(row(5, 10)))).toEqual([3, 4, 5])
    // (a first batch taken early, by a flush window or the end of an input, ends the first batch too)
    const c = new Batcher({ maxRows: 3, maxBytes: 1e9, firstRows: 2 })
    c.add(row(1, 10))
    expect(lines(c.flush())).toEqual([1])
    expect([2, 3].map((i) => c.add(row(i, 10)))).toEqual([undefined, undefined])
    expect(lines(c.add(row(4, 10)))).toEqual([2, 3, 4])
    // (never above the row limit: a smaller limit set later, by --batch-size auto, holds)
    expect(lines(new Batcher({ maxRows: 1, maxBytes: 1e9, firstRows: 2 }).add(row(1, 10)))).toEqual([1])
  })
})

describe('batcher: the flush window (--flush-interval, --flush-jitter)', () => {
  /** A clock the test moves, and a random source that gives `draws` in turn. */
  function windowed(intervalMs: number, jitterMs: number, draws: number[] = []) {
    const clock = { t: 1000 }
    let k = 0
    const random = () => {
      const d = draws[k++]
      if (d === undefined) throw new Error('a draw more than the test expected')
      return d
    }
    const b = new Batcher({ maxRows: 100, maxBytes: 1e9 }, { intervalMs, jitterMs, random, now: () => clock.t })
    return { b, clock, draws: () => k }
  }

  it('opens no window while nothing waits, and none without a flush interval', () => {
    const { b } = windowed(300, 0)
    expect(b.deadline).toBeUndefined()
    expect(b.msLeft()).toBeUndefined()
    const plain = new Batcher({ maxRows: 100, maxBytes: 1e9 })
    plain.add(row(1, 10))
    plain.touch()
    expect(plain.deadline).toBeUndefined()
  })

  it('closes a window exactly the interval after its first row, without jitter (no draw)', () => {
    const { b, clock, draws } = windowed(300, 0)
    b.add(row(1, 10))
    expect(b.deadline).toBe(1300)
    clock.t = 1200
    // (later rows do not move the deadline: it is the first row's wait)
    b.add(row(2, 10))
    expect(b.deadline).toBe(1300)
    expect(b.msLeft()).toBe(100)
    clock.t = 1350
    expect(b.msLeft()).toBe(0)
    expect(b.flush()?.map((r) => r.line)).toEqual([1, 2])
    expect(b.deadline).toBeUndefined()
    clock.t = 2000
    b.add(row(3, 10))
    expect(b.deadline).toBe(2300)
    expect(draws()).toBe(0)
  })

  it('draws the jitter anew for each window, within [0, jitter], once per window', () => {
    const { b, clock, draws } = windowed(300, 100, [0, 0.5, 0.999, 0.25])
    const deadlines: number[] = []
    for (let w = 0; w < 4; w++) {
      clock.t = 10_000 * (w + 1)
      b.add(row(w * 3 + 1, 10))
      b.add(row(w * 3 + 2, 10))
      b.touch() // (a rejection waiting in the same window)
      deadlines.push(b.deadline! - clock.t)
      b.flush()
    }
    ;[300, 350, 399.9, 325].forEach((d, k) => expect(deadlines[k]).toBeCloseTo(d, 6))
    for (const d of deadlines) expect(d >= 300 && d <= 400).toBe(true)
    expect(draws()).toBe(4)
  })

  it('opens a window for a rejection alone (touch), closed by flush() although it holds no rows', () => {
    const { b } = windowed(50, 0)
    b.touch()
    expect(b.deadline).toBe(1050)
    expect(b.flush()).toBeUndefined()
    expect(b.deadline).toBeUndefined()
  })

  it('closes the window with a batch closed by size: the next row opens a new one', () => {
    const clock = { t: 0 }
    const b = new Batcher({ maxRows: 2, maxBytes: 1e9 }, { intervalMs: 100, jitterMs: 0, now: () => clock.t })
    b.add(row(1, 10))
    expect(b.add(row(2, 10))?.length).toBe(2)
    expect(b.deadline).toBeUndefined()
    clock.t = 70
    b.add(row(3, 10))
    expect(b.deadline).toBe(170)
  })

  it('says when the rows it last gave began to wait (the lag of a batch), by size or by time', () => {
    const clock = { t: 0 }
    const b = new Batcher({ maxRows: 2, maxBytes: 1e9 }, { intervalMs: 100, jitterMs: 0, now: () => clock.t })
    clock.t = 10
    b.add(row(1, 10))
    clock.t = 40
    b.add(row(2, 10))
    expect(b.takenSince).toBe(10)
    clock.t = 60
    b.touch() // (a rejection first: the window opens with it)
    clock.t = 90
    b.add(row(3, 10))
    b.flush()
    expect(b.takenSince).toBe(60)
    b.flush()
    expect(b.takenSince).toBeUndefined()
    expect(new Batcher({ maxRows: 1, maxBytes: 1e9 }).add(row(4, 10))).toHaveLength(1)
  })
})
