import type pg from 'pg'
import { LoadError } from '../errors.js'
import { batchCount } from '../report/words.js'
import type { Rejection } from '../reject/rejection.js'
import type { TableSchema } from '../schema/introspect.js'
import { quoteIdent } from '../schema/introspect.js'
import type { ValidRow } from '../validate/valid-row.js'
import { shapeColumns } from '../validate/valid-row.js'
import { insertSender } from './insert-writer.js'
import type { BeforeCommit, PgError, RowSender, Sent, WriteCall, WriteResult, Writer } from './types.js'
import type { FailureLocation } from './isolate-bad-rows.js'
import { isolateBadRows, ProbeSize, rowsMatchingKeyDetail } from './isolate-bad-rows.js'
import { holdRepeats, KeyCheck } from './key-check.js'
import { CheckConstraints } from './check-constraints.js'

/**
 * SQLSTATEs that are never one row's doing: connection (08), transaction state (25), invalid
 * statement or authorization (26, 28, 2D, 34), savepoints (3B), missing catalog or schema (3D,
 * 3F), privileges and missing objects (42501, 42P01, 42703, 42883), resources (53), object state
 * (55), operator intervention (57), system and internal errors (58, XX), configuration (F0),
 * foreign data wrappers (HV). They end the run (or are retried, see classifyFault).
 */
const SYSTEMIC_CLASSES = new Set([
  '08',
  '25',
  '26',
  '28',
  '2D',
  '34',
  '3B',
  '3D',
  '3F',
  '53',
  '55',
  '57',
  '58',
  'F0',
  'HV',
  'XX',
])
const SYSTEMIC_CODES = new Set(['42501', '42P01', '42703', '42883'])

/**
 * SQLSTATE classes known to be about one row's data: data exceptions (22), integrity violations
 * (23), WITH CHECK OPTION (44), PL/pgSQL RAISE (P0), row-size limits (54000).
 */
function isKnownRowError(code: string): boolean {
  const cls = code.slice(0, 2)
  return cls === '22' || cls === '23' || cls === '44' || cls === 'P0' || code === '54000'
}

/**
 * Whether an error may be one row's: any SQLSTATE but the systemic ones. A type's input function
 * (tsvector: 42601), a nesting limit (54001) or a trigger's own code (45000) are as much the
 * row's as a bad integer; isolation shows which rows fail alone (and sendAll ends the run when an
 * unlisted error fails every row, which no row's data explains).
 */
export function isRowError(err: unknown): err is PgError {
  const code = (err as PgError | undefined)?.code
  if (typeof code !== 'string' || code.length !== 5) return false
  return (
    !SYSTEMIC_CLASSES.has(code.slice(0, 2)) &&
    !SYSTEMIC_CODES.has(code) &&
    !STATEMENT_FAULTS.has(code) &&
    !code.startsWith('40')
  )
}

/**
 * Faults that pass inside a healthy connection: serialization failure, deadlock, lock not
 * available (lock_timeout), statement timeout or cancel. The transaction is rolled back and sent
 * again on the same connection.
 */
const STATEMENT_FAULTS = new Set(['40001', '40P01', '55P03', '57014'])

/** Server going away or not taking connections yet: shutdown, crash, restart, too many connections. */
const CONNECTION_FAULTS = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006'])

const SOCKET_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTCONN'])

/** Is the error a passing fault, and does it leave the connection unusable? */
export function classifyFault(err: unknown): 'statement' | 'connection' | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  if (typeof code === 'string') {
    if (STATEMENT_FAULTS.has(code)) return 'statement'
    if (CONNECTION_FAULTS.has(code) || SOCKET_ERRORS.has(code)) return 'connection'
  }
  const message = err instanceof Error ? err.message : ''
  // node-postgres reports a dropped socket without a code.
  if (/Connection terminated|connection error|not queryable|Connection ended/i.test(message)) return 'connection'
  // A failed reconnect arrives wrapped (LoadError DB_CONNECT): look at what it wraps.
  const cause = (err as { cause?: unknown } | undefined)?.cause
  return cause === undefined || cause === err ? undefined : classifyFault(cause)
}

/** How a writer retries passing faults. */
export interface RetryPolicy {
  /** Attempts per batch, the first one included. */
  attempts: number
  /** The first backoff cap; it doubles per attempt up to maxDelayMs. */
  baseDelayMs: number
  maxDelayMs: number
  /** [0, 1), replaceable in tests. */
  random: () => number
  sleep: (ms: number) => Promise<void>
  /** Told before each wait, for the log. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void
}

/**
 * Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * uniform in [0, min(max, base·2^(attempt-1))), so clients that failed together do not retry together.
 */
export function backoffDelayMs(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'random'>,
): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.floor(policy.random() * cap)
}

