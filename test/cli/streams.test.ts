import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type StartedRun, startPgbulk, waitFor } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'

// stdin that stays open, with --flush-interval (and --flush-jitter), through the built binary (run
// `npm run build` first): rows commit by time while input still comes, no transaction or lock is held
// while pgbulk waits for input, and SIGTERM commits what was read; --start-jitter.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let seq = 0
/** A table that records when each row went in (the time of the statement that inserted it). */
async function table(): Promise<string> {
  const name = `st${++seq}`
  await db.client.query(
    `CREATE TABLE ${name} (id int PRIMARY KEY, name text, loaded_at timestamptz DEFAULT clock_timestamp())`,
  )
  return name
}

/** pgbulk load - into `t`, its stdin written by the test. */
function loadStdin(t: string, flags: string[]): StartedRun {
  return startPgbulk(['load', '-', '--table', t, '--db', db.url, '-q', ...flags], { cwd: dir, stdin: 'pipe' })
}

function write(run: StartedRun, text: string): void {
  run.child.stdin!.write(text)
}

/** The sessions of pgbulk runs on the test's database that have a transaction open. */
async function pgbulkSessions(): Promise<{ all: number; inTransaction: number }> {
  const r = await db.client.query<{ all: number; in_xact: number }>(
    `SELECT count(*)::int AS all,
            count(*) FILTER (WHERE xact_start IS NOT NULL OR state LIKE 'idle in transaction%')::int AS in_xact
       FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE 'pgbulk %'`,
  )
  return { all: r.rows[0]!.all, inTransaction: r.rows[0]!.in_xact }
}

describe('pgbulk load - with --flush-interval', () => {
  it('commits rows by time while stdin is still open: each within the interval and jitter of being written', async () => {
    const t = await table()
    const run = loadStdin(t, ['--flush-interval', '300ms', '--flush-jitter', '100ms', '--batch-size', '100000'])
    // (a first row, committed by time, before the clock starts: pgbulk's start-up is not the window's)
    write(run, 'id,name\n0,warm-up\n')
    await waitFor('the first row committed', async () => (await db.count(t)) === 1)
    const writtenAt = new Map<number, number>()
    let visibleWhileOpen = 0
    let id = 0
    // 20 rows every 100 ms for 2 s: no batch ever fills by size.
    for (let tick = 0; tick < 20; tick++) {
      const now = Date.now()
      const lines: string[] = []
      for (let k = 0; k < 20; k++) {
        id++
        writtenAt.set(id, now)
        lines.push(`${id},row ${id}\n`)
      }
      write(run, lines.join(''))
      if (tick === 15) visibleWhileOpen = await db.count(t)
      await sleep(100)
    }
    expect(visibleWhileOpen, 'rows committed while input was still arriving').toBeGreaterThan(1)
    await waitFor('every row committed, stdin still open', async () => (await db.count(t)) === id + 1)
    run.child.stdin!.end()
    const r = await run.done
    expect(r.code, r.stderr).toBe(0)
    const rows = await db.client.query<{ id: number; ms: number }>(
      `SELECT id, (extract(epoch FROM loaded_at) * 1000)::float8 AS ms FROM ${t} WHERE id > 0 ORDER BY id`,
    )
    expect(rows.rows.length).toBe(400)
    // interval + jitter, and a generous margin for a slow, busy machine (the commit itself, timers late)
    const limit = 300 + 100 + 1500
    const late = rows.rows.filter((row) => row.ms - writtenAt.get(row.id)! > limit)
    expect(late.map((row) => [row.id, Math.round(row.ms - writtenAt.get(row.id)!)])).toEqual([])
  })

  it('holds no transaction and no lock on the table while it waits for input', async () => {
    const t = await table()
    const rejects = join(dir, 'idle.rejects.ndjson')
    const run = loadStdin(t, ['--flush-interval', '200ms', '--batch-size', '100000', '--rejects', rejects])
    try {
      write(run, 'id,name\n1,a\n2,b\nbad,x\n3,c\n')
      await waitFor('the rows committed by time', async () => (await db.count(t)) === 3)
      // (the rejection waiting with them is written by the same window)
      await waitFor('the rejection written', async () =>
        (await readFile(rejects, 'utf8').catch(() => '')).includes('bad,x'),
      )
      // stdin open and idle: pgbulk is connected, with no transaction open
      await sleep(400)
      const s = await pgbulkSessions()
      expect(s.all).toBeGreaterThan(0)
      expect(s.inTransaction).toBe(0)
      // DDL that needs an ACCESS EXCLUSIVE lock on the table gets it at once
      await db.client.query(`SET lock_timeout = '500ms'`)
      try {
        await db.client.query(`ALTER TABLE ${t} ADD COLUMN x int`)
      } finally {
        await db.client.query('RESET lock_timeout')
      }
      // and the load goes on after it
      write(run, '4,d\n')
      await waitFor('a row written after the DDL committed', async () => (await db.count(t)) === 4)
      run.child.stdin!.end()
      const r = await run.done
      // (2: a row was rejected)
      expect(r.code, r.stderr).toBe(2)
    } finally {
      run.child.kill('SIGKILL')
    }
  })

  it('on SIGTERM commits every row read, and writes its rejects, then exits 130', async () => {
    const t = await table()
    const rejects = join(dir, 'sigterm.rejects.ndjson')
    const report = join(dir, 'sigterm-report.json')
    // A window longer than the test: the rows read wait in memory when the signal comes.
    const run = loadStdin(t, [
      '--flush-interval',
      '60s',
      '--batch-size',
      '20',
      '--rejects',
      rejects,
      '--report',
      report,
    ])
    const lines = ['id,name']
    for (let k = 1; k <= 50; k++) lines.push(k % 10 === 0 ? `x${k},bad` : `${k},row ${k}`)
    // (one write of less than a pipe's atomic size: pgbulk reads it as one chunk)
    write(run, lines.join('\n') + '\n')
    // Two batches of 20 commit by size: the chunk was read by then, and the last 5 rows (and a
    // rejection) wait in memory for a window that closes only in a minute.
    await waitFor('two batches committed', async () => (await db.count(t)) >= 40)
    await sleep(200)
    expect(await db.count(t)).toBe(40)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(await db.count(t)).toBe(45)
    const rejected = (await readFile(rejects, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { line: number }).line)
    expect(rejected).toEqual([11, 21, 31, 41, 51])
    expect(JSON.parse(await readFile(report, 'utf8'))).toMatchObject({
      exitCode: 130,
      rowsRead: 50,
      rowsLoaded: 45,
      rowsRejected: 5,
      stopped: { code: 'ABORTED' },
    })
  })
})

