import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { ValidRow } from '../validate/valid-row.js'
import type { CsvDialect } from '../parse/dialect.js'
import { copyCsvOptions, encodeCopyCsv } from './copy-csv.js'
import { DEFAULT_MARKER, encodeCopyText } from './copy-text.js'
import type { RowSender, SenderSql } from './types.js'

/** Text handed to the COPY stream per write(): large enough to amortise calls, small enough to honour backpressure. */
const COPY_CHUNK_ROWS = 1000

/**
 * Sends rows with COPY … FROM STDIN, the fastest way into PostgreSQL: rows of a CSV input in
 * CSV format, as their own bytes (PostgreSQL reads them again, so pgbulk need not write them);
 * other rows in text format, written from their values.
 */
export const copySender: RowSender = {
  async send(
    client: pg.Client,
    sql: SenderSql,
    columns: readonly number[],
    rows: readonly ValidRow[],
    hasDefault: readonly boolean[] | undefined,
  ) {
    // Rows of several shapes (NDJSON) are text lines with DEFAULT_MARKER for what a row lacks.
    const { dialect, csv } = hasDefault ? {} : csvFormat(rows)
    const options = csv ?? (hasDefault ? `DEFAULT E'${DEFAULT_MARKER.replaceAll('\\', '\\\\')}'` : undefined)
    const stream = client.query(
      copyFrom(`${sql.comment}COPY ${sql.table} (${sql.columns}) FROM STDIN${options ? ` (${options})` : ''}`),
    )
    // Written directly, honouring write()'s return value as pg-copy-streams' own flush() does:
    // pipeline(Readable.from(…)) cost about 0.2 ms more per statement, which adds up while bad
    // rows are isolated statement by statement. finished() resolves once PostgreSQL has
    // confirmed the COPY (pg-copy-streams holds back 'finish' until ReadyForQuery).
    const done = finished(stream)
    for (let i = 0; i < rows.length; i += COPY_CHUNK_ROWS) {
      const part = rows.slice(i, i + COPY_CHUNK_ROWS)
      const pieces = csv ? encodeCopyCsv(part, columns, dialect!) : [encodeCopyText(part, columns, hasDefault)]
      for (const piece of pieces) if (!stream.write(piece)) await Promise.race([once(stream, 'drain'), done])
    }
    stream.end()
    await done
    return { stored: stream.rowCount }
  },
  /** COPY's DEFAULT option came with PostgreSQL 16. */
  canSendDefaults: (serverVersionNum) => serverVersionNum >= 160000,
  /**
   * COPY's error CONTEXT names the failing line ("COPY t, line 3, column b"); the word "line" may be translated,
   * the shape is not.
   */
  failedRowIndex(err, relname, rows) {
    const where = (err as { where?: string }).where
    if (!where) return undefined
    const m = new RegExp(`^COPY ${relname.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&')}, \\D*?(\\d+)`, 'm').exec(where)
    if (!m) return undefined
    return csvFormat(rows).csv ? rowAtCsvLine(Number(m[1]), rows) : Number(m[1]) - 1
  },
}

/**
 * Whether rows go as CSV (their own bytes), and COPY's options for it:
 * rows of one CSV input whose dialect COPY reads the same way.
 */
function csvFormat(rows: readonly ValidRow[]): { dialect?: CsvDialect; csv?: string | undefined } {
  const dialect = rows[0]?.csv
  return dialect && rows.every((r) => r.csv === dialect) ? { dialect, csv: copyCsvOptions(dialect) } : {}
}

/**
 * The row COPY names by line in CSV format. PostgreSQL counts the line endings inside quoted
 * values too: newlines after the first row, and in the first row (while the line ending is not
 * known yet) carriage returns; it names the line where the failing row ends. Measured on
 * PostgreSQL 15 and 18. Undefined when no row ends on that line.
 */
function rowAtCsvLine(line: number, rows: readonly { raw: Buffer }[]): number | undefined {
  let at = 0
  for (let k = 0; k < rows.length; k++) {
    at += 1 + countByte(rows[k]!.raw, k === 0 ? 0x0d : 0x0a)
    if (at === line) return k
    if (at > line) return undefined
  }
  return undefined
}

function countByte(b: Buffer, byte: number): number {
  let n = 0
  for (let i = b.indexOf(byte); i >= 0; i = b.indexOf(byte, i + 1)) n++
  return n
}
