import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { type CliRun, runPgbulk, runShell, waitFor } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

// Every row read ends up exactly once in the table or in the reject file, at the edges too
// (issue 10): inputs that can be read only once, the same input given twice, …

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
/** A new table; `extra` is more SQL, with $T for its name. */
async function table(columns: string, extra = ''): Promise<string> {
  const name = `e${++seq}`
  await db.client.query(`CREATE TABLE ${name} (${columns}); ${extra.replaceAll('$T', name)}`)
  return name
}

/** Run a bash command line with $PGBULK as the binary, in the test folder. */
const sh = (script: string): Promise<CliRun> => runShell(script, { cwd: dir, env: { DATABASE_URL: db.url } })

// Enough lines that the first read of a pipe (64 KiB to 256 KiB) holds only a part of them.
const N = 30_000
const ids = Array.from({ length: N }, (_, k) => k + 1)
const expected = ids.map((i) => `${i}\tvalue-${i}\n`).join('')

describe('inputs that can be read only once', () => {
  const csv = 'id,v\n' + ids.map((i) => `${i},value-${i}`).join('\n') + '\n'
  const ndjson = ids.map((i) => JSON.stringify({ id: i, v: `value-${i}` })).join('\n') + '\n'

  it.each([
    [
      'a process substitution, CSV with a header',
      (t: string) => `$PGBULK load <(cat in.csv) --format csv --table ${t}`,
    ],
    ['a process substitution, NDJSON', (t: string) => `$PGBULK load <(cat in.ndjson) --format ndjson --table ${t}`],
    [
      'a named pipe, CSV with a header',
      (t: string) =>
        `rm -f p.fifo && mkfifo p.fifo && (cat in.csv > p.fifo &) && $PGBULK load p.fifo --format csv --table ${t}`,
    ],
    [
      'a named pipe, gzip NDJSON',
      (t: string) =>
        `rm -f p.fifo && mkfifo p.fifo && (gzip -c in.ndjson > p.fifo &) && $PGBULK load p.fifo --format ndjson --table ${t}`,
    ],
    ['/dev/stdin, CSV with a header', (t: string) => `cat in.csv | $PGBULK load /dev/stdin --format csv --table ${t}`],
  ])('loads every row of %s, reading it once', async (_name, command) => {
    await writeFile(join(dir, 'in.csv'), csv)
    await writeFile(join(dir, 'in.ndjson'), ndjson)
    const t = await table('id int PRIMARY KEY, v text')
    const r = await sh(`rm -f pgbulk-rejects.ndjson; ${command(t)}`)
    expect(r.stderr).toContain(`${N} rows read, ${N} loaded, 0 rejected`)
    expect(r.code, r.stderr).toBe(0)
    expect(await tableContents(db, t)).toBe(expected)
  })

  it('puts the rejects of a pipe in the working directory, not beside /dev/stdin or /dev/fd/N', async () => {
    await writeFile(join(dir, 'bad-pipe.csv'), 'id,v\n1,a\nx,b\n')
    const t = await table('id int PRIMARY KEY, v text')
    const r = await sh(
      `rm -f pgbulk-rejects.ndjson; cat bad-pipe.csv | $PGBULK load /dev/stdin --format csv --table ${t}`,
    )
    expect(r.code, r.stderr).toBe(2)
    expect((await readRejects(join(dir, 'pgbulk-rejects.ndjson'))).map((x) => x['raw'])).toEqual(['x,b'])
    expect(existsSync('/dev/stdin.rejects.ndjson')).toBe(false)
  })

  it('stops at a header that matches no column of a pipe before loading anything, reading it once', async () => {
    await writeFile(join(dir, 'bad-header.csv'), 'id,nope\n1,a\n')
    const t = await table('id int PRIMARY KEY, v text')
    const r = await sh(`rm -f pgbulk-rejects.ndjson; $PGBULK load <(cat bad-header.csv) --format csv --table ${t}`)
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain('"nope"')
    expect(r.stderr).toContain('COLUMN_UNKNOWN')
    expect(await db.count(t)).toBe(0)
  })
})

