import type pg from 'pg'
import type { TableSchema } from '../schema/introspect.js'
import { quoteIdent } from '../schema/introspect.js'
import type { ValidRow } from '../validate/valid-row.js'
import { shapeColumns, valueOf } from '../validate/valid-row.js'
import type { PgError } from './types.js'

/** A CHECK constraint of the table, as pg_constraint holds it. */
interface CheckRule {
  name: string
  /** The expression (pg_get_expr), its columns named as in the table. */
  expr: string
  /** Indexes in the table's columns of the columns it reads. */
  columns: number[]
}

/** The rows of a statement that fail a CHECK constraint, each with the error PostgreSQL would give it. */
export interface CheckFailures {
  indexes: number[]
  errors: PgError[]
}

/**
 * Asks the database in one query which rows of a failed statement break a CHECK constraint of the
 * table: every CHECK expression is evaluated over all the statement's rows (their values cast to the
 * columns' types, as the insert casts them), and each row that makes one false is named with the
 * first constraint it breaks in PostgreSQL's own order (by name). So a batch where half the rows fail a
 * CHECK costs one failed statement, one query and one statement of the good rows, instead of a
 * statement and a savepoint per bad row. Undefined when this cannot tell, and the caller falls back to
 * statement-by-statement isolation: a BEFORE ROW trigger (it may change the values), a partitioned table
 * (a partition may have its own triggers and CHECKs), a table with a CHECK on the whole row or a system
 * column, a constraint that reads a column the rows do not send (a default, a generated column), one the
 * error names that is not the table's own (a domain's), or the query failing (a value the cast or a
 * domain refuses). When a CHECK the query cannot evaluate sorts before the one a row breaks, the row is
 * still rejected, but named with the later constraint.
 */
export class CheckConstraints {
  private rules: Promise<{ rules: CheckRule[]; collations: (string | undefined)[]; domains: boolean[] }> | undefined

  constructor(private readonly schema: TableSchema) {}

  async badRows(client: pg.Client, err: PgError, rows: readonly ValidRow[]): Promise<CheckFailures | undefined> {
    // (a partitioned table: each partition may have its own BEFORE ROW triggers and CHECKs, and its own name in the error)
    if (err.code !== '23514' || !err.constraint || this.schema.beforeRowTriggers || this.schema.partitioned) {
      return undefined
    }
    this.rules ??= this.lookUp(client)
    const sent = sentColumns(rows)
    const { rules: all, collations, domains } = await this.rules
    // A CHECK on the whole row (or a system column) reads what the query's row is not: it cannot tell.
    if (all.some((r) => r.columns.includes(-1))) return undefined
    const rules = all.filter((r) => r.columns.every((c) => sent.every.has(c)))
    if (!rules.some((r) => r.name === err.constraint)) return undefined
    // Also every column of a domain a row sends: PostgreSQL checks the domain's constraints first, so a
    // value the domain refuses makes the query fail (and the rows are then sent one by one).
    const domainCols = [...sent.some].filter((c) => domains[c] === true)
    const read = [...new Set([...rules.flatMap((r) => r.columns), ...domainCols])].sort((a, b) => a - b)
    const cols = this.schema.columns
    const params = read.map((c) => rows.map((r) => valueOf(r, c) ?? null))
    // Each column under its own name, cast as the insert casts it and in its own collation, so the
    // expressions read as in the table.
    const typed = read
      .map((c, k) => {
        const collate = collations[c] === undefined ? '' : ` COLLATE ${collations[c]}`
        return `u.c${k}::${cols[c]!.displayType}${collate} AS ${quoteIdent(cols[c]!.name)}`
      })
      .join(', ')
    const unnest = read.map((_, k) => `pg_catalog.unnest($${k + 1}::pg_catalog.text[])`).join(', ')
    const names = read.map((_, k) => `c${k}`).join(', ')
    // (the domains' columns in the result, else the planner leaves their casts out: a row the query names is cast whole)
    const domainRow =
      domainCols.length === 0 ? '' : `, ROW(${domainCols.map((c) => `t.${quoteIdent(cols[c]!.name)}`).join(', ')}) AS w`
    const domained = domainCols.length === 0 ? '' : ', v.w'
    const failing = rules.map((r, k) => `WHEN (${r.expr}) IS FALSE THEN ${k}`).join(' ')
    const r = await client.query<{ o: string; k: number }>(
      `SELECT v.o, v.k${domained} FROM (
         SELECT t.o, CASE ${failing} END AS k${domainRow}
         FROM (SELECT u.o, ${typed} FROM ROWS FROM (${unnest}) WITH ORDINALITY AS u(${names}, o)) t
       ) v WHERE v.k IS NOT NULL ORDER BY v.o`,
      params,
    )
    const relation = err.table ?? this.schema.name
    return {
      indexes: r.rows.map((x) => Number(x.o) - 1),
      errors: r.rows.map((x) => checkError(relation, rules[x.k]!.name, err)),
    }
  }

