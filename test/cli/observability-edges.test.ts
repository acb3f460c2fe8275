import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliRun, runPgbulk } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'

// Edges of the observability change, through the built binary (run `npm run build` first).

let db: TestDb
let dir: string
/** A role without CREATE anywhere: it may use the checkpoint table a DBA prepared, but not make the ledger. */
const ROLE = `edge_${randomBytes(4).toString('hex')}`
const PASSWORD = 'Edge-s3cret-Pw7'

withTestDb((d, t) => {
  db = d
  dir = t
})

beforeAll(async () => {
  await db.client.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`)
})

afterAll(async () => {
  await db.client.query(`DROP OWNED BY ${ROLE}`).catch(() => {})
  await db.client.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => {})
})

function urlAsRole(): string {
  const u = new URL(db.url)
  u.username = ROLE
  u.password = PASSWORD
  return u.toString()
}

function pgbulk(args: string[]): Promise<CliRun> {
  return runPgbulk(args, { cwd: dir, env: { DATABASE_URL: urlAsRole() } })
}

describe('a checkpoint schema a DBA prepared before the batch ledger existed', () => {
  it('loads without the ledger, and says so: a warning line in text, a warn event of its own in json', async () => {
    // (json had it only inside run_end, which a run that exits 0 logs at level info)
    await db.client.query(`CREATE SCHEMA ck_old;
      CREATE TABLE ck_old.checkpoints (
        job text NOT NULL, input text NOT NULL, target text NOT NULL,
        input_size bigint, input_mtime_ms bigint, input_hash text,
        next_byte bigint NOT NULL, next_line bigint NOT NULL, rows_read bigint NOT NULL,
        rows_loaded bigint NOT NULL, rows_rejected bigint NOT NULL, batches bigint NOT NULL,
        done boolean NOT NULL, started_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
        owner text, PRIMARY KEY (job, input));
      GRANT USAGE ON SCHEMA ck_old TO ${ROLE};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ck_old.checkpoints TO ${ROLE};
      REVOKE CREATE ON SCHEMA public FROM PUBLIC;
      CREATE TABLE old_t (id int); GRANT SELECT, INSERT ON old_t TO ${ROLE};`)
    const input = join(dir, 'old.csv')
    await writeFile(input, 'id\n1\n2\n')
    const common = ['load', input, '--table', 'old_t', '--checkpoint-schema', 'ck_old']
    const text = await pgbulk([...common, '--job', 'text'])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stderr).toMatch(
      /^pgbulk: warning: no batch ledger \(pgbulk trace cannot answer for this run\): .*lacks CREATE/m,
    )
    const json = await pgbulk([...common, '--job', 'json', '--log-format', 'json'])
    expect(json.code, json.stderr).toBe(0)
    const lines = json.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const warnings = lines.filter((l) => l['event'] === 'warning')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ level: 'warn', job: 'json' })
    expect(warnings[0]!['message']).toMatch(/^no batch ledger \(pgbulk trace cannot answer for this run\)/)
    expect(lines.at(-1)).toMatchObject({ event: 'run_end', level: 'info', exitCode: 0 })
    expect(json.stderr).not.toContain(PASSWORD)
    expect(await db.count('old_t')).toBe(4)
  })
})

describe('pgbulk jobs --forget as a role that may read the ledger but not delete from it', () => {
  it('forgets the job, and leaves the ledger alone (it kept none)', async () => {
    // (after the job's checkpoints were deleted: "internal error: permission denied for table batches", exit 1)
    await db.client.query(`CREATE SCHEMA ck_ro;
      CREATE TABLE ck_ro.checkpoints (LIKE ck_old.checkpoints INCLUDING ALL);
      CREATE TABLE ck_ro.batches (job text NOT NULL, run_id text NOT NULL, input text NOT NULL,
        batch int8 NOT NULL, first_line int8 NOT NULL, last_line int8 NOT NULL, first_byte int8 NOT NULL,
        next_byte int8 NOT NULL, rows_loaded int8 NOT NULL, rows_rejected int8 NOT NULL, attempts int4 NOT NULL,
        txid int8, committed_at timestamptz NOT NULL, duration_ms float8 NOT NULL, lines int8[],
        PRIMARY KEY (job, input, first_line, run_id, batch));
      GRANT USAGE ON SCHEMA ck_ro TO ${ROLE};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ck_ro.checkpoints TO ${ROLE};
      GRANT SELECT ON ck_ro.batches TO ${ROLE};
      CREATE TABLE ro_t (id int); GRANT SELECT, INSERT ON ro_t TO ${ROLE};`)
    const input = join(dir, 'ro.csv')
    await writeFile(input, 'id\n1\n')
    const load = await pgbulk(['load', input, '--table', 'ro_t', '--checkpoint-schema', 'ck_ro', '--job', 'ro'])
    expect(load.code, load.stderr).toBe(0)
    expect(load.stderr).toContain('pgbulk: warning: no batch ledger')
    const forget = await pgbulk(['jobs', '--checkpoint-schema', 'ck_ro', '--forget', 'ro'])
    expect(forget.stderr).toBe('')
    expect(forget.code).toBe(0)
    expect(forget.stdout).toContain('forgot job "ro"')
    expect(await db.count('ck_ro.checkpoints')).toBe(0)
  })
})

describe('pgbulk trace as a role that may not read the ledger', () => {
  it('is refused as CHECKPOINT_UNAVAILABLE with a hint, not an internal error', async () => {
    // (it was "pgbulk: internal error: permission denied for schema pgbulk")
    await db.client.query(`CREATE TABLE secret_t (id int PRIMARY KEY)`)
    const input = join(dir, 'secret.csv')
    await writeFile(input, 'id\n1\n')
    const load = await runPgbulk(['load', input, '--table', 'secret_t', '--quiet'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
    })
    expect(load.code, load.stderr).toBe(0)
    const r = await pgbulk(['trace', input, '--line', '2'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('permission denied for schema pgbulk (CHECKPOINT_UNAVAILABLE)')
    expect(r.stderr).toMatch(/hint: trace as a role that may read pgbulk's tables/)
    expect(r.stderr).not.toContain('internal error')
  })
})
