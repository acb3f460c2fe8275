import type pg from 'pg'
import { LoadError } from '../errors.js'
import { quoteIdent } from '../schema/introspect.js'
import type { OwnTableSpec } from './own-table.js'
import { RunLog } from './run-log.js'
import { checkOwnTable, EQ, mayDelete, prepareOwnTable } from './own-table.js'

/** What the ledger keeps of one committed batch. */
export interface LedgerEntry {
  job: string
  runId: string
  /** The input's checkpoint key: its absolute path, or "stdin". */
  input: string
  batch: number
  /** The input lines it decided, and their bytes [firstByte, nextByte). */
  firstLine: number
  lastLine: number
  firstByte: number
  nextByte: number
  rowsLoaded: number
  rowsRejected: number
  attempts: number
  txid?: string | undefined
  /** From the first attempt's BEGIN to the ledger's write, just before COMMIT. */
  ms: number
  /** pgbulk redrive: the lines its rows came from (not a range: a reject file's lines are scattered). */
  lines?: readonly number[]
}

/** What a batch's transaction knows of it: the entry without the names of its job, run and input. */
export type BatchFacts = Omit<LedgerEntry, 'job' | 'runId' | 'input' | 'lines'>

/** A ledger row as read back. */
export interface LedgerRow extends Omit<LedgerEntry, 'lines'> {
  lines: number[] | undefined
  committedAt: Date
}

/** The ledger's columns (the README's DBA set-up lists them too). */
const LEDGER_COLUMNS = `
  job pg_catalog.text NOT NULL, run_id pg_catalog.text NOT NULL, input pg_catalog.text NOT NULL,
  batch pg_catalog.int8 NOT NULL, first_line pg_catalog.int8 NOT NULL, last_line pg_catalog.int8 NOT NULL,
  first_byte pg_catalog.int8 NOT NULL, next_byte pg_catalog.int8 NOT NULL, rows_loaded pg_catalog.int8 NOT NULL,
  rows_rejected pg_catalog.int8 NOT NULL, attempts pg_catalog.int4 NOT NULL, txid pg_catalog.int8,
  committed_at pg_catalog.timestamptz NOT NULL, duration_ms pg_catalog.float8 NOT NULL, lines pg_catalog.int8[],
  PRIMARY KEY (job, input, first_line, run_id, batch)`

interface Row {
  job: string
  run_id: string
  input: string
  batch: string
  first_line: string
  last_line: string
  first_byte: string
  next_byte: string
  rows_loaded: string
  rows_rejected: string
  attempts: number
  txid: string | null
  committed_at: Date
  duration_ms: number
  lines: string[] | null
}

/** The number of parameters insertSql() takes. */
const PARAMS = 14

/**
 * The batch ledger: one row per committed batch, written in the batch's own transaction (so it
 * never names rows that did not commit), saying which lines of which input it decided, in which
 * run, when and as which transaction. `pgbulk trace` answers from it and the reject file; it is
 * kept until the job is forgotten, or for --ledger-days.
 */
export class BatchLedger {
  readonly table: string
  /** The runs the batches belong to: how each read its inputs, and how it ended. */
  readonly runs: RunLog

  constructor(readonly schema: string) {
    this.table = `${quoteIdent(schema)}.batches`
    this.runs = new RunLog(schema)
  }

  private get spec(): OwnTableSpec {
    return {
      schema: this.schema,
      table: 'batches',
      columns: LEDGER_COLUMNS,
      privileges: ['SELECT', 'INSERT', 'DELETE'],
    }
  }

  /**
   * Check the ledger may be trusted, create it when missing, and check the privileges a load needs.
   * Returns why it is off when the role may not create or use it in a schema a DBA prepared before
   * the ledger existed: the run goes on without it (one that may not be trusted stops the run).
   */
  async ensure(client: pg.Client): Promise<string | undefined> {
    try {
      await prepareOwnTable(client, this.spec)
      await this.runs.ensure(client)
      return undefined
    } catch (err) {
      if (!(err instanceof LoadError) || err.code !== 'CHECKPOINT_UNAVAILABLE') throw err
      return `no batch ledger (pgbulk trace cannot answer for this run): ${err.message}`
    }
  }

