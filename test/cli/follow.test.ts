import { execFileSync } from 'node:child_process'
import { appendFile, mkdir, readFile, rename, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type StartedRun, runPgbulk, startPgbulk, waitFor } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'

// pgbulk load --follow through the built binary (run `npm run build` first): a file that grows,
// lines split across writes, SIGKILL and --resume, rotation and truncation, in the process and
// while nothing follows: every line in the table exactly once.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let seq = 0
/**
 * A table without a key (a line loaded twice shows as a duplicate, not as a reject), that records
 * when each row went in; and a file of its own with a header line.
 */
async function setUp(): Promise<{ t: string; file: string }> {
  const t = `fo${++seq}`
  await db.client.query(
    `CREATE TABLE ${t} (id int NOT NULL, name text, loaded_at timestamptz DEFAULT clock_timestamp())`,
  )
  const file = join(dir, `${t}.csv`)
  await writeFile(file, 'id,name\n')
  return { t, file }
}

function follow(t: string, file: string, flags: string[] = []): StartedRun {
  return startPgbulk(['load', file, '--table', t, '--db', db.url, '--follow', '--flush-interval', '200ms', ...flags], {
    cwd: dir,
  })
}

const lines = (from: number, to: number) => {
  const out: string[] = []
  for (let id = from; id <= to; id++) out.push(`${id},row ${id}\n`)
  return out.join('')
}

/** Every id from 1 to n exactly once in the table. */
async function expectExactlyOnce(t: string, n: number): Promise<void> {
  const r = await db.client.query<{ all: number; distinct: number; lo: number; hi: number }>(
    `SELECT count(*)::int AS all, count(DISTINCT id)::int AS distinct, min(id) AS lo, max(id) AS hi FROM ${t}`,
  )
  expect(r.rows[0]).toEqual({ all: n, distinct: n, lo: 1, hi: n })
}

/** A follower SIGKILLed after loading lines 1-3, and lines 4-5 appended while nothing follows. */
async function killedWhileFollowing(): Promise<{ t: string; file: string }> {
  const { t, file } = await setUp()
  const run = follow(t, file)
  await appendFile(file, lines(1, 3))
  await waitFor('the first lines loaded', async () => (await db.count(t)) === 3)
  run.child.kill('SIGKILL')
  await run.done
  await appendFile(file, lines(4, 5))
  return { t, file }
}

async function checkpoints(t: string) {
  const r = await db.client.query<{ input: string; next_line: string; done: boolean }>(
    `SELECT input, next_line, done FROM pgbulk.checkpoints WHERE target = $1 ORDER BY input`,
    [`"public"."${t}"`],
  )
  return r.rows.map((c) => ({ input: c.input.slice(dir.length + 1), line: Number(c.next_line), done: c.done }))
}