describe('the same input given twice', () => {
  it('is refused up front, by whatever path it is named, before anything is written', async () => {
    await writeFile(join(dir, 'twice.csv'), 'id,v\n1,a\n2,b\n')
    const t = await table('id int, v text')
    for (const second of ['twice.csv', './twice.csv', join(dir, 'twice.csv'), 'link.csv']) {
      const r = await sh(`ln -sf twice.csv link.csv && $PGBULK load twice.csv ${second} --table ${t}`)
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toContain(`twice.csv and ${second} are the same input`)
      expect(r.stderr).toContain('(USAGE)')
    }
    expect(await db.count(t)).toBe(0)
  })
})

describe('a reject file on a disk that fills up', () => {
  // A 64 KiB tmpfs for the reject file: mounting needs root (CI runs the suite as root too).
  it.skipIf(process.getuid?.() !== 0)(
    'stops before committing a batch whose rejects could not be written, and --resume after making room loses nothing',
    async () => {
      const small = join(dir, 'small')
      await mkdir(small, { recursive: true })
      const mounted = await sh(`mount -t tmpfs -o size=64k,mode=0700 pgbulk-test ${small}`)
      expect(mounted.code, mounted.stderr).toBe(0)
      try {
        const n = 3000
        const rows = Array.from({ length: n }, (_, k) => k + 1)
        // Every third row has a bad id: about 1,000 reject lines of ~300 bytes, far more than 64 KiB.
        await writeFile(
          join(dir, 'full.csv'),
          'id,v\n' + rows.map((i) => `${i % 3 === 0 ? `x${i}` : i},${'v'.repeat(60)}-${i}`).join('\n') + '\n',
        )
        const t = await table('id int, v text')
        const args = `load full.csv --table ${t} --batch-size 100 --rejects small/r.ndjson --job full-${t}`
        const first = await sh(`$PGBULK ${args}`)
        expect(first.code, first.stderr).toBe(3)
        expect(first.stderr).toContain('cannot write the reject file small/r.ndjson: ENOSPC')
        expect(first.stderr).toMatch(
          /stopped early after full\.csv:\d+: .*; the batch of 100 rows from full\.csv:\d+ on was rolled back; \d+ batches \(\d+ rows\) had been committed before it and stay committed/,
        )
        // What committed is what the checkpoint says, and its rejects are all in the file.
        const cp = await db.client.query<{ rows_loaded: string; rows_rejected: string }>(
          `SELECT rows_loaded, rows_rejected FROM pgbulk.checkpoints WHERE job = $1`,
          [`full-${t}`],
        )
        expect(Number(cp.rows[0]!.rows_loaded)).toBe(await db.count(t))
        expect(Number(cp.rows[0]!.rows_loaded)).toBeGreaterThan(0)
        // (the last line may be cut short where the disk filled: the resume drops it)
        const whole = (await readFile(join(small, 'r.ndjson'), 'utf8')).split('\n').slice(0, -1)
        expect(whole.length).toBeGreaterThanOrEqual(Number(cp.rows[0]!.rows_rejected))
        expect((await sh(`mount -o remount,size=8m ${small}`)).code).toBe(0)
        const resumed = await sh(`$PGBULK ${args} --resume`)
        expect(resumed.code, resumed.stderr).toBe(2)
        const good = rows.filter((i) => i % 3 !== 0)
        expect(await tableContents(db, t)).toBe(good.map((i) => `${i}\t${'v'.repeat(60)}-${i}\n`).join(''))
        const rejected = (await readRejects(join(small, 'r.ndjson'))).map((r) =>
          Number(String(r['raw']).split(',')[0]!.slice(1)),
        )
        expect(rejected).toEqual(rows.filter((i) => i % 3 === 0))
      } finally {
        await sh(`umount ${small}`)
      }
    },
  )
})

describe('a reject file path that holds a dangling symlink', () => {
  it('is refused before anything is written, and the run exits', async () => {
    await writeFile(join(dir, 'dangle.csv'), 'id,v\n1,a\nx,b\n')
    const t = await table('id int, v text')
    const r = await sh(
      `ln -sfn nowhere/r.ndjson dangle.rej && $PGBULK load dangle.csv --table ${t} --rejects dangle.rej`,
    )
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain('reject file dangle.rej already exists')
    expect(await db.count(t)).toBe(0)
  })
})

