// README promises of the CLI that had no test of their own (issue 12, item 8).
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runPgbulk } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

/** n rows "i,n<i>" with a header, every third id spelled "x<i>" (refused). */
function everyThirdBad(n: number): string {
  let csv = 'id,name\n'
  for (let i = 1; i <= n; i++) csv += `${i % 3 === 0 ? 'x' : ''}${i},n${i}\n`
  return csv
}

/** How stderr shows the rejection of id i (line i + 1). */
const shownReject = (file: string, i: number) =>
  `${file}:${i + 1}:1: column "id" (integer): expected an integer, found "x${i}" (VALUE_INVALID)`

describe('pgbulk load, on stderr', () => {
  // README: "a progress bar on stderr shows … and the first 10 rejected rows as file:line:column: message";
  // "When stderr is not a terminal (cron), one plain line every 10 s instead."
  it('shows the first 10 rejected rows as file:line:column: message, then how many more there are', async () => {
    await db.client.query('CREATE TABLE m (id int, name text)')
    const runs = [
      { n: 40, rejected: 13, more: '… and 3 more rejected rows (see the reject file)\n' },
      { n: 30, rejected: 10, more: '' },
    ]
    for (const { n, rejected, more } of runs) {
      await writeFile(join(dir, `m${n}.csv`), everyThirdBad(n))
      const r = await runPgbulk(['load', `m${n}.csv`, '--table', 'm', '--no-checkpoint'], {
        cwd: dir,
        env: { DATABASE_URL: db.url },
      })
      expect(r.code, r.stderr).toBe(2)
      const bad = Array.from({ length: rejected }, (_, k) => 3 * (k + 1))
      const listed = bad
        .slice(0, 10)
        .map((i) => shownReject(`m${n}.csv`, i))
        .join('\n')
      expect(r.stderr).toMatch(/^pgbulk: \d+ rows read/m)
      const summaryAt = r.stderr.indexOf('pgbulk: ')
      expect(r.stderr.slice(0, summaryAt)).toBe(`${listed}\n${more}`)
      expect(r.stderr.slice(summaryAt)).toMatch(
        new RegExp(
          `^pgbulk: ${n} rows read, ${n - rejected} loaded, ${rejected} rejected in 1 batch, [0-9.]+ s \\(\\d+ rows/s\\)\\n  rejects by code: VALUE_INVALID ${rejected}\\n  rejected rows of m${n}\\.csv: m${n}\\.csv\\.rejects\\.ndjson\\n$`,
        ),
      )
      expect((await readRejects(join(dir, `m${n}.csv.rejects.ndjson`))).map((x) => x['line'])).toEqual(
        bad.map((i) => i + 1),
      )
    }
  })
})

describe('pgbulk load --max-rejects', () => {
  // README: "--max-rejects 100 stops once more than 100 rows were rejected … The rows before the stop are loaded or
  // rejected as usual, nothing after it is read, the batches already committed stay committed, and the summary says so."
  it('stops at the row past the limit, exits 3, and the summary says where and why', async () => {
    await db.client.query('CREATE TABLE lim (id int, name text)')
    await writeFile(join(dir, 'lim.csv'), everyThirdBad(40))
    const r = await runPgbulk(['load', 'lim.csv', '--table', 'lim', '--max-rejects', '3', '--batch-size', '5'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
    })
    expect(r.code, r.stderr).toBe(3)
    const summary = r.stderr.slice(r.stderr.indexOf('pgbulk: '))
    expect(summary.replace(/, [0-9.]+ s \(\d+ rows\/s\)\n/, ', T\n')).toBe(
      [
        'pgbulk: 12 rows read, 8 loaded, 4 rejected in 2 batches, T',
        '  rejects by code: VALUE_INVALID 4',
        '  rejected rows of lim.csv: lim.csv.rejects.ndjson',
        '  stopped early after lim.csv:13: more than 3 rows rejected (--max-rejects 3)',
        '  the 2 batches committed before the stop stay committed (8 rows)',
        '',
      ].join('\n'),
    )
    // Ids 1–11 but the bad ones; id 12 (line 13) was the fourth rejection: nothing after it was read.
    expect(await tableContents(db, 'lim')).toBe([1, 2, 4, 5, 7, 8, 10, 11].map((i) => `${i}\tn${i}\n`).join(''))
    expect((await readRejects(join(dir, 'lim.csv.rejects.ndjson'))).map((x) => [x['line'], x['raw']])).toEqual([
      [4, 'x3,n3'],
      [7, 'x6,n6'],
      [10, 'x9,n9'],
      [13, 'x12,n12'],
    ])
  })
})