  /** The INSERT of one entry, its parameters numbered from $`first` (CheckpointStore runs it with the checkpoint). */
  insertSql(first: number): string {
    const p = Array.from({ length: PARAMS }, (_, k) => `$${first + k}`)
    const types = ['text', 'text', 'text', 'int8', 'int8', 'int8', 'int8', 'int8', 'int8', 'int8', 'int4', 'int8']
    const typed = types.map((t, k) => `${p[k]}::pg_catalog.${t}`)
    return (
      `INSERT INTO ${this.table} (job, run_id, input, batch, first_line, last_line, first_byte, next_byte, ` +
      `rows_loaded, rows_rejected, attempts, txid, duration_ms, lines, committed_at) ` +
      `VALUES (${typed.join(', ')}, ${p[12]}::pg_catalog.float8, ${p[13]}::pg_catalog.int8[], ` +
      `pg_catalog.clock_timestamp())`
    )
  }

  /** insertSql()'s parameters. */
  params(e: LedgerEntry): unknown[] {
    return [
      e.job,
      e.runId,
      e.input,
      e.batch,
      e.firstLine,
      e.lastLine,
      e.firstByte,
      e.nextByte,
      e.rowsLoaded,
      e.rowsRejected,
      e.attempts,
      e.txid ?? null,
      e.ms,
      e.lines ?? null,
    ]
  }

  /** Record a batch, inside its transaction. */
  async record(client: pg.Client, e: LedgerEntry): Promise<void> {
    await client.query(this.insertSql(1), this.params(e))
  }

  /** Delete the entries older than `days`, and the runs left without any (when a load starts). */
  async trim(client: pg.Client, days: number): Promise<void> {
    await client.query(
      `DELETE FROM ${this.table} WHERE committed_at OPERATOR(pg_catalog.<) ` +
        `(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1::pg_catalog.float8))`,
      [days * 86_400],
    )
    await this.runs.trim(client, days, this.table)
  }

  /** Forget a job's batches (pgbulk jobs --forget). */
  async forget(client: pg.Client, job: string): Promise<void> {
    if ((await checkOwnTable(client, this.spec)) && (await mayDelete(client, this.table)))
      await client.query(`DELETE FROM ${this.table} WHERE job ${EQ} $1::pg_catalog.text`, [job])
    await this.runs.forget(client, job)
  }

  /**
   * The batches of a job's input that decided `line`, newest first: a batch of a load whose line
   * range holds it, or a redrive's batch that loaded it. None when the ledger does not exist.
   */
  async batchesOf(client: pg.Client, input: string, line: number, jobs: readonly string[]): Promise<LedgerRow[]> {
    if (!(await checkOwnTable(client, this.spec))) return []
    const r = await client.query<Row>(
      `SELECT * FROM ${this.table} WHERE input ${EQ} $1::pg_catalog.text
         AND job OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.text[])
         AND first_line OPERATOR(pg_catalog.<=) $2::pg_catalog.int8
         AND last_line OPERATOR(pg_catalog.>=) $2::pg_catalog.int8
         AND (lines IS NULL OR $2::pg_catalog.int8 OPERATOR(pg_catalog.=) ANY (lines))
       ORDER BY committed_at DESC`,
      [input, line, jobs],
    )
    return r.rows.map(fromRow)
  }

  /** The lines from `first` to `last` of an input that the redrives (`jobs`) loaded. */
  async redrivenLines(
    client: pg.Client,
    input: string,
    first: number,
    last: number,
    jobs: readonly string[],
  ): Promise<number[]> {
    if (jobs.length === 0 || !(await checkOwnTable(client, this.spec))) return []
    const r = await client.query<{ line: string }>(
      `SELECT DISTINCT l AS line FROM ${this.table} b, pg_catalog.unnest(b.lines) AS l
       WHERE b.input ${EQ} $1::pg_catalog.text AND b.job OPERATOR(pg_catalog.=) ANY ($4::pg_catalog.text[])
         AND l OPERATOR(pg_catalog.>=) $2::pg_catalog.int8 AND l OPERATOR(pg_catalog.<=) $3::pg_catalog.int8`,
      [input, first, last, jobs],
    )
    return r.rows.map((x) => Number(x.line))
  }
}

function fromRow(r: Row): LedgerRow {
  return {
    job: r.job,
    runId: r.run_id,
    input: r.input,
    batch: Number(r.batch),
    firstLine: Number(r.first_line),
    lastLine: Number(r.last_line),
    firstByte: Number(r.first_byte),
    nextByte: Number(r.next_byte),
    rowsLoaded: Number(r.rows_loaded),
    rowsRejected: Number(r.rows_rejected),
    attempts: r.attempts,
    txid: r.txid ?? undefined,
    ms: r.duration_ms,
    lines: r.lines?.map(Number),
    committedAt: r.committed_at,
  }
}
