import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { load } from '../../src/index.js'
import type { LoadOptions } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { FaultProxy } from '../helpers/fault-proxy.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'
import { startOwnServer } from '../helpers/own-server.js'

// Passing faults must cost a retry, not the run, and never a lost or doubled row. Each test
// breaks something for real, then compares the table with what one clean run loads. The tables
// have no primary key on purpose: a batch loaded twice would show as duplicate lines.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

const N = 400
const csv = 'id,name\n' + Array.from({ length: N }, (_, k) => `${k + 1},name-${k + 1}`).join('\n') + '\n'
const clean = Array.from({ length: N }, (_, k) => `${k + 1}\tname-${k + 1}\n`).join('')

let seq = 0
/** A table whose every statement takes `sleepS` (a trigger), so that faults can land mid-load. */
async function slowTable(sleepS: number, onDb: TestDb = db): Promise<string> {
  const t = `f${++seq}`
  await onDb.client.query(`CREATE TABLE ${t} (id int, name text);
    CREATE FUNCTION ${t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${sleepS}); RETURN NULL; END $$;
    CREATE TRIGGER slow AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_slow()`)
  return t
}

async function input(): Promise<string> {
  const path = join(dir, `in-${++seq}.csv`)
  await writeFile(path, csv)
  return path
}

const fast: Partial<LoadOptions> = { retryBaseDelayMs: 20, retryMaxDelayMs: 200, batchRows: 20 }

/** Run `act` each time the table has grown by `every` rows, `times` times in all. */
function whenTableGrows(t: string, every: number, times: number, act: () => Promise<unknown>): () => void {
  let done = 0
  let busy = false
  const timer = setInterval(() => {
    if (busy || done >= times) return
    busy = true
    void db
      .count(t)
      .then(async (n) => {
        if (n >= (done + 1) * every) {
          done++
          await act()
        }
      })
      .finally(() => (busy = false))
  }, 15)
  return () => clearInterval(timer)
}