describe('pgbulk load - with --flush-interval: a line not yet ended, workers', () => {
  it('on SIGTERM leaves out a last line not yet ended (it is not a row yet): neither loaded nor rejected', async () => {
    const t = await table()
    const rejects = join(dir, 'partial.rejects.ndjson')
    const run = loadStdin(t, ['--flush-interval', '60s', '--batch-size', '1', '--rejects', rejects])
    write(run, 'id,name\n1,a\n2,b\n3,parti')
    // (rows 1 and 2 commit by size: what came with them, the start of line 3, was read by then)
    await waitFor('rows 1 and 2 committed', async () => (await db.count(t)) === 2)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect((await db.client.query(`SELECT id, name FROM ${t} ORDER BY id`)).rows).toEqual([
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
    ])
    await expect(readFile(rejects, 'utf8')).rejects.toThrow(/ENOENT/)
  })

  it('works with --workers and --batch-size auto: rows commit by time while stdin is open', async () => {
    const t = await table()
    const run = loadStdin(t, ['--flush-interval', '200ms', '--workers', '2', '--batch-size', 'auto'])
    try {
      for (let k = 0; k < 5; k++) {
        write(run, (k === 0 ? 'id,name\n' : '') + `${2 * k + 1},a\n${2 * k + 2},b\n`)
        await waitFor(`rows of window ${k + 1} committed, stdin open`, async () => (await db.count(t)) === 2 * k + 2)
      }
      expect((await pgbulkSessions()).inTransaction).toBe(0)
      run.child.stdin!.end()
      const r = await run.done
      expect(r.code, r.stderr).toBe(0)
    } finally {
      run.child.kill('SIGKILL')
    }
  })
})

describe('--start-jitter', () => {
  it('sleeps before connecting: SIGTERM then ends the run with 130, having never connected', async () => {
    const t = await table()
    const run = startPgbulk(['load', '-', '--table', t, '--db', db.url, '--start-jitter', '24h'], {
      cwd: dir,
      stdin: 'pipe',
    })
    run.child.stdin!.end('id,name\n1,a\n')
    // (a draw of under a second in a day: the test would see a load, and fail below)
    await sleep(800)
    expect(await pgbulkSessions()).toEqual({ all: 0, inTransaction: 0 })
    const started = Date.now()
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(Date.now() - started).toBeLessThan(5000)
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toContain('interrupted before connecting (during --start-jitter)')
    expect(await db.count(t)).toBe(0)
  })

  it('then loads as usual', async () => {
    const t = await table()
    const run = startPgbulk(['load', '-', '--table', t, '--db', db.url, '-q', '--start-jitter', '200ms'], {
      cwd: dir,
      stdin: 'pipe',
    })
    run.child.stdin!.end('id,name\n1,a\n2,b\n')
    const r = await run.done
    expect(r.code, r.stderr).toBe(0)
    expect(await db.count(t)).toBe(2)
  })
})

describe('pgbulk load - with --flush-interval: a batch that fails while stdin is idle', () => {
  it('ends the run (exit 3) without waiting for more input', async () => {
    const t = await table()
    const run = loadStdin(t, ['--flush-interval', '200ms', '--retries', '1'])
    try {
      write(run, 'id,name\n1,a\n')
      await waitFor('the first row committed', async () => (await db.count(t)) === 1)
      await db.client.query(`DROP TABLE ${t}`)
      write(run, '2,b\n')
      // stdin stays open and idle: the window's batch fails, and the run ends all the same
      const r = await Promise.race([run.done, sleep(15_000).then(() => undefined)])
      expect(r, 'pgbulk still running 15 s after its batch failed').toBeDefined()
      expect(r!.code, r!.stderr).toBe(3)
    } finally {
      run.child.kill('SIGKILL')
    }
  })
})