describe('a resumed stream', () => {
  /** Rows 1..n as CSV, every 10th one bad. */
  const rowsCsv = (n: number, tag: string) =>
    'id,v\n' +
    Array.from({ length: n }, (_, k) => `${(k + 1) % 10 === 0 ? 'x' : ''}${k + 1},${tag}-${k + 1}`).join('\n') +
    '\n'
  const checkpointOf = async (job: string) =>
    (
      await db.client
        .query<{
          rows_read: string
          rows_loaded: string
          rows_rejected: string
          next_line: string
          next_byte: string
          done: boolean
        }>(
          `SELECT rows_read, rows_loaded, rows_rejected, next_line, next_byte, done FROM pgbulk.checkpoints WHERE job = $1`,
          [job],
        )
        .catch(() => ({ rows: [] }))
    ).rows[0]

  it('is refused when stdin holds other data than the data committed, and resumes exactly when it holds the same', async () => {
    const t = await table('id int, v text')
    await db.client
      .query(`CREATE FUNCTION ${t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_slow()`)
    const job = `stdin-${t}`
    const data = rowsCsv(3000, 'a')
    const args = ['load', '-', '--table', t, '--job', job, '--batch-size', '50', '--rejects', `${t}.rej`]
    const first = await runPgbulk([...args, '--quiet'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
      stdin: data,
      killWhen: async () => Number((await checkpointOf(job))?.rows_read ?? 0) >= 500,
    })
    expect(first.code, first.stderr).toBeNull()
    const cut = (await checkpointOf(job))!
    // Killed mid-load: the checkpoint counts what the table holds.
    expect(cut.done).toBe(false)
    expect(Number(cut.rows_read)).toBeGreaterThanOrEqual(500)
    expect(Number(cut.rows_read)).toBeLessThan(3000)
    expect(Number(cut.rows_read)).toBe(Number(cut.rows_loaded) + Number(cut.rows_rejected))
    const loadedBefore = await db.count(t)
    expect(loadedBefore).toBe(Number(cut.rows_loaded))
    // Other data on stdin: the same length, one value changed inside the committed part.
    const other = await runPgbulk([...args, '--resume'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
      stdin: data.replace('a-7\n', 'b-7\n'),
    })
    expect(other.code, other.stderr).toBe(1)
    expect(other.stderr).toContain('stdin is not the stream its checkpoint was taken from: its first')
    expect(other.stderr).toContain('(INPUT_CHANGED)')
    // A shorter stream: refused too.
    const short = await runPgbulk([...args, '--resume'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
      stdin: data.slice(0, 100),
    })
    expect(short.code, short.stderr).toBe(1)
    expect(short.stderr).toContain('it ended after 100 bytes')
    expect(await db.count(t)).toBe(loadedBefore)
    // The same data: resumed where it stopped, every row once.
    const same = await runPgbulk([...args, '--resume'], { cwd: dir, env: { DATABASE_URL: db.url }, stdin: data })
    expect(same.code, same.stderr).toBe(2)
    // It read the stream from its start and skipped exactly the rows the checkpoint had committed.
    expect(same.stderr).toContain(
      `resumed stdin at line ${cut.next_line} (byte ${cut.next_byte}; read and skipped ${cut.rows_read} committed rows to get there): earlier runs had loaded ${cut.rows_loaded} rows and rejected ${cut.rows_rejected}`,
    )
    expect(same.stderr).toContain(`pgbulk: ${3000 - Number(cut.rows_read)} rows read, `)
    expect(await db.count(t)).toBe(2700)
    expect((await readRejects(join(dir, `${t}.rej`))).length).toBe(300)
  })

  it('with --force, resumes stdin that holds other data, skipping the rows the checkpoint committed', async () => {
    const t = await table('id int, v text')
    await db.client
      .query(`CREATE FUNCTION ${t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_slow()`)
    const job = `stdin-force-${t}`
    const args = ['load', '-', '--table', t, '--job', job, '--batch-size', '50', '--rejects', `${t}.rej`]
    const first = await runPgbulk([...args, '--quiet'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
      stdin: rowsCsv(3000, 'a'),
      killWhen: async () => Number((await checkpointOf(job))?.rows_read ?? 0) >= 500,
    })
    expect(first.code, first.stderr).toBeNull()
    const cut = (await checkpointOf(job))!
    const read = Number(cut.rows_read)
    expect(cut.done).toBe(false)
    expect(read).toBeLessThan(3000)
    // Every value differs from the committed data: without --force this is INPUT_CHANGED (above).
    const forced = await runPgbulk([...args, '--resume', '--force'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
      stdin: rowsCsv(3000, 'b'),
    })
    expect(forced.code, forced.stderr).toBe(2)
    expect(forced.stderr).toContain(
      `resumed stdin at line ${cut.next_line} (byte ${cut.next_byte}; read and skipped ${read} committed rows to get there)`,
    )
    const ids = Array.from({ length: 3000 }, (_, k) => k + 1).filter((i) => i % 10 !== 0)
    expect(await tableContents(db, t)).toBe(ids.map((i) => `${i}\t${i <= read ? 'a' : 'b'}-${i}\n`).join(''))
    expect((await readRejects(join(dir, `${t}.rej`))).map((r) => r['raw'])).toEqual(
      Array.from({ length: 300 }, (_, k) => (k + 1) * 10).map((i) => `x${i},${i <= read ? 'a' : 'b'}-${i}`),
    )
  })

  it('runs a finished stdin job again as a new run, with or without --resume (a stream cannot be compared with what was loaded)', async () => {
    const t = await table('id int, v text')
    const job = `stdin-again-${t}`
    const run = (extra: string[], stdin: string) =>
      runPgbulk(['load', '-', '--table', t, '--job', job, '--rejects', `${t}.rej`, ...extra], {
        cwd: dir,
        env: { DATABASE_URL: db.url },
        stdin,
      })
    const night1 = await run([], 'id,v\n1,a\n2,b\n')
    expect(night1.code, night1.stderr).toBe(0)
    expect((await checkpointOf(job))?.done).toBe(true)
    // The same data again, without --resume: not JOB_DONE, a new run.
    const night2 = await run([], 'id,v\n1,a\n2,b\n')
    expect(night2.code, night2.stderr).toBe(0)
    expect(night2.stderr).toContain('pgbulk: 2 rows read, 2 loaded, 0 rejected')
    // With --resume: not "finished, nothing to do", a new run from the first line.
    const night3 = await run(['--resume'], 'id,v\n3,c\n')
    expect(night3.code, night3.stderr).toBe(0)
    expect(night3.stderr).toContain('pgbulk: 1 rows read, 1 loaded, 0 rejected')
    expect(night3.stderr).not.toContain('resumed')
    expect(await tableContents(db, t)).toBe('1\ta\n1\ta\n2\tb\n2\tb\n3\tc\n')
    expect(await checkpointOf(job)).toMatchObject({ done: true, rows_read: '1', rows_loaded: '1' })
  })

  it('writes the rejects of a long run of bad rows as it goes (they do not wait in memory for a batch), while stdin stays open', async () => {
    const t = await table('id int, v text')
    const bad = 'id,v\n' + Array.from({ length: 5000 }, (_, k) => `bad${k},v`).join('\n') + '\n'
    let seen = 0
    const run = await runPgbulk(
      ['load', '-', '--table', t, '--batch-size', '1000', '--rejects', `${t}.rej`, '--report', `${t}.json`, '--quiet'],
      {
        cwd: dir,
        env: { DATABASE_URL: db.url },
        stdin: bad,
        keepStdinOpen: true,
        signal: 'SIGTERM',
        // Stdin never ends: the rejects must reach the file without a batch of good rows to carry them.
        killWhen: async () =>
          (seen = (await readFile(join(dir, `${t}.rej`), 'utf8').catch(() => '')).split('\n').length - 1) >= 4000,
      },
    )
    expect(seen).toBeGreaterThanOrEqual(4000)
    expect(run.code, run.stderr).toBe(130)
    // What was read when the signal came is in the file, each row once.
    const report = JSON.parse(await readFile(join(dir, `${t}.json`), 'utf8')) as {
      rowsRead: number
      rowsRejected: number
    }
    expect(report.rowsRejected).toBe(report.rowsRead)
    expect((await readRejects(join(dir, `${t}.rej`))).length).toBe(report.rowsRejected)
  })
})

