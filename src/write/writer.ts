import type pg from 'pg'
import { LoadError } from '../errors.js'
import type { Rejection } from '../reject/rejection.js'
import type { TableSchema } from '../schema/introspect.js'
import { quoteIdent } from '../schema/introspect.js'
import type { ValidRow } from '../validate/valid-row.js'
import { insertSender } from './insert-writer.js'

/** What differs between COPY and INSERT: how rows are sent, and whether the error names the failing row. */
export interface RowSender {
  method: 'copy' | 'insert'
  /** Send rows (all of one shape) inside the current transaction. */
  send(client: pg.Client, sql: { table: string; columns: string }, columns: readonly number[], rows: readonly ValidRow[]): Promise<void>
  /** Index of the failing row in `rows`, when the error says which one it was. */
  failedRowIndex(err: unknown, relname: string): number | undefined
}

/** The outcome of one batch: rows committed, and rows the database refused. */
export interface WriteResult {
  loaded: number
  rejected: { row: ValidRow; error: PgError }[]
  /** Statements sent again while looking for bad rows. */
  isolationRounds: number
}

/** The fields of a node-postgres DatabaseError that pgbulk uses. */
export interface PgError {
  code?: string
  message: string
  detail?: string
  constraint?: string
  table?: string
  column?: string
  where?: string
}

/**
 * SQLSTATE classes that say something about one row's data: data exceptions (22), integrity
 * violations (23), WITH CHECK OPTION (44), PL/pgSQL RAISE from a trigger (P0), and row-size
 * limits (54000). Anything else (connection, permissions, resources, server shutdown) ends the run.
 */
export function isRowError(err: unknown): err is PgError {
  const code = (err as PgError | undefined)?.code
  if (typeof code !== 'string' || code.length !== 5) return false
  const cls = code.slice(0, 2)
  return cls === '22' || cls === '23' || cls === '44' || cls === 'P0' || code === '54000'
}

/**
 * Writes one batch in one transaction. On the happy path that is BEGIN, one COPY (or a few
 * INSERTs) and COMMIT. If the database refuses a row, the transaction is rolled back and the batch
 * is sent again under savepoints: the failing row is taken from the error's CONTEXT when COPY
 * names it, else the failing segment is halved (pgloader's copy-retry-batch does the same), so k
 * bad rows cost O(k·log N) statements. The good rows then commit together, still one transaction.
 */
export class BatchWriter {
  private readonly tableSql: string

  constructor(
    private readonly client: pg.Client,
    private readonly schema: TableSchema,
    private readonly sender: RowSender,
  ) {
    this.tableSql = schema.sqlName
  }

  async write(rows: readonly ValidRow[]): Promise<WriteResult> {
    const groups = groupByShape(rows)
    await this.query('BEGIN; SET CONSTRAINTS ALL IMMEDIATE')
    try {
      for (const g of groups) await this.sendGroup(g)
      await this.query('COMMIT')
      return { loaded: rows.length, rejected: [], isolationRounds: 0 }
    } catch (err) {
      await this.rollback()
      if (!isRowError(err)) throw err
    }
    return this.writeIsolating(groups)
  }

  private async writeIsolating(groups: ValidRow[][]): Promise<WriteResult> {
    const rejected: WriteResult['rejected'] = []
    let loaded = 0
    let rounds = 0
    const queue = [...groups]
    await this.query('BEGIN; SET CONSTRAINTS ALL IMMEDIATE')
    try {
      while (queue.length > 0) {
        const seg = queue.shift()!
        await this.query('SAVEPOINT pgbulk_segment')
        rounds++
        try {
          await this.sendGroup(seg)
          await this.query('RELEASE SAVEPOINT pgbulk_segment')
          loaded += seg.length
          continue
        } catch (err) {
          if (!isRowError(err)) throw err
          await this.query('ROLLBACK TO SAVEPOINT pgbulk_segment')
          const at = this.sender.failedRowIndex(err, this.schema.name)
          if (at !== undefined && at >= 0 && at < seg.length) {
            rejected.push({ row: seg[at]!, error: err })
            queue.unshift(...[seg.slice(0, at), seg.slice(at + 1)].filter((s) => s.length > 0))
          } else if (seg.length === 1) {
            rejected.push({ row: seg[0]!, error: err })
          } else {
            const mid = Math.ceil(seg.length / 2)
            queue.unshift(seg.slice(0, mid), seg.slice(mid))
          }
        }
      }
      await this.query('COMMIT')
    } catch (err) {
      await this.rollback()
      throw err
    }
    return { loaded, rejected, isolationRounds: rounds }
  }

  private async sendGroup(rows: readonly ValidRow[]): Promise<void> {
    const columns = presentColumns(rows[0]!)
    const sql = { table: this.tableSql, columns: columns.map((i) => quoteIdent(this.schema.columns[i]!.name)).join(', ') }
    // COPY needs at least one column; rows with none get INSERT … DEFAULT VALUES.
    const sender = columns.length === 0 ? insertSender : this.sender
    await sender.send(this.client, sql, columns, rows)
  }

  private async query(sql: string): Promise<void> {
    await this.client.query(sql)
  }

  private async rollback(): Promise<void> {
    await this.client.query('ROLLBACK').catch(() => {})
  }
}

/** Rows of the same shape, in input order of first appearance. */
function groupByShape(rows: readonly ValidRow[]): ValidRow[][] {
  const first = rows[0]
  if (first === undefined) return []
  if (rows.every((r) => r.shape === first.shape)) return [rows.slice()]
  const groups = new Map<string, ValidRow[]>()
  for (const r of rows) {
    const g = groups.get(r.shape)
    if (g) g.push(r)
    else groups.set(r.shape, [r])
  }
  return [...groups.values()]
}

function presentColumns(row: ValidRow): number[] {
  return row.shape === '' ? [] : row.shape.split(',').map(Number)
}

/** Turn a database refusal into a reject-file entry's fields. */
export function databaseRejectionFields(error: PgError, batch: number): Pick<Rejection, 'stage' | 'code' | 'message' | 'pg' | 'batch'> & Partial<Rejection> {
  return {
    stage: 'database',
    code: error.code ?? 'XX000',
    message: error.message,
    ...(error.column ? { columnName: error.column } : {}),
    pg: {
      code: error.code ?? 'XX000',
      ...(error.constraint ? { constraint: error.constraint } : {}),
      ...(error.detail ? { detail: error.detail } : {}),
      ...(error.table ? { table: error.table } : {}),
      ...(error.column ? { column: error.column } : {}),
    },
    batch,
  }
}

/** A database error that ends the run, saying what was committed before it. */
export function fatalDatabaseError(
  err: unknown,
  committed: { batches: number; rows: number },
  failed: { file: string; line: number; rows: number },
): LoadError {
  const e = err as PgError
  const what = e.code ? `${e.message} (SQLSTATE ${e.code})` : e.message
  return new LoadError(
    'DB_FATAL',
    `database error: ${what}; the batch of ${failed.rows} rows from ${failed.file}:${failed.line} on was rolled back; ${committed.batches} batch${committed.batches === 1 ? '' : 'es'} (${committed.rows} rows) had been committed before it and stay committed`,
    undefined,
    undefined,
    { cause: err },
  )
}
