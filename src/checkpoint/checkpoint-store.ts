import type pg from 'pg'
import { LoadError } from '../errors.js'
import { DEFAULT_CHECKPOINT_SCHEMA } from '../options.js'
import { quoteIdent } from '../schema/introspect.js'
import type { OwnTableSpec } from './own-table.js'
import { checkOwnTable, EQ, prepareOwnTable } from './own-table.js'
import type { InputIdentity } from '../source/input-identity.js'
import type { LedgerEntry } from './batch-ledger.js'
import { BatchLedger } from './batch-ledger.js'
import type { RunRecord } from './run-log.js'

/** Where one input of one job has been committed up to. */
export interface Checkpoint {
  job: string
  /** The input's absolute path, or "stdin". */
  input: string
  /** The target table, as "schema"."table". */
  target: string
  identity: InputIdentity | undefined
  /** Byte offset (in the decompressed input) of the next record, and its line. */
  nextByte: number
  nextLine: number
  rowsRead: number
  rowsLoaded: number
  rowsRejected: number
  batches: number
  done: boolean
  startedAt: Date
  updatedAt: Date
  /** The run that wrote it last (its run id), when known. */
  runId?: string | undefined
}

/** The progress a batch's transaction records, with the batch. */
export type CheckpointProgress = Pick<
  Checkpoint,
  'nextByte' | 'nextLine' | 'rowsRead' | 'rowsLoaded' | 'rowsRejected' | 'batches' | 'done'
>

/** The checkpoint table's columns (the README's DBA set-up lists them too). */
const CHECKPOINT_COLUMNS = `
  job pg_catalog.text NOT NULL, input pg_catalog.text NOT NULL, target pg_catalog.text NOT NULL,
  input_size pg_catalog.int8, input_mtime_ms pg_catalog.int8, input_hash pg_catalog.text,
  next_byte pg_catalog.int8 NOT NULL, next_line pg_catalog.int8 NOT NULL, rows_read pg_catalog.int8 NOT NULL,
  rows_loaded pg_catalog.int8 NOT NULL, rows_rejected pg_catalog.int8 NOT NULL, batches pg_catalog.int8 NOT NULL,
  done pg_catalog.bool NOT NULL, started_at pg_catalog.timestamptz NOT NULL,
  updated_at pg_catalog.timestamptz NOT NULL, owner pg_catalog.text, PRIMARY KEY (job, input)`

interface Row {
  job: string
  input: string
  target: string
  input_size: string | null
  input_mtime_ms: string | null
  input_hash: string | null
  next_byte: string
  next_line: string
  rows_read: string
  rows_loaded: string
  rows_rejected: string
  batches: string
  done: boolean
  started_at: Date
  updated_at: Date
  owner?: string | null
}

/**
 * Checkpoints live in the target database, in a small table of pgbulk's own, so that a batch and
 * its checkpoint commit together or not at all (timescaledb-parallel-copy keeps a ledger too, but
 * keyed on batch numbers; this one is keyed on byte offsets, so a rerun with another batch size
 * or method resumes correctly).
 */
export class CheckpointStore {
  private readonly table: string
  /** The batch ledger, beside the checkpoints: written with them, forgotten with them. */
  readonly ledger: BatchLedger
  /** Why the ledger is off (a role that may not create it, in a schema a DBA prepared), after ensure(). */
  ledgerOff: string | undefined

  /**
   * `runId` fences the run's checkpoints: a checkpoint row is written only while it is still this
   * run's (see claim()).
   */
  constructor(
    readonly schema: string = DEFAULT_CHECKPOINT_SCHEMA,
    private readonly runId?: string,
  ) {
    this.table = `${quoteIdent(schema)}.checkpoints`
    this.ledger = new BatchLedger(schema)
  }

  /**
   * Check the table may be trusted, create the schema and table when missing (only then: a role
   * without CREATE uses what a DBA made for it), and check the privileges a load needs.
   */
  async ensure(client: pg.Client): Promise<void> {
    await prepareOwnTable(client, this.spec)
    this.ledgerOff = await this.ledger.ensure(client)
  }

  /** Record the run's start in the run log (with how it reads its inputs), and trim the ledger to `days`. */
  async startRun(client: pg.Client, run: Omit<RunRecord, 'startedAt' | 'runId'>, days: number): Promise<void> {
    if (this.ledgerOff || !this.runId) return
    await this.ledger.trim(client, days)
    await this.ledger.runs.start(client, { ...run, runId: this.runId })
  }

  /** Record how the run ended (best effort: a run whose connection is gone keeps no end). */
  async endRun(client: pg.Client, exitCode: number): Promise<void> {
    if (this.ledgerOff || !this.runId) return
    await this.ledger.runs.end(client, this.runId, exitCode).catch(() => {})
  }

  private get spec(): OwnTableSpec {
    return {
      schema: this.schema,
      table: 'checkpoints',
      columns: CHECKPOINT_COLUMNS,
      privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
      lateColumn: { name: 'owner', type: 'pg_catalog.text' },
    }
  }

  /**
   * Make the job's checkpoints this run's. The job lock keeps a second run out, but a lock held by
   * a connection can vanish with it (an idle-session timeout, a firewall) while its run goes on:
   * claiming fences that run off. The UPDATE waits for a batch of the other run that is committing
   * (it holds the rows), so what is read after it is committed; from then on the other run's
   * checkpoint writes find the row not theirs and its batch does not commit (save()).
   */
  async claim(client: pg.Client, job: string): Promise<void> {
    await client.query(`UPDATE ${this.table} SET owner = $2::pg_catalog.text WHERE job ${EQ} $1::pg_catalog.text`, [
      job,
      this.runId ?? null,
    ])
  }

