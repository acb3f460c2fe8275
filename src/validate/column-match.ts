import { LoadError } from '../errors.js'
import { quotedList } from '../report/words.js'

/**
 * Which table column an input's field (a CSV header name, an NDJSON key) fills. Pure. In order:
 * --map (the user's word), the column of that exact name, the one column equal to it ignoring
 * case, the one column equal to it loosely (ignoring case, surrounding spaces, and reading spaces,
 * dashes, dots and other punctuation as "_": `Customer ID` fills customer_id).
 */
export interface ColumnMatch {
  index: number
  how: 'exact' | 'map' | 'case' | 'loose'
}

/** A name as a lower_snake_case identifier: letters and digits kept, every other run of characters one "_". */
export function looseName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '')
}

/** PostgreSQL's system columns: CREATE TABLE refuses a column of one of these names. */
const SYSTEM_COLUMNS = ['tableoid', 'xmin', 'cmin', 'xmax', 'cmax', 'ctid']

/** PostgreSQL's longest identifier, in bytes. */
const NAME_BYTES = 63

/**
 * Column names from the input's names: lower_snake_case identifiers (looseName), `column_<n>` for a
 * name with no letter or digit, a leading digit prefixed with `c_`, cut to 63 bytes, and a suffix
 * (`_2`, `_3`, …) for a name taken already or of a system column (xmin, ctid, …).
 */
export function columnNames(sources: readonly string[]): string[] {
  // (a table cannot have a column of a system column's name: that name gets a suffix too)
  const taken = new Set<string>(SYSTEM_COLUMNS)
  return sources.map((source, k) => {
    let base = looseName(source) || `column_${k + 1}`
    if (/^\d/.test(base)) base = `c_${base}`
    base = cut(base, NAME_BYTES)
    let name = base
    for (let n = 2; taken.has(name); n++) name = `${cut(base, NAME_BYTES - String(n).length - 1)}_${n}`
    taken.add(name)
    return name
  })
}

function cut(s: string, bytes: number): string {
  let out = s
  while (Buffer.byteLength(out) > bytes) out = out.slice(0, -1)
  return out
}

export class ColumnMatcher {
  private readonly loose: string[]
  private readonly map: ReadonlyMap<string, number>

  /**
   * `map`: --map's field → column pairs; a column the table does not have is refused (COLUMN_UNKNOWN,
   * with the column it probably meant).
   */
  constructor(
    private readonly columns: readonly string[],
    map: Readonly<Record<string, string>> | undefined,
    private readonly table: string,
  ) {
    this.loose = columns.map(looseName)
    const byField = new Map<string, number>()
    for (const [field, column] of Object.entries(map ?? {})) {
      const exact = columns.indexOf(column)
      const index = exact >= 0 ? exact : this.unique((c) => c.toLowerCase() === column.toLowerCase())
      if (index === undefined)
        throw new LoadError(
          'COLUMN_UNKNOWN',
          `--map ${JSON.stringify(`${field}=${column}`)}: ${table} has no column ${JSON.stringify(column)}` +
            this.didYouMean(column),
        )
      byField.set(field, index)
    }
    this.map = byField
  }

  /** The column `name` fills, or undefined; a loose name that fits two columns is refused (COLUMN_AMBIGUOUS). */
  match(name: string, inferred?: string): ColumnMatch | undefined {
    const mapped = this.map.get(name) ?? this.map.get(name.trim())
    if (mapped !== undefined) return { index: mapped, how: 'map' }
    // (`inferred`: the name pgbulk infer gives this field among the header's (columnNames). When that
    // is not the field's loose name (a repeated name's _2, c_ before a digit, column_<n>, cut to 63
    // bytes, a system column's name), a table made by infer or --create has it: the field fills it.)
    if (inferred !== undefined && inferred !== looseName(name)) {
      const made = this.columns.indexOf(inferred)
      if (made >= 0) return { index: made, how: 'loose' }
    }
    const exact = this.columns.indexOf(name)
    if (exact >= 0) return { index: exact, how: 'exact' }
    const byCase = this.unique((c) => c.toLowerCase() === name.toLowerCase())
    if (byCase !== undefined) return { index: byCase, how: 'case' }
    const loose = looseName(name)
    if (loose === '') return undefined
    const fits = this.loose.flatMap((l, i) => (l === loose ? [i] : []))
    if (fits.length > 1)
      throw new LoadError(
        'COLUMN_AMBIGUOUS',
        `field ${JSON.stringify(name)} fits ${fits.length} columns of ${this.table}: ` +
          quotedList(fits.map((i) => this.columns[i]!)),
        `say which with --map ${JSON.stringify(`${name}=${this.columns[fits[0]!]!}`)}`,
      )
    return fits.length === 1 ? { index: fits[0]!, how: 'loose' } : undefined
  }

  /** The fields of --map that are not among `names` (a typo in --map is refused, not ignored). */
  unusedMap(names: readonly string[]): string[] {
    const given = new Set(names.flatMap((n) => [n, n.trim()]))
    return [...this.map.keys()].filter((f) => !given.has(f))
  }

  /** ' (did you mean "x"?)' for the column loosely closest to `name`, when one is close; else ''. */
  didYouMean(name: string): string {
    const close = closest(looseName(name), this.loose)
    return close === undefined ? '' : ` (did you mean ${JSON.stringify(this.columns[close])}?)`
  }

  private unique(test: (column: string) => boolean): number | undefined {
    const found = this.columns.flatMap((c, i) => (test(c) ? [i] : []))
    return found.length === 1 ? found[0] : undefined
  }
}

/**
 * The candidate closest to `word` by edit distance, when that is at most 2 and less than half
 * the word (a misspelling, not another name); undefined otherwise, or on a tie.
 */
export function closest(word: string, candidates: readonly string[]): number | undefined {
  let best: number | undefined
  let bestDistance = Infinity
  let tie = false
  candidates.forEach((c, i) => {
    const d = editDistance(word, c)
    if (d < bestDistance) [best, bestDistance, tie] = [i, d, false]
    else if (d === bestDistance) tie = true
  })
  return best !== undefined && !tie && bestDistance <= 2 && bestDistance * 2 < word.length ? best : undefined
}

/** Levenshtein distance, adjacent transpositions counted as one edit. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  return d[a.length]![b.length]!
}
