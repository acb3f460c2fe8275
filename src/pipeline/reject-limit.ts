import { LoadError } from '../errors.js'
import type { RejectLimit } from '../options.js'
import type { RunTotals } from '../report/run-figures.js'

/** Rows read before a percentage limit applies, so that one early bad row does not stop a run. */
export const REJECT_PERCENT_MIN_ROWS = 1000

/** The error that stops a run past its --max-rejects, or undefined while within it. */
export function overRejectLimit(
  lim: RejectLimit | undefined,
  totals: Pick<RunTotals, 'rowsRead' | 'rowsRejected'>,
): LoadError | undefined {
  if (!lim) return undefined
  const rej = totals.rowsRejected
  if ('count' in lim) {
    return rej > lim.count
      ? new LoadError('REJECT_LIMIT_EXCEEDED', `more than ${lim.count} rows rejected (--max-rejects ${lim.count})`)
      : undefined
  }
  const read = totals.rowsRead
  if (read < REJECT_PERCENT_MIN_ROWS || (rej * 100) / read <= lim.percent) return undefined
  const share = ((rej * 100) / read).toFixed(1)
  return new LoadError('REJECT_LIMIT_EXCEEDED', `${share}% of rows rejected, more than --max-rejects ${lim.percent}%`)
}
