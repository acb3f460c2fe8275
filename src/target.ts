import type pg from 'pg'
import { BatchSizeController } from './batch/autotune.js'
import { Batcher } from './batch/batcher.js'
import { connect, connectionConfig } from './db/connect.js'
import { LoadError } from './errors.js'
import { applicationNameFor } from './observe/run-id.js'
import type { TableSchema } from './schema/introspect.js'
import { checkInsertPrivilege, checkTruncatable, introspectTable } from './schema/introspect.js'
import { rowSender } from './write/senders.js'
import type { RetryPolicy } from './write/writer.js'
import { BatchWriter } from './write/writer.js'
import type { ResolvedTargetOptions } from './options.js'
import { WriterPool } from './write/writer-pool.js'

/** How long a run waits for its job's lock before calling the job taken by another run. */
const JOB_LOCK_WAIT_MS = 3000

/** The database side of a run: the table's schema, and the writers (none in a client-side dry run). */
export interface Target {
  schema: TableSchema
  writers: WriterPool | undefined
  batcher: Batcher
  /** --batch-size auto: what sets the batch size. */
  autoTune: BatchSizeController | undefined
  /** The connection in use now (the first writer's, which changes after a reconnect). */
  connection(): pg.Client
  /**
   * Hold a job for this run: a session advisory lock on a connection of its own (the writer's may
   * be replaced), so that a second run of the same job (cron firing while the last night's load
   * still runs) is refused instead of loading the same rows alongside.
   */
  lockJob(job: string): Promise<void>
  /** Roll back a dry run's transaction and close the connection, whichever it is by then. */
  close(): Promise<void>
}

/** Connect, read the table's schema, check the privilege to insert, and make the writer (options already resolved). */
export async function openTarget(
  opts: ResolvedTargetOptions,
  /** Run on the first connection before the table is read (load --create makes the table there). */
  prepare?: (client: pg.Client) => Promise<void>,
): Promise<Target> {
  const resolved = connectionConfig(opts.db)
  // (every connection of the run names it: pg_stat_activity, log_line_prefix %a and lock-wait logs show which run it is)
  const config = { ...resolved, applicationName: applicationNameFor(resolved.applicationName, opts.runId) }
  const client = await connect(config)
  let writers: WriterPool | undefined
  let lock: pg.Client | undefined
  const opened = [client]
  const close = async () => {
    await writers?.close()
    // (a writer's connection may have been replaced by a reconnect)
    for (const c of writers ? writers.writers.map((w) => w.connection) : opened) await endQuietly(c)
    if (lock) await endQuietly(lock)
  }
  const lockJob = async (job: string) => {
    lock = await connect(config)
    // The lock lives as long as this connection, which stays idle: no server-side idle timeout
    // may end it (PostgreSQL 14+; older servers have none). Losing it anyway is caught by the
    // checkpoints' owner (CheckpointStore.claim).
    await lock.query('SET idle_session_timeout = 0').catch(() => {})
    // A run killed a moment ago still holds the lock until the server notices its connection is
    // gone: wait a little before calling the job taken.
    let ok = false
    for (let waitedMs = 0; !ok && waitedMs <= JOB_LOCK_WAIT_MS; waitedMs += 100) {
      if (waitedMs > 0) await new Promise((resolve) => setTimeout(resolve, 100))
      // Qualified: a bare hashtextextended($1, 0) would take a hostile hashtextextended(text, int4)
      // on the search_path (an exact match) over pg_catalog's (text, int8).
      const r = await lock.query<{ ok: boolean }>(
        `SELECT pg_catalog.pg_try_advisory_lock(
           pg_catalog.hashtextextended($1::pg_catalog.text, 0::pg_catalog.int8)
         ) AS ok`,
        [`pgbulk job ${job}`],
      )
      ok = r.rows[0]?.ok ?? false
    }
    if (!ok) {
      throw new LoadError(
        'JOB_RUNNING',
        `job ${JSON.stringify(job)} is being loaded by another pgbulk right now`,
        'wait for it to finish (pg_stat_activity shows it: application_name "pgbulk <its run id>"), ' +
          'or name this load with another --job',
      )
    }
  }
  try {
    await prepare?.(client)
    const schema = await introspectTable(client, opts.table)
    // Asked for: the identity columns are written like any other.
    if (opts.overridingSystemValue) for (const c of schema.columns) c.identityAlways = false
    if (opts.dryRun !== true) await checkInsertPrivilege(client, schema)
    if (opts.mode === 'truncate' && opts.dryRun !== true) await checkTruncatable(client, schema)
    const retry: RetryPolicy = {
      attempts: opts.retries,
      baseDelayMs: opts.retryBaseDelayMs,
      maxDelayMs: opts.retryMaxDelayMs,
      random: Math.random,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
    }
    if (opts.dryRun !== true) {
      const sender = await rowSender(client, schema, opts)
      // --dry-run=db runs in one transaction: one writer.
      const count = opts.dryRun === 'db' ? 1 : opts.workers
      while (opened.length < count) {
        try {
          opened.push(await connect(config))
        } catch (err) {
          if (!(err instanceof LoadError)) throw err
          throw new LoadError(
            err.code,
            `${err.message} (opening connection ${opened.length + 1} of ${count} for --workers)`,
            "each worker is a connection: lower --workers, or raise the server's max_connections",
            { cause: err },
          )
        }
      }
      writers = new WriterPool(
        opened.map(
          (c) =>
            new BatchWriter(c, schema, sender, () => connect(config), retry, opts.dryRun !== 'db', opts.lockBudgetMs),
        ),
      )
    }
    const autoTune = opts.autoTune && writers ? new BatchSizeController(opts.autoTune) : undefined
    const limits = {
      maxRows: autoTune ? autoTune.rows : opts.batchRows,
      maxBytes: opts.batchBytes,
      ...(opts.firstBatchRows === undefined ? {} : { firstRows: opts.firstBatchRows }),
    }
    const window =
      opts.flushIntervalMs === undefined
        ? undefined
        : {
            intervalMs: opts.flushIntervalMs,
            jitterMs: opts.flushJitterMs,
            ...(opts.random ? { random: opts.random } : {}),
          }
    const batcher = new Batcher(limits, window)
    return { schema, writers, batcher, autoTune, close, lockJob, connection: () => writers?.first.connection ?? client }
  } catch (err) {
    await close()
    throw err
  }
}

async function endQuietly(client: pg.Client): Promise<void> {
  await client.end().catch(() => {})
}
