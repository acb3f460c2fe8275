import type pg from 'pg'
import { LoadError } from '../errors.js'
import type { ParseOptions } from '../parse/parse-input.js'
import { quoteIdent } from '../schema/introspect.js'
import type { OwnTableSpec } from './own-table.js'
import { checkOwnTable, EQ, mayDelete, prepareOwnTable } from './own-table.js'

/** How a run read one input: what `pgbulk trace` needs to read it again as the load did. */
export interface InputRecord {
  /** The checkpoint key: absolute path, or "stdin". */
  input: string
  /** The reject file's absolute path. */
  rejects: string
  parse: ParseOptions
  header: boolean
  columnNames?: string[] | undefined
  /**
   * The run read the input from its start, not resuming a checkpoint (a new file at the path,
   * --restart): the batches of earlier runs were of the input as it was then.
   */
  fresh?: true | undefined
}

/** One run of a job, as the run log keeps it. */
export interface RunRecord {
  runId: string
  job: string
  /** The target table, as "schema"."table". */
  target: string
  inputs: InputRecord[]
  /** --key, when given. */
  key?: string[] | undefined
  startedAt: Date
  /** Set when the run ended with an exit code (a killed run has none). */
  endedAt?: Date | undefined
  exitCode?: number | undefined
}

const RUN_COLUMNS = `
  run_id pg_catalog.text PRIMARY KEY, job pg_catalog.text NOT NULL, target pg_catalog.text NOT NULL,
  details pg_catalog.jsonb NOT NULL, started_at pg_catalog.timestamptz NOT NULL,
  ended_at pg_catalog.timestamptz, exit_code pg_catalog.int4`

interface Row {
  run_id: string
  job: string
  target: string
  details: { inputs: InputRecord[]; key?: string[] }
  started_at: Date
  ended_at: Date | null
  exit_code: number | null
}

/**
 * The runs of each job, one row per run, written when it starts and when it ends: how it read each
 * input (so `pgbulk trace` can find a key's lines as the load did) and how it ended (a run that has
 * no end was killed). Kept and forgotten with the batch ledger.
 */
export class RunLog {
  private readonly table: string

  constructor(readonly schema: string) {
    this.table = `${quoteIdent(schema)}.runs`
  }

  get spec(): OwnTableSpec {
    return {
      schema: this.schema,
      table: 'runs',
      columns: RUN_COLUMNS,
      privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    }
  }

  async ensure(client: pg.Client): Promise<void> {
    await prepareOwnTable(client, this.spec)
  }

  async start(client: pg.Client, r: Omit<RunRecord, 'startedAt'>): Promise<void> {
    try {
      await client.query(
        `INSERT INTO ${this.table} (run_id, job, target, details, started_at)
         VALUES ($1::pg_catalog.text, $2::pg_catalog.text, $3::pg_catalog.text, $4::pg_catalog.jsonb, pg_catalog.now())`,
        [r.runId, r.job, r.target, JSON.stringify({ inputs: r.inputs, ...(r.key ? { key: r.key } : {}) })],
      )
    } catch (err) {
      // (a library user's runId given to two runs: not the database's "duplicate key" error)
      if ((err as { code?: string }).code !== '23505') throw err
      throw new LoadError(
        'USAGE',
        `run id ${JSON.stringify(r.runId)} is taken: an earlier run is in the run log under it`,
        'give each run an id of its own (leave runId out for a new one)',
      )
    }
  }

  async end(client: pg.Client, runId: string, exitCode: number): Promise<void> {
    await client.query(
      `UPDATE ${this.table} SET ended_at = pg_catalog.now(), exit_code = $2::pg_catalog.int4
       WHERE run_id ${EQ} $1::pg_catalog.text`,
      [runId, exitCode],
    )
  }

  /** Runs older than `days` that have no batch left in the ledger (when a load starts). */
  async trim(client: pg.Client, days: number, ledgerTable: string): Promise<void> {
    await client.query(
      `DELETE FROM ${this.table} r WHERE r.started_at OPERATOR(pg_catalog.<) ` +
        `(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1::pg_catalog.float8)) ` +
        `AND NOT EXISTS (SELECT 1 FROM ${ledgerTable} b WHERE b.run_id ${EQ} r.run_id)`,
      [days * 86_400],
    )
  }

  async forget(client: pg.Client, job: string): Promise<void> {
    if ((await checkOwnTable(client, this.spec)) && (await mayDelete(client, this.table)))
      await client.query(`DELETE FROM ${this.table} WHERE job ${EQ} $1::pg_catalog.text`, [job])
  }

  /** A job's runs that read `input`, newest first; every job's when `job` is undefined. None when the log does not exist. */
  async runsOf(client: pg.Client, input: string, job?: string): Promise<RunRecord[]> {
    if (!(await checkOwnTable(client, this.spec))) return []
    const r = await client.query<Row>(
      `SELECT * FROM ${this.table}
       WHERE ($2::pg_catalog.text IS NULL OR job ${EQ} $2::pg_catalog.text)
         AND details OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_object('inputs',
               pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('input', $1::pg_catalog.text)))
       ORDER BY started_at DESC, run_id DESC`,
      [input, job ?? null],
    )
    return r.rows.map(fromRow)
  }
}

function fromRow(r: Row): RunRecord {
  return {
    runId: r.run_id,
    job: r.job,
    target: r.target,
    inputs: r.details.inputs,
    key: r.details.key,
    startedAt: r.started_at,
    endedAt: r.ended_at ?? undefined,
    exitCode: r.exit_code ?? undefined,
  }
}
