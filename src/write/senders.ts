import type { TargetOptions } from '../options.js'
import { copySender } from './copy-writer.js'
import { insertSender } from './insert-writer.js'
import type { RowSender } from './types.js'

/**
 * How a batch's rows are sent, by --method: the one place a new way of landing rows (a load
 * mode's statements) is chosen; BatchWriter runs any of them inside its transaction.
 */
export function rowSender(opts: {
  method: NonNullable<TargetOptions['method']>
  overridingSystemValue: boolean
}): RowSender {
  return opts.method === 'insert' ? insertSender(opts.overridingSystemValue) : copySender
}