/**
 * While looking for a poison pill, this many statement faults in a row
 * with no statement passing mean the fault is not the rows'.
 */
const POISON_SEARCH_MAX_FAULTS_IN_A_ROW = 8

/** The batch's fate is not known: the connection dropped after COMMIT was sent, and the server could not tell. */
export class CommitUnknownError extends Error {
  override readonly name = 'CommitUnknownError'
}

/**
 * Writes one batch in one transaction: BEGIN, the rows in statements under a savepoint each
 * (one statement for a clean batch), COMMIT. Rows the database refuses are found without losing
 * the others (isolate-bad-rows.ts) and the good ones still commit together. A passing fault
 * (dropped connection, server restart, deadlock, lock or statement timeout) rolls the transaction
 * back and sends the batch again after a jittered backoff, on a new connection when needed; when
 * the connection dropped after COMMIT was sent, the transaction id taken inside the batch tells
 * whether it committed (txid_status), so a batch is never loaded twice nor lost.
 */
export class BatchWriter implements Writer {
  private tableSql: string
  private readonly probe: ProbeSize
  private keys: KeyCheck
  private checks: CheckConstraints

  constructor(
    private client: pg.Client,
    private schema: TableSchema,
    private readonly sender: RowSender,
    private readonly reconnect: () => Promise<pg.Client>,
    private readonly retry: RetryPolicy,
    /** false for --dry-run=db: everything runs, and nothing is committed. */
    private readonly commit = true,
    /** --mode truncate: the longest the emptying waits for a lock (then the batch is tried again, backed off). */
    private readonly lockBudgetMs = 200,
  ) {
    this.tableSql = schema.sqlName
    this.probe = new ProbeSize(Number.MAX_SAFE_INTEGER)
    this.keys = new KeyCheck(schema)
    this.checks = new CheckConstraints(schema)
  }

  /** Write into another table of the same columns from now on (--mode replace: its staging table). */
  retarget(table: TableSchema): void {
    this.schema = table
    this.tableSql = table.sqlName
    this.keys = new KeyCheck(table)
    this.checks = new CheckConstraints(table)
  }

  /** The connection in use (it changes after a reconnect). */
  get connection(): pg.Client {
    return this.client
  }