  private async lookUp(
    client: pg.Client,
  ): Promise<{ rules: CheckRule[]; collations: (string | undefined)[]; domains: boolean[] }> {
    const r = await client.query<{ name: string; expr: string; cols: string[]; whole: boolean }>(
      `SELECT c.conname AS name, pg_catalog.pg_get_expr(c.conbin, c.conrelid) AS expr,
              ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.conrelid AND a.attnum OPERATOR(pg_catalog.=) ANY (c.conkey)) AS cols,
              0 OPERATOR(pg_catalog.=) ANY (c.conkey) AS whole
       FROM pg_catalog.pg_constraint c
       WHERE c.conrelid = $1::pg_catalog.regclass AND c.contype = 'c'
       ORDER BY c.conname COLLATE "C"`,
      [this.schema.sqlName],
    )
    const attrs = await client.query<{ name: string; coll: string | null; domain: boolean }>(
      `SELECT a.attname::pg_catalog.text AS name,
              pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(l.collname) AS coll,
              (t.typtype = 'd' OR e.typtype IS NOT DISTINCT FROM 'd') AS domain
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
       LEFT JOIN pg_catalog.pg_type e ON e.oid OPERATOR(pg_catalog.=) t.typelem AND t.typcategory = 'A'
       LEFT JOIN pg_catalog.pg_collation l ON l.oid OPERATOR(pg_catalog.=) a.attcollation
       LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) l.collnamespace
       WHERE a.attrelid = $1::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped`,
      [this.schema.sqlName],
    )
    const index = (name: string) => this.schema.columns.findIndex((c) => c.name === name)
    const collations: (string | undefined)[] = this.schema.columns.map(() => undefined)
    const domains: boolean[] = this.schema.columns.map(() => false)
    for (const row of attrs.rows) {
      const i = index(row.name)
      if (i < 0) continue
      if (row.coll !== null) collations[i] = row.coll
      domains[i] = row.domain
    }
    return {
      rules: r.rows.map((row) => ({
        name: row.name,
        expr: row.expr,
        columns: row.whole ? [...row.cols.map(index), -1] : row.cols.map(index),
      })),
      collations,
      domains,
    }
  }
}

/** The columns every row sends (`every`: a column a row leaves to its default cannot be checked here), and those some row sends (`some`). */
function sentColumns(rows: readonly ValidRow[]): { every: Set<number>; some: Set<number> } {
  const shapes = [...new Set(rows.map((r) => r.shape))].map(shapeColumns)
  const some = new Set(shapes.flat())
  const every = new Set([...some].filter((c) => shapes.every((cols) => cols.includes(c))))
  return { every, some }
}

/** The error PostgreSQL gives a row that breaks a CHECK constraint (without its DETAIL, the failing row). */
function checkError(relation: string, constraint: string, like: PgError): PgError {
  return {
    ...(like.code === undefined ? {} : { code: like.code }),
    message: `new row for relation "${relation}" violates check constraint "${constraint}"`,
    constraint,
    table: relation,
  }
}
