import type pg from 'pg'
import type { TableSchema } from '../schema/introspect.js'
import { quoteIdent } from '../schema/introspect.js'
import { copySender } from './copy-writer.js'
import type { RowSender, Sent } from './types.js'

/** The session's staging table: the batch's rows go here by COPY, then into the table by one statement. */
const STAGE = 'pgbulk_stage'

/** What --mode ignore and --mode upsert need to know. */
export interface MergeOptions {
  mode: 'ignore' | 'upsert'
  /** The key's column names (a unique index's, see schema/keys.ts). */
  key: readonly string[]
  /** --update: the columns an update sets; default every column of the row but the key. */
  update?: readonly string[] | undefined
  /** --update-if-newer: update only when the incoming value of this column is greater than the stored one. */
  updateIfNewer?: string | undefined
  overridingSystemValue: boolean
}

/**
 * --mode ignore and --mode upsert. The rows of a statement are copied into a temporary table of
 * the session (COPY: the same bytes as an append), then go into the table with one INSERT … ON
 * CONFLICT on the key, in input order:
 * - ignore: DO NOTHING; a key already there, or earlier in the statement, leaves the row out (skipped);
 * - upsert: DO UPDATE. A key that repeats within the statement would make PostgreSQL refuse the
 *   statement ("cannot affect row a second time"), so rows go in rounds: the first row of each
 *   key, then the second, …: the result is the rows applied one by one, in input order (with
 *   --update and --update-if-newer too). Keys are compared by the database, with their types.
 * Rows the table refuses (a CHECK, a foreign key, a trigger) fail the statement, and the writer
 * finds them as for an append (isolate-bad-rows.ts); the staging COPY names its failing line.
 */
export function mergeSender(schema: TableSchema, opts: MergeOptions): RowSender {
  const table = schema.sqlName
  const key = opts.key.map(quoteIdent).join(', ')
  const anyNull = opts.key.map((k) => `${quoteIdent(k)} IS NULL`).join(' OR ')
  const stage = `pg_temp.${STAGE}`
  // (a temporary table of the session: created once per connection, emptied per statement)
  const prepare =
    `SET LOCAL client_min_messages = warning; ` +
    `CREATE TEMPORARY TABLE IF NOT EXISTS ${STAGE} AS SELECT * FROM ${table} WITH NO DATA; ` +
    `TRUNCATE ${stage}`
  return {
    async send(client, sql, columns, rows): Promise<Sent> {
      await client.query(sql.comment + prepare)
      await copySender.send(client, { ...sql, table: stage }, columns, rows, undefined)
      const names = columns.map((i) => schema.columns[i]!.name)
      // Ignore needs no rounds: DO NOTHING leaves out a row whose key an earlier row of the statement inserted.
      const rounds = opts.mode === 'ignore' ? 1 : await countRounds(client, sql.comment)
      let inserted = 0
      let updated = 0
      for (let round = 1; round <= rounds; round++) {
        const c = (await client.query<MergeCount>(sql.comment + mergeSql(names, rounds === 1 ? undefined : round)))
          .rows[0]
        inserted += Number(c?.inserted ?? 0)
        updated += Number(c?.updated ?? 0)
      }
      return { stored: inserted + updated, updated }
    },
    // Statements of one shape only: the staging table has no defaults to stand for a missing value.
    canSendDefaults: () => false,
    uniqueValuesTell: false,
    failedRowIndex: (err, _relname, rows) => copySender.failedRowIndex(err, STAGE, rows),
  }

  /** How many times the most repeated key of the statement occurs (compared by the database, with their types). */
  async function countRounds(client: pg.Client, comment: string): Promise<number> {
    // (a key with a NULL never conflicts: such rows all go in the first round)
    const r = await client.query<{ rounds: string | null }>(
      `${comment}SELECT pg_catalog.max(n) AS rounds FROM (SELECT pg_catalog.count(*) AS n FROM ${stage} ` +
        `WHERE NOT (${anyNull}) GROUP BY ${key}) g`,
    )
    return Math.max(1, Number(r.rows[0]?.rounds ?? 1))
  }

  /** The INSERT … ON CONFLICT of the staged rows (a round: the `round`-th row of each key), counting what it did. */
  function mergeSql(names: readonly string[], round: number | undefined): string {
    const cols = names.map(quoteIdent).join(', ')
    const override = opts.overridingSystemValue ? ' OVERRIDING SYSTEM VALUE' : ''
    const source =
      round === undefined
        ? `SELECT ${cols}, ctid AS pgbulk_at FROM ${stage}`
        : `SELECT * FROM (SELECT ${cols}, ctid AS pgbulk_at, ` +
          `CASE WHEN ${anyNull} THEN 1 ELSE pg_catalog.row_number() OVER (PARTITION BY ${key} ORDER BY ctid) END ` +
          `AS pgbulk_round FROM ${stage}) r ` +
          `WHERE r.pgbulk_round OPERATOR(pg_catalog.=) ${round}`
    const insert =
      `INSERT INTO ${table} AS t (${cols})${override} ` +
      `SELECT ${names.map((n) => `s.${quoteIdent(n)}`).join(', ')} FROM src s ORDER BY s.pgbulk_at ` +
      `ON CONFLICT (${key}) ${conflictAction(names)}`
    if (opts.mode === 'upsert' && schema.partitioned) {
      // A partitioned table cannot return xmax from DO UPDATE: the rows whose key was not there
      // before the statement (keys are distinct within a round) are the ones it inserted.
      const there = opts.key.map((k) => `t.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ')
      return (
        `WITH src AS MATERIALIZED (${source}), ` +
        `fresh AS (SELECT pg_catalog.count(*) AS n FROM src s ` +
        `WHERE NOT EXISTS (SELECT 1 FROM ${table} t WHERE ${there})), ` +
        `ins AS (${insert} RETURNING 1) ` +
        `SELECT LEAST((SELECT n FROM fresh), pg_catalog.count(*)) AS inserted, ` +
        `pg_catalog.count(*) - LEAST((SELECT n FROM fresh), pg_catalog.count(*)) AS updated FROM ins`
      )
    }
    return (
      `WITH src AS (${source}), ins AS (${insert} ` +
      `RETURNING (t.xmax::pg_catalog.text OPERATOR(pg_catalog.=) '0') AS inserted) ` +
      `SELECT pg_catalog.count(*) FILTER (WHERE inserted) AS inserted, ` +
      `pg_catalog.count(*) FILTER (WHERE NOT inserted) AS updated FROM ins`
    )
  }

  /** DO NOTHING, or DO UPDATE SET the update columns the row has (none: nothing to do). */
  function conflictAction(names: readonly string[]): string {
    if (opts.mode === 'ignore') return 'DO NOTHING'
    const keyNames = new Set(opts.key)
    const set = names.filter((n) => !keyNames.has(n) && (opts.update === undefined || opts.update.includes(n)))
    if (set.length === 0) return 'DO NOTHING'
    const newer = opts.updateIfNewer
      ? ` WHERE t.${quoteIdent(opts.updateIfNewer)} OPERATOR(pg_catalog.<) EXCLUDED.${quoteIdent(opts.updateIfNewer)}`
      : ''
    return `DO UPDATE SET ${set.map((n) => `${quoteIdent(n)} = EXCLUDED.${quoteIdent(n)}`).join(', ')}${newer}`
  }
}

/** What one round of the merge counted. */
interface MergeCount {
  inserted: string
  updated: string
}