  /**
   * Write a batch. `beforeCommit` runs inside the transaction once every statement passed (on
   * each attempt): what it writes (a checkpoint) commits with the batch or not at all.
   */
  async write(rows: readonly ValidRow[], call: WriteCall = {}): Promise<WriteResult> {
    const { beforeCommit, emptyFirst = false, comment = '' } = call
    this.comment = comment
    if (!this.commit) return this.writeRolledBack(rows, beforeCommit, emptyFirst)
    // Outside the statements' savepoint (a row that fails must not undo it), waiting at most the lock
    // budget for readers to let go: a TRUNCATE that queues makes every reader after it queue too.
    const empty = emptyFirst
      ? `SET LOCAL lock_timeout = ${this.lockBudgetMs}; TRUNCATE ${this.tableSql}; SET LOCAL lock_timeout = DEFAULT; `
      : ''
    let lockTimeouts = 0
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.retry.attempts
      let xid: string | undefined
      // Set once every statement passed: COMMIT is then on its way.
      let result: WriteResult | undefined
      try {
        const begun = await this.client.query<{ xid: string }>(
          `${comment}BEGIN; SET CONSTRAINTS ALL IMMEDIATE; ` +
            `SELECT pg_catalog.txid_current()::pg_catalog.text AS xid; ${empty}SAVEPOINT pgbulk`,
        )
        this.savepoint = 'clean'
        xid = (begun as unknown as pg.QueryResult<{ xid: string }>[])[2]?.rows[0]?.xid
        const sent = await this.sendAll(rows, attempt, last)
        sent.attempts = attempt
        if (xid !== undefined) sent.xid = xid
        await beforeCommit?.(this.client, sent)
        result = sent
        const t0 = performance.now()
        await this.client.query(`${comment}COMMIT`)
        result.commitMs = performance.now() - t0
        if (lockTimeouts > 0) result.lockTimeouts = lockTimeouts
        return result
      } catch (err) {
        const fault = classifyFault(err)
        if ((err as PgError).code === '55P03') lockTimeouts++
        if (fault === 'connection') await this.replaceConnection(err, last)
        else await this.client.query(`${comment}ROLLBACK`).catch(() => {})
        if (fault === 'connection' && result && xid !== undefined) {
          // The COMMIT's answer was lost: ask whether it happened.
          const status = await this.commitStatus(xid)
          if (status === 'committed') return { ...result, attempts: attempt, xid }
          if (status === undefined)
            throw new CommitUnknownError(
              `the connection dropped after COMMIT and transaction ${xid} could not be looked up`,
              { cause: err },
            )
        }
        if (!fault || last) throw err
        const delayMs = backoffDelayMs(attempt, this.retry)
        this.retry.onRetry?.({ attempt, delayMs, error: err })
        await this.retry.sleep(delayMs)
      }
    }
  }

  private dryRunOpen = false
  /** The comment leading the statements of the batch being written. */
  private comment = ''

  /**
   * --dry-run=db: every batch runs under a savepoint of one transaction that is rolled back at
   * close(), so that a key repeated across batches is caught as the real load would catch it,
   * and nothing is ever committed. A dropped connection ends the dry run (there is nothing to retry into).
   */
  private async writeRolledBack(
    rows: readonly ValidRow[],
    beforeCommit: BeforeCommit | undefined,
    emptyFirst: boolean,
  ): Promise<WriteResult> {
    if (!this.dryRunOpen) {
      await this.client.query('BEGIN; SET CONSTRAINTS ALL IMMEDIATE')
      this.dryRunOpen = true
    }
    // (a dry run empties the table with DELETE: rolled back all the same, and readers are not locked out meanwhile)
    const empty = emptyFirst ? `DELETE FROM ${this.tableSql}; ` : ''
    await this.client.query(`${this.comment}SAVEPOINT pgbulk_batch; ${empty}SAVEPOINT pgbulk`)
    this.savepoint = 'clean'
    const result = await this.sendAll(rows, 1, true)
    await beforeCommit?.(this.client, result)
    await this.client.query(`${this.comment}RELEASE SAVEPOINT pgbulk_batch`)
    return result
  }

  private async sendAll(rows: readonly ValidRow[], attempt: number, last: boolean): Promise<WriteResult> {
    const result: WriteResult = { loaded: 0, skipped: 0, rejected: [] }
    this.faultsInARow = 0
    this.stored = 0
    this.updated = 0
    for (const group of statementGroups(rows, this.sender.canSendDefaults(this.schema.serverVersionNum))) {
      const r = await isolateBadRows<ValidRow, PgError>(
        group.rows,
        this.probe,
        (seg) => this.trySend(seg, group, last),
        (err, seg) => this.locate(err, seg),
        this.holdRepeats(group.rows),
      )
      // An error outside the known row classes that fails every row of several is the
      // statement's (a broken trigger, say), not the rows': the run stops instead of rejecting all.
      // (The error is the DatabaseError node-postgres threw; PgError names the fields pgbulk reads.)
      if (r.loaded === 0 && r.rejected.length > 1 && r.rejected.every((f) => !isKnownRowError(f.error.code ?? '')))
        throw r.rejected[0]!.error as PgError & Error
      result.loaded += r.loaded
      for (const f of r.rejected) result.rejected.push({ ...f, attempts: attempt })
    }
    // Every row of a statement that passed was decided; PostgreSQL's count says how many it stored.
    result.skipped = Math.max(0, result.loaded - this.stored)
    result.loaded -= result.skipped
    if (this.updated > 0) result.updated = this.updated
    return result
  }

  /**
   * Once a statement broke a unique key that KeyCheck can ask about, and only where a repeated key
   * fails (append, not ON CONFLICT) and the values sent are the values stored (no BEFORE ROW
   * trigger): the rows that repeat an earlier row's key, held back for a statement after the others.
   */
  private holdRepeats(rows: readonly ValidRow[]): number[] | undefined {
    if (this.sender.uniqueValuesTell === false || this.schema.beforeRowTriggers) return undefined
    const columns = this.keys.uniqueColumns()
    return columns.length === 0 ? undefined : holdRepeats(rows, columns)
  }

  /**
   * One statement under a savepoint. A row error is returned (after rolling back to the
   * savepoint); so is a statement timeout of a statement of several rows, which only says that
   * the statement was too big (the search splits it); on the last attempt a statement fault of a
   * single row is too, so that a row that times out or deadlocks every time is set aside as a
   * poison pill instead of failing the run.
   */
  private async trySend(seg: readonly ValidRow[], group: StatementGroup, last: boolean): Promise<PgError | undefined> {
    // One round trip per statement for the savepoint: a fresh one after a statement that passed
    // (RELEASE and SAVEPOINT in one query), none after a rollback (ROLLBACK TO keeps it).
    if (this.savepoint === 'used') await this.client.query(`${this.comment}RELEASE SAVEPOINT pgbulk; SAVEPOINT pgbulk`)
    this.savepoint = 'clean'
    try {
      const sent = await this.sendGroup(seg, group)
      this.stored += sent.stored
      this.updated += sent.updated ?? 0
      this.savepoint = 'used'
      this.faultsInARow = 0
      return undefined
    } catch (err) {
      const tooBig = (err as PgError).code === '57014' && seg.length > 1
      // A fault that hits row after row alone with nothing passing in between is not a row's
      // doing (a lock held elsewhere, a server too slow): the run gives up instead of setting
      // good rows aside.
      const poisonSearch =
        !tooBig &&
        last &&
        classifyFault(err) === 'statement' &&
        ++this.faultsInARow <= POISON_SEARCH_MAX_FAULTS_IN_A_ROW
      if (!isRowError(err) && !tooBig && !poisonSearch) throw err
      await this.client.query(`${this.comment}ROLLBACK TO SAVEPOINT pgbulk`)
      return err as PgError
    }
  }

  private faultsInARow = 0
  /** Rows stored by the statements of this attempt that passed. */
  private stored = 0
  /** Of those, rows that updated a row already there (--mode upsert). */
  private updated = 0
  /**
   * The savepoint each statement runs under: just made or rolled back to ('clean'),
   * or holding a statement's rows ('used').
   */
  private savepoint: 'clean' | 'used' = 'clean'

  /**
   * Where the bad rows of a failed statement are: all of them at once when the database can be
   * asked (a single-column foreign or unique key), else the line COPY names, else the rows that
   * hold the key in the error's DETAIL, else unknown (the statement is halved).
   */
  private async locate(err: PgError, seg: readonly ValidRow[]): Promise<FailureLocation<PgError>> {
    // A statement cut short (a timeout, a deadlock) names the line COPY had reached, not a bad row.
    if (classifyFault(err) === 'statement') return { kind: 'unknown' }
    const asked = await this.askKeys(err, seg)
    // (alone: refused whatever other rows are sent; KeyCheck's parent is another table)
    const alone = err.code === '23503'
    if (asked && asked.bad.length + asked.held.length > 0)
      return { kind: 'rows', indexes: asked.bad, held: asked.held, certain: true, complete: true, alone }
    const checked = await this.ask(() => this.checks.badRows(this.client, err, seg))
    if (checked && checked.indexes.length > 0)
      return { kind: 'rows', ...checked, certain: true, complete: true, alone: true }
    const index = this.sender.failedRowIndex(err, this.schema.name, seg)
    const code = err.code ?? ''
    if (index !== undefined)
      return { kind: 'exact', index, alone: code === '23502' || code === '23514' || code.startsWith('22') }
    // From the DETAIL alone: a missing parent key fails every row that holds it (the check reads
    // only those columns); a duplicate key does not (the first of two equal keys may be the good one).
    const indexes = rowsMatchingKeyDetail(err.detail, seg, (name) =>
      this.schema.columns.findIndex((c) => c.name === name),
    )
    if (indexes.length === 0) return { kind: 'unknown' }
    // (the DETAIL names the value stored, which a BEFORE ROW trigger may have made from another one)
    const certain =
      err.code === '23503' && /is not present in table/.test(err.detail ?? '') && !this.schema.beforeRowTriggers
    return { kind: 'rows', indexes, certain, complete: false }
  }

  /**
   * KeyCheck's answer; a failure of its query is rolled back and ignored
   * (the statement-by-statement search still works).
   */
  private async askKeys(
    err: PgError,
    seg: readonly ValidRow[],
  ): Promise<{ bad: number[]; held: number[] } | undefined> {
    if (err.code === '23505' && this.sender.uniqueValuesTell === false) return undefined
    return this.ask(() => this.keys.badRows(this.client, err, seg))
  }

  /** A question about a failed statement's rows (KeyCheck, CheckConstraints); when its query fails, undefined. */
  private async ask<T>(question: () => Promise<T | undefined>): Promise<T | undefined> {
    try {
      return await question()
    } catch (e) {
      if (classifyFault(e) === 'connection') throw e
      await this.client.query(`${this.comment}ROLLBACK TO SAVEPOINT pgbulk`)
      return undefined
    }
  }

  /** Send rows with the columns of their group (a row may lack some: their DEFAULT). */
  private async sendGroup(rows: readonly ValidRow[], { columns, defaults }: StatementGroup): Promise<Sent> {
    const sql = {
      table: this.tableSql,
      columns: columns.map((i) => quoteIdent(this.schema.columns[i]!.name)).join(', '),
      comment: this.comment,
    }
    // COPY needs at least one column; rows with none get INSERT … DEFAULT VALUES.
    const sender = columns.length === 0 ? DEFAULT_VALUES_SENDER : this.sender
    return sender.send(
      this.client,
      sql,
      columns,
      rows,
      defaults ? columns.map((i) => this.schema.columns[i]!.hasDefault) : undefined,
    )
  }

  /** Drop a broken connection and open a new one; on the last attempt a failure to reconnect is left to the caller. */
  private async replaceConnection(cause: unknown, last: boolean): Promise<void> {
    await this.client.end().catch(() => {})
    try {
      this.client = await this.reconnect()
    } catch {
      // The next attempt tries again: the closed client fails its first query as "not queryable", a connection fault.
      if (last) throw cause
    }
  }

  /**
   * 'committed', 'aborted', or undefined when the server cannot say. Waits while the old backend is still finishing.
   */
  private async commitStatus(xid: string): Promise<string | undefined> {
    for (let i = 0; i < 50; i++) {
      const r = await this.client
        .query<{ s: string | null }>('SELECT pg_catalog.txid_status($1::pg_catalog.int8) AS s', [xid])
        .catch(() => undefined)
      const s = r?.rows[0]?.s ?? undefined
      if (s !== 'in progress') return s ?? undefined
      await this.retry.sleep(100)
    }
    return undefined
  }

  /** Roll back a dry run's transaction. The connection itself belongs to the caller. */
  async close(): Promise<void> {
    if (this.dryRunOpen) await this.client.query('ROLLBACK').catch(() => {})
    this.dryRunOpen = false
  }
}

