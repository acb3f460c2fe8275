import type pg from 'pg'
import { LoadError } from '../errors.js'
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
      throw new LoadError(
        'USAGE',
        `${flag}: ${schema.sqlName} has no column ${unknown.map((n) => JSON.stringify(n)).join(', ')}`,
      )
  }
  if (opts.mode === 'upsert') await checkUpdatePrivilege(client, schema)
  return mergeSender(schema, { ...opts, mode: opts.mode, key })
}

/** --mode upsert updates rows: fail early when the role may not. */
async function checkUpdatePrivilege(client: pg.Client, schema: TableSchema): Promise<void> {
  const r = await client.query<{ ok: boolean }>(
    `SELECT pg_catalog.has_table_privilege($1::pg_catalog.text, 'UPDATE') AS ok`,
    [schema.sqlName],
  )
  if (!r.rows[0]?.ok) {
    throw new LoadError(
      'PERMISSION_DENIED',
      `permission denied: --mode upsert updates rows, and the current role may not update ${schema.sqlName}`,
      'GRANT UPDATE on the table, or use --mode ignore',
    )
  }
}