describe('pgbulk redrive', () => {
  /** A table whose 3,000-row load left 1,500 rows in the reject file (their parent was missing), then the parents added: every line would now load. */
  async function rejected(tag: string, sleepS: number): Promise<{ t: string; rejects: string }> {
    const parent = await table('id int PRIMARY KEY', `INSERT INTO $T VALUES (1)`)
    const t = await table(`id int, p int REFERENCES ${parent}`)
    const input = join(dir, `${t}-${tag}.csv`)
    await writeFile(
      input,
      'id,p\n' + Array.from({ length: 3000 }, (_, k) => `${k + 1},${k % 2 === 0 ? 1 : 2}`).join('\n') + '\n',
    )
    const first = await sh(`$PGBULK load ${input} --table ${t} --quiet`)
    expect(first.code, first.stderr).toBe(2)
    await db.client.query(`INSERT INTO ${parent} VALUES (2);
      CREATE FUNCTION ${t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${sleepS}); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_slow()`)
    return { t, rejects: `${input}.rejects.ndjson` }
  }
  const ledgerCount = async (rejects: string) =>
    Number(
      (
        await db.client
          .query<{ n: string }>(`SELECT count(*) AS n FROM pgbulk.redriven WHERE job = $1`, [`redrive:${rejects}`])
          .catch(() => ({ rows: [{ n: '0' }] }))
      ).rows[0]!.n,
    )
  const expectEveryRowOnce = async (t: string) => {
    const r = await db.client.query<{ n: string; d: string }>(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM ${t}`)
    expect(r.rows[0]).toEqual({ n: '3000', d: '3000' })
  }

  it('killed midway and run again, loads each line once', async () => {
    const { t, rejects } = await rejected('kill', 0.02)
    const killed = await runPgbulk(['redrive', rejects, '--table', t, '--batch-size', '50', '--quiet'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
      killWhen: async () => (await ledgerCount(rejects)) >= 400,
    })
    expect(killed.code, killed.stderr).toBeNull()
    expect(await db.count(t)).toBeGreaterThan(1500 + 300)
    expect(await db.count(t)).toBeLessThan(3000)
    expect((await readRejects(rejects)).length).toBe(1500) // the file is rewritten only at the end
    const again = await runPgbulk(['redrive', rejects, '--table', t], { cwd: dir, env: { DATABASE_URL: db.url } })
    expect(again.code, again.stderr).toBe(0)
    await expectEveryRowOnce(t)
    expect(existsSync(rejects)).toBe(false)
    expect(await ledgerCount(rejects)).toBe(0)
  })

  it('runs once at a time for one reject file', async () => {
    // 75 batches of 60 ms: the first outlasts the second's wait for the lock (3 s).
    const { t, rejects } = await rejected('twice', 0.06)
    const first = runPgbulk(['redrive', rejects, '--table', t, '--batch-size', '20', '--quiet'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
    })
    // Once the first has committed a batch, it holds the reject file.
    await waitFor('the first redrive to commit a batch', async () => (await ledgerCount(rejects)) > 0)
    const second = await runPgbulk(['redrive', rejects, '--table', t], { cwd: dir, env: { DATABASE_URL: db.url } })
    expect(second.code, second.stderr).toBe(1)
    expect(second.stderr).toContain('(JOB_RUNNING)')
    expect((await first).code).toBe(0)
    await expectEveryRowOnce(t)
  })
})

describe('records longer than --max-record-bytes (items 9 and 19)', () => {
  /**
   * Run a shell command line whose last command is $PGBULK in the background, sampling the peak
   * RSS of that process (VmHWM) until it ends: the run's result and its peak in MB.
   */
  async function shPeak(script: string): Promise<CliRun & { peakMb: number }> {
    const r = await sh(
      `${script} & p=$!; peak=0; while kill -0 $p 2>/dev/null; do k=$(awk '/VmHWM/ {print $2}' /proc/$p/status 2>/dev/null); [ -n "$k" ] && [ "$k" -gt "$peak" ] && peak=$k; sleep 0.05; done; wait $p; c=$?; echo "peak-kb $peak"; exit $c`,
    )
    return { ...r, peakMb: Number(/peak-kb (\d+)/.exec(r.stdout)?.[1] ?? 0) / 1024 }
  }
  /** Memory a run may use (about 170 MB measured): Node, pg and a batch in flight, the 64 MB record limit, and what the collector has not reclaimed yet. */
  const PEAK_MB = 300
  const report = async (name: string) => JSON.parse(await readFile(join(dir, name), 'utf8')) as Record<string, unknown>

  it('rejects a 100 MB quoted field that never closes with its whole line and loads the line after it (item 9)', async () => {
    // It rejected the first 64 MB and loaded the rest of the line as a row ("xxx…", "tail").
    const t = await table('id text, v text')
    const r = await shPeak(
      `{ printf 'id,v\\n1,a\\n"'; head -c ${100 * 1024 * 1024} /dev/zero | tr '\\0' x; printf ',tail\\n2,b\\n'; } | $PGBULK load - --format csv --table ${t} --rejects r9.ndjson --report r9.json --quiet`,
    )
    expect(r.code, r.stderr).toBe(2)
    expect(await tableContents(db, t)).toBe('1\ta\n2\tb\n')
    const rejects = await readRejects(join(dir, 'r9.ndjson'))
    expect(rejects).toEqual([
      expect.objectContaining({
        file: 'stdin',
        line: 3,
        byte: 9,
        stage: 'parse',
        code: 'RECORD_TOO_LONG',
        rawTruncated: true,
        raw: '"' + 'x'.repeat(64 * 1024 - 1),
      }),
    ])
    expect(await report('r9.json')).toMatchObject({
      rowsRead: 3,
      rowsLoaded: 2,
      rowsRejected: 1,
      rejectsByCode: { RECORD_TOO_LONG: 1 },
    })
    expect(r.peakMb).toBeLessThan(PEAK_MB)
  })

  it('rejects a 600 MB line without a newline in bounded memory, and loads the lines before it (item 19)', async () => {
    // It crashed: "Cannot use 'in' operator to search for 'stage' in undefined".
    const t = await table('id text, v text')
    const r = await shPeak(
      `{ printf 'id,v\\n1,a\\n2,'; head -c ${600 * 1024 * 1024} /dev/zero | tr '\\0' y; } | $PGBULK load - --format csv --table ${t} --rejects r19.ndjson --report r19.json --quiet`,
    )
    expect(r.code, r.stderr).toBe(2)
    expect(await tableContents(db, t)).toBe('1\ta\n')
    const rejects = await readRejects(join(dir, 'r19.ndjson'))
    expect(rejects).toEqual([
      expect.objectContaining({
        line: 3,
        byte: 9,
        code: 'RECORD_TOO_LONG',
        rawTruncated: true,
        raw: '2,' + 'y'.repeat(64 * 1024 - 2),
      }),
    ])
    expect(await report('r19.json')).toMatchObject({ rowsRead: 2, rowsLoaded: 1, rowsRejected: 1 })
    expect(r.peakMb).toBeLessThan(PEAK_MB)
  })

  it('rejects the line of a gzip bomb in bounded memory, and loads the lines around it (item 19)', async () => {
    // 512 MB of zeros in 512 KB: gzip members of 1 MB of zeros, concatenated (one gzip stream).
    const zeros = gzipSync(Buffer.alloc(1024 * 1024))
    await writeFile(
      join(dir, 'bomb.csv.gz'),
      Buffer.concat([gzipSync('id,v\n1,a\n'), ...Array<Buffer>(512).fill(zeros), gzipSync('\n2,b\n')]),
    )
    const t = await table('id text, v text')
    const r = await shPeak(`$PGBULK load bomb.csv.gz --table ${t} --rejects bomb.ndjson --report bomb.json --quiet`)
    expect(r.code, r.stderr).toBe(2)
    expect(await tableContents(db, t)).toBe('1\ta\n2\tb\n')
    const rejects = await readRejects(join(dir, 'bomb.ndjson'))
    expect(rejects).toEqual([
      expect.objectContaining({
        line: 3,
        byte: 9,
        code: 'RECORD_TOO_LONG',
        rawTruncated: true,
        raw: '\0'.repeat(64 * 1024),
      }),
    ])
    expect(await report('bomb.json')).toMatchObject({ rowsRead: 3, rowsLoaded: 2, rowsRejected: 1 })
    expect(r.peakMb).toBeLessThan(PEAK_MB)
  })

  it.each([
    ['csv', 'id,v\n', (id: number, v: string) => `${id},${v}`],
    ['tsv', 'id\tv\n', (id: number, v: string) => `${id}\t${v}`],
    ['ndjson', '', (id: number, v: string) => JSON.stringify({ id, v })],
  ] as const)(
    'applies --max-record-bytes to %s: the long line is rejected with its first bytes, every other row loads',
    async (format, header, row) => {
      const t = await table('id int, v text')
      const lines = [row(1, 'a'), row(2, 'b'.repeat(2000)), row(3, 'c'.repeat(1000)), row(4, 'd')]
      await writeFile(join(dir, `limit.${format}`), header + lines.join('\r\n') + '\r\n')
      const r = await sh(
        `$PGBULK load limit.${format} --table ${t} --max-record-bytes 1kB --rejects limit-${format}.ndjson --report limit-${format}.json --quiet`,
      )
      expect(r.code, r.stderr).toBe(2)
      expect(await tableContents(db, t)).toBe(`1\ta\n3\t${'c'.repeat(1000)}\n4\td\n`)
      const first = header === '' ? 1 : 2
      const rejects = await readRejects(join(dir, `limit-${format}.ndjson`))
      expect(rejects).toEqual([
        expect.objectContaining({
          line: first + 1,
          byte: Buffer.byteLength(header + lines[0]! + '\r\n'),
          code: 'RECORD_TOO_LONG',
          message: 'line longer than 1024 bytes (--max-record-bytes): only its first 1024 bytes are kept',
          raw: lines[1]!.slice(0, 1024),
          rawTruncated: true,
        }),
      ])
      expect(await report(`limit-${format}.json`)).toMatchObject({ rowsRead: 4, rowsLoaded: 3, rowsRejected: 1 })
    },
  )

  it('stops at a header line past --max-record-bytes before loading anything', async () => {
    const t = await table('id text, v text')
    const r = await sh(
      `{ printf 'id,'; head -c 5000 /dev/zero | tr '\\0' v; printf '\\n1,a\\n'; } | $PGBULK load - --format csv --table ${t} --max-record-bytes 1kB`,
    )
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain(
      'stdin:1: the header row cannot be read: line longer than 1024 bytes (--max-record-bytes): only its first 1024 bytes are kept',
    )
    expect(r.stderr).toContain('(HEADER_INVALID)')
    expect(await db.count(t)).toBe(0)
  })

  it('rejects the first line of a quoted field whose lines run past --max-record-bytes, and reads on from its second line', async () => {
    const t = await table('id text, v text')
    const big = Array.from({ length: 30 }, (_, k) => `line ${k} of a long note`).join('\n')
    await writeFile(join(dir, 'note.csv'), `id,v\n1,a\n2,"${big}"\n3,b\n`)
    const r = await sh(`$PGBULK load note.csv --table ${t} --max-record-bytes 300 --rejects note.ndjson --quiet`)
    expect(r.code, r.stderr).toBe(2)
    const rejects = await readRejects(join(dir, 'note.ndjson'))
    // Line 3 only, then each line of the note is read as a record of its own: none has two fields.
    expect(rejects[0]).toMatchObject({ line: 3, code: 'RECORD_TOO_LONG', raw: '2,"line 0 of a long note' })
    expect(rejects.slice(1).map((x) => [x['line'], x['code']])).toEqual([
      ...Array.from({ length: 28 }, (_, k) => [4 + k, 'FIELD_COUNT']),
      [32, 'CSV_PARSE'],
    ])
    expect(await tableContents(db, t)).toBe('1\ta\n3\tb\n')
  })
})
