// The rows of the load-mode tests: a table with a key, a CHECK and a NOT NULL column, random
// inputs whose keys repeat, and what applying them one by one, in input order, gives.
import { rng } from './random.js'

/** One input row: the key, and the values; `bad` marks what must be rejected (and by whom). */
export interface Row {
  id: number | null
  name: string
  n: number | 'x'
  ts: number
}

export const COLUMNS = 'id int PRIMARY KEY, name text NOT NULL, n int CHECK (n >= 0), ts int'
/** Rows in the table before each load. */
export const BEFORE: Row[] = [
  { id: 1, name: 'old-1', n: 1, ts: 50 },
  { id: 2, name: 'old-2', n: 2, ts: 50 },
  { id: 3, name: 'old-3', n: 3, ts: 50 },
]

/** A random input: keys 1..40 (so that many repeat, in the file and with the table), some bad rows of each kind. */
export function input(seed: number, rows: number): Row[] {
  const r = rng(seed)
  const out: Row[] = []
  for (let i = 0; i < rows; i++) {
    const kind = r()
    out.push({
      id: kind < 0.03 ? null : 1 + Math.floor(r() * 40),
      name: `v${i}`,
      n: kind > 0.97 ? 'x' : kind > 0.93 ? -1 : Math.floor(r() * 100),
      ts: Math.floor(r() * 100),
    })
  }
  return out
}

export function csv(rows: readonly Row[]): string {
  return 'id,name,n,ts\n' + rows.map((x) => `${x.id ?? ''},${x.name},${x.n},${x.ts}`).join('\n') + '\n'
}

export type Stored = Omit<Row, 'n'> & { n: number }

/**
 * What applying the rows one by one, in input order, gives: the table, and how many rows were
 * inserted, updated, skipped and rejected. A NULL key (NOT NULL column), a value that is not an
 * integer and a CHECK violation are rejected in every mode.
 */
export function reference(
  rows: readonly Row[],
  mode: 'ignore' | 'upsert',
  opts: { update?: (keyof Row)[]; newer?: 'ts' } = {},
): { table: Map<number, Stored>; inserted: number; updated: number; skipped: number; rejected: number } {
  const table = new Map<number, Stored>(BEFORE.map((x) => [x.id!, { ...x, n: x.n as number }]))
  let inserted = 0
  let updated = 0
  let skipped = 0
  let rejected = 0
  for (const row of rows) {
    if (row.id === null || row.n === 'x' || row.n < 0) {
      rejected++
      continue
    }
    const stored = table.get(row.id)
    if (!stored) {
      table.set(row.id, { ...row, n: row.n })
      inserted++
    } else if (mode === 'ignore' || (opts.newer && !(stored[opts.newer] < row[opts.newer]))) {
      skipped++
    } else {
      const next = { ...stored }
      for (const c of opts.update ?? (['name', 'n', 'ts'] as const)) (next as Record<string, unknown>)[c] = row[c]
      table.set(row.id, next)
      updated++
    }
  }
  return { table, inserted, updated, skipped, rejected }
}

/**
 * What appending the rows to an empty table gives (--mode truncate): the first row of a key stays,
 * a later one is rejected (23505), as are the rows every mode rejects.
 */
export function appendedToEmpty(rows: readonly Row[]): { table: Map<number, Stored>; rejected: number } {
  const table = new Map<number, Stored>()
  let rejected = 0
  for (const row of rows) {
    if (row.id === null || row.n === 'x' || row.n < 0 || table.has(row.id)) rejected++
    else table.set(row.id, { ...row, n: row.n })
  }
  return { table, rejected }
}
