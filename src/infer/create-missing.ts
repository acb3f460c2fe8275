import type pg from 'pg'
import { LoadError } from '../errors.js'
import type { InputFile } from '../source/open-input.js'
import type { InferReading } from './infer.js'
import { inferTable } from './infer.js'
import { tableName } from './create-table.js'

/** What --create did: the statement it ran, or why it ran none. */
export type Created = { sql: string } | { existed: true }

/**
 * `pgbulk load --create`: when the table does not exist, infer it from the inputs (read as the load
 * will read them: its format, dialect and header options, nothing sniffed) and create it, in a
 * transaction of its own; when it exists, leave it. Two loads creating it at once: the second finds
 * it there (duplicate_table) and loads into it.
 */
export async function createIfMissing(
  client: pg.Client,
  table: string,
  files: readonly InputFile[],
  readingOf: (f: InputFile) => InferReading,
): Promise<Created> {
  const exists = async () => {
    // (to_regclass refuses a name that is not one: introspection says so after)
    const r = await client.query<{ oid: string | null }>('SELECT pg_catalog.to_regclass($1::pg_catalog.text) AS oid', [
      table,
    ])
    return r.rows[0]?.oid !== null
  }
  if (await exists().catch(() => true)) return { existed: true }
  const stream = files.find((f) => f.stream)
  if (stream)
    throw new LoadError(
      'USAGE',
      `--create reads the inputs to infer the table before loading them, which ${stream.path === '-' ? 'stdin' : stream.path} cannot be read twice for`,
      'create the table first: pgbulk infer on a sample of the stream prints a CREATE TABLE statement',
    )
  const inference = await inferTable(files, readingOf, {
    table: tableName(table),
    sampleRows: undefined,
    stdin: process.stdin,
  })
  try {
    await client.query('BEGIN')
    await client.query(inference.sql)
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    const code = (err as { code?: string }).code
    // (another load created it meanwhile: duplicate_table, or a unique_violation on pg_type when
    // both CREATEs ran at once)
    if (code === '42P07' || (code === '23505' && (await exists().catch(() => false)))) return { existed: true }
    if (code === '3F000')
      throw new LoadError(
        'TABLE_NOT_FOUND',
        `--create could not create ${table}: ${(err as Error).message}`,
        'create the schema first, or name another',
        { cause: err },
      )
    throw new LoadError(
      'PERMISSION_DENIED',
      `--create could not create ${table}: ${(err as Error).message}`,
      'create the table yourself (pgbulk infer prints the statement), or grant CREATE on its schema',
      { cause: err },
    )
  }
  return { sql: inference.sql }
}
