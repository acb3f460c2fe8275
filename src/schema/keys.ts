import type pg from 'pg'
import { LoadError } from '../errors.js'
import type { TableSchema } from './introspect.js'
import { quoteIdent } from './introspect.js'

/** A unique index of the table, as ON CONFLICT can name it. */
export interface UniqueKey {
  /** The index's name. */
  name: string
  primary: boolean
  /** Its columns, by name, in index order; empty for an index on expressions. */
  columns: string[]
  /** Partial (WHERE …) or on expressions: ON CONFLICT (columns) cannot infer it. */
  inferable: boolean
  /** Every column is NOT NULL (else two rows with a NULL in the key never conflict). */
  notNull: boolean
}

/** The unique indexes of the table (valid ones), primary key first. */
export async function uniqueKeys(client: pg.Client, schema: TableSchema): Promise<UniqueKey[]> {
  const r = await client.query<{ name: string; primary: boolean; columns: string[] | null; inferable: boolean }>(
    `SELECT c.relname AS name, i.indisprimary AS primary,
            (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY k.n)
               FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, n)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE k.n <= i.indnkeyatts) AS columns,
            i.indpred IS NULL AND i.indexprs IS NULL AS inferable
       FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::pg_catalog.regclass AND i.indisunique AND i.indisvalid
      ORDER BY i.indisprimary DESC, c.relname`,
    [schema.sqlName],
  )
  return r.rows.map((k) => {
    const columns = k.columns ?? []
    const notNull = columns.every((n) => schema.columns.find((c) => c.name === n)?.notNull !== false)
    return { name: k.name, primary: k.primary, columns, inferable: k.inferable, notNull }
  })
}

/**
 * The key of --mode ignore and upsert: --key when given (it must be the columns of a unique index
 * ON CONFLICT can infer), else the primary key, else the only unique index whose columns are all
 * NOT NULL. Returns the key's column names.
 */
export function chooseKey(
  schema: TableSchema,
  keys: readonly UniqueKey[],
  given: readonly string[] | undefined,
): string[] {
  const usable = keys.filter((k) => k.inferable && k.columns.length > 0)
  const listed = keys.length === 0 ? 'it has none' : `it has ${keys.map(describeKey).join('; ')}`
  if (given) {
    for (const name of given) {
      if (!schema.columns.some((c) => c.name === name))
        throw new LoadError('KEY_INVALID', `--key: ${schema.sqlName} has no column ${JSON.stringify(name)}`)
    }
    const same = (k: UniqueKey) => k.columns.length === given.length && given.every((n) => k.columns.includes(n))
    if (!usable.some(same)) {
      throw new LoadError(
        'KEY_INVALID',
        `--key ${given.join(',')} is not the key of a unique index or constraint of ${schema.sqlName} (${listed})`,
        'PostgreSQL needs a unique index on exactly those columns (not partial, not on expressions) for ON CONFLICT',
      )
    }
    return [...given]
  }
  const primary = usable.find((k) => k.primary)
  if (primary) return primary.columns
  const candidates = usable.filter((k) => k.notNull)
  if (candidates.length === 1) return candidates[0]!.columns
  throw new LoadError(
    'KEY_INVALID',
    candidates.length === 0
      ? `${schema.sqlName} has no primary key and no unique index on NOT NULL columns to match rows by (${listed})`
      : `${schema.sqlName} has no primary key and several unique indexes on NOT NULL columns (${listed})`,
    'name the columns to match rows by with --key col[,col…]',
  )
}

/** "index t_email_key (email)", with what keeps ON CONFLICT from using it. */
function describeKey(k: UniqueKey): string {
  const what = k.primary ? 'primary key' : 'unique index'
  const cols = k.columns.length > 0 ? k.columns.join(', ') : 'expressions'
  const why = !k.inferable ? ', partial or on expressions' : !k.notNull ? ', nullable' : ''
  return `${what} ${k.name} (${cols}${why})`
}

/**
 * Whether the table holds a row whose key columns equal `values` (pgbulk trace). Each value goes
 * in as text and PostgreSQL reads it as its column's type (as COPY would): a value the type
 * refuses, or a NULL, is in no row. Undefined when the question cannot be asked (no equality
 * operator for the type in pg_catalog, say).
 */
export async function rowWithKey(
  client: pg.Client,
  schema: TableSchema,
  columns: readonly string[],
  values: readonly (string | null)[],
): Promise<boolean | undefined> {
  if (values.some((v) => v === null)) return false
  const where = columns.map((c, k) => `${quoteIdent(c)} OPERATOR(pg_catalog.=) $${k + 1}`).join(' AND ')
  try {
    const r = await client.query<{ found: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${schema.sqlName} WHERE ${where}) AS found`,
      [...values],
    )
    return r.rows[0]?.found === true
  } catch (err) {
    // 22xxx: data exception (the text is no value of the column's type); 42883: no such operator.
    const code = (err as { code?: string }).code ?? ''
    if (code.startsWith('22')) return false
    if (code === '42883') return undefined
    throw err
  }
}
