import type pg from 'pg'
import { LoadError } from '../errors.js'
import { quotedList } from '../report/words.js'
import type { ResolvedTargetOptions } from '../options.js'
import { keyedMode } from '../options.js'
import type { TableSchema } from '../schema/introspect.js'
import { chooseKey, uniqueKeys } from '../schema/keys.js'
import { copySender } from './copy-writer.js'
import { insertSender } from './insert-writer.js'
import { mergeSender } from './merge-sender.js'
import type { RowSender } from './types.js'

/**
 * How a batch's rows are sent, by --mode and --method: the one place a way of landing rows is
 * chosen; BatchWriter runs any of them inside its transaction. The keyed modes find their key
 * (and check its columns and the privilege to update) here, before anything is written.
 */
export async function rowSender(
  client: pg.Client,
  schema: TableSchema,
  opts: Pick<ResolvedTargetOptions, 'method' | 'mode' | 'key' | 'update' | 'updateIfNewer' | 'overridingSystemValue'>,
): Promise<RowSender> {
  if (!keyedMode(opts.mode)) return opts.method === 'insert' ? insertSender(opts.overridingSystemValue) : copySender
  const key = chooseKey(schema, await uniqueKeys(client, schema), opts.key)
  for (const [flag, names] of [
    ['--update', opts.update ?? []],
    ['--update-if-newer', opts.updateIfNewer === undefined ? [] : [opts.updateIfNewer]],
  ] as const) {
    const unknown = names.filter((n) => !schema.columns.some((c) => c.name === n))
    if (unknown.length > 0)
      throw new LoadError('USAGE', `${flag}: ${schema.sqlName} has no column ${quotedList(unknown)}`)
  }
  if (opts.update?.some((n) => key.includes(n)))
    throw new LoadError('USAGE', `--update cannot set the key (${key.join(', ')}): rows are matched by it`)
  await checkPrivileges(client, schema, opts.mode)
  return mergeSender(schema, { ...opts, mode: opts.mode, key })
}

/**
 * The keyed modes read the table (ON CONFLICT looks the key up) and upsert updates it: fail before
 * anything is written when the role may not.
 */
async function checkPrivileges(client: pg.Client, schema: TableSchema, mode: 'ignore' | 'upsert'): Promise<void> {
  const r = await client.query<{ sel: boolean; upd: boolean }>(
    `SELECT pg_catalog.has_table_privilege($1::pg_catalog.text, 'SELECT') AS sel,
            pg_catalog.has_table_privilege($1::pg_catalog.text, 'UPDATE') AS upd`,
    [schema.sqlName],
  )
  const missing = [...(r.rows[0]?.sel ? [] : ['SELECT']), ...(mode === 'upsert' && !r.rows[0]?.upd ? ['UPDATE'] : [])]
  if (missing.length > 0) {
    throw new LoadError(
      'PERMISSION_DENIED',
      `permission denied: --mode ${mode} needs ${missing.join(' and ')} on ${schema.sqlName}, ` +
        'which the current role lacks',
      `GRANT ${missing.join(', ')} on the table to the role`,
    )
  }
}