describe('a run that fails during setup', () => {
  // README: "A run that fails during setup writes exitCode and error" (in the --report file); exit 1 "usage or
  // setup error: … no such table, unreadable input … Nothing was written."; errors print as
  // "pgbulk: error: <message> (<CODE>)" with a hint.
  it('prints the error, exits 1, writes nothing, and writes a report with exitCode, error and options', async () => {
    await db.client.query('CREATE TABLE s (id int)')
    await writeFile(join(dir, 's.csv'), 'id\n1\nx\n')
    await mkdir(join(dir, 'folder.csv'))
    const cases = [
      {
        args: ['s.csv', '--table', 'nope'],
        table: 'nope',
        inputs: ['s.csv'],
        error: /^pgbulk: error: table "nope" not found \(TABLE_NOT_FOUND\)\n {2}hint: .+$/,
      },
      {
        args: ['folder.csv', '--table', 's'],
        table: 's',
        inputs: ['folder.csv'],
        error: /^pgbulk: error: folder\.csv: is a directory, not a file \(INPUT_UNREADABLE\)$/,
      },
    ]
    for (const [k, c] of cases.entries()) {
      const report = join(dir, `setup-${k}.json`)
      const r = await runPgbulk(['load', ...c.args, '--report', report], { cwd: dir, env: { DATABASE_URL: db.url } })
      expect(r.code, r.stderr).toBe(1)
      expect(r.stdout).toBe('')
      const json = JSON.parse(await readFile(report, 'utf8')) as Record<string, unknown>
      expect(Object.keys(json).sort()).toEqual(['error', 'exitCode', 'options', 'runId'])
      expect(json['exitCode']).toBe(1)
      // (the run id the CLI made: the one its log lines carry)
      expect(json['runId']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(json['error']).toMatch(c.error)
      // The report's error is what stderr said.
      expect(r.stderr).toBe(`${json['error'] as string}\n`)
      expect(json['options']).toMatchObject({ table: c.table, inputs: c.inputs, method: 'copy', dryRun: false })
    }
    expect(await tableContents(db, 's')).toBe('')
    expect(existsSync(join(dir, 's.csv.rejects.ndjson'))).toBe(false)
  })
})

describe('a job run again', () => {
  // README: "A job that already loaded the same file, unchanged, is refused too (JOB_DONE) … --restart to
  // load from the start (rows already committed stay in the table: truncate first if that is not what you want)."
  it('is refused once the file is loaded (JOB_DONE), and --restart loads it from the start beside the rows already there', async () => {
    await db.client.query('CREATE TABLE again (id int, name text)')
    await writeFile(join(dir, 'again.csv'), 'id,name\n1,a\n2,b\n')
    const env = { DATABASE_URL: db.url }
    const pgbulk = (...args: string[]) =>
      runPgbulk(['load', 'again.csv', '--table', 'again', '--quiet', ...args], { cwd: dir, env })
    expect((await pgbulk()).code).toBe(0)
    const done = await pgbulk()
    expect(done.code).toBe(1)
    expect(done.stderr).toMatch(
      /already loaded .*again\.csv as it is now \(finished .*, 2 rows\) \(JOB_DONE\)\n {2}hint: pass --restart/,
    )
    expect(await tableContents(db, 'again')).toBe('1\ta\n2\tb\n')
    const both = await pgbulk('--resume', '--restart')
    expect(both.code).toBe(1)
    expect(both.stderr).toContain("option '--resume' cannot be used with option '--restart'")
    expect((await pgbulk('--restart')).code).toBe(0)
    expect(await tableContents(db, 'again')).toBe('1\ta\n1\ta\n2\tb\n2\tb\n')
  })
})

describe('PGBULK_DEBUG', () => {
  // README: "Run errors are printed as pgbulk: error: <message> (<CODE>) with a hint, never a stack trace
  // (PGBULK_DEBUG=1 adds one)".
  it('adds the stack trace to an error, which is otherwise never printed', async () => {
    const args = ['load', 'none.csv', '--table', 't']
    const plain = await runPgbulk(args, { cwd: dir, env: { DATABASE_URL: db.url } })
    const debug = await runPgbulk(args, { cwd: dir, env: { DATABASE_URL: db.url, PGBULK_DEBUG: '1' } })
    expect([plain.code, debug.code]).toEqual([1, 1])
    expect(plain.stderr).toMatch(/^pgbulk: error: .*none\.csv.*\(INPUT_NOT_FOUND\)\n/)
    expect(plain.stderr).not.toMatch(/^\s+at /m)
    expect(debug.stderr.startsWith(plain.stderr.trimEnd())).toBe(true)
    expect(debug.stderr).toMatch(/^\s+at .*\.js:\d+:\d+\)?$/m)
  })
})
