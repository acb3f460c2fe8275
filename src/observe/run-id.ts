import { randomBytes } from 'node:crypto'

/**
 * A run's id: a UUIDv7 (RFC 9562), 48 bits of Unix milliseconds then random bits, so that ids sort
 * by the time their run started and any two runs differ. It names the run in the report, the logs,
 * the checkpoints, the batch ledger, the server's application_name and the SQL of every batch.
 */
export function newRunId(now: number = Date.now(), random: Buffer = randomBytes(10)): string {
  const b = Buffer.alloc(16)
  b.writeUIntBE(now, 0, 6)
  random.copy(b, 6, 0, 10)
  b[6] = 0x70 | (b[6]! & 0x0f) // version 7
  b[8] = 0x80 | (b[8]! & 0x3f) // variant 10
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** PostgreSQL keeps the first 63 bytes of an application_name (NAMEDATALEN - 1). */
const APPLICATION_NAME_BYTES = 63

/**
 * The application_name of a run's connections: the one configured (default "pgbulk") followed by
 * the run id, the configured part shortened so that the id always fits; PostgreSQL shows only
 * printable ASCII of it, so the rest is left out.
 */
export function applicationNameFor(configured: string, runId: string): string {
  const room = APPLICATION_NAME_BYTES - runId.length - 1
  const name = configured.replace(/[^\x20-\x7e]/g, '').slice(0, room)
  return `${name} ${runId}`.trimStart()
}

/** The leading comment of a batch's statements, so that server logs of a slow or failing statement name it. */
export function batchComment(runId: string, batch: number): string {
  return `/* pgbulk run=${runId} batch=${batch} */ `
}
