import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import type { ValidRow } from '../validate/valid-row.js'
import { encodeCopyText } from './copy-text.js'
import type { RowSender } from './writer.js'

/** Text handed to the COPY stream per write(): large enough to amortise calls, small enough to honour backpressure. */
const COPY_CHUNK_ROWS = 1000

/** Sends rows with COPY … FROM STDIN (text format), the fastest way into PostgreSQL. */
export const copySender: RowSender = {
  async send(client: pg.Client, sql: { table: string; columns: string }, columns: readonly number[], rows: readonly ValidRow[]) {
    const stream = client.query(copyFrom(`COPY ${sql.table} (${sql.columns}) FROM STDIN`))
    // Written directly, honouring write()'s return value as pg-copy-streams' own flush() does:
    // pipeline(Readable.from(…)) cost about 0.2 ms more per statement, which adds up while bad
    // rows are isolated statement by statement. finished() resolves once PostgreSQL has
    // confirmed the COPY (pg-copy-streams holds back 'finish' until ReadyForQuery).
    const done = finished(stream)
    for (let i = 0; i < rows.length; i += COPY_CHUNK_ROWS) {
      if (!stream.write(encodeCopyText(rows.slice(i, i + COPY_CHUNK_ROWS), columns))) await Promise.race([once(stream, 'drain'), done])
    }
    stream.end()
    await done
  },
  /** COPY's error CONTEXT names the failing line ("COPY t, line 3, column b"); the word "line" may be translated, the shape is not. */
  failedRowIndex(err, relname) {
    const where = (err as { where?: string }).where
    if (!where) return undefined
    const m = new RegExp(`^COPY ${relname.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&')}, \\D*?(\\d+)`, 'm').exec(where)
    return m ? Number(m[1]) - 1 : undefined
  },
}
