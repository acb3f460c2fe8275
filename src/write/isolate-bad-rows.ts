import type { ValidRow } from '../validate/valid-row.js'
import { valueOf } from '../validate/valid-row.js'

/** Where a failed statement says the bad rows are. */
export type FailureLocation<E = never> =
  /** The error names the row (COPY's CONTEXT "line N"): it is bad, for certain. */
  | { kind: 'exact'; index: number; alone?: boolean }
  /**
   * Rows that hold the key the error is about. `certain`: they are bad for certain (a foreign key
   * value the parent lacks fails on every row that holds it), else each is tried alone.
   * `complete`: every row of the statement that could fail this way is listed (the database was
   * asked about all of them), so the statement sizes need not shrink. `errors`: each row's own error
   * (rows breaking different CHECK constraints), in the order of `indexes`; else the statement's.
   * `held`: rows that fail only if a row before them goes in (a repeated key): sent together, in
   * input order, after the others. `alone` (here and for `exact`): the rows fail whatever other
   * rows are sent (a CHECK, a NOT NULL, a parent key missing from another table).
   */
  | {
      kind: 'rows'
      indexes: number[]
      certain: boolean
      complete: boolean
      errors?: E[]
      held?: number[]
      alone?: boolean
    }
  | { kind: 'unknown' }

/**
 * How many rows to send per statement while a batch is being searched for bad rows. After a
 * failure it shrinks to the typical distance between bad rows (a moving average of the rows that
 * passed between two failures), so that a statement holds about one bad row; after each statement
 * that passes it doubles, so that a clean stretch goes in large statements again (the "shrink
 * after a loss, grow back" of TCP's congestion window). It carries over from batch to batch: a
 * batch that follows a bad one starts small instead of failing whole first.
 */
export class ProbeSize {
  private size: number
  private gap: number | undefined
  private sinceFailure = 0

  constructor(private readonly max: number) {
    this.size = max
  }

  get rows(): number {
    return this.size
  }

  passed(rows: number): void {
    this.sinceFailure += rows
    this.size = Math.min(this.max, this.size * 2)
  }

  /** A statement failed after `goodBefore` of its rows, which were fine. */
  failed(goodBefore: number): void {
    const gap = this.sinceFailure + goodBefore
    this.gap = this.gap === undefined ? gap : (this.gap + gap) / 2
    this.sinceFailure = 0
    // About one bad row per statement: measured best against the rows a failed statement makes the server redo.
    this.size = Math.max(1, Math.min(this.max, Math.round(this.gap)))
  }
}

/** The result of searching a run of rows for the ones the database refuses. */
export interface IsolationResult<R, E> {
  loaded: number
  rejected: { row: R; error: E }[]
  /** Statements sent, the failed ones included. */
  statements: number
  /** Statements that failed. */
  failures: number
}

/**
 * Send `rows` in statements of at most `probe.rows` rows, in input order, and find the rows the
 * database refuses. `trySend` sends one statement under a savepoint and returns the row error
 * (after rolling back to the savepoint) or undefined. A failure that names its row (COPY's line)
 * rejects that row and sends the statement again without it; a failure that hints at rows (a key
 * in the DETAIL) sends the others, then each hinted row alone; anything else halves the statement.
 * A row that fails alone is rejected. So k bad rows cost about k failed statements when the error
 * names or hints at the row, O(k·log N) at worst, and a run where every row is bad costs one
 * statement per row, as loading them one by one would. `held`: rows (by index) that repeat a key
 * of an earlier row (holdRepeats), sent after the others, as held rows a failure names are.
 */
