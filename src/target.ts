import type pg from 'pg'
import { Batcher } from './batch/batcher.js'
import { connect, connectionConfig } from './db/connect.js'
import type { TableSchema } from './schema/introspect.js'
import { checkInsertPrivilege, introspectTable } from './schema/introspect.js'
import { copySender } from './write/copy-writer.js'
import { insertSender } from './write/insert-writer.js'
import type { RetryPolicy } from './write/writer.js'
import { BatchWriter } from './write/writer.js'

/** Defaults chosen by measurement; see "Batch size" in the README. */
export const DEFAULT_BATCH_ROWS = 10_000
export const DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
/** Attempts per batch before a passing fault ends the run. */
export const DEFAULT_RETRIES = 5

/** What a run needs to know about the database side, for pgbulk load and pgbulk redrive alike. */
export interface TargetOptions {
  /** Target table, "[schema.]table", parsed as SQL would (quote names that need it). */
  table: string
  /** postgres:// URL; else DATABASE_URL, else the PG* variables. */
  db?: string
  method?: 'copy' | 'insert'
  batchRows?: number
  batchBytes?: number
  /** true: parse and check client-side only, no transaction; 'db': also run everything in the database, inside a transaction that is rolled back. */
  dryRun?: boolean | 'db'
  /** Attempts per batch when a passing fault (dropped connection, restart, deadlock, timeout) hits it; default 5. */
  retries?: number
  /** Backoff: the first cap and the largest one, in ms (full jitter in between). */
  retryBaseDelayMs?: number
  retryMaxDelayMs?: number
  /** Told before each retry's wait. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void
}

/** The database side of a run: the table's schema, and the writer (none in a client-side dry run). */
export interface Target {
  schema: TableSchema
  writer: BatchWriter | undefined
  batcher: Batcher
  /** The connection in use now (the writer's, which changes after a reconnect). */
  connection(): pg.Client
  /** Roll back a dry run's transaction and close the connection, whichever it is by then. */
  close(): Promise<void>
}

/** Connect, read the table's schema, check the privilege to insert, and make the writer. */
export async function openTarget(opts: TargetOptions): Promise<Target> {
  const config = connectionConfig(opts.db)
  const client = await connect(config)
  let writer: BatchWriter | undefined
  const close = async () => {
    await writer?.close()
    await endQuietly(writer?.connection ?? client)
  }
  try {
    const schema = await introspectTable(client, opts.table)
    if (opts.dryRun !== true) await checkInsertPrivilege(client, schema)
    const retry: RetryPolicy = {
      attempts: opts.retries ?? DEFAULT_RETRIES,
      baseDelayMs: opts.retryBaseDelayMs ?? 250,
      maxDelayMs: opts.retryMaxDelayMs ?? 30_000,
      random: Math.random,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
    }
    if (opts.dryRun !== true) {
      const sender = opts.method === 'insert' ? insertSender : copySender
      writer = new BatchWriter(client, schema, sender, () => connect(config), retry, opts.dryRun !== 'db')
    }
    const batcher = new Batcher({ maxRows: opts.batchRows ?? DEFAULT_BATCH_ROWS, maxBytes: opts.batchBytes ?? DEFAULT_BATCH_BYTES })
    return { schema, writer, batcher, close, connection: () => writer?.connection ?? client }
  } catch (err) {
    await close()
    throw err
  }
}

async function endQuietly(client: pg.Client): Promise<void> {
  await client.end().catch(() => {})
}
