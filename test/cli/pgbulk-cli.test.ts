import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type CliRun, type CliRunOptions, runPgbulk, startPgbulk, waitFor } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

/** Run the built binary in the test folder; `env` replaces DATABASE_URL and friends. */
function pgbulk(args: string[], opts: Omit<CliRunOptions, 'cwd'> = {}): Promise<CliRun> {
  return runPgbulk(args, { cwd: dir, ...opts })
}

let seq = 0
async function table(columns: string): Promise<string> {
  const name = `c${++seq}`
  await db.client.query(`CREATE TABLE ${name} (${columns})`)
  return name
}

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, content)
  return path
}

describe('pgbulk load (the binary)', () => {
  it('exits 0 and prints a summary when every row loads', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    const input = await file('ok.csv', 'id,name\n1,a\n2,b\n')
    // A bare --dry-run before the input does not swallow it.
    const dry = await pgbulk(['load', '--dry-run', input, '--table', t, '--db', db.url])
    expect(dry.code).toBe(0)
    expect(dry.stderr).toMatch(/2 would load, 0 rejected \(dry run: nothing written\)/)
    expect(await tableContents(db, t)).toBe('')
    const r = await pgbulk(['load', input, '--table', t, '--db', db.url])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/pgbulk: 2 rows read, 2 loaded, 0 rejected in 1 batch/)
    expect(await tableContents(db, t)).toBe('1\ta\n2\tb\n')
  })

  it('exits 2 when rows were rejected, printing file:line:column and what was wrong', async () => {
    const t = await table('id int PRIMARY KEY, age smallint')
    const input = await file('bad.csv', 'id,age\n1,30\n2,abc\n3,99999\n1,5\n')
    const r = await pgbulk(['load', input, '--table', t, '--db', db.url])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      `${input}:3:2: column "age" (smallint): expected an integer, found "abc" (VALUE_INVALID)`,
    )
    expect(r.stderr).toContain(
      `${input}:4:2: column "age" (smallint): "99999" is out of range for int2 (VALUE_OUT_OF_RANGE)`,
    )
    expect(r.stderr).toContain(
      `${input}:5: duplicate key value violates unique constraint "${t}_pkey" (SQLSTATE 23505)`,
    )
    expect(r.stderr).toContain(`rejected rows of ${input}: ${input}.rejects.ndjson`)
    expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(await tableContents(db, t)).toBe('1\t30\n')
    expect((await readRejects(`${input}.rejects.ndjson`)).map((x) => x['raw'])).toEqual(['2,abc', '3,99999', '1,5'])
  })

  it('reads standard input and writes a JSON report without the password', async () => {
    const t = await table('id int, name text')
    const url = new URL(db.url)
    const report = join(dir, 'report.json')
    const r = await pgbulk(['load', '-', '--table', t, '--report', report, '--quiet'], {
      stdin: 'id,name\n1,x\nz,y\n',
      env: {
        PGHOST: url.hostname,
        PGPORT: url.port,
        PGUSER: url.username,
        PGPASSWORD: url.password,
        PGDATABASE: url.pathname.slice(1),
      },
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('')
    const json = JSON.parse(await readFile(report, 'utf8')) as Record<string, unknown>
    expect(json).toMatchObject({
      rowsRead: 2,
      rowsLoaded: 1,
      rowsRejected: 1,
      rejectsByCode: { VALUE_INVALID: 1 },
      batches: 1,
      exitCode: 2,
    })
    expect(typeof json['bytesRead']).toBe('number')
    expect(typeof json['elapsedMs']).toBe('number')
    expect(await readRejects(join(dir, 'pgbulk-rejects.ndjson'))).toEqual([
      expect.objectContaining({ file: 'stdin', line: 3, raw: 'z,y' }),
    ])

    const withUrl = await pgbulk(['load', '-', '--table', t, '--db', db.url, '--report', report, '--force'], {
      stdin: 'id,name\n2,x\n',
    })
    expect(withUrl.code).toBe(0)
    const text = await readFile(report, 'utf8')
    expect(text).not.toContain(`:${url.password}@`)
    const options = (JSON.parse(text) as { options: Record<string, unknown> }).options
    expect(options['db']).toContain(':***@')
    // What was given on the command line, and nothing of the process (its stdout stream was once written out whole).
    expect(options).not.toHaveProperty('stdout')
    expect(Object.values(options).filter((v) => typeof v === 'object' && v !== null && !Array.isArray(v))).toEqual([])
  })

  it("exits 1 on a usage error, with commander's message", async () => {
    const r = await pgbulk(['load', 'x.csv', '--table', 't', '--batch-size', 'lots'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("option '--batch-size <rows|auto>' argument 'lots' is invalid")
  })

  it('exits 1 on a setup error with a code and a hint, and no stack trace', async () => {
    const input = await file('x.csv', 'id\n1\n')
    const r = await pgbulk(['load', input, '--table', 'public.userz', '--db', db.url])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'pgbulk: error: table "public.userz" not found (TABLE_NOT_FOUND)\n' +
        '  hint: check --table and the search_path; unquoted names are folded to lower case as in SQL; ' +
        '--create makes a missing table from the input\n',
    )
    const conn = await pgbulk(['load', input, '--table', 't', '--db', 'postgres://u:topsecret@127.0.0.1:1/x'])
    expect(conn.code).toBe(1)
    expect(conn.stderr).toMatch(/^pgbulk: error: cannot connect to u@127.0.0.1:1\/x: .*\(DB_CONNECT\)/)
    expect(conn.stderr).not.toContain('topsecret')
  })

  it('exits 3 when the reject limit is reached, saying what stays committed', async () => {
    const t = await table('id int')
    const input = await file('limit.csv', 'id\n1\n2\nx\n3\ny\n4\n')
    const r = await pgbulk(['load', input, '--table', t, '--db', db.url, '--max-rejects', '1', '--batch-size', '1'])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/stopped early after .*limit\.csv:6: more than 1 rows rejected/)
    expect(r.stderr).toMatch(/committed before the stop stay committed \(3 rows\)/)
    expect(await tableContents(db, t)).toBe('1\n2\n3\n')
  })

  it('exits 3 when the database fails mid-load, saying what was committed', async () => {
    // Row 21 ends its own connection, at every attempt: a passing fault that outlasts --retries, in
    // the third batch whatever the speed of the machine (no poller racing the load).
    const t = await table('id int')
    await db.client.query(`CREATE FUNCTION cut_${t}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.id = 21 THEN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); END IF; RETURN NEW; END $$;
      CREATE TRIGGER cut BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION cut_${t}()`)
    const input = await file('fatal.csv', 'id\n' + Array.from({ length: 100 }, (_, k) => k + 1).join('\n') + '\n')
    const report = join(dir, 'fatal-report.json')
    const r = await pgbulk([
      'load',
      input,
      '--table',
      t,
      '--db',
      db.url,
      '--batch-size',
      '10',
      '--retries',
      '2',
      '--report',
      report,
    ])
    expect(r.code, r.stderr).toBe(3)
    expect(r.stderr).toContain(`the batch of 10 rows from ${input}:22 on was rolled back`)
    expect(r.stderr).toContain('2 batches (20 rows) had been committed before it and stay committed')
    expect(await tableContents(db, t)).toBe(Array.from({ length: 20 }, (_, k) => `${k + 1}\n`).join(''))
    // The batch it hit is not counted as read: rows read = loaded + rejected.
    const json = JSON.parse(await readFile(report, 'utf8')) as Record<string, unknown>
    expect(json).toMatchObject({ exitCode: 3, rowsRead: 20, rowsLoaded: 20, rowsRejected: 0, batches: 2 })
  })

  it('on SIGINT stops reading a stalled stdin, commits what it read and exits 130', async () => {
    const t = await table('id int')
    const report = join(dir, 'sigint-report.json')
    const r = await pgbulk(['load', '-', '--table', t, '--db', db.url, '--batch-size', '2', '--report', report], {
      stdin: 'id\n1\n2\n3\n',
      keepStdinOpen: true,
      // Once the first batch is committed: row 3 has been read by then, and the stream stays open.
      killWhen: async () => (await db.count(t)) >= 2,
      signal: 'SIGINT',
    })
    expect(r.code).toBe(130)
    // Row 3 was read (it waited for a full batch): it is committed on the way out.
    expect(await tableContents(db, t)).toBe('1\n2\n3\n')
    expect(JSON.parse(await readFile(report, 'utf8'))).toMatchObject({
      rowsRead: 3,
      rowsLoaded: 3,
      exitCode: 130,
      stopped: { code: 'ABORTED' },
    })
  })

  it('on SIGTERM finishes the batch in flight, then exits 130 with the table matching the report', async () => {
    const t = await table('id int')
    await db.client
      .query(`CREATE FUNCTION slow_${t}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION slow_${t}()`)
    const input = await file('sig.csv', 'id\n' + Array.from({ length: 5000 }, (_, k) => k + 1).join('\n') + '\n')
    const report = join(dir, 'sig-report.json')
    const r = await pgbulk(['load', input, '--table', t, '--db', db.url, '--batch-size', '50', '--report', report], {
      // Once two batches are committed: mid-load, whatever the speed of the machine.
      killWhen: async () => (await db.count(t)) >= 100,
      signal: 'SIGTERM',
    })
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toContain('SIGTERM received: finishing the batch in flight')
    const json = JSON.parse(await readFile(report, 'utf8')) as {
      rowsLoaded: number
      rowsRead: number
      rowsRejected: number
      exitCode: number
      batches: number
      stopped: { code: string }
    }
    expect(json).toMatchObject({ exitCode: 130, rowsRejected: 0, stopped: { code: 'ABORTED' } })
    // Stopped mid-load, on a batch boundary: every row read was committed, in whole batches.
    expect(json.rowsLoaded).toBeGreaterThanOrEqual(100)
    expect(json.rowsLoaded).toBeLessThan(5000)
    expect(json.rowsLoaded % 50).toBe(0)
    expect(json.batches).toBe(json.rowsLoaded / 50)
    expect(json.rowsRead).toBe(json.rowsLoaded + json.rowsRejected)
    expect(r.stderr).toContain(`pgbulk: ${json.rowsRead} rows read, ${json.rowsLoaded} loaded, 0 rejected`)
    expect(await tableContents(db, t)).toBe(Array.from({ length: json.rowsLoaded }, (_, k) => `${k + 1}\n`).join(''))
  })

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'quits at once on a second %s, while the batch in flight waits for a lock',
    async (sig) => {
      // Row 101 (the third batch) waits for an advisory lock this session holds: the batch in flight
      // cannot finish, so only the second signal can end the run.
      const key = 12_000 + seq
      const t = await table('id int')
      await db.client.query(`CREATE FUNCTION hold_${t}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.id = 101 THEN PERFORM pg_advisory_xact_lock_shared(${key}); END IF; RETURN NEW; END $$;
      CREATE TRIGGER hold BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION hold_${t}()`)
      const input = await file(
        `second-${t}.csv`,
        'id\n' + Array.from({ length: 1000 }, (_, k) => k + 1).join('\n') + '\n',
      )
      await db.client.query(`SELECT pg_advisory_lock(${key})`)
      let run: ReturnType<typeof startPgbulk> | undefined
      try {
        run = startPgbulk(['load', input, '--table', t, '--db', db.url, '--batch-size', '50'], { cwd: dir })
        const waitingForUs = async () =>
          (
            await db.client.query(
              `SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pgbulk %' AND datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
            )
          ).rowCount === 1
        await waitFor('the third batch to wait for the lock', waitingForUs)
        run.child.kill(sig)
        await waitFor('the first signal to be acknowledged', () =>
          run!.output().stderr.includes(`${sig} received: finishing the batch in flight`),
        )
        // The first signal waits for the batch in flight, which waits for us.
        expect(run.child.exitCode).toBeNull()
        expect(await waitingForUs()).toBe(true)
        run.child.kill(sig)
        await waitFor('the run to quit on the second signal', () => run!.child.exitCode !== null)
        const r = await run.done
        expect(r.code, r.stderr).toBe(130)
      } finally {
        await db.client.query(`SELECT pg_advisory_unlock(${key})`)
        run?.child.kill('SIGKILL')
        await run?.done
      }
      // Its connection ends, and the batch in flight with it: the table holds the two batches committed
      // before, as the checkpoint says.
      await waitFor(
        'its backend to go',
        async () =>
          (
            await db.client.query(
              `SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pgbulk %' AND datname = current_database()`,
            )
          ).rowCount === 0,
      )
      expect(await tableContents(db, t)).toBe(Array.from({ length: 100 }, (_, k) => `${k + 1}\n`).join(''))
      const cp = await db.client.query(
        `SELECT done, next_line, rows_read, rows_loaded FROM pgbulk.checkpoints WHERE target = $1`,
        [`"public"."${t}"`],
      )
      expect(cp.rows).toEqual([{ done: false, next_line: '102', rows_read: '100', rows_loaded: '100' }])
    },
  )
})