export async function isolateBadRows<R, E>(
  rows: readonly R[],
  probe: ProbeSize,
  trySend: (segment: readonly R[]) => Promise<E | undefined>,
  locate: (error: E, segment: readonly R[]) => FailureLocation<E> | Promise<FailureLocation<E>>,
  held?: readonly number[],
): Promise<IsolationResult<R, E>> {
  const result: IsolationResult<R, E> = { loaded: 0, rejected: [], statements: 0, failures: 0 }
  // Segments still to send, first one next; order is input order, so the first of two duplicate keys wins.
  const queue: (readonly R[])[] = rows.length > 0 ? [rows] : []
  // Rows sent before held ones that come before some of them in input order: exact only if every
  // one of them goes in (then each held row's earlier row of its key is in, and it fails whatever
  // came after it). So they go in one statement; if it fails, `rest` (the rows in input order) is
  // sent instead, cut before the first held row, and searched as any statement is; but rows that
  // fail whatever else is sent (`alone`) are rejected, and the others tried whole again.
  const guarded = new WeakMap<readonly R[], { held: readonly R[]; rest: readonly R[] }>()
  const guard = (others: readonly R[], held: readonly R[], rest: readonly R[]): (readonly R[])[] => {
    if (others.length === 0 || held.length === 0) return nonEmpty([others, held])
    guarded.set(others, { held, rest })
    return [others]
  }
  const holdBack = (seg: readonly R[], out: ReadonlySet<number>, hold: readonly number[]): (readonly R[])[] => {
    const held = new Set(hold)
    return guard(
      seg.filter((_, i) => !out.has(i) && !held.has(i)),
      [...held].sort((a, b) => a - b).map((i) => seg[i]!),
      seg.filter((_, i) => !out.has(i)),
    )
  }
  if (held && held.length > 0) queue.splice(0, queue.length, ...holdBack(rows, new Set(), held))
  while (queue.length > 0) {
    let seg = queue.shift()!
    const g = guarded.get(seg)
    if (g) {
      result.statements++
      const error = await trySend(seg)
      if (error === undefined) {
        result.loaded += seg.length
        probe.passed(seg.length)
        queue.unshift(g.held)
        continue
      }
      result.failures++
      const where = seg.length > 1 ? await locate(error, seg) : { kind: 'unknown' as const }
      const out =
        where.kind === 'exact' && where.alone && where.index >= 0 && where.index < seg.length
          ? [where.index]
          : where.kind === 'rows' && where.certain && where.alone && !where.held?.length
            ? where.indexes
            : []
      if (out.length > 0) {
        // (a row set aside may be the earlier row of a held one's key: the rest is sent in input
        // order, cut where those rows were, up to the last held row; each piece searched anew)
        const bad = new Set<R>(out.map((i) => seg[i] as R))
        out.forEach((i, k) =>
          result.rejected.push({ row: seg[i]!, error: (where.kind === 'rows' && where.errors?.[k]) || error }),
        )
        const last = g.rest.indexOf(g.held.at(-1)!)
        const pieces: R[][] = [[]]
        g.rest.forEach((r, i) => (!bad.has(r) ? pieces.at(-1)!.push(r) : i < last ? pieces.push([]) : undefined))
        queue.unshift(...nonEmpty(pieces))
      } else {
        const cut = g.rest.indexOf(g.held[0]!)
        queue.unshift(...nonEmpty([g.rest.slice(0, cut), g.rest.slice(cut)]))
      }
      continue
    }
    if (seg.length > probe.rows) {
      queue.unshift(seg.slice(probe.rows))
      seg = seg.slice(0, probe.rows)
    }
    result.statements++
    const error = await trySend(seg)
    if (error === undefined) {
      result.loaded += seg.length
      probe.passed(seg.length)
      continue
    }
    result.failures++
    if (seg.length === 1) {
      // (A row tried alone was planned that way: the statement size was settled when it was.)
      result.rejected.push({ row: seg[0]!, error })
      continue
    }
    const where = await locate(error, seg)
    if (where.kind === 'exact' && where.index >= 0 && where.index < seg.length) {
      // The row is bad for certain: send the statement again without it.
      result.rejected.push({ row: seg[where.index]!, error })
      queue.unshift(...nonEmpty([[...seg.slice(0, where.index), ...seg.slice(where.index + 1)]]))
      probe.failed(where.index)
    } else if (where.kind === 'rows' && where.indexes.length + (where.held?.length ?? 0) > 0) {
      // Send the others together, then the held ones together; reject the named rows, or try each
      // alone, in input order among themselves (so that of two rows with the same key, the first loads).
      const held = where.held ?? []
      if (where.certain) {
        where.indexes.forEach((i, k) => result.rejected.push({ row: seg[i]!, error: where.errors?.[k] ?? error }))
        queue.unshift(...holdBack(seg, new Set(where.indexes), held))
      } else {
        const named = new Set([...where.indexes, ...held])
        const others = nonEmpty([seg.filter((_, i) => !named.has(i)), held.map((i) => seg[i]!)])
        queue.unshift(...others, ...where.indexes.map((i) => [seg[i]!]))
      }
      if (!where.complete) probe.failed(where.indexes[0]!)
    } else {
      const mid = Math.ceil(seg.length / 2)
      queue.unshift(seg.slice(0, mid), seg.slice(mid))
      probe.failed(mid)
    }
  }
  return result
}

function nonEmpty<T>(parts: (readonly T[])[]): (readonly T[])[] {
  return parts.filter((p) => p.length > 0)
}

/**
 * Rows whose values match the key in a DETAIL such as `Key (team)=(9) is not present in table
 * "teams".` or `Key (id)=(2) already exists.` Values are compared as text, as the input had them;
 * a key printed differently (007 versus 7) simply matches nothing, and the caller halves instead.
 */
export function rowsMatchingKeyDetail(
  detail: string | undefined,
  rows: readonly Pick<ValidRow, 'values' | 'value'>[],
  columnIndex: (name: string) => number,
): number[] {
  const m = detail
    ? /^Key \((.+)\)=\((.*)\) (?:already exists|is not present in table|conflicts with)/s.exec(detail)
    : null
  if (!m) return []
  const names = m[1]!
    .split(', ')
    .map((n) => (n.startsWith('"') && n.endsWith('"') ? n.slice(1, -1).replaceAll('""', '"') : n))
  const values = names.length === 1 ? [m[2]!] : m[2]!.split(', ')
  if (values.length !== names.length) return []
  const cols = names.map(columnIndex)
  if (cols.some((c) => c < 0)) return []
  const out: number[] = []
  rows.forEach((row, i) => {
    if (cols.every((c, k) => valueOf(row, c) === values[k])) out.push(i)
  })
  return out
}