describe('passing faults', () => {
  it.each(['copy', 'insert'] as const)('survives its backend being terminated several times (%s)', async (method) => {
    const t = await slowTable(0.02)
    const retries: unknown[] = []
    const stop = whenTableGrows(t, 80, 3, () =>
      db.client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgbulk' AND datname = current_database()`),
    )
    const report = await load({ inputs: [await input()], table: t, db: db.url, method, ...fast, onRetry: (r) => retries.push(r.error) }).finally(stop)
    expect(await tableContents(db, t)).toBe(clean)
    expect(report).toMatchObject({ rowsRead: N, rowsLoaded: N, rowsRejected: 0, exitCode: 0 })
    expect(retries.length).toBeGreaterThanOrEqual(3)
  })

  it('does not load a batch twice when the answer to its COMMIT is lost', async () => {
    const t = await slowTable(0)
    const proxy = await FaultProxy.start(db.url)
    try {
      const retries: unknown[] = []
      const armed = whenTableGrows(t, 100, 1, () => Promise.resolve((proxy.cutAtCommit = 'after')))
      const report = await load({ inputs: [await input()], table: t, db: proxy.url(db.url), ...fast, onRetry: (r) => retries.push(r.error) }).finally(armed)
      expect(proxy.cuts).toBe(1)
      expect(await tableContents(db, t)).toBe(clean)
      expect(report).toMatchObject({ rowsLoaded: N, batches: N / 20 })
      // The batch had committed: txid_status said so, and it was not sent again.
      expect(retries).toEqual([])
    } finally {
      await proxy.close()
    }
  })

  it('sends a batch again when its COMMIT never reached the server', async () => {
    const t = await slowTable(0)
    const proxy = await FaultProxy.start(db.url)
    try {
      const retries: unknown[] = []
      const armed = whenTableGrows(t, 100, 1, () => Promise.resolve((proxy.cutAtCommit = 'before')))
      const report = await load({ inputs: [await input()], table: t, db: proxy.url(db.url), ...fast, onRetry: (r) => retries.push(r.error) }).finally(armed)
      expect(proxy.cuts).toBe(1)
      expect(await tableContents(db, t)).toBe(clean)
      expect(report).toMatchObject({ rowsLoaded: N, batches: N / 20 })
      expect(retries).toHaveLength(1)
    } finally {
      await proxy.close()
    }
  })

  it('retries after a deadlock with another session', async () => {
    await db.client.query(`CREATE TABLE dl (id int UNIQUE, name text)`)
    const other = new pg.Client({ connectionString: db.url })
    await other.connect()
    // The other session is never the one the deadlock detector picks: it waits 10 s before looking.
    await other.query(`SET deadlock_timeout = '10s'; BEGIN; INSERT INTO dl VALUES (2, 'other')`)
    const path = join(dir, 'dl.csv')
    await writeFile(path, 'id,name\n1,one\n2,two\n3,three\n')
    const retries: { code?: string }[] = []
    const loading = load({ inputs: [path], table: 'dl', db: db.url, ...fast, onRetry: (r) => retries.push(r.error as { code?: string }) })
    // Once pgbulk waits for row 2, insert its row 1: a cycle.
    await waitFor(() =>
      db.client
        .query(`SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.application_name = 'pgbulk'`)
        .then((r) => r.rowCount! > 0),
    )
    const blocked = other.query(`INSERT INTO dl VALUES (1, 'other')`)
    await blocked // pgbulk, the victim, rolled back: the other session goes on
    await other.query('ROLLBACK')
    await other.end()
    const report = await loading
    expect(retries.map((e) => e.code)).toEqual(['40P01'])
    expect(report).toMatchObject({ rowsLoaded: 3, exitCode: 0 })
    expect(await tableContents(db, 'dl')).toBe('1\tone\n2\ttwo\n3\tthree\n')
  })

  it('retries after the lock timeout the user asked for', async () => {
    await db.client.query(`CREATE TABLE lt (id int, name text)`)
    const other = new pg.Client({ connectionString: db.url })
    await other.connect()
    await other.query(`BEGIN; LOCK TABLE lt IN ACCESS EXCLUSIVE MODE`)
    setTimeout(() => void other.query('COMMIT').then(() => other.end()), 700)
    const url = new URL(db.url)
    url.searchParams.set('options', '-c lock_timeout=100')
    const path = join(dir, 'lt.csv')
    await writeFile(path, 'id,name\n1,one\n')
    const retries: { code?: string }[] = []
    const report = await load({
      inputs: [path],
      table: 'lt',
      db: url.toString(),
      retries: 10,
      retryBaseDelayMs: 100,
      retryMaxDelayMs: 400,
      onRetry: (r) => retries.push(r.error as { code?: string }),
    })
    expect(retries.length).toBeGreaterThanOrEqual(1)
    expect(retries.every((e) => e.code === '55P03')).toBe(true)
    expect(report).toMatchObject({ rowsLoaded: 1, exitCode: 0 })
    expect(await tableContents(db, 'lt')).toBe('1\tone\n')
  })

  it('gives up after --retries attempts with exit 3, saying what was committed', async () => {
    await db.client.query(`CREATE TABLE gu (id int, name text)`)
    const other = new pg.Client({ connectionString: db.url })
    await other.connect()
    await other.query(`BEGIN; LOCK TABLE gu IN ACCESS EXCLUSIVE MODE`)
    const url = new URL(db.url)
    url.searchParams.set('options', '-c lock_timeout=50')
    try {
      const report = await load({ inputs: [await input()], table: 'gu', db: url.toString(), retries: 3, retryBaseDelayMs: 10, retryMaxDelayMs: 20 })
      expect(report.exitCode).toBe(3)
      expect(report.stopped).toMatchObject({ code: 'DB_FATAL' })
      expect(report.stopped!.message).toMatch(/lock timeout.*55P03.*0 batches \(0 rows\) had been committed/s)
    } finally {
      await other.query('ROLLBACK')
      await other.end()
    }
  })

  it('sets a poison pill aside after --retries attempts, with its attempts, and loads the rest', async () => {
    await db.client.query(`CREATE TABLE pp (id int, name text);
      CREATE FUNCTION pp_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 7 THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$;
      CREATE TRIGGER slow BEFORE INSERT ON pp FOR EACH ROW EXECUTE FUNCTION pp_slow()`)
    const url = new URL(db.url)
    url.searchParams.set('options', '-c statement_timeout=150')
    const path = join(dir, 'pp.csv')
    await writeFile(path, 'id,name\n' + Array.from({ length: 30 }, (_, k) => `${k + 1},n${k + 1}`).join('\n') + '\n')
    const report = await load({ inputs: [path], table: 'pp', db: url.toString(), retries: 3, retryBaseDelayMs: 10, retryMaxDelayMs: 20, batchRows: 10 })
    expect(report).toMatchObject({ rowsRead: 30, rowsLoaded: 29, rowsRejected: 1, exitCode: 2, rejectsByCode: { '57014': 1 } })
    expect(await readRejects(`${path}.rejects.ndjson`)).toEqual([
      expect.objectContaining({ line: 8, raw: '7,n7', stage: 'database', code: '57014', attempts: 3, batch: 1 }),
    ])
    expect(await tableContents(db, 'pp')).toBe(
      Array.from({ length: 30 }, (_, k) => k + 1)
        .filter((i) => i !== 7)
        .map((i) => `${i}\tn${i}\n`)
        .join(''),
    )
  })

  it('survives the server being stopped and started during the load', async () => {
    const server = await startOwnServer()
    const own = await createTestDbOn(server.url)
    try {
      const t = await slowTable(0.02, own)
      let restarted = false
      const timer = setInterval(() => {
        if (restarted) return
        void own
          .count(t)
          .then(async (n) => {
            if (n >= 100 && !restarted) {
              restarted = true
              await server.restart(1500)
            }
          })
          .catch(() => {})
      }, 20)
      const retries: unknown[] = []
      const report = await load({
        inputs: [await input()],
        table: t,
        db: own.url,
        batchRows: 20,
        retries: 12,
        retryBaseDelayMs: 100,
        retryMaxDelayMs: 800,
        onRetry: (r) => retries.push(r.error),
      }).finally(() => clearInterval(timer))
      expect(restarted).toBe(true)
      expect(retries.length).toBeGreaterThanOrEqual(1)
      expect(report).toMatchObject({ rowsLoaded: N, exitCode: 0 })
      await own.reconnect()
      expect(await tableContents(own, t)).toBe(clean)
    } finally {
      await own.cleanup().catch(() => {})
      await server.stop()
    }
  })
})

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now()
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A TestDb on another server (createTestDb works on the shared one). */
async function createTestDbOn(url: string): Promise<TestDb & { reconnect(): Promise<void> }> {
  let client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  const self = {
    url,
    get client() {
      return client
    },
    async count(table: string) {
      const r = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)
      return r.rows[0]!.n
    },
    async reconnect() {
      await client.end().catch(() => {})
      client = new pg.Client({ connectionString: url })
      client.on('error', () => {})
      await client.connect()
    },
    async cleanup() {
      await client.end().catch(() => {})
    },
  }
  return self
}