/** Rows with no column to send: INSERT … DEFAULT VALUES, one per row. */
const DEFAULT_VALUES_SENDER = insertSender()

/** Rows sent together, in input order, with the columns their statements name. */
interface StatementGroup {
  rows: ValidRow[]
  columns: number[]
  /** Rows of several shapes: a value a row lacks is sent as DEFAULT. */
  defaults: boolean
}

/**
 * The batch's rows in statements that keep input order, so that the first of two rows with one
 * key is the one stored and defaults (a serial, say) are taken in input order. Rows of one shape
 * (every CSV row) are one group. Rows of several shapes (NDJSON objects with different keys)
 * are one group naming every column any of them has, the others' values being DEFAULT, when the
 * sender can say DEFAULT per value (INSERT; COPY from PostgreSQL 16); else runs of consecutive
 * rows of one shape.
 */
function statementGroups(rows: readonly ValidRow[], defaults: boolean): StatementGroup[] {
  const first = rows[0]
  if (first === undefined) return []
  const shapes = new Set<string>()
  for (const r of rows) shapes.add(r.shape)
  if (shapes.size === 1) return [{ rows: rows.slice(), columns: shapeColumns(first.shape), defaults: false }]
  if (defaults) {
    const union = new Set<number>()
    for (const shape of shapes) for (const c of shapeColumns(shape)) union.add(c)
    return [{ rows: rows.slice(), columns: [...union].sort((a, b) => a - b), defaults: true }]
  }
  const runs: StatementGroup[] = []
  for (const r of rows) {
    const last = runs.at(-1)
    if (last && last.rows[0]!.shape === r.shape) last.rows.push(r)
    else runs.push({ rows: [r], columns: shapeColumns(r.shape), defaults: false })
  }
  return runs
}