describe('pgbulk load --follow', () => {
  it('loads lines as they are appended, a line split across writes once its newline comes; SIGTERM exits 130', async () => {
    const { t, file } = await setUp()
    const run = follow(t, file)
    await appendFile(file, lines(1, 3))
    await waitFor('the first lines loaded', async () => (await db.count(t)) === 3)
    const writtenAt = Date.now()
    await appendFile(file, '4,row 4\n5,ro')
    await waitFor('line 4 loaded', async () => (await db.count(t)) === 4)
    const lag = await db.client.query<{ ms: number }>(
      `SELECT (extract(epoch FROM loaded_at) * 1000 - $1)::float8 AS ms FROM ${t} WHERE id = 4`,
      [writtenAt],
    )
    // (the window, 200 ms, and a poll of the file's end, 100 ms, with room for a busy machine)
    expect(lag.rows[0]!.ms).toBeLessThan(1500)
    await sleep(600) // three windows: the half line is not a row yet
    expect(await db.count(t)).toBe(4)
    // Nothing is held while the file is idle: an ALTER TABLE gets its lock at once.
    await db.client.query(`SET lock_timeout = '2s'`)
    await db.client.query(`ALTER TABLE ${t} ADD COLUMN extra int`)
    await db.client.query(`RESET lock_timeout`)
    await appendFile(file, 'w 5\n')
    await waitFor('line 5 loaded, whole', async () => (await db.count(t)) === 5)
    expect((await db.client.query(`SELECT name FROM ${t} WHERE id = 5`)).rows[0]).toEqual({ name: 'row 5' })
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    // A line per window: its lines, rows, rejects, commit time and lag.
    expect(r.stderr).toMatch(
      /fo\d+\.csv lines 1-4: 3 rows loaded, 0 rejected, batch 1 committed in \d+ ms, lag \d+\.\d\d s/,
    )
    expect(r.stderr).toMatch(/line 6: 1 row loaded, 0 rejected, batch \d committed in \d+ ms, lag/)
    expect(r.stderr).toContain('5 rows read, 5 loaded, 0 rejected')
    await expectExactlyOnce(t, 5)
  })

  it('SIGKILLed while lines keep coming, and restarted with --resume: every line exactly once', async () => {
    const { t, file } = await setUp()
    let written = 0
    let writing = true
    const producer = (async () => {
      while (writing) {
        // (a line cut in two by the write boundary, every time)
        const text = lines(written + 1, written + 7)
        const cut = text.length - 4
        await appendFile(file, text.slice(0, cut))
        await sleep(3)
        await appendFile(file, text.slice(cut))
        written += 7
        await sleep(15)
      }
    })()
    for (let round = 0; round < 4; round++) {
      const run = follow(t, file, ['--resume', '--flush-interval', '50ms'])
      const before = await db.count(t)
      await waitFor(`round ${round}: rows committed`, async () => (await db.count(t)) > before + 20)
      run.child.kill('SIGKILL')
      await run.done
    }
    writing = false
    await producer
    const run = follow(t, file, ['--resume'])
    await waitFor('every line written loaded', async () => (await db.count(t)) >= written, 30_000)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    await expectExactlyOnce(t, written)
    await expect(stat(`${file}.rejects.ndjson`)).rejects.toThrow()
  })

  it('after a rotation reads the old file to its end, then the new file from its start: each has a checkpoint', async () => {
    const { t, file } = await setUp()
    const run = follow(t, file)
    await appendFile(file, lines(1, 3))
    await waitFor('the first lines loaded', async () => (await db.count(t)) === 3)
    // logrotate's rename: the writer still appends to the old file before it opens the new one
    await rename(file, `${file}.1`)
    await appendFile(`${file}.1`, lines(4, 5))
    await writeFile(file, `id,name\n${lines(6, 8)}`)
    await waitFor('both files loaded', async () => (await db.count(t)) === 8)
    await appendFile(file, lines(9, 9))
    await waitFor('the new file followed', async () => (await db.count(t)) === 9)
    run.child.kill('SIGTERM')
    expect((await run.done).code).toBe(130)
    await expectExactlyOnce(t, 9)
    const name = `${t}.csv`
    expect(await checkpoints(t)).toEqual([
      { input: name, line: 7, done: true },
      { input: `${name}#2`, line: 6, done: false },
    ])
  })

  it('after a truncation (copytruncate) reads the file again from its start, as a new generation', async () => {
    const { t, file } = await setUp()
    const run = follow(t, file)
    await appendFile(file, lines(1, 4))
    await waitFor('the first lines loaded', async () => (await db.count(t)) === 4)
    await truncate(file, 0)
    await sleep(300)
    await appendFile(file, `id,name\n${lines(5, 6)}`)
    await waitFor('the lines after the truncation loaded', async () => (await db.count(t)) === 6)
    run.child.kill('SIGTERM')
    expect((await run.done).code).toBe(130)
    await expectExactlyOnce(t, 6)
    expect((await checkpoints(t)).map((c) => [c.input.endsWith('#2'), c.done])).toEqual([
      [false, true],
      [true, false],
    ])
  })

  it('rotated while nothing followed: --resume finishes the rotated file, then starts the new one', async () => {
    const { t, file } = await killedWhileFollowing()
    await rename(file, `${file}.1`)
    await writeFile(file, `id,name\n${lines(6, 7)}`)
    const run = follow(t, file, ['--resume'])
    await waitFor('both files loaded', async () => (await db.count(t)) === 7)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toMatch(/\.csv\.1 lines 5-6: 2 rows loaded/)
    await expectExactlyOnce(t, 7)
  })

  it('rotated twice while nothing followed: finishes the file its checkpoint names, and warns of the one between', async () => {
    const { t, file } = await killedWhileFollowing()
    await rename(file, `${file}.1`)
    await writeFile(file, `id,name\n${lines(6, 7)}`)
    await sleep(20) // (the second rotation comes later: the file between is newer than the first)
    await rename(`${file}.1`, `${file}.2`)
    await rename(file, `${file}.1`)
    await writeFile(file, `id,name\n${lines(8, 9)}`)
    const run = follow(t, file, ['--resume'])
    await waitFor('the first and the last file loaded', async () => (await db.count(t)) === 7)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toMatch(/warning: ".*fo\d+\.csv\.1" looks rotated while nothing followed .*: not loaded/)
    const ids = await db.client.query<{ id: number }>(`SELECT id FROM ${t} ORDER BY id`)
    expect(ids.rows.map((x) => x.id)).toEqual([1, 2, 3, 4, 5, 8, 9])
  })

  it('rotated away and gone while nothing followed: warns which lines were not loaded, and follows the new file', async () => {
    const { t, file } = await killedWhileFollowing()
    await rm(file) // rotated and compressed: the old file is no more
    await writeFile(file, `id,name\n${lines(6, 7)}`)
    const run = follow(t, file, ['--resume'])
    await waitFor('the new file loaded', async () => (await db.count(t)) === 5)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toMatch(/warning: the file followed at .*fo\d+\.csv before, up to its line 4: .*not loaded/s)
    const ids = await db.client.query<{ id: number }>(`SELECT id FROM ${t} ORDER BY id`)
    expect(ids.rows.map((x) => x.id)).toEqual([1, 2, 3, 6, 7])
  })

  it('truncated and written past the offset read between two looks: the new file once, from its start', async () => {
    const { t, file } = await setUp()
    const run = follow(t, file)
    await appendFile(file, lines(1, 50))
    await waitFor('the first lines loaded', async () => (await db.count(t)) === 50)
    // (one write, longer than what was read: the next read at the old offset finds bytes)
    await writeFile(file, `id,name\n${lines(51, 400)}`)
    await waitFor('the new file loaded', async () => (await db.count(t)) >= 400)
    await sleep(500)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toContain('0 rejected in')
    await expectExactlyOnce(t, 400)
  })

  it('stopped between a rotation and the new file: --resume waits for it; the reject file keeps the old rejects', async () => {
    const { t, file } = await setUp()
    const rejects = `${file}.rejects.ndjson`
    let run = follow(t, file)
    await appendFile(file, `${lines(1, 2)}x,bad\n`)
    await waitFor('the first lines loaded', async () => (await db.count(t)) === 2)
    await rename(file, `${file}.1`)
    // (while the path names nothing, the old file is still followed)
    await appendFile(`${file}.1`, lines(3, 3))
    await waitFor('the old file followed', async () => (await db.count(t)) === 3)
    run.child.kill('SIGTERM')
    expect((await run.done).code).toBe(130)
    run = follow(t, file, ['--resume']) // (the path names nothing yet)
    await sleep(500)
    await appendFile(`${file}.1`, lines(4, 4))
    await writeFile(file, `id,name\n${lines(5, 6)}`)
    await waitFor('the new file loaded', async () => (await db.count(t)) === 6)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    await expectExactlyOnce(t, 6)
    expect(
      (await readFile(rejects, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { line: number }).line),
    ).toEqual([4])
    // A path never followed that names nothing is an error, not a wait.
    const typo = await runPgbulk(['load', `${file}.typo`, '--table', t, '--db', db.url, '--follow'], { cwd: dir })
    expect(typo.code, typo.stderr).toBe(1)
    expect(typo.stderr).toMatch(/no such file/)
  })

  it('an NDJSON file rotated while nothing followed is finished in the format of the path followed', async () => {
    const t = `fo${++seq}`
    await db.client.query(`CREATE TABLE ${t} (id int NOT NULL, name text)`)
    const file = join(dir, `${t}.ndjson`)
    const json = (from: number, to: number) => {
      let out = ''
      for (let id = from; id <= to; id++) out += `${JSON.stringify({ id, name: `row ${id}` })}\n`
      return out
    }
    await writeFile(file, json(1, 2))
    let run = follow(t, file)
    await waitFor('the first lines loaded', async () => (await db.count(t)) === 2)
    run.child.kill('SIGKILL')
    await run.done
    await appendFile(file, json(3, 4))
    await rename(file, `${file}.1`) // (app.ndjson.1: no extension that says NDJSON)
    await writeFile(file, json(5, 6))
    run = follow(t, file, ['--resume'])
    await waitFor('both files loaded', async () => (await db.count(t)) === 6)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    await expectExactlyOnce(t, 6)
  })

  it('a symlink pointed at a new file while nothing followed: --resume finishes the old file beside the new target', async () => {
    const { t, file } = await setUp()
    const data = join(dir, `${t}-data`)
    await mkdir(data)
    await rename(file, join(data, 'a.csv'))
    await symlink(join(data, 'a.csv'), file)
    let run = follow(t, file)
    await appendFile(file, lines(1, 3))
    await waitFor('the first lines loaded', async () => (await db.count(t)) === 3)
    run.child.kill('SIGKILL')
    await run.done
    await appendFile(join(data, 'a.csv'), lines(4, 5))
    await writeFile(join(data, 'b.csv'), `id,name\n${lines(6, 7)}`)
    await rm(file)
    await symlink(join(data, 'b.csv'), file)
    run = follow(t, file, ['--resume'])
    await waitFor('both files loaded', async () => (await db.count(t)) === 7)
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).not.toMatch(/warning/)
    await expectExactlyOnce(t, 7)
  })

  it("rotated with logrotate's create (an empty new file): the old file is read until the writer reopens the path", async () => {
    const { t, file } = await setUp()
    const run = follow(t, file)
    await appendFile(file, lines(1, 3))
    await waitFor('the first lines loaded', async () => (await db.count(t)) === 3)
    await rename(file, `${file}.1`)
    await writeFile(file, '')
    await sleep(600) // (the writer, told by a postrotate HUP, writes to the old file a while longer)
    await appendFile(`${file}.1`, lines(4, 5))
    await sleep(300)
    await appendFile(file, `id,name\n${lines(6, 7)}`)
    await waitFor('both files loaded', async () => (await db.count(t)) === 7)
    run.child.kill('SIGTERM')
    expect((await run.done).code).toBe(130)
    await expectExactlyOnce(t, 7)
  })

  it('refuses what it cannot follow: two files, stdin, a gzip file, a named pipe, --mode truncate (exit 1)', async () => {
    const { t, file } = await setUp()
    const gz = join(dir, 'f.csv.gz')
    await writeFile(gz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    const fifo = join(dir, 'f.pipe')
    execFileSync('mkfifo', [fifo])
    const base = ['load', '--table', t, '--db', db.url, '--follow']
    const cases: [string[], RegExp][] = [
      [[file, file.replace('.csv', '.other.csv')], /--follow follows one file, not 2/],
      [['-'], /stdin is read until it closes/],
      [[gz], /cannot follow a gzip file/],
      [[file, '--mode', 'truncate'], /--mode truncate needs the input to end/],
      // (a named pipe with no writer: its open must not wait for one)
      [[fifo, '--format', 'csv'], /--follow reads a regular file/],
    ]
    await writeFile(file.replace('.csv', '.other.csv'), 'id,name\n')
    for (const [args, message] of cases) {
      const r = await runPgbulk([...base, ...args], { cwd: dir })
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(message)
    }
    expect(await db.count(t)).toBe(0)
    expect(await readFile(file, 'utf8')).toBe('id,name\n')
  })
})
