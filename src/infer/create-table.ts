import { LoadError } from '../errors.js'
import { columnNames } from '../validate/column-match.js'
import type { InferredType } from './column-types.js'

/** One inferred column: its name in the table, the input's name for it, and what its values were. */
export interface InferredColumn {
  name: string
  /** The header name or NDJSON key it comes from. */
  source: string
  type: InferredType
  nulls: number
  values: number
  example?: string | undefined
}

/**
 * PostgreSQL's reserved key words (and those reserved but for functions and types): a column of
 * one of these names must be quoted.
 */
const RESERVED = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate collation ' +
    'column concurrently constraint create cross current_catalog current_date current_role current_schema ' +
    'current_time current_timestamp current_user default deferrable desc distinct do else end except false fetch ' +
    'for foreign freeze from full grant group having ilike in initially inner intersect into is isnull join lateral ' +
    'leading left like limit localtime localtimestamp natural not notnull null offset on only or order outer ' +
    'overlaps placing primary references returning right select session_user similar some symmetric system_user ' +
    'table tablesample then to trailing true union unique user using variadic verbose when where window with'
  ).split(' '),
)

/** An identifier as SQL: bare when PostgreSQL reads it as written, else quoted. */
export function sqlIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name) ? name : `"${name.replace(/"/g, '""')}"`
}

const TABLE_NAME = /^(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\.(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*))?$/

/** The table name as the statement spells it: a name or schema.name, bare or quoted as SQL (else USAGE). */
export function tableName(given: string): string {
  if (!TABLE_NAME.test(given))
    throw new LoadError(
      'USAGE',
      `--table ${JSON.stringify(given)} is not a table name as SQL spells one: name or schema.name, ` +
        'each bare (letters, digits, _) or in double quotes',
    )
  return given
}

/** The default table name for an input: its file name without extensions, as an identifier. */
export function tableNameFor(path: string): string {
  const base =
    path === '-' ? 'stdin' : (path.split('/').pop() ?? path).replace(/(\.(csv|tsv|tab|ndjson|jsonl|txt|gz))+$/i, '')
  return sqlIdent(columnNames([base])[0]!)
}

/** The CREATE TABLE statement, one column a line, with a comment where a name changed or a column held no value. */
export function createTableSql(table: string, columns: readonly InferredColumn[]): string {
  const width = Math.max(...columns.map((c) => sqlIdent(c.name).length))
  const lines = columns.map((c, k) => {
    const notes: string[] = []
    if (c.source !== c.name) notes.push(`from ${JSON.stringify(c.source)}`)
    if (c.values === 0) notes.push('no value: text')
    const comma = k < columns.length - 1 ? ',' : ''
    const def = `  ${sqlIdent(c.name).padEnd(width)} ${c.type}${comma}`
    return notes.length > 0 ? `${def}  -- ${notes.join('; ').replace(/[\r\n]/g, ' ')}` : def
  })
  return `CREATE TABLE ${table} (\n${lines.join('\n')}\n);\n`
}
