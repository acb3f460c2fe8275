import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { load } from '../../src/index.js'
import type { LoadOptions } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { FaultProxy } from '../helpers/fault-proxy.js'
import { readRejects, rejectsOf, tableContents } from '../helpers/fixtures.js'
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
/** A plain table. */
async function plainTable(onDb: TestDb = db): Promise<string> {
  const t = `f${++seq}`
  await onDb.client.query(`CREATE TABLE ${t} (id int, name text)`)
  return t
}

/**
 * A table whose load stops, `times` times, when it holds `every`, 2·`every`, … rows (the batch that
 * gets there waits, inside its statement, on an advisory lock the test holds), so that a fault
 * lands mid-load at a known point whatever the machine's speed. `fault()` waits for that moment,
 * counts it (a retry of the same batch then goes through) and gives the waiting backend's pid; the
 * test then breaks something. Nothing is timed.
 */
async function heldTable(
  every: number,
  times: number,
  onDb: TestDb = db,
): Promise<{ t: string; fault: () => Promise<number> }> {
  const t = `f${++seq}`
  const key = 7000 + seq
  await onDb.client.query(`CREATE TABLE ${t} (id int, name text); CREATE TABLE ${t}_faults (at int);
    CREATE FUNCTION ${t}_hold() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE n int; k int;
    BEGIN
      SELECT count(*) INTO n FROM ${t};
      SELECT count(*) INTO k FROM ${t}_faults;
      IF k < ${times} AND n >= (k + 1) * ${every} THEN PERFORM pg_advisory_xact_lock(${key}); END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER hold AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_hold();
    SELECT pg_advisory_lock(${key})`)
  const seen = new Set<number>()
  return {
    t,
    fault: async () => {
      let pid = 0
      // A backend already faulted may still be listed while it exits: the next fault is another one.
      await waitFor(async () => {
        const r = await onDb.client.query<{ pid: number }>(
          `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [key],
        )
        pid = r.rows.find((row) => !seen.has(row.pid))?.pid ?? 0
        return pid !== 0
      }, 30_000)
      seen.add(pid)
      await onDb.client.query(`INSERT INTO ${t}_faults VALUES ((SELECT count(*) FROM ${t}_faults) + 1)`)
      return pid
    },
  }
}

async function input(): Promise<string> {
  const path = join(dir, `in-${++seq}.csv`)
  await writeFile(path, csv)
  return path
}

const fast: Partial<LoadOptions> = { retryBaseDelayMs: 20, retryMaxDelayMs: 200, batchRows: 20 }

describe('passing faults', () => {
  it.each(['copy', 'insert'] as const)('survives its backend being terminated several times (%s)', async (method) => {
    // Terminated three times, each time while a batch is inside its statement at 80, 160 and 240 rows.
    const { t, fault } = await heldTable(80, 3)
    const retries: { attempt: number; error: unknown }[] = []
    const terminations: number[] = []
    const killer = (async () => {
      for (let k = 0; k < 3; k++) {
        const pid = await fault()
        // With a timeout, pg_terminate_backend returns once the backend is gone (true), not when signalled.
        const r = await db.client.query<{ gone: boolean }>('SELECT pg_terminate_backend($1, 30000) AS gone', [pid])
        expect(r.rows[0]!.gone).toBe(true)
        terminations.push(pid)
      }
    })()
    const report = await load({
      inputs: [await input()],
      table: t,
      db: db.url,
      method,
      ...fast,
      onRetry: (r) => retries.push(r),
    })
    await killer
    expect(terminations).toHaveLength(3)
    expect(await tableContents(db, t)).toBe(clean)
    expect(report).toMatchObject({ rowsRead: N, rowsLoaded: N, rowsRejected: 0, batches: N / 20, exitCode: 0 })
    // One retry per termination, each the first attempt of its batch, each for the lost connection.
    expect(retries.map((r) => r.attempt)).toEqual([1, 1, 1])
    for (const r of retries) expect(String((r.error as Error).message)).toMatch(/terminat|Connection/i)
  })

  it('does not load a batch twice when the answer to its COMMIT is lost', async () => {
    const t = await plainTable()
    const proxy = await FaultProxy.start(db.url)
    try {
      const retries: unknown[] = []
      // The 6th batch's COMMIT reaches the server, which commits it; its answer is lost.
      proxy.cutAtCommit = 'after'
      proxy.commitsBeforeCut = 5
      const report = await load({
        inputs: [await input()],
        table: t,
        db: proxy.url(db.url),
        ...fast,
        onRetry: (r) => retries.push(r.error),
      })
      expect(proxy.cuts).toBe(1)
      expect(await tableContents(db, t)).toBe(clean)
      expect(report).toMatchObject({ rowsRead: N, rowsLoaded: N, rowsRejected: 0, batches: N / 20, exitCode: 0 })
      // The batch had committed: txid_status said so, and it was not sent again.
      expect(retries).toEqual([])
    } finally {
      await proxy.close()
    }
  })

  it('sends a batch again when its COMMIT never reached the server', async () => {
    const t = await plainTable()
    const proxy = await FaultProxy.start(db.url)
    try {
      const retries: unknown[] = []
      // The connection is cut just before the 6th batch's COMMIT would be forwarded.
      proxy.cutAtCommit = 'before'
      proxy.commitsBeforeCut = 5
      const report = await load({
        inputs: [await input()],
        table: t,
        db: proxy.url(db.url),
        ...fast,
        onRetry: (r) => retries.push(r.error),
      })
      expect(proxy.cuts).toBe(1)
      expect(await tableContents(db, t)).toBe(clean)
      expect(report).toMatchObject({ rowsRead: N, rowsLoaded: N, rowsRejected: 0, batches: N / 20, exitCode: 0 })
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
    const loading = load({
      inputs: [path],
      table: 'dl',
      db: db.url,
      ...fast,
      onRetry: (r) => retries.push(r.error as { code?: string }),
    })
    // Once pgbulk waits for row 2, insert its row 1: a cycle.
    await waitFor(() =>
      db.client
        .query(
          `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.application_name LIKE 'pgbulk %'`,
        )
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
    // The lock is let go once pgbulk has timed out on it once (an event, not a delay).
    let released: Promise<void> | undefined
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
      onRetry: (r) => {
        retries.push(r.error as { code?: string })
        released ??= other.query('COMMIT').then(() => other.end())
      },
    })
    await released
    // Released during the first backoff, so the second attempt finds the table free.
    expect(retries.map((e) => e.code)).toEqual(['55P03'])
    expect(report).toMatchObject({ rowsLoaded: 1, exitCode: 0 })
    expect(await tableContents(db, 'lt')).toBe('1\tone\n')
  })

  it('gives up after --retries attempts with exit 3, saying what was committed', async () => {
    await db.client.query(`CREATE TABLE gu (id int, name text)`)
    const other = new pg.Client({ connectionString: db.url })
    await other.connect()
    // Two batches of 200 commit; the third waits on a lock that is never given up.
    await db.client.query(`CREATE FUNCTION gu_lock() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF (SELECT count(*) FROM gu) > 400 THEN PERFORM 1 FROM gu_blocker FOR UPDATE; END IF; RETURN NULL; END $$;
      CREATE TABLE gu_blocker (x int); INSERT INTO gu_blocker VALUES (1);
      CREATE TRIGGER lock AFTER INSERT ON gu FOR EACH STATEMENT EXECUTE FUNCTION gu_lock()`)
    await other.query(`BEGIN; LOCK TABLE gu_blocker IN ACCESS EXCLUSIVE MODE`)
    const url = new URL(db.url)
    url.searchParams.set('options', '-c lock_timeout=50')
    const path = join(dir, 'gu.csv')
    await writeFile(path, 'id,name\n' + Array.from({ length: 1000 }, (_, k) => `${k + 1},n${k + 1}`).join('\n') + '\n')
    const rejectsPath = `${path}.rejects.ndjson`
    const retries: { attempt: number; code: string | undefined }[] = []
    try {
      const report = await load({
        inputs: [path],
        table: 'gu',
        db: url.toString(),
        rejects: rejectsPath,
        batchRows: 200,
        retries: 3,
        retryBaseDelayMs: 10,
        retryMaxDelayMs: 20,
        onRetry: (r) => retries.push({ attempt: r.attempt, code: (r.error as { code?: string }).code }),
      })
      expect(report.exitCode).toBe(3)
      expect(report.stopped).toMatchObject({ code: 'DB_FATAL' })
      expect(report.stopped!.message).toMatch(
        /lock timeout.*\(SQLSTATE 55P03\); the batch of 200 rows from .*gu\.csv:402 on was rolled back; 2 batches \(400 rows\) had been committed before it/s,
      )
      // --retries 3: three attempts of the third batch, so two retries, then the run stops.
      expect(retries).toEqual([
        { attempt: 1, code: '55P03' },
        { attempt: 2, code: '55P03' },
      ])
      // Rows read = loaded + rejected: the batch that failed is not counted as read, nor set aside.
      expect(report).toMatchObject({ rowsLoaded: 400, rowsRejected: 0, batches: 2 })
      expect(report.rowsRead).toBe(report.rowsLoaded + report.rowsRejected)
      expect(await rejectsOf(rejectsPath, report)).toEqual([])
      expect(await tableContents(db, 'gu')).toBe(
        Array.from({ length: 400 }, (_, k) => `${k + 1}\tn${k + 1}\n`).join(''),
      )
    } finally {
      await other.query('ROLLBACK')
      await other.end()
    }
  })

  it('sets a poison pill aside after --retries attempts, with its attempts, and loads the rest', async () => {
    await db.client.query(`CREATE TABLE pp (id int, name text);
      CREATE FUNCTION pp_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.id = 7 THEN RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = '57014'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER slow BEFORE INSERT ON pp FOR EACH ROW EXECUTE FUNCTION pp_slow()`)
    // Row 7 is cut as statement_timeout cuts a statement (57014), every time: raised by a trigger,
    // not timed, so that a loaded machine cannot cut a good batch too.
    const path = join(dir, 'pp.csv')
    await writeFile(path, 'id,name\n' + Array.from({ length: 30 }, (_, k) => `${k + 1},n${k + 1}`).join('\n') + '\n')
    const retries: number[] = []
    const report = await load({
      inputs: [path],
      table: 'pp',
      db: db.url,
      retries: 3,
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 20,
      batchRows: 10,
      onRetry: (r) => retries.push(r.attempt),
    })
    expect(report).toMatchObject({
      rowsRead: 30,
      rowsLoaded: 29,
      rowsRejected: 1,
      batches: 3,
      exitCode: 2,
      rejectsByCode: { '57014': 1 },
    })
    expect(report.stopped).toBeUndefined()
    const rejects = await readRejects(`${path}.rejects.ndjson`)
    expect(rejects).toEqual([
      expect.objectContaining({ line: 8, raw: '7,n7', stage: 'database', code: '57014', attempts: 3, batch: 1 }),
    ])
    expect(String(rejects[0]!['error'] ?? rejects[0]!['message'])).toContain(
      'canceling statement due to statement timeout',
    )
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
      // Stopped while the batch that reaches 100 rows is inside its statement.
      const { t, fault } = await heldTable(100, 1, own)
      let restarted = false
      const restarting = fault().then(async () => {
        await server.restart(500)
        restarted = true
      })
      const retries: unknown[] = []
      const report = await load({
        inputs: [await input()],
        table: t,
        db: own.url,
        batchRows: 20,
        retries: 20,
        retryBaseDelayMs: 100,
        retryMaxDelayMs: 800,
        onRetry: (r) => retries.push(r.error),
      })
      await restarting
      expect(restarted).toBe(true)
      expect(retries.length).toBeGreaterThanOrEqual(1)
      expect(report).toMatchObject({ rowsRead: N, rowsLoaded: N, rowsRejected: 0, batches: N / 20, exitCode: 0 })
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
