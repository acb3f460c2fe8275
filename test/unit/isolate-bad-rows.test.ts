import { describe, expect, it } from 'vitest'
import type { FailureLocation } from '../../src/write/isolate-bad-rows.js'
import { isolateBadRows, ProbeSize, rowsMatchingKeyDetail } from '../../src/write/isolate-bad-rows.js'

interface Row {
  id: number
  bad: boolean
}

/** A fake database: a statement fails at its first bad row, naming it (like COPY) or not (like INSERT). */
function fakeDb(exact: boolean) {
  const loaded: number[] = []
  const trySend = (seg: readonly Row[]) => {
    const at = seg.findIndex((r) => r.bad)
    if (at < 0) {
      loaded.push(...seg.map((r) => r.id))
      return Promise.resolve(undefined)
    }
    return Promise.resolve({ at })
  }
  const locate = (e: { at: number }): FailureLocation => (exact ? { kind: 'exact', index: e.at } : { kind: 'unknown' })
  return { loaded, trySend, locate }
}

function rows(n: number, bad: (i: number) => boolean): Row[] {
  return Array.from({ length: n }, (_, i) => ({ id: i, bad: bad(i) }))
}

describe('isolate-bad-rows', () => {
  it('loads a clean run in one statement', async () => {
    const db = fakeDb(true)
    const r = await isolateBadRows(
      rows(1000, () => false),
      new ProbeSize(10_000),
      db.trySend,
      db.locate,
    )
    expect(r).toMatchObject({ loaded: 1000, rejected: [], statements: 1, failures: 0 })
  })

  it('costs one failed statement per bad row when the error names the row, and keeps input order', async () => {
    const db = fakeDb(true)
    const input = rows(10_000, (i) => i % 100 === 37)
    const r = await isolateBadRows(input, new ProbeSize(10_000), db.trySend, db.locate)
    expect(r.rejected.map((x) => x.row.id)).toEqual(input.filter((x) => x.bad).map((x) => x.id))
    expect(db.loaded).toEqual(input.filter((x) => !x.bad).map((x) => x.id))
    expect(r.failures).toBe(100)
    // Rows sent in failed statements are bounded: the probe shrinks to the gap between bad rows.
    expect(r.statements).toBeLessThan(400)
  })

  it('finds bad rows by halving when the error does not say which, in O(k·log N) statements', async () => {
    const db = fakeDb(false)
    const input = rows(10_000, (i) => i % 1000 === 500)
    const r = await isolateBadRows(input, new ProbeSize(10_000), db.trySend, db.locate)
    expect(r.rejected.map((x) => x.row.id)).toEqual(input.filter((x) => x.bad).map((x) => x.id))
    expect(db.loaded).toEqual(input.filter((x) => !x.bad).map((x) => x.id))
    expect(r.failures).toBeLessThanOrEqual(10 * Math.ceil(Math.log2(10_000)) + 10)
  })

  it('costs no more than one statement per row when every row is bad', async () => {
    for (const exact of [true, false]) {
      const db = fakeDb(exact)
      const r = await isolateBadRows(
        rows(500, () => true),
        new ProbeSize(10_000),
        db.trySend,
        db.locate,
      )
      expect(r.rejected).toHaveLength(500)
      expect(r.statements).toBeLessThanOrEqual(500 + 2 * Math.ceil(Math.log2(500)))
    }
  })

  it('tries hinted rows alone, so that the first of two equal keys loads and the second is rejected', async () => {
    // A unique key: a statement fails when it holds a key loaded before or twice; the error names no row.
    const keys = ['a', 'b', 'c', 'b', 'd', 'a']
    const taken = new Set<string>()
    const loaded: number[] = []
    const trySend = (seg: readonly number[]) => {
      const seen = new Set(taken)
      for (const i of seg) {
        if (seen.has(keys[i]!)) return Promise.resolve({ key: keys[i]! })
        seen.add(keys[i]!)
      }
      for (const i of seg) taken.add(keys[i]!)
      loaded.push(...seg)
      return Promise.resolve(undefined)
    }
    const locate = (e: { key: string }, seg: readonly number[]): FailureLocation => ({
      kind: 'rows',
      indexes: seg.flatMap((i, k) => (keys[i] === e.key ? [k] : [])),
      certain: false,
      complete: false,
    })
    const r = await isolateBadRows([0, 1, 2, 3, 4, 5], new ProbeSize(100), trySend, locate)
    // Rows with other keys may go first; among rows with one key, input order holds.
    expect([...loaded].sort()).toEqual([0, 1, 2, 4])
    expect(r.rejected.map((x) => x.row).sort()).toEqual([3, 5])
  })

  it('rejects rows named for certain at once, sends the others in one statement, and keeps the size when the answer was complete', async () => {
    const input = rows(1000, (i) => i % 100 === 5)
    const loaded: number[] = []
    const trySend = (seg: readonly Row[]) => {
      if (seg.some((r) => r.bad)) return Promise.resolve({})
      loaded.push(...seg.map((r) => r.id))
      return Promise.resolve(undefined)
    }
    const locate = (_e: object, seg: readonly Row[]): FailureLocation => ({
      kind: 'rows',
      indexes: seg.flatMap((r, i) => (r.bad ? [i] : [])),
      certain: true,
      complete: true,
    })
    const probe = new ProbeSize(1000)
    const r = await isolateBadRows(input, probe, trySend, locate)
    expect(r).toMatchObject({ loaded: 990, statements: 2, failures: 1 })
    expect(r.rejected.map((x) => x.row.id)).toEqual(input.filter((x) => x.bad).map((x) => x.id))
    expect(probe.rows).toBe(1000)
  })

  it('sends held rows together after the others, where they may pass (their earlier key was refused) or fail', async () => {
    // ids 0…99; 10 and 20 are bad; 30 repeats 10's key, 40 repeats 5's: held.
    const input = rows(100, (i) => i === 10 || i === 20)
    const sent: number[][] = []
    const stored = new Set<number>()
    const key = (r: Row) => (r.id === 30 ? 10 : r.id === 40 ? 5 : r.id)
    const trySend = (seg: readonly Row[]) => {
      sent.push(seg.map((r) => r.id))
      const seen = new Set(stored)
      const fails = seg.some((r) => r.bad || seen.has(key(r)) || !seen.add(key(r)))
      if (!fails) for (const r of seg) stored.add(key(r))
      return Promise.resolve(fails ? {} : undefined)
    }
    const locate = (_e: object, seg: readonly Row[]): FailureLocation => {
      const bad = seg.flatMap((r, i) => (r.bad || stored.has(key(r)) ? [i] : []))
      const held = seg.flatMap((r, i) =>
        !bad.includes(i) && seg.slice(0, i).some((e) => key(e) === key(r)) ? [i] : [],
      )
      return { kind: 'rows', indexes: bad, held, certain: true, complete: true }
    }
    const r = await isolateBadRows(input, new ProbeSize(1000), trySend, locate)
    expect(r.rejected.map((x) => x.row.id)).toEqual([10, 20, 40])
    expect(r.loaded).toBe(97)
    expect(sent.map((s) => s.length)).toEqual([100, 96, 2, 1])
    expect(sent[2]).toEqual([30, 40])
    expect(sent[3]).toEqual([30])
  })

  it('starts the next batch small after bad rows, then grows back', async () => {
    const probe = new ProbeSize(1024)
    const db = fakeDb(true)
    await isolateBadRows(
      rows(100, (i) => i === 10),
      probe,
      db.trySend,
      db.locate,
    )
    const after = probe.rows
    expect(after).toBeLessThan(1024)
    await isolateBadRows(
      rows(2000, () => false),
      probe,
      db.trySend,
      db.locate,
    )
    expect(probe.rows).toBe(1024)
  })

  it('matches the rows named by a key DETAIL, as text', () => {
    const rowsOf = (vals: (string | null)[][]) => vals.map((values) => ({ values }))
    const col = (n: string) => ['id', 'team', 'Odd, "Name"'].indexOf(n)
    expect(
      rowsMatchingKeyDetail(
        'Key (team)=(9) is not present in table "teams".',
        rowsOf([
          ['1', '9'],
          ['2', '1'],
          ['3', '9'],
        ]),
        col,
      ),
    ).toEqual([0, 2])
    expect(
      rowsMatchingKeyDetail(
        'Key (id, team)=(2, 1) already exists.',
        rowsOf([
          ['1', '9'],
          ['2', '1'],
        ]),
        col,
      ),
    ).toEqual([1])
    expect(rowsMatchingKeyDetail('Key (id)=(007) already exists.', rowsOf([['7', '1']]), col)).toEqual([])
    expect(rowsMatchingKeyDetail('Failing row contains (1, 2).', rowsOf([['1', '2']]), col)).toEqual([])
    expect(rowsMatchingKeyDetail(undefined, rowsOf([['1', '2']]), col)).toEqual([])
  })
})
