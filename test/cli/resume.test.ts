import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { appendFile, mkdir, readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import pg from 'pg'
import { describe, expect, it, onTestFinished } from 'vitest'
import { rng } from '../helpers/random.js'
import { BIN, type CliRun, runPgbulk, waitFor } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

// A killed load resumes exactly where it stopped. Each trial kills the real binary with SIGKILL
// at a different moment (with one to three writers), resumes it (with another batch size and
// method, and two writers), and then compares the
// table with one clean run and the reject file with the bad rows, each exactly once. The tables
// have no primary key on purpose: a row loaded twice would show.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

type Run = CliRun

/** Run the binary against the test database; with `kill`, send it `signal` once `kill` turns true. */
function pgbulk(args: string[], kill?: () => Promise<boolean>, signal: NodeJS.Signals = 'SIGKILL'): Promise<Run> {
  return runPgbulk(args, { cwd: dir, env: { DATABASE_URL: db.url }, signal, ...(kill ? { killWhen: kill } : {}) })
}

interface Checkpoint {
  done: boolean
  nextLine: number
  nextByte: number
  rowsRead: number
  rowsLoaded: number
  rowsRejected: number
}

/** The job's checkpoint, if it has one yet. */
async function checkpoint(job: string): Promise<Checkpoint | undefined> {
  const r = await db.client
    .query<Record<string, string | boolean>>(
      `SELECT done, next_line, next_byte, rows_read, rows_loaded, rows_rejected FROM pgbulk.checkpoints WHERE job = $1`,
      [job],
    )
    .catch(() => ({ rows: [] })) // the checkpoint table may not exist yet
  const c = r.rows[0]
  if (!c) return undefined
  const n = (k: string) => Number(c[k])
  return {
    done: c['done'] === true,
    nextLine: n('next_line'),
    nextByte: n('next_byte'),
    rowsRead: n('rows_read'),
    rowsLoaded: n('rows_loaded'),
    rowsRejected: n('rows_rejected'),
  }
}

/** A kill condition: the job's checkpoint has committed at least `rows` rows read. */
const committedPast = (job: string, rows: number) => async () => ((await checkpoint(job))?.rowsRead ?? 0) >= rows

/**
 * After a kill: the run was cut mid-load (some rows committed, not all), its checkpoint says so,
 * and the table holds exactly the rows the checkpoint counts as loaded.
 */
async function expectKilledMidLoad(run: Run, job: string, t: string, code: number | null = null): Promise<Checkpoint> {
  expect(run.code, run.stderr).toBe(code)
  const cp = await checkpoint(job)
  expect(cp?.done).toBe(false)
  expect(cp!.rowsLoaded).toBeGreaterThan(0)
  expect(cp!.rowsRead).toBeLessThan(N)
  expect(cp!.rowsRead).toBe(cp!.rowsLoaded + cp!.rowsRejected)
  expect(await db.count(t)).toBe(cp!.rowsLoaded)
  await expectLedgerMatches(job, cp!)
  return cp!
}

/**
 * The batch ledger names only what committed: the job's batches tile the input's lines from the
 * first to the checkpoint's (across the runs so far), and their counts add up to the checkpoint's.
 */
async function expectLedgerMatches(job: string, cp: Checkpoint): Promise<void> {
  const r = await db.client.query<{
    first_line: string
    last_line: string
    rows_loaded: string
    rows_rejected: string
  }>(
    'SELECT first_line, last_line, rows_loaded, rows_rejected FROM pgbulk.batches WHERE job = $1 ORDER BY first_line',
    [job],
  )
  const batches = r.rows.map((b) => ({
    first: Number(b.first_line),
    last: Number(b.last_line),
    loaded: Number(b.rows_loaded),
    rejected: Number(b.rows_rejected),
  }))
  expect(batches.map((b) => b.first)).toEqual([1, ...batches.slice(0, -1).map((b) => b.last + 1)])
  expect(batches.at(-1)!.last).toBe(cp.nextLine - 1)
  expect(batches.reduce((n, b) => n + b.loaded, 0)).toBe(cp.rowsLoaded)
  expect(batches.reduce((n, b) => n + b.rejected, 0)).toBe(cp.rowsRejected)
}

const N = 2000
/** Rows: every 50th has a bad id (a client-side reject), every 97th breaks a check constraint (a database reject); names have commas, quotes and newlines. */
const rows = Array.from({ length: N }, (_, k) => k + 1)
const csv =
  'id,name\n' +
  rows.map((i) => `${i % 50 === 0 ? `x${i}` : i},"name ${i}, ""q""${i % 7 === 0 ? '\nsecond line' : ''}"`).join('\n') +
  '\n'
const good = rows.filter((i) => i % 50 !== 0 && i % 97 !== 0)
const clean = good.map((i) => `${i}\tname ${i}, "q"${i % 7 === 0 ? '\\nsecond line' : ''}\n`).join('')
const badCount = rows.length - good.length

let seq = 0
async function freshTable(sleepS = 0.004): Promise<string> {
  const t = `r${++seq}`
  await db.client.query(`CREATE TABLE ${t} (id int CHECK (id % 97 <> 0), name text);
    CREATE FUNCTION ${t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${sleepS}); RETURN NULL; END $$;
    CREATE TRIGGER slow AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_slow()`)
  return t
}

async function expectExactlyOnce(t: string, rejectsPath: string): Promise<void> {
  expect(await tableContents(db, t)).toBe(clean)
  const rejects = await readRejects(rejectsPath)
  const ids = rejects.map((r) => Number(String(r['raw']).split(',')[0]!.replace('x', ''))).sort((a, b) => a - b)
  expect(ids).toEqual(rows.filter((i) => i % 50 === 0 || i % 97 === 0))
  expect(rejects).toHaveLength(badCount)
}

describe('resume after a kill', () => {
  const trials = (['copy', 'insert'] as const).flatMap((method) =>
    ([false, true] as const).flatMap((gzip) => [0, 1, 2, 3].map((k) => ({ method, gzip, k }))),
  )

  it.each(trials)(
    'SIGKILL at a random moment, then --resume: $method, gzip $gzip, trial $k',
    async ({ method, gzip, k }) => {
      const random = rng(1000 + k * 7 + (gzip ? 100 : 0) + (method === 'insert' ? 1000 : 0))
      const t = await freshTable(0.01)
      const input = join(dir, `in-${t}.csv${gzip ? '.gz' : ''}`)
      await writeFile(input, gzip ? gzipSync(csv) : csv)
      const rejects = `${input}.rejects.ndjson`
      const job = `job-${t}`
      const batch = String(20 + Math.floor(random() * 200))
      // One to three writers: batches in flight at the kill must not break exactly-once. The kill
      // lands once a random share (5-60%) of the rows has committed: mid-load, whatever the speed
      // of the machine.
      const workers = String(1 + (k % 3))
      const killAt = Math.floor(N * (0.05 + random() * 0.55))
      const first = await pgbulk(
        [
          'load',
          input,
          '--table',
          t,
          '--job',
          job,
          '--method',
          method,
          '--batch-size',
          batch,
          '--workers',
          workers,
          '--quiet',
        ],
        committedPast(job, killAt),
      )
      let cut = await expectKilledMidLoad(first, job, t)
      // Resume with another batch size and the other method, until it finishes (killing it once more sometimes).
      const otherMethod = method === 'copy' ? 'insert' : 'copy'
      if (random() < 0.4) {
        const again = cut.rowsRead + Math.floor((N - cut.rowsRead) * (0.05 + random() * 0.5))
        const second = await pgbulk(
          [
            'load',
            input,
            '--table',
            t,
            '--job',
            job,
            '--resume',
            '--method',
            otherMethod,
            '--batch-size',
            '37',
            '--quiet',
          ],
          committedPast(job, again),
        )
        cut = await expectKilledMidLoad(second, job, t)
      }
      const resumed = await pgbulk([
        'load',
        input,
        '--table',
        t,
        '--job',
        job,
        '--resume',
        '--method',
        otherMethod,
        '--batch-size',
        '53',
        '--workers',
        '2',
      ])
      expect(resumed.code, resumed.stderr).toBe(2)
      // It started where the last checkpoint said, and skipped (gzip) exactly the rows committed.
      const how = gzip ? `read and skipped ${cut.rowsRead} committed rows to get there` : 'seeked there'
      expect(resumed.stderr).toContain(
        `at line ${cut.nextLine} (byte ${cut.nextByte}; ${how}): earlier runs had loaded ${cut.rowsLoaded} rows and rejected ${cut.rowsRejected}`,
      )
      await expectExactlyOnce(t, rejects)
      const cp = await db.client.query<{ done: boolean; rows_loaded: string; rows_rejected: string }>(
        `SELECT done, rows_loaded, rows_rejected FROM pgbulk.checkpoints WHERE job = $1`,
        [job],
      )
      expect(cp.rows).toEqual([{ done: true, rows_loaded: String(good.length), rows_rejected: String(badCount) }])
    },
  )

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s commits or rolls back the batch in flight, exits 130 with a matching checkpoint, and --resume finishes',
    async (signal) => {
      // Slow enough that the signal comes mid-load, with two writers in flight.
      const t = await freshTable(0.03)
      const input = join(dir, `sig-${t}.csv`)
      await writeFile(input, csv)
      const job = `job-${t}`
      const first = await pgbulk(
        ['load', input, '--table', t, '--job', job, '--batch-size', '40', '--workers', '2', '--quiet'],
        committedPast(job, 200),
        signal,
      )
      // Stopped mid-load with exit 130; the checkpoint counts exactly what is in the table.
      const cp = await expectKilledMidLoad(first, job, t, 130)
      expect(cp.rowsRead).toBeGreaterThanOrEqual(200)
      // The table holds the first rows of the file, through the checkpoint's line.
      expect(await tableContents(db, t)).toBe(clean.split('\n').slice(0, cp.rowsLoaded).join('\n') + '\n')
      const again = await pgbulk(['load', input, '--table', t, '--job', job])
      expect(again.code).toBe(1)
      expect(again.stderr).toContain(`job "${job}" has an unfinished checkpoint at ${input}:${cp.nextLine}`)
      expect(again.stderr).toContain('pass --resume to continue where it stopped, or --restart')
      const resumed = await pgbulk(['load', input, '--table', t, '--job', job, '--resume'])
      expect(resumed.code).toBe(2)
      expect(resumed.stderr).toContain(
        `at line ${cp.nextLine} (byte ${cp.nextByte}; seeked there): earlier runs had loaded ${cp.rowsLoaded} rows and rejected ${cp.rowsRejected}`,
      )
      await expectExactlyOnce(t, `${input}.rejects.ndjson`)
    },
  )

  it('refuses to resume a file that changed, unless --force; refuses to load a finished file twice', async () => {
    const t = await freshTable()
    const input = join(dir, `changed-${t}.csv`)
    await writeFile(input, csv)
    const job = `job-${t}`
    await expectKilledMidLoad(
      await pgbulk(
        ['load', input, '--table', t, '--job', job, '--batch-size', '40', '--quiet'],
        committedPast(job, 200),
      ),
      job,
      t,
    )
    await appendFile(input, '9999,late row\n')
    const r = await pgbulk(['load', input, '--table', t, '--job', job, '--resume'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /changed since its checkpoint .*: its size changed from \d+ to \d+ bytes \(INPUT_CHANGED\)/,
    )
    const forced = await pgbulk(['load', input, '--table', t, '--job', job, '--resume', '--force'])
    expect(forced.code).toBe(2)
    const twice = await pgbulk(['load', input, '--table', t, '--job', job, '--force'])
    expect(twice.code).toBe(1)
    expect(twice.stderr).toContain('(JOB_DONE)')
  })

  it('recognises a same-size rewrite (hash) and a touch (modification time) as a changed file, and resumes the file as it was', async () => {
    const t = await freshTable()
    const input = join(dir, `identity-${t}.csv`)
    const job = `job-${t}`
    // A fixed modification time, so that the test sets it back exactly (stat and utimes round alike).
    const mtime = new Date('2024-01-02T03:04:05.678Z')
    await writeFile(input, csv)
    await utimes(input, mtime, mtime)
    const cut = await expectKilledMidLoad(
      await pgbulk(
        ['load', input, '--table', t, '--job', job, '--batch-size', '40', '--quiet'],
        committedPast(job, 200),
      ),
      job,
      t,
    )
    const resume = () => pgbulk(['load', input, '--table', t, '--job', job, '--resume'])
    const refusedBecause = async (why: string) => {
      const r = await resume()
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toContain(
        `pgbulk: error: job "${job}": ${input} changed since its checkpoint at ${input}:${cut.nextLine} (${cut.rowsLoaded} rows loaded`,
      )
      expect(r.stderr).toContain(`: ${why} (INPUT_CHANGED)`)
      // Nothing was written, and the checkpoint is where it was.
      expect(await db.count(t)).toBe(cut.rowsLoaded)
      expect(await checkpoint(job)).toEqual(cut)
    }
    // The same bytes, a new modification time (touch): refused.
    const touched = new Date(mtime.getTime() + 60_000)
    await utimes(input, touched, touched)
    await refusedBecause(`it was modified (${mtime.toISOString()} → ${touched.toISOString()})`)
    // Other bytes of the same length, under the old modification time (a rewrite that kept it): refused.
    const rewritten = csv.replace('"name 3,', '"nome 3,') // a row already committed
    expect(rewritten).not.toBe(csv)
    expect(rewritten.length).toBe(csv.length)
    await writeFile(input, rewritten)
    await utimes(input, mtime, mtime)
    await refusedBecause('its content changed')
    // The file as it was, bytes and time: resumed, every row once.
    await writeFile(input, csv)
    await utimes(input, mtime, mtime)
    const resumed = await resume()
    expect(resumed.code, resumed.stderr).toBe(2)
    expect(resumed.stderr).toContain(`at line ${cut.nextLine} (byte ${cut.nextByte}; seeked there)`)
    await expectExactlyOnce(t, `${input}.rejects.ndjson`)
  })

  it('with --resume, a finished job does nothing for the same file and loads a new file at the same path as a new run', async () => {
    const t = await freshTable()
    const input = join(dir, `nightly-${t}.csv`)
    const job = `job-${t}`
    await writeFile(input, 'id,name\n1,a\n2,b\n')
    const night1 = await pgbulk(['load', input, '--table', t, '--job', job, '--resume', '--force'])
    expect(night1.code, night1.stderr).toBe(0)
    const again = await pgbulk(['load', input, '--table', t, '--job', job, '--resume', '--force'])
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(/0 rows read/)
    await writeFile(input, 'id,name\n3,c\n')
    const night2 = await pgbulk(['load', input, '--table', t, '--job', job, '--resume', '--force'])
    expect(night2.code, night2.stderr).toBe(0)
    expect(await tableContents(db, t)).toBe('1\ta\n2\tb\n3\tc\n')
  })

  it('refuses a second run of a job that is running', async () => {
    const t = await freshTable(0.06) // 100 batches of 60 ms: the first run outlasts the second's wait for the lock
    const input = join(dir, `running-${t}.csv`)
    await writeFile(input, csv)
    const job = `job-${t}`
    const first = pgbulk(['load', input, '--table', t, '--job', job, '--batch-size', '20', '--quiet'])
    // Wait until the first run has committed something: it holds the job by then.
    await waitFor('the first run to commit a batch', async () => (await db.count(t)) > 0)
    const second = await pgbulk(['load', input, '--table', t, '--job', job, '--resume'])
    expect(second.code).toBe(1)
    expect(second.stderr).toContain(`job "${job}" is being loaded by another pgbulk right now (JOB_RUNNING)`)
    expect((await first).code).toBe(2)
    await expectExactlyOnce(t, `${input}.rejects.ndjson`)
  })

  it('keeps its job when the server ends idle sessions (idle_session_timeout on the role)', async () => {
    const t = await freshTable(0.06)
    const input = join(dir, `idle-${t}.csv`)
    await writeFile(input, csv)
    const job = `job-${t}`
    // Roles are the server's, not the database's: a name of this run's own, dropped at the end.
    const role = `idle_${t}_${randomBytes(4).toString('hex')}`
    await db.client.query(
      `CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD 'idle-pw'; ALTER ROLE ${role} SET idle_session_timeout = '500ms'`,
    )
    onTestFinished(async () => {
      await db.client.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER; DROP OWNED BY ${role}; DROP ROLE ${role}`)
    })
    const url = new URL(db.url)
    url.username = role
    url.password = 'idle-pw'
    const as = (args: string[], kill?: () => Promise<boolean>) =>
      runPgbulk(args, { cwd: dir, env: { DATABASE_URL: url.toString() }, ...(kill ? { killWhen: kill } : {}) })
    const first = as(['load', input, '--table', t, '--job', job, '--batch-size', '20', '--quiet'])
    // The job lock's connection, idle all along, stays open well past the timeout of an idle
    // session (seen on the server, not slept for), while the first run is still loading.
    await waitFor('the first run to commit 200 rows', committedPast(job, 200))
    await waitFor(
      "the job lock's connection to be idle for 1.5 s",
      async () =>
        (
          await db.client.query(
            `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'pgbulk %' AND a.datname = current_database()
               AND a.state = 'idle' AND clock_timestamp() - a.state_change > interval '1.5 s'`,
          )
        ).rowCount === 1,
    )
    expect((await checkpoint(job))?.done).toBe(false)
    const second = await as(['load', input, '--table', t, '--job', job, '--resume'])
    expect(second.code, second.stderr).toBe(1)
    expect(second.stderr).toContain('(JOB_RUNNING)')
    expect((await first).code).toBe(2)
    await expectExactlyOnce(t, `${input}.rejects.ndjson`)
  })

  it('stops before committing more when its job lock is lost and another run takes the job over, so that no row is loaded twice', async () => {
    const t = await freshTable(0.06)
    const input = join(dir, `lost-${t}.csv`)
    await writeFile(input, csv)
    const job = `job-${t}`
    const first = pgbulk(['load', input, '--table', t, '--job', job, '--batch-size', '20', '--quiet'])
    await waitFor('the first run to commit 200 rows', committedPast(job, 200))
    // The lock's connection is cut (a firewall, a pooler): the job is free for another run.
    const cut = await db.client.query(
      `SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'pgbulk %'`,
    )
    expect(cut.rowCount).toBe(1)
    const second = await pgbulk(['load', input, '--table', t, '--job', job, '--resume'])
    expect(second.code, second.stderr).toBe(2)
    const stopped = await first
    expect(stopped.code, stopped.stderr).toBe(3)
    expect(stopped.stderr).toContain('was taken over by another run')
    await expectExactlyOnce(t, `${input}.rejects.ndjson`)
  })

  it('pgbulk jobs lists the checkpoints with the run that wrote them, and --forget removes one with its ledger', async () => {
    const t = await freshTable()
    const input = join(dir, `jobs-${t}.csv`)
    await writeFile(input, 'id,name\n1,a\n')
    const report = join(dir, `jobs-${t}.json`)
    const args = ['load', input, '--table', t, '--job', `listed-${t}`, '--quiet', '--report', report]
    expect((await pgbulk(args)).code).toBe(0)
    const { runId } = JSON.parse(await readFile(report, 'utf8')) as { runId: string }
    expect(runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    const ledger = async () =>
      (
        await db.client.query<{ n: number }>(
          `SELECT (SELECT count(*) FROM pgbulk.batches WHERE job = $1)::int +
                  (SELECT count(*) FROM pgbulk.runs WHERE job = $1)::int AS n`,
          [`listed-${t}`],
        )
      ).rows[0]!.n
    // (one batch, and the run that loaded it)
    expect(await ledger()).toBe(2)
    const list = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'jobs'], {
        env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: db.url },
      })
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      child.on('close', () => resolve(out))
    })
    expect(list).toMatch(
      new RegExp(
        `^listed-${t}\\t${input.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\tfinished\\tline 3 \\(byte 12\\)\\t1 loaded, 0 rejected, 1 batches\\t"public"."${t}"\\t[^\\t]+\\trun ${runId}$`,
        'm',
      ),
    )
    const forget = await pgbulk(['jobs', '--forget', `listed-${t}`])
    expect(forget.code).toBe(0)
    expect(await ledger()).toBe(0)
    const none = await pgbulk(['jobs', '--forget', `listed-${t}`])
    expect(none.code).toBe(1)
    expect(none.stderr).toContain(`no job named "listed-${t}"`)
    expect(await readFile(input, 'utf8')).toBe('id,name\n1,a\n')
  })

  it('resumes from another working directory, naming the input by another path, without doubling a reject line', async () => {
    const t = await freshTable(0.01)
    await mkdir(join(dir, 'elsewhere'), { recursive: true })
    const input = `cwd-${t}.csv`
    await writeFile(join(dir, input), csv)
    const rejects = join(dir, `${input}.rejects.ndjson`)
    const job = `job-${t}`
    // The kill must land after a batch wrote its reject lines and before it committed, so that the
    // resume has lines to drop: once a few rejects are committed, another session locks the job's
    // checkpoint row, and the next batch waits at saving its checkpoint (just before COMMIT). (A
    // trigger on pgbulk.checkpoints would do it too, but pgbulk refuses such a table.)
    const holder = new pg.Client({ connectionString: db.url })
    await holder.connect()
    let held = false
    const written = async () => (await readFile(rejects, 'utf8').catch(() => '')).split('\n').length - 1
    // Killed mid-load, run from the test folder as "cwd-….csv", once the file holds lines the checkpoint does not count yet …
    const first = await pgbulk(
      ['load', input, '--table', t, '--job', job, '--batch-size', '60', '--quiet'],
      async () => {
        const cp = await checkpoint(job)
        if (!held && cp !== undefined && cp.rowsRejected > 5) {
          held = true
          await holder.query('BEGIN')
          await holder.query('SELECT 1 FROM pgbulk.checkpoints WHERE job = $1 FOR UPDATE', [job])
          return false
        }
        return cp !== undefined && cp.rowsRejected > 5 && (await written()) > cp.rowsRejected
      },
    )
    await holder.end()
    const cut = await expectKilledMidLoad(first, job, t)
    expect(await written()).toBeGreaterThan(cut.rowsRejected)
    // … resumed from a subfolder as "../cwd-….csv": the same reject file, the same input.
    const resumed = await runPgbulk(
      ['load', `../${input}`, '--table', t, '--job', job, '--resume', '--rejects', `../${input}.rejects.ndjson`],
      {
        cwd: join(dir, 'elsewhere'),
        env: { DATABASE_URL: db.url },
      },
    )
    expect(resumed.code, resumed.stderr).toBe(2)
    await expectExactlyOnce(t, rejects)
    expect(new Set((await readRejects(rejects)).map((l) => l['input']))).toEqual(new Set([join(dir, input)]))
  })
})