/** Turn a database refusal into a reject-file entry's fields. */
export function databaseRejectionFields(
  error: PgError,
  batch: number,
  attempts: number,
): Pick<Rejection, 'stage' | 'code' | 'message' | 'pg' | 'batch'> & Partial<Rejection> {
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
    attempts,
  }
}

/** A database error that ends the run, saying what was committed before it. */
export function fatalDatabaseError(
  err: unknown,
  committed: { batches: number; rows: number },
  failed: { file: string; line: number; rows: number } | undefined,
): LoadError {
  const done = `${batchCount(committed.batches)} (${committed.rows} rows)`
  const before = `${done} had been committed before it and stay committed`
  const fate = failed
    ? `the batch of ${failed.rows} rows from ${failed.file}:${failed.line} on was rolled back; ${before}`
    : `the checkpoint being saved was rolled back; ${before}`
  // A run problem of pgbulk's own (the reject file could not be written) keeps its code.
  if (err instanceof LoadError) return new LoadError(err.code, `${err.message}; ${fate}`, err.hint, { cause: err })
  const e = err as PgError
  const what = e.code ? `${e.message} (SQLSTATE ${e.code})` : e.message
  return new LoadError('DB_FATAL', `database error: ${what}; ${fate}`, undefined, { cause: err })
}
