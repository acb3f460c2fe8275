// Sampling decided upfront and the same everywhere: whether a key is in the sample depends only on
// the key and the fraction (a hash of the key, not a random draw), so the same id is logged by
// every run, on every machine, and a larger fraction logs a superset of a smaller one's ids.
import { LoadError } from '../errors.js'

/** A row of a committed batch picked by --log-sample-rows: its id value, and where it came from. */
export interface SampledRow {
  /** The value of the id column as it was loaded (text). */
  id: string
  batch: number
  file: string
  line: number
}

/** --log-sample-rows: which column names a row, the share of ids to log, and who is told. */
export interface RowSample {
  idColumn: string
  /** 0 < fraction ≤ 1. */
  fraction: number
  onRow: (row: SampledRow) => void
}

/**
 * FNV-1a over the key's UTF-8 bytes, then murmur3's finaliser (FNV's low bits alone spread
 * short keys such as "17" and "18" poorly): 32 bits, as a number in [0, 1). Part of the contract:
 * changing it changes which ids every existing fraction logs.
 */
export function sampleHash(key: string): number {
  let h = 0x811c9dc5
  const bytes = Buffer.from(key, 'utf8')
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 2 ** 32
}

/** Whether `key` is in the sample of this fraction (0: none, 1: all). */
export function inSample(key: string, fraction: number): boolean {
  if (fraction >= 1) return true
  if (fraction <= 0) return false
  return sampleHash(key) < fraction
}

/** A fraction for a sampling flag: a number with 0 < n ≤ 1 (0 would log nothing: leave the flag out). */
export function isSampleFraction(n: number): boolean {
  return Number.isFinite(n) && n > 0 && n <= 1
}

/** The rows a batch stored, as the sampler reads them: their line and their value of one column. */
interface StoredRow {
  line: number
  values: (string | null | undefined)[]
  value?(column: number): string | null | undefined
}

/**
 * The hook that looks at each committed batch's rows for --log-sample-rows: the id column's
 * position in the table's columns is found once (an unknown column is a usage error, before
 * anything is written); rows whose id is NULL or absent (left to the column's default) are never sampled.
 */
export function rowSampler(
  sample: RowSample,
  columns: readonly { name: string }[],
): (rows: readonly StoredRow[], batch: number, file: string) => void {
  const at = columns.findIndex((c) => c.name === sample.idColumn)
  if (at < 0)
    throw new LoadError(
      'COLUMN_UNKNOWN',
      `--id-column ${JSON.stringify(sample.idColumn)} is not a column of the table`,
      `the table's columns: ${columns.map((c) => c.name).join(', ')}`,
    )
  return (rows, batch, file) => {
    for (const r of rows) {
      const id = r.value ? r.value(at) : r.values[at]
      if (id == null || !inSample(id, sample.fraction)) continue
      sample.onRow({ id, batch, file, line: r.line })
    }
  }
}
