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
  /**
   * SQL returning the 1-based ordinals (o) of the values in $1 (a text[]) that are bad for
   * certain, and (r, a unique key's) those that only repeat an earlier value of $1.
   */
  sql: string
}

/**
 * Asks the database in one query which rows of a failed statement hold a key that is the
 * problem: for a foreign key, every value the parent table lacks; for a unique key, every value
 * that is already in the table (as this transaction sees it), compared with the column's type and
 * collation as the index compares. The answer is exact for those rows, so they are rejected
 * without being sent again. A row that only repeats an earlier row of the statement is not bad
 * for certain (the earlier row may fail for another reason, and then this one goes in): it is
 * held, to be sent after the others, where it fails as a row already in the table. One round trip then
 * finds all the bad rows of a batch, instead of one failed statement per bad row. Only
 * single-column keys on plain columns are looked at (no expression or partial indexes); for
 * anything else, or when the query itself fails (no SELECT privilege on the parent, say), the
 * answer is undefined and the caller falls back to statement-by-statement isolation.
 */
export class KeyCheck {
  private readonly rules = new Map<string, KeyRule | null>()

  constructor(private readonly schema: TableSchema) {}

  /**
   * The columns of the unique keys statements were found to break so far (the ones this check
   * can ask about): where a file repeats keys, the next batches hold their repeats back
   * (holdRepeats) instead of failing a statement of every row on them.
   */
  uniqueColumns(): number[] {
    const out: number[] = []
    for (const [key, rule] of this.rules) if (rule && key.startsWith('23505/')) out.push(rule.column)
    return out
  }

  /**
   * 0-based indexes in `rows` of the rows that hold a bad key value (`bad`) and of the rows that
   * repeat an earlier row's key (`held`), or undefined when this check cannot tell.
   */
  async badRows(
    client: pg.Client,
    err: PgError,
    rows: readonly ValidRow[],
  ): Promise<{ bad: number[]; held: number[] } | undefined> {
    if (!err.constraint || (err.code !== '23503' && err.code !== '23505')) return undefined
    // A BEFORE ROW trigger may store other values than the ones sent: only sending can tell.
    if (this.schema.beforeRowTriggers) return undefined
    const rule = await this.rule(client, err.code, err.constraint)
    if (!rule) return undefined
    const values = rows.map((r) => valueOf(r, rule.column) ?? null)
    const r = await client.query<{ o: string; r: boolean }>(rule.sql, [values])
    const bad: number[] = []
    const held: number[] = []
    // (in no set order: the held rows are sent in input order, and the batch writes its refusals in input order)
    for (const x of r.rows) (x.r ? held : bad).push(Number(x.o) - 1)
    return { bad, held }
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
        sql: `SELECT u.o, false AS r FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(v, o)
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
      sql: `SELECT s.o, NOT s.there AS r FROM (
              SELECT u.o, row_number() OVER (PARTITION BY ${typed} ORDER BY u.o) AS n,
                     EXISTS (SELECT 1 FROM ${table} t WHERE t.${col} = u.v::${row.type}) AS there
              FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(v, o) WHERE u.v IS NOT NULL) s
            WHERE s.n > 1 OR s.there`,
    }
  }

  private columnIndex(name: string): number {
    return this.schema.columns.findIndex((c) => c.name === name)
  }
}

/**
 * The indexes, in input order, of the rows that repeat a value an earlier row of `rows` holds in
 * one of `columns` (held or not). A held row cannot go in beside the earlier row of its key, so it
 * is sent after the others (isolateBadRows): they then pass in one statement instead of failing on
 * it, and KeyCheck answers for the held ones alone. Values are compared by a hash of their input
 * bytes (ValidRow.valueHash) or of their text: a row held by a false match still goes in, one
 * statement later. NULL repeats nothing. Undefined when nothing repeats.
 */
export function holdRepeats(rows: readonly ValidRow[], columns: readonly number[]): number[] | undefined {
  const seen = columns.map(() => hashSet(rows.length))
  let held: number[] | undefined
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!
    let repeats = false
    for (let c = 0; c < columns.length; c++) {
      const h = row.valueHash ? row.valueHash(columns[c]!) : hashText(valueOf(row, columns[c]!))
      if (h !== undefined && seen[c]!(h)) repeats = true
    }
    if (repeats) (held ??= []).push(k)
  }
  return held
}

/** FNV-1a of a text's UTF-16 units, in 30 bits (as ValidRow.valueHash); undefined for NULL and absent. */
function hashText(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined) return undefined
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h & 0x3fffffff
}

/**
 * A set of up to `n` 30-bit hashes: records one and says whether it was there already. Open
 * addressing in an Int32Array at least twice that size (a Set of numbers cost 0.2 µs an add).
 */
function hashSet(n: number): (h: number) => boolean {
  let size = 16
  while (size < n * 2) size *= 2
  const slots = new Int32Array(size)
  const mask = size - 1
  return (h) => {
    // (h + 1: 0 marks an empty slot)
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const at = slots[i]!
      if (at === 0) {
        slots[i] = h + 1
        return false
      }
      if (at === h + 1) return true
    }
  }
}
