// The types every writer shares: the pipeline's seam to the database (Writer), what it is given
// back for a batch, and the seam a way of sending rows (COPY, INSERT, and the load modes'
// statements) plugs into (RowSender).
import type pg from 'pg'
import type { TableSchema } from '../schema/introspect.js'
import type { ValidRow } from '../validate/valid-row.js'

/**
 * Writes one batch in one transaction and says what became of its rows. The pipeline calls it
 * without knowing how rows land: BatchWriter (writer.ts) runs the transaction, the retries and
 * the search for bad rows around a RowSender (COPY or INSERT; a new load mode adds its own).
 */
export interface Writer {
  /** The connection in use (it changes after a reconnect): checkpoints and lock probes run on it. */
  readonly connection: pg.Client
  /**
   * Write a batch; `beforeCommit` runs inside its transaction once every row was sent (on each attempt).
   * With `emptyFirst` (--mode truncate), the transaction empties the table before its rows go in.
   */
  write(rows: readonly ValidRow[], call?: WriteCall): Promise<WriteResult>
  close(): Promise<void>
  /** Write into another table of the same columns from now on (--mode replace: its staging table). */
  retarget(table: TableSchema): void
}

/** How a batch is written, besides its rows. */
export interface WriteCall {
  /** Runs inside its transaction once every row was sent (on each attempt): what it writes commits with the batch. */
  beforeCommit?: BeforeCommit
  /** --mode truncate: the transaction empties the table before its rows go in. */
  emptyFirst?: boolean
  /** A comment leading each of its statements (its run and batch), for the server's logs and pg_stat_activity. */
  comment?: string
}

/** The SQL names a RowSender writes into, and the comment its statements start with. */
export interface SenderSql {
  table: string
  columns: string
  comment: string
}

/** What differs between COPY and INSERT: how rows are sent, and whether the error names the failing row. */
export interface RowSender {
  /**
   * Send rows inside the current transaction; resolves with the rows stored (the command tag's
   * count), and of those, how many updated a row already there (--mode upsert). With `hasDefault`
   * (whether each of `columns` has a default), a row may lack values (undefined): the column's
   * DEFAULT, or NULL where it has none; else every row has every column.
   */
  send(
    client: pg.Client,
    sql: SenderSql,
    columns: readonly number[],
    rows: readonly ValidRow[],
    hasDefault: readonly boolean[] | undefined,
  ): Promise<Sent>
  /** Whether send() can take `defaults` on this server version. */
  canSendDefaults(serverVersionNum: number): boolean
  /**
   * false when a value already in the table does not make a row bad (--mode upsert and ignore: the
   * row updates or leaves that row): a unique violation is then not looked up by value (KeyCheck).
   */
  uniqueValuesTell?: boolean
  /** Index of the failing row in `rows`, when the error says which one it was. */
  failedRowIndex(err: unknown, relname: string, rows: readonly ValidRow[]): number | undefined
}

/** What a statement did: rows stored (inserted or updated), and how many of those were updates. */
export interface Sent {
  stored: number
  updated?: number
}

/** One row the database refused, with the error and how many times its batch was tried. */
export interface RowFailure {
  row: ValidRow
  error: PgError
  attempts: number
}

/** Work done inside a batch's transaction after its rows went in, before COMMIT. */
export type BeforeCommit = (client: pg.Client, result: WriteResult) => Promise<void>

/** The outcome of one batch: rows committed, and rows the database refused. */
export interface WriteResult {
  /** Rows stored, as PostgreSQL counted them. */
  loaded: number
  /**
   * Rows sent without error but not stored: a BEFORE ROW trigger returned NULL for them; in --mode
   * ignore, their key was there; in --mode upsert, the update had nothing to set or was not newer.
   */
  skipped: number
  /** Of the rows loaded, those that updated a row already there (--mode upsert). */
  updated?: number
  rejected: RowFailure[]
  /** Attempts of the batch that failed on a lock wait of its own (lock_not_available, 55P03) before it went through. */
  lockTimeouts?: number
  /** The COMMIT's round trip. */
  commitMs?: number
  /** Attempts it took (1 unless a passing fault hit it). */
  attempts?: number
  /** Its transaction id (txid_current), when it ran in a transaction of its own. */
  xid?: string
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