  async get(client: pg.Client, job: string, input: string): Promise<Checkpoint | undefined> {
    const r = await client.query<Row>(
      `SELECT * FROM ${this.table} WHERE job ${EQ} $1::pg_catalog.text AND input ${EQ} $2::pg_catalog.text`,
      [job, input],
    )
    return r.rows[0] ? fromRow(r.rows[0]) : undefined
  }

  /**
   * The checkpoints of a followed file's generations (--follow: `input`, then `input#2`, `input#3`,
   * … for each file that took its path after a rotation or truncation).
   */
  async generations(client: pg.Client, job: string, input: string): Promise<Checkpoint[]> {
    const r = await client.query<Row>(
      `SELECT * FROM ${this.table} WHERE job ${EQ} $1::pg_catalog.text AND (input ${EQ} $2::pg_catalog.text
         OR pg_catalog.left(input, pg_catalog.length($2::pg_catalog.text) + 1) ${EQ} pg_catalog.concat($2::pg_catalog.text, '#'))`,
      [job, input],
    )
    return r.rows.map(fromRow)
  }

  /** Rows the job's inputs have loaded, by their checkpoints (--mode replace checks its staging table against it). */
  async rowsLoaded(client: pg.Client, job: string): Promise<number> {
    const r = await client.query<{ n: string | null }>(
      `SELECT pg_catalog.sum(rows_loaded) AS n FROM ${this.table} WHERE job ${EQ} $1::pg_catalog.text`,
      [job],
    )
    return Number(r.rows[0]?.n ?? 0)
  }

  async list(client: pg.Client): Promise<Checkpoint[]> {
    if (!(await checkOwnTable(client, this.spec))) return []
    // (ORDER BY sorts with the columns' default operator classes, found without the search_path)
    const r = await client.query<Row>(`SELECT * FROM ${this.table} ORDER BY updated_at DESC, job, input`)
    return r.rows.map(fromRow)
  }

  /** Remove a job's checkpoints and its batches in the ledger; returns how many inputs it had. */
  async forget(client: pg.Client, job: string): Promise<number> {
    const r = await client.query(`DELETE FROM ${this.table} WHERE job ${EQ} $1::pg_catalog.text`, [job])
    await this.ledger.forget(client, job)
    return r.rowCount ?? 0
  }

  /**
   * Write a checkpoint (inside the batch's transaction, on the writer's connection), only while
   * the row is this run's: when another run has claimed the job, the batch must not commit. With
   * `batch`, the batch's ledger entry goes in by the same statement (one round trip).
   */
  async save(client: pg.Client, cp: Omit<Checkpoint, 'updatedAt'>, batch?: LedgerEntry): Promise<void> {
    const ledger = batch && !this.ledgerOff ? batch : undefined
    const r = await client.query(
      `${ledger ? `WITH ledger AS (${this.ledger.insertSql(16)}) ` : ''}INSERT INTO ${this.table} (job, input, target, input_size, input_mtime_ms, input_hash, next_byte, next_line,
         rows_read, rows_loaded, rows_rejected, batches, done, started_at, updated_at, owner)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, pg_catalog.now(), $15)
       ON CONFLICT (job, input) DO UPDATE SET target = EXCLUDED.target, input_size = EXCLUDED.input_size,
         input_mtime_ms = EXCLUDED.input_mtime_ms, input_hash = EXCLUDED.input_hash, next_byte = EXCLUDED.next_byte,
         next_line = EXCLUDED.next_line, rows_read = EXCLUDED.rows_read, rows_loaded = EXCLUDED.rows_loaded,
         rows_rejected = EXCLUDED.rows_rejected, batches = EXCLUDED.batches, done = EXCLUDED.done,
         started_at = EXCLUDED.started_at, updated_at = pg_catalog.now()
       WHERE (${this.table}.owner ${EQ} EXCLUDED.owner OR (${this.table}.owner IS NULL AND EXCLUDED.owner IS NULL))`,
      [
        cp.job,
        cp.input,
        cp.target,
        cp.identity?.size ?? null,
        cp.identity?.mtimeMs ?? null,
        cp.identity?.hash ?? null,
        cp.nextByte,
        cp.nextLine,
        cp.rowsRead,
        cp.rowsLoaded,
        cp.rowsRejected,
        cp.batches,
        cp.done,
        cp.startedAt,
        this.runId ?? null,
        ...(ledger ? this.ledger.params(ledger) : []),
      ],
    )
    if (r.rowCount === 0) {
      throw new LoadError(
        'JOB_RUNNING',
        `job ${JSON.stringify(cp.job)} was taken over by another run ` +
          "(this run's job lock was lost with its connection); this run stops before committing more",
        'let the other run finish; keep idle connections from being cut (idle_session_timeout, poolers, firewalls)',
      )
    }
  }
}

function fromRow(r: Row): Checkpoint {
  return {
    job: r.job,
    input: r.input,
    target: r.target,
    identity:
      r.input_hash === null
        ? undefined
        : { size: Number(r.input_size), mtimeMs: Number(r.input_mtime_ms), hash: r.input_hash },
    nextByte: Number(r.next_byte),
    nextLine: Number(r.next_line),
    rowsRead: Number(r.rows_read),
    rowsLoaded: Number(r.rows_loaded),
    rowsRejected: Number(r.rows_rejected),
    batches: Number(r.batches),
    done: r.done,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    runId: r.owner ?? undefined,
  }
}
