import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { startPgbulk, waitFor } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

// --workers (README, "Workers"): while one batch is written, the next goes out on another
// connection; commits stay in input order (a batch that is ready waits, inside its transaction,
// for the one before it); when two batches in flight hold the same key, the later one gives way,
// so the first row of a key in the file wins. Held here by stopping the first batch on a lock
// this session holds and looking at what the server shows meanwhile: not by timing.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

interface Backend {
  pid: number
  state: string
  wait: string | null
  xid: string | null
  query: string
}

/** pgbulk's connections to the test database that are in a transaction. */
async function inTransaction(): Promise<Backend[]> {
  const r = await db.client.query<Backend>(
    `SELECT pid, state, wait_event_type || '/' || wait_event AS wait, backend_xid::text AS xid, query FROM pg_stat_activity
     WHERE application_name LIKE 'pgbulk %' AND datname = current_database() AND xact_start IS NOT NULL ORDER BY xact_start`,
  )
  return r.rows
}

let seq = 0

describe('--workers 2', () => {
  it.each(['copy', 'insert'] as const)(
    'writes the next batch while the one before is held, commits in input order, and gives way on a shared key (%s)',
    async (method) => {
      const t = `w${++seq}`
      const key = 12_100 + seq
      // A row whose v is "hold" waits for an advisory lock this session holds.
      await db.client.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text);
        CREATE FUNCTION ${t}_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          IF NEW.v = 'hold' THEN PERFORM pg_advisory_xact_lock_shared(${key}); END IF; RETURN NEW; END $$;
        CREATE TRIGGER hold BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_hold()`)
      // Batches of 3 rows: batch 1 is held at its first row and holds key 50 after it; batch 2
      // holds key 50 too (a later row of the same key: it must be the one rejected).
      const lines = ['1,hold', '50,first', '2,a', '50,second', '3,b', '4,c', '5,d', '6,e', '7,f', '8,g', '9,h', '10,i']
      const input = join(dir, `${t}.csv`)
      await writeFile(input, 'id,v\n' + lines.join('\n') + '\n')
      const rejects = `${input}.rejects.ndjson`
      await db.client.query(`SELECT pg_advisory_lock(${key})`)
      let locked = true
      const run = startPgbulk(
        ['load', input, '--table', t, '--method', method, '--batch-size', '3', '--workers', '2'],
        {
          cwd: dir,
          env: { DATABASE_URL: db.url },
        },
      )
      try {
        // Batch 2 goes out while batch 1 waits: it is written (it has a transaction id) and waits
        // for its turn (asking who blocks whom) instead of committing.
        let seen: Backend[] = []
        const held = () => seen.filter((b) => b.wait === 'Lock/advisory')
        const waitingTurn = () =>
          seen.filter((b) => b.wait !== 'Lock/advisory' && b.xid !== null && b.query.includes('pg_blocking_pids'))
        await waitFor('batch 2 to be written while batch 1 is held', async () => {
          seen = await inTransaction()
          return (await db.count(t)) > 0 || (held().length === 1 && waitingTurn().length === 1)
        }).catch((err: Error) => {
          throw new Error(`${err.message}; pgbulk's transactions: ${JSON.stringify(seen)}`)
        })
        // Nothing is committed out of order: batch 2's rows are not visible while batch 1 is held.
        expect(await db.count(t)).toBe(0)
        expect(seen).toHaveLength(2)
        expect(held()[0]!.pid).not.toBe(waitingTurn()[0]!.pid)
        expect(run.child.exitCode).toBeNull()
        // Let batch 1 go: it now needs key 50, which batch 2 holds uncommitted; batch 2 gives way.
        await db.client.query(`SELECT pg_advisory_unlock(${key})`)
        locked = false
        // (Were the later batch not to give way, the two would wait for each other for ever.)
        await waitFor('the run to end', () => run.child.exitCode !== null)
        const r = await run.done
        expect(r.code, r.stderr).toBe(2)
        expect(r.stderr).toContain('pgbulk: 12 rows read, 11 loaded, 1 rejected in 4 batches')
      } finally {
        if (locked) await db.client.query(`SELECT pg_advisory_unlock(${key})`)
        run.child.kill('SIGKILL')
        await run.done
      }
      // The first row of key 50 in the file won; the later one is the reject, from batch 2.
      expect(await tableContents(db, t)).toBe(
        ['1\thold', '2\ta', '3\tb', '4\tc', '5\td', '6\te', '7\tf', '8\tg', '9\th', '10\ti', '50\tfirst']
          .map((l) => l + '\n')
          .join(''),
      )
      const rej = await readRejects(rejects)
      expect(rej.map((x) => [x['line'], x['code'], x['batch'], x['raw']])).toEqual([[5, '23505', 2, '50,second']])
      const cp = await db.client.query(
        `SELECT done, rows_read, rows_loaded, rows_rejected FROM pgbulk.checkpoints WHERE target = $1`,
        [`"public"."${t}"`],
      )
      expect(cp.rows).toEqual([{ done: true, rows_read: '12', rows_loaded: '11', rows_rejected: '1' }])
    },
  )
})
