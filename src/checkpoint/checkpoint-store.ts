import type pg from 'pg'
import { LoadError } from '../errors.js'
import { quoteIdent } from '../schema/introspect.js'
import type { InputIdentity } from '../source/input-identity.js'

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
}

/** The progress a batch's transaction records, with the batch. */
export type CheckpointProgress = Pick<Checkpoint, 'nextByte' | 'nextLine' | 'rowsRead' | 'rowsLoaded' | 'rowsRejected' | 'batches' | 'done'>

/** The default schema of pgbulk's own table. */
export const DEFAULT_CHECKPOINT_SCHEMA = 'pgbulk'

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
}

/**
 * Checkpoints live in the target database, in a small table of pgbulk's own, so that a batch and
 * its checkpoint commit together or not at all (timescaledb-parallel-copy keeps a ledger too, but
 * keyed on batch numbers; this one is keyed on byte offsets, so a rerun with another batch size
 * or method resumes correctly).
 */
export class CheckpointStore {
  private readonly table: string

  /**
   * `runId` fences the run's checkpoints: a checkpoint row is written only while it is still this
   * run's (see claim()).
   */
  constructor(
    readonly schema: string = DEFAULT_CHECKPOINT_SCHEMA,
    private readonly runId?: string,
  ) {
    this.table = `${quoteIdent(schema)}.checkpoints`
  }

  /** Create the schema and table on first use; a clear error when the role may not. */
  async ensure(client: pg.Client): Promise<void> {
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema)};
        CREATE TABLE IF NOT EXISTS ${this.table} (
          job text NOT NULL,
          input text NOT NULL,
          target text NOT NULL,
          input_size bigint,
          input_mtime_ms bigint,
          input_hash text,
          next_byte bigint NOT NULL,
          next_line bigint NOT NULL,
          rows_read bigint NOT NULL,
          rows_loaded bigint NOT NULL,
          rows_rejected bigint NOT NULL,
          batches bigint NOT NULL,
          done boolean NOT NULL,
          started_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          owner text,
          PRIMARY KEY (job, input))`)
      // A table made by an earlier version lacks the owner column (altered only then: ALTER needs ownership).
      const has = await client.query(`SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'owner' AND NOT attisdropped`, [this.table])
      if (has.rowCount === 0) await client.query(`ALTER TABLE ${this.table} ADD COLUMN IF NOT EXISTS owner text`)
    } catch (err) {
      throw new LoadError(
        'CHECKPOINT_UNAVAILABLE',
        `cannot create the checkpoint table ${this.table}: ${(err as Error).message}`,
        'pass --checkpoint-schema with a schema you may create tables in, or --no-checkpoint to load without resume',
        { cause: err },
      )
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
    await client.query(`UPDATE ${this.table} SET owner = $2 WHERE job = $1`, [job, this.runId ?? null])
  }

  async get(client: pg.Client, job: string, input: string): Promise<Checkpoint | undefined> {
    const r = await client.query<Row>(`SELECT * FROM ${this.table} WHERE job = $1 AND input = $2`, [job, input])
    return r.rows[0] ? fromRow(r.rows[0]) : undefined
  }

  async list(client: pg.Client): Promise<Checkpoint[]> {
    const r = await client.query<Row>(`SELECT * FROM ${this.table} ORDER BY updated_at DESC, job, input`).catch((err: { code?: string }) => {
      if (err.code === '42P01' || err.code === '3F000') return { rows: [] as Row[] }
      throw err
    })
    return r.rows.map(fromRow)
  }

  /** Remove a job's checkpoints; returns how many inputs it had. */
  async forget(client: pg.Client, job: string): Promise<number> {
    const r = await client.query(`DELETE FROM ${this.table} WHERE job = $1`, [job])
    return r.rowCount ?? 0
  }

  /**
   * Write a checkpoint (inside the batch's transaction, on the writer's connection), only while
   * the row is this run's: when another run has claimed the job, the batch must not commit.
   */
  async save(client: pg.Client, cp: Omit<Checkpoint, 'updatedAt'>): Promise<void> {
    const r = await client.query(
      `INSERT INTO ${this.table} (job, input, target, input_size, input_mtime_ms, input_hash, next_byte, next_line, rows_read, rows_loaded, rows_rejected, batches, done, started_at, updated_at, owner)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now(), $15)
       ON CONFLICT (job, input) DO UPDATE SET target = EXCLUDED.target, input_size = EXCLUDED.input_size, input_mtime_ms = EXCLUDED.input_mtime_ms,
         input_hash = EXCLUDED.input_hash, next_byte = EXCLUDED.next_byte, next_line = EXCLUDED.next_line, rows_read = EXCLUDED.rows_read,
         rows_loaded = EXCLUDED.rows_loaded, rows_rejected = EXCLUDED.rows_rejected, batches = EXCLUDED.batches, done = EXCLUDED.done,
         started_at = EXCLUDED.started_at, updated_at = now()
       WHERE ${this.table}.owner IS NOT DISTINCT FROM EXCLUDED.owner`,
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
      ],
    )
    if (r.rowCount === 0) {
      throw new LoadError(
        'JOB_RUNNING',
        `job ${JSON.stringify(cp.job)} was taken over by another run (this run's job lock was lost with its connection); this run stops before committing more`,
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
    identity: r.input_hash === null ? undefined : { size: Number(r.input_size), mtimeMs: Number(r.input_mtime_ms), hash: r.input_hash },
    nextByte: Number(r.next_byte),
    nextLine: Number(r.next_line),
    rowsRead: Number(r.rows_read),
    rowsLoaded: Number(r.rows_loaded),
    rowsRejected: Number(r.rows_rejected),
    batches: Number(r.batches),
    done: r.done,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
  }
}
