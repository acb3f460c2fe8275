import type pg from 'pg'
import type { ValidRow } from '../validate/valid-row.js'
import type { RowSender, SenderSql, Sent } from './types.js'

/** The Bind message carries an Int16 parameter count. */
export const MAX_BIND_PARAMS = 65535

/**
 * Sends rows as multi-row parameterised INSERT statements, never more than MAX_BIND_PARAMS
 * parameters each; with `overriding`, values for GENERATED ALWAYS identity columns are stored
 * (OVERRIDING SYSTEM VALUE), as COPY stores them.
 */
export const insertSender = (overriding = false): RowSender => ({
  async send(
    client: pg.Client,
    sql: SenderSql,
    columns: readonly number[],
    rows: readonly ValidRow[],
    hasDefault: readonly boolean[] | undefined,
  ): Promise<Sent> {
    const perStatement = Math.max(1, Math.floor(MAX_BIND_PARAMS / Math.max(1, columns.length)))
    let stored = 0
    for (let i = 0; i < rows.length; i += perStatement) {
      const part = rows.slice(i, i + perStatement)
      const params: (string | null)[] = []
      const tuples: string[] = []
      for (const row of part) {
        const slots: string[] = []
        for (const c of columns) {
          const v = row.values[c]
          // (DEFAULT is NULL for a column without one)
          if (v === undefined && hasDefault) {
            slots.push('DEFAULT')
            continue
          }
          params.push(v ?? null)
          slots.push(`$${params.length}`)
        }
        tuples.push(`(${slots.join(',')})`)
      }
      const override = overriding ? ' OVERRIDING SYSTEM VALUE' : ''
      const text =
        columns.length === 0
          ? `${sql.comment}INSERT INTO ${sql.table} DEFAULT VALUES`
          : `${sql.comment}INSERT INTO ${sql.table} (${sql.columns})${override} VALUES ${tuples.join(',')}`
      if (columns.length === 0) for (let k = 0; k < part.length; k++) stored += (await client.query(text)).rowCount ?? 0
      else stored += (await client.query(text, params)).rowCount ?? 0
    }
    return { stored }
  },
  failedRowIndex: () => undefined,
  canSendDefaults: () => true,
})
