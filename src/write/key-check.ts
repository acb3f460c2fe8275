import type pg from 'pg'
import type { TableSchema } from '../schema/introspect.js'
import { quoteIdent } from '../schema/introspect.js'
import type { ValidRow } from '../validate/valid-row.js'
import { valueOf } from '../validate/valid-row.js'
import type { PgError } from './types.js'

/** A single-column key: the column of the target table, and what its values are compared with. */
interface KeyRule {
  /** Index of the key column in the table's columns. */
  column: number
  /** SQL returning the 1-based ordinals of the bad values in $1 (a text[]). */
  sql: string
}

/**
 * Asks the database in one query which rows of a failed statement hold a key that is the
 * problem: for a foreign key, every value the parent table lacks; for a unique key, every value
 * that is already in the table (as this transaction sees it) or repeats an earlier row of the
 * statement, compared with the column's type and collation as the index compares. The answer
 * is exact for those rows, so they are rejected without being sent again. One round trip then
 * finds all the bad rows of a batch, instead of one failed statement per bad row. Only
 * single-column keys on plain columns are looked at (no expression or partial indexes); for
 * anything else, or when the query itself fails (no SELECT privilege on the parent, say), the
 * answer is undefined and the caller falls back to statement-by-statement isolation.
 */
export class KeyCheck {
  private readonly rules = new Map<string, KeyRule | null>()

  constructor(private readonly schema: TableSchema) {}

  /** 0-based indexes in `rows` of the rows that hold a bad key value, or undefined when this check cannot tell. */
  async badRows(client: pg.Client, err: PgError, rows: readonly ValidRow[]): Promise<number[] | undefined> {
    if (!err.constraint || (err.code !== '23503' && err.code !== '23505')) return undefined
    // A BEFORE ROW trigger may store other values than the ones sent: only sending can tell.
    if (this.schema.beforeRowTriggers) return undefined
    const rule = await this.rule(client, err.code, err.constraint)
    if (!rule) return undefined
    const values = rows.map((r) => valueOf(r, rule.column) ?? null)
    const r = await client.query<{ o: string }>(rule.sql, [values])
    return r.rows.map((x) => Number(x.o) - 1)
  }

  private async rule(client: pg.Client, code: string, constraint: string): Promise<KeyRule | null> {
    const key = `${code}/${constraint}`
    if (!this.rules.has(key)) this.rules.set(key, await this.lookUp(client, code, constraint).catch(() => null))
    return this.rules.get(key) ?? null
  }

  private async lookUp(client: pg.Client, code: string, constraint: string): Promise<KeyRule | null> {
    const table = this.schema.sqlName
    if (code === '23503') {
      const r = await client.query<{ col: string; parent: string; pcol: string; ptype: string }>(
        `SELECT a.attname AS col, c.confrelid::regclass::text AS parent,
                pa.attname AS pcol, format_type(pa.atttypid, pa.atttypmod) AS ptype
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
         WHERE c.conname = $1 AND c.conrelid = $2::regclass AND c.contype = 'f' AND cardinality(c.conkey) = 1
           AND c.confrelid <> c.conrelid`,
        [constraint, table],
      )
      const row = r.rows[0]
      const column = row ? this.columnIndex(row.col) : -1
      if (!row || column < 0) return null
      // confrelid::regclass prints the parent's name quoted as needed, schema-qualified when off the search_path.
      return {
        column,
        sql: `SELECT u.o FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(v, o)
              WHERE u.v IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM ${row.parent} p WHERE p.${quoteIdent(row.pcol)} = u.v::${row.ptype})`,
      }
    }
    const r = await client.query<{ col: string; type: string; coll: string | null }>(
      `SELECT a.attname AS col, format_type(a.atttypid, a.atttypmod) AS type,
              CASE WHEN a.attcollation <> 0 THEN (
                SELECT quote_ident(n.nspname) || '.' || quote_ident(co.collname)
                FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace WHERE co.oid = a.attcollation
              ) END AS coll
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
       WHERE i.indrelid = $2::regclass AND ic.relname = $1 AND i.indisunique AND i.indnkeyatts = 1
         AND i.indpred IS NULL AND i.indexprs IS NULL`,
      [constraint, table],
    )
    const row = r.rows[0]
    const column = row ? this.columnIndex(row.col) : -1
    if (!row || column < 0) return null
    const col = quoteIdent(row.col)
    // Compared as the index compares: the column's type and collation.
    const typed = `u.v::${row.type}${row.coll ? ` COLLATE ${row.coll}` : ''}`
    return {
      column,
      sql: `SELECT s.o FROM (
              SELECT u.o, u.v, row_number() OVER (PARTITION BY ${typed} ORDER BY u.o) AS n
              FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(v, o) WHERE u.v IS NOT NULL) s
            WHERE s.n > 1 OR EXISTS (SELECT 1 FROM ${table} t WHERE t.${col} = s.v::${row.type})`,
    }
  }

  private columnIndex(name: string): number {
    return this.schema.columns.findIndex((c) => c.name === name)
  }
}
