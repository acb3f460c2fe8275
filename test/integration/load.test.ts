import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { load, LoadError } from '../../src/index.js'
import type { LoadReport } from '../../src/report/load-report.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { DEMO_TABLE, FIXTURES, readRejects, tableContents, tempDir } from '../helpers/fixtures.js'
import { rng } from '../helpers/random.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
/** A fresh table `t<n>` with the given column definitions. */
async function table(columns: string): Promise<string> {
  const name = `t${++seq}`
  await db.client.query(`CREATE TABLE ${name} (${columns})`)
  return name
}

async function file(name: string, content: string | Buffer): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, content)
  return path
}

/** n rows "i,name-i" with a header. */
function csvRows(n: number, bad: (i: number) => boolean = () => false): string {
  let out = 'id,name\n'
  for (let i = 1; i <= n; i++) out += `${bad(i) ? `x${i}` : i},name-${i}\n`
  return out
}

function expectedRows(ids: number[]): string {
  return ids.map((i) => `${i}\tname-${i}\n`).join('')
}

const range = (n: number) => Array.from({ length: n }, (_, k) => k + 1)

describe('load()', () => {
  it('loads gzip input, recognised by its bytes whatever the name', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    const path = await file('data.csv.bin', gzipSync(csvRows(2000)))
    const report = await load({ inputs: [path], table: t, db: db.url, format: 'csv' })
    expect(await tableContents(db, t)).toBe(expectedRows(range(2000)))
    expect(report).toMatchObject({ rowsRead: 2000, rowsLoaded: 2000, rowsRejected: 0, exitCode: 0 })
    expect(report.bytesRead).toBe((await stat(path)).size)
  })

  it('commits the first 1000 rows on their own when no batch size is given, then batches of 10,000', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    const path = await file('first-batch.csv', csvRows(12_500))
    const batches: [number, number][] = []
    const onBatch = (b: { firstLine: number; rows: number }) => void batches.push([b.firstLine, b.rows])
    const report = await load({ inputs: [path], table: t, db: db.url, onBatch })
    expect(batches).toEqual([
      [1, 1000],
      [1002, 10_000],
      [11_002, 1500],
    ])
    expect(report).toMatchObject({ rowsRead: 12_500, rowsLoaded: 12_500, batches: 3, exitCode: 0 })
    expect(await tableContents(db, t)).toBe(expectedRows(range(12_500)))
    // (a batch size given is kept from the first batch on)
    batches.length = 0
    await db.client.query(`TRUNCATE ${t}`)
    await load({ inputs: [path], table: t, db: db.url, onBatch, batchRows: 10_000, checkpoint: false })
    expect(batches.map(([, rows]) => rows)).toEqual([10_000, 2500])
  })

  it('loads standard input, with rejects in pgbulk-rejects.ndjson by default', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    const cwd = process.cwd()
    process.chdir(dir)
    try {
      const report = await load({
        inputs: ['-'],
        table: t,
        db: db.url,
        stdin: Readable.from([Buffer.from(csvRows(10, (i) => i === 4))]),
      })
      expect(report).toMatchObject({ rowsRead: 10, rowsLoaded: 9, rowsRejected: 1, exitCode: 2 })
      const rejects = await readRejects(join(dir, 'pgbulk-rejects.ndjson'))
      expect(rejects).toEqual([
        expect.objectContaining({ file: 'stdin', line: 5, raw: 'x4,name-4', code: 'VALUE_INVALID' }),
      ])
    } finally {
      process.chdir(cwd)
    }
    expect(await tableContents(db, t)).toBe(expectedRows(range(10).filter((i) => i !== 4)))
  })

  it('loads several files one after the other, each with its own reject file', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    const a = await file(
      'a.csv',
      csvRows(3, (i) => i === 2),
    )
    const b = await file('b.csv', 'id,name\n4,name-4\n5,name-5\n')
    const report = await load({ inputs: [a, b], table: t, db: db.url })
    expect(await tableContents(db, t)).toBe(expectedRows([1, 3, 4, 5]))
    expect(report.files).toEqual([
      expect.objectContaining({
        file: a,
        rowsRead: 3,
        rowsLoaded: 2,
        rowsRejected: 1,
        rejectsFile: `${a}.rejects.ndjson`,
      }),
      expect.objectContaining({ file: b, rowsRead: 2, rowsLoaded: 2, rowsRejected: 0 }),
    ])
    expect(existsSync(`${b}.rejects.ndjson`)).toBe(false)
  })

  it('creates the reject file with mode 0600, refuses to overwrite it, and replaces it with force', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    const input = await file(
      'perm.csv',
      csvRows(3, (i) => i === 1),
    )
    await load({ inputs: [input], table: t, db: db.url })
    const rejects = `${input}.rejects.ndjson`
    expect((await stat(rejects)).mode & 0o777).toBe(0o600)
    // Loading the same file again is refused: the job is done (a cron rerun must not load it twice).
    await expect(load({ inputs: [input], table: t, db: db.url })).rejects.toMatchObject({
      code: 'JOB_DONE',
      exitCode: 1,
    })
    const err = await load({ inputs: [input], table: t, db: db.url, restart: true }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LoadError)
    expect(err).toMatchObject({
      code: 'REJECTS_FILE_EXISTS',
      exitCode: 1,
      message: `reject file ${rejects} already exists`,
    })
    // Nothing more was loaded by the refused run.
    expect(await tableContents(db, t)).toBe(expectedRows([2, 3]))
    await db.client.query(`TRUNCATE ${t}`)
    const clean = await file('perm.csv', csvRows(3))
    await load({ inputs: [clean], table: t, db: db.url, force: true, restart: true })
    // The old reject file is gone, not left stale (and no new one: nothing was rejected).
    expect(existsSync(rejects)).toBe(false)
    await expect(
      load({ inputs: [clean], table: t, db: db.url, restart: true, rejects: join(dir, 'no/such/dir/r.ndjson') }),
    ).rejects.toMatchObject({
      code: 'REJECTS_UNWRITABLE',
      exitCode: 1,
    })
  })

  it('--dry-run validates every row against the live schema and writes nothing', async () => {
    const t = await table('id int PRIMARY KEY, name varchar(6)')
    const input = await file(
      'dry.csv',
      csvRows(12, (i) => i === 3),
    )
    const report = await load({ inputs: [input], table: t, db: db.url, dryRun: true })
    expect(report).toMatchObject({
      dryRun: true,
      rowsRead: 12,
      rowsLoaded: 8,
      rowsRejected: 4,
      batches: 0,
      exitCode: 2,
    })
    expect(await tableContents(db, t)).toBe('')
    // (a dry run's reject file has a name of its own, and each line says it is a dry run's)
    const rejects = await readRejects(`${input}.dry-run.rejects.ndjson`)
    expect(rejects.map((r) => [r['line'], r['code'], r['raw'], r['dryRun']])).toEqual([
      [4, 'VALUE_INVALID', 'x3,name-3', true],
      [11, 'VALUE_TOO_LONG', '10,name-10', true],
      [12, 'VALUE_TOO_LONG', '11,name-11', true],
      [13, 'VALUE_TOO_LONG', '12,name-12', true],
    ])
    expect(existsSync(`${input}.rejects.ndjson`)).toBe(false)
    // Run again: the dry run replaces its own report; the load after it is not in its way, and its
    // reject file is never replaced by a dry run (nor a file the user made).
    expect((await load({ inputs: [input], table: t, db: db.url, dryRun: true })).rowsRejected).toBe(4)
    expect(await readRejects(`${input}.dry-run.rejects.ndjson`)).toHaveLength(4)
    expect((await load({ inputs: [input], table: t, db: db.url })).rowsLoaded).toBe(8)
    const again = load({ inputs: [input], table: t, db: db.url, dryRun: true, rejects: `${input}.rejects.ndjson` })
    await expect(again).rejects.toMatchObject({ code: 'REJECTS_FILE_EXISTS' })
    const mine = await file('mine.ndjson', '{"note": "mine"}\n')
    const onMine = load({ inputs: [input], table: t, db: db.url, dryRun: true, rejects: mine })
    await expect(onMine).rejects.toMatchObject({ code: 'REJECTS_FILE_EXISTS' })
    expect(readFileSync(mine, 'utf8')).toBe('{"note": "mine"}\n')
  })

  it('--max-rejects stops after more than n rejects; committed batches stay, and every row read is accounted for', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    const input = await file(
      'many-bad.csv',
      csvRows(100, (i) => i % 10 === 0),
    )
    const report = await load({ inputs: [input], table: t, db: db.url, batchRows: 7, maxRejects: { count: 3 } })
    expect(report.exitCode).toBe(3)
    expect(report.stopped).toEqual({
      code: 'REJECT_LIMIT_EXCEEDED',
      message: 'more than 3 rows rejected (--max-rejects 3)',
      file: input,
      line: 41,
    })
    // Rows before the fourth bad row (id 40, line 41) were loaded; nothing after it was read.
    expect(await tableContents(db, t)).toBe(expectedRows(range(39).filter((i) => i % 10 !== 0)))
    expect(report).toMatchObject({ rowsRead: 40, rowsLoaded: 36, rowsRejected: 4 })
    expect((await readRejects(`${input}.rejects.ndjson`)).map((r) => [r['line'], r['code'], r['raw']])).toEqual([
      [11, 'VALUE_INVALID', 'x10,name-10'],
      [21, 'VALUE_INVALID', 'x20,name-20'],
      [31, 'VALUE_INVALID', 'x30,name-30'],
      [41, 'VALUE_INVALID', 'x40,name-40'],
    ])
  })

  it('--max-rejects p% applies only after the first 1000 rows, and stops at the first row that takes the share past p%', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    const isBad = (i: number) => i <= 20 || i === 1050 || (i > 1500 && i % 10 === 0)
    const input = await file('pct.csv', csvRows(3000, isBad))
    const report = await load({ inputs: [input], table: t, db: db.url, maxRejects: { percent: 2 } })
    // 20 bad rows of the first 1000 (2%, before the check starts), 21 of 1050 (exactly 2%, not more): no stop.
    // Then one in ten: 32 of 1610 is 1.99%, 33 of 1620 is 2.04%, more than 2%: it stops at id 1620, line 1621.
    expect(report.exitCode).toBe(3)
    expect(report.stopped).toEqual({
      code: 'REJECT_LIMIT_EXCEEDED',
      message: '2.0% of rows rejected, more than --max-rejects 2%',
      file: input,
      line: 1621,
    })
    expect(report).toMatchObject({ rowsRead: 1620, rowsLoaded: 1587, rowsRejected: 33 })
    const bad = range(1620).filter(isBad)
    expect(await tableContents(db, t)).toBe(expectedRows(range(1620).filter((i) => !isBad(i))))
    expect((await readRejects(`${input}.rejects.ndjson`)).map((r) => [r['line'], r['code'], r['raw']])).toEqual(
      bad.map((i) => [i + 1, 'VALUE_INVALID', `x${i},name-${i}`]),
    )
  })

  it('--max-rejects p% is looked at after each rejected row and each batch, from the 1000th row on', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    // One row in 33 is bad (3%): past 2% at every point, so the first look from row 1000 on stops the run.
    // Rows 991-999 are good, row 1000 closes no batch: the first look is at the next bad row, 1023.
    const isBad = (i: number) => i % 33 === 0
    const input = await file('pct-late.csv', csvRows(1500, isBad))
    const report = await load({ inputs: [input], table: t, db: db.url, maxRejects: { percent: 2 }, batchRows: 100 })
    expect(report.stopped).toMatchObject({ code: 'REJECT_LIMIT_EXCEEDED', line: 1024 })
    expect(report).toMatchObject({ rowsRead: 1023, rowsRejected: 31, rowsLoaded: 992 })
    expect(await tableContents(db, t)).toBe(expectedRows(range(1023).filter((i) => !isBad(i))))
  })

  it('a database error stops the run: the batch it hit is rolled back and not counted, rows read = loaded + rejected, and the table holds what the report says', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    // Row 25 makes the database fail in a way no row explains (a system error, not a passing fault).
    await db.client.query(`CREATE FUNCTION ${t}_fail() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
        IF NEW.id = 25 THEN RAISE EXCEPTION 'disk trouble' USING ERRCODE = '58030'; END IF; RETURN NEW; END $f$;
      CREATE TRIGGER fail BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_fail()`)
    const isBad = (i: number) => i % 7 === 0
    const input = await file('db-error.csv', csvRows(40, isBad))
    const report = await load({ inputs: [input], table: t, db: db.url, batchRows: 10 })
    // Batches of 10 valid rows: 1 is ids 1–11, 2 is ids 12–23 (committed), 3 is ids 24–34, from line 25,
    // which holds id 25: rolled back, its 10 rows not counted as read. Its client-side rejection (x28)
    // was decided and stays decided: in the reject file, counted as read and rejected.
    expect(report.exitCode).toBe(3)
    expect(report.stopped).toEqual({
      code: 'DB_FATAL',
      message: `database error: disk trouble (SQLSTATE 58030); the batch of 10 rows from ${input}:25 on was rolled back; 2 batches (20 rows) had been committed before it and stay committed`,
      file: input,
      line: 35,
    })
    expect(report).toMatchObject({
      rowsRead: 24,
      rowsLoaded: 20,
      rowsRejected: 4,
      batches: 2,
      rejectsByCode: { VALUE_INVALID: 4 },
    })
    expect(report.files).toEqual([expect.objectContaining({ rowsRead: 24, rowsLoaded: 20, rowsRejected: 4 })])
    expect(report.rowsRead).toBe(report.rowsLoaded + report.rowsRejected)
    expect(await tableContents(db, t)).toBe(expectedRows(range(23).filter((i) => !isBad(i))))
    expect((await readRejects(`${input}.rejects.ndjson`)).map((r) => [r['line'], r['raw']])).toEqual([
      [8, 'x7,name-7'],
      [15, 'x14,name-14'],
      [22, 'x21,name-21'],
      [29, 'x28,name-28'],
    ])
  })

  it('quotes table and column names: a name with quotes, spaces and a semicolon is loaded, never executed', async () => {
    await db.client.query(
      `CREATE SCHEMA "odd schema"; CREATE TABLE "odd schema"."Weird ""T""; DROP TABLE x" ("Col; 1" int, "b""q" text)`,
    )
    const input = await file('odd.csv', '"Col; 1","b""q"\n1,a\n2,b\n')
    const report = await load({ inputs: [input], table: '"odd schema"."Weird ""T""; DROP TABLE x"', db: db.url })
    expect(report.exitCode).toBe(0)
    expect(await tableContents(db, '"odd schema"."Weird ""T""; DROP TABLE x"')).toBe('1\ta\n2\tb\n')
    await db.client.query(`TRUNCATE "odd schema"."Weird ""T""; DROP TABLE x"`)
    const odd = await file('odd-insert.csv', '"Col; 1","b""q"\n3,"c ""d"""\n4,\n')
    const insert = await load({
      inputs: [odd],
      table: '"odd schema"."Weird ""T""; DROP TABLE x"',
      db: db.url,
      method: 'insert',
    })
    expect(insert).toMatchObject({ rowsRead: 2, rowsLoaded: 2, rowsRejected: 0, exitCode: 0 })
    expect(await tableContents(db, '"odd schema"."Weird ""T""; DROP TABLE x"')).toBe('3\tc "d"\n4\t\\N\n')
  })

  it('refuses a header name that matches no column before writing anything, unless --ignore-extra', async () => {
    const t = await table('id int, name text')
    const input = await file('extra.csv', 'id,name,shoe_size\n1,a,42\n')
    const err = await load({ inputs: [input], table: t, db: db.url }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'COLUMN_UNKNOWN', exitCode: 1 })
    expect((err as Error).message).toMatch(/"shoe_size" matches no column of "public"."t\d+"/)
    expect(await tableContents(db, t)).toBe('')
    await load({ inputs: [input], table: t, db: db.url, ignoreExtra: true })
    expect(await tableContents(db, t)).toBe('1\ta\n')
  })

  it('checks the header of every input before writing a row of any of them', async () => {
    const t = await table('id int, name text')
    const a = await file('first.csv', 'id,name\n1,a\n')
    const b = await file('second.ndjson', '{"id": 2, "nmae": "typo"}\n')
    await expect(load({ inputs: [a, b], table: t, db: db.url })).rejects.toThrow(
      /key "nmae" of the first object matches no column/,
    )
    expect(await tableContents(db, t)).toBe('')
  })

  it('counts rows the database refused towards --max-rejects', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    await db.client.query(`INSERT INTO ${t} SELECT g, 'old' FROM generate_series(1, 5) g`)
    const input = await file('db-limit.csv', csvRows(40))
    const report = await load({ inputs: [input], table: t, db: db.url, batchRows: 10, maxRejects: { count: 2 } })
    expect(report).toMatchObject({ exitCode: 3, rowsRead: 10, rowsLoaded: 5, rowsRejected: 5, batches: 1 })
    // The database's rejections of a batch are known when it completes: the stop comes after the first batch.
    expect(report.stopped).toEqual({
      code: 'REJECT_LIMIT_EXCEEDED',
      message: 'more than 2 rows rejected (--max-rejects 2)',
      file: input,
      line: 11,
    })
    expect(
      (await readRejects(`${input}.rejects.ndjson`)).map((r) => [r['line'], r['stage'], r['code'], r['raw']]),
    ).toEqual([1, 2, 3, 4, 5].map((i) => [i + 1, 'database', '23505', `${i},name-${i}`]))
    expect(await tableContents(db, t)).toBe(
      [1, 2, 3, 4, 5].map((i) => `${i}\told\n`).join('') + expectedRows([6, 7, 8, 9, 10]),
    )
  })

  it('fills columns absent from the input with their defaults', async () => {
    const t = await table(`id int, name text DEFAULT 'anon', n serial`)
    const input = await file('defaults.csv', 'id\n1\n2\n')
    await load({ inputs: [input], table: t, db: db.url })
    expect(await tableContents(db, t)).toBe('1\tanon\t1\n2\tanon\t2\n')
  })

  it('refuses input that lacks a NOT NULL column without a default', async () => {
    const t = await table('id int, name text NOT NULL')
    const input = await file('missing.csv', 'id\n1\n')
    await expect(load({ inputs: [input], table: t, db: db.url })).rejects.toMatchObject({ code: 'COLUMN_REQUIRED' })
  })

  it('reads --no-header input with --columns, and TSV', async () => {
    const t = await table('id int, name text, note text')
    const input = await file('nohead.tsv', '1\tx\t"q"\n2\t\tz\n')
    await load({ inputs: [input], table: t, db: db.url, header: false, columns: ['id', 'name', 'note'] })
    expect(await tableContents(db, t)).toBe('1\tx\t"q"\n2\t\\N\tz\n')
  })

  it('reads latin1 and windows-1252 input: the same bytes, each as its encoding means them', async () => {
    // 0xE9 is é in both; 0x80 is € in windows-1252 but the C1 control U+0080 in latin1 (ISO-8859-1);
    // 0x8A is Š in windows-1252 and U+008A in latin1; 0xFF is ÿ in both.
    const bytes = Buffer.from([
      ...Buffer.from('id,name\n1,caf'),
      0xe9,
      0x0a,
      ...Buffer.from('2,'),
      0x80,
      0x0a,
      ...Buffer.from('3,'),
      0x8a,
      0xff,
      0x0a,
    ])
    for (const [encoding, want] of [
      ['windows-1252', '1\tcafé\n2\t€\n3\tŠÿ\n'],
      ['latin1', '1\tcafé\n2\t\u0080\n3\t\u008aÿ\n'],
    ] as const) {
      const t = await table('id int, name text')
      const report = await load({ inputs: [await file(`l1-${encoding}.csv`, bytes)], table: t, db: db.url, encoding })
      expect(report).toMatchObject({ rowsRead: 3, rowsLoaded: 3, rowsRejected: 0, exitCode: 0 })
      expect(await tableContents(db, t)).toBe(want)
      const stored = await db.client.query<{ cp: number[] }>(
        `SELECT array_agg(ascii(name) ORDER BY id) AS cp FROM ${t}`,
      )
      expect(stored.rows[0]!.cp).toEqual(encoding === 'latin1' ? [0x63, 0x80, 0x8a] : [0x63, 0x20ac, 0x160])
    }
  })

  it('rejects a row with invalid UTF-8 and keeps its exact bytes in the reject file', async () => {
    const t = await table('id int, name text')
    const bytes = Buffer.from([...Buffer.from('id,name\n1,caf'), 0xe9, 0x0a, ...Buffer.from('2,ok\n')])
    const input = await file('bad-utf8.csv', bytes)
    const report = await load({ inputs: [input], table: t, db: db.url })
    expect(report).toMatchObject({ rowsLoaded: 1, rowsRejected: 1 })
    const [rej] = await readRejects(`${input}.rejects.ndjson`)
    expect(rej).toMatchObject({ line: 2, column: 2, code: 'ENCODING_INVALID', raw: '1,caf\uFFFD' })
    expect(Buffer.from(rej!['rawBase64'] as string, 'base64')).toEqual(Buffer.from([...Buffer.from('1,caf'), 0xe9]))
  })

  it('isolates many bad rows spread over big batches, by both methods', async () => {
    for (const method of ['copy', 'insert'] as const) {
      const t = await table('id int PRIMARY KEY, name text')
      // Every 97th row repeats an earlier id: only the database can see it.
      let text = 'id,name\n'
      const good: number[] = []
      for (let i = 1; i <= 5000; i++) {
        if (i % 97 === 0) text += `${i - 1},dup-${i}\n`
        else {
          text += `${i},name-${i}\n`
          good.push(i)
        }
      }
      const input = await file(`dups-${method}.csv`, text)
      const report = await load({ inputs: [input], table: t, db: db.url, method, batchRows: 1000 })
      expect(await tableContents(db, t)).toBe(expectedRows(good))
      const rejects = await readRejects(`${input}.rejects.ndjson`)
      expect(rejects.length).toBe(51)
      expect(
        rejects.every(
          (r) => r['code'] === '23505' && r['stage'] === 'database' && (r['raw'] as string).includes(',dup-'),
        ),
      ).toBe(true)
      expect(rejects.map((r) => r['line']).sort((a, b) => (a as number) - (b as number))).toEqual(
        range(51).map((k) => k * 97 + 1),
      )
      expect(report).toMatchObject({ rowsRead: 5000, rowsLoaded: 4949, rowsRejected: 51, batches: 5 })
    }
  })

  it('sends CSV rows as they stand in the file, and names the refused ones exactly whatever line breaks their values hold', async () => {
    // COPY reads the input's own bytes (FORMAT csv) and counts newlines inside quoted values in
    // its error lines; rows with a carriage return outside quotes, or "\.", are written anew.
    const r = rng(2024)
    const pieces = ['a', 'b c', ',', '""', '\n', '\r\n', '\r', '\\.', '\\', 'é', '\t']
    for (const batchRows of [7, 50, 1000]) {
      const t = await table('id int CHECK (id % 13 <> 0), body text')
      let text = 'id,body\n'
      const expected: [number, string][] = []
      const refused: number[] = []
      for (let i = 1; i <= 600; i++) {
        const body = Array.from({ length: Math.floor(r() * 5) }, () => pieces[Math.floor(r() * pieces.length)]!).join(
          '',
        )
        const unquotedCr = r() < 0.05
        text += unquotedCr ? `${i},x\ry\n` : `${i},"${body.replaceAll('"', '""')}"${r() < 0.3 ? '\r\n' : '\n'}`
        if (i % 13 === 0) refused.push(i)
        else expected.push([i, unquotedCr ? 'x\ry' : body])
      }
      const input = await file(`breaks-${batchRows}.csv`, text)
      const report = await load({ inputs: [input], table: t, db: db.url, batchRows, force: true })
      const rows = await db.client.query<{ id: number; body: string }>(`SELECT id, body FROM ${t} ORDER BY id`)
      expect(rows.rows.map((x) => [x.id, x.body])).toEqual(expected)
      const rejects = await readRejects(`${input}.rejects.ndjson`)
      expect(rejects.map((x) => Number((x['raw'] as string).split(',')[0])).sort((a, b) => a - b)).toEqual(refused)
      expect(rejects.every((x) => x['code'] === '23514')).toBe(true)
      expect(report).toMatchObject({ rowsRead: 600, rowsLoaded: expected.length, rowsRejected: refused.length })
    }
    // "\." alone on a line ends COPY's data on PostgreSQL 15: such a row must still load, and the rows after it.
    const t = await table('v text')
    await load({ inputs: [await file('dot.csv', 'v\na\n\\.\nb\n')], table: t, db: db.url })
    expect(await tableContents(db, t)).toBe('\\\\.\na\nb\n') // (sorted)
  })

  it('loads what every dialect means, by both methods: COPY reads the rows it is given as pgbulk read them', async () => {
    // COPY takes a CSV row's own bytes with the dialect's options (DELIMITER, QUOTE, ESCAPE, NULL):
    // random values full of the dialect's special characters must land as the generator meant them.
    const dialects = [
      { delimiter: ';', quote: "'", escape: undefined, nullString: 'NULL' },
      { delimiter: ',', quote: '"', escape: '\\', nullString: '\\N' },
      { delimiter: '\t', quote: '"', escape: undefined, nullString: undefined, format: 'tsv' as const },
      { delimiter: '|', quote: null, escape: undefined, nullString: undefined },
    ]
    const r = rng(77)
    for (const [d, dialect] of dialects.entries()) {
      const q = dialect.quote
      const e = dialect.escape ?? q
      const pieces = ['a', 'b c', 'é', 'NULL', '\\N', ...(q === null ? [] : [dialect.delimiter, q, e!, '\n', '\r\n'])]
      const expected: [number, string | null][] = []
      let text = 'id' + dialect.delimiter + 'v\n'
      for (let i = 1; i <= 300; i++) {
        const v =
          r() < 0.1
            ? null
            : Array.from({ length: Math.floor(r() * 4) }, () => pieces[Math.floor(r() * pieces.length)]!).join('')
        let field: string
        if (v === null) field = dialect.nullString ?? ''
        else if (q === null)
          field = v === (dialect.nullString ?? '') ? 'x' : v // (no quoting: a value equal to the null string cannot be written)
        else field = q + [...v].map((c) => (c === q || c === e ? e + c : c)).join('') + q
        expected.push([i, v === null ? null : q === null && v === (dialect.nullString ?? '') ? 'x' : v])
        text += `${i}${dialect.delimiter}${field}\n`
      }
      for (const method of ['copy', 'insert'] as const) {
        const t = await table('id int, v text')
        const { format, ...d2 } = dialect
        const report = await load({
          inputs: [await file(`dialect-${d}-${method}.txt`, text)],
          table: t,
          db: db.url,
          method,
          batchRows: 37,
          format: format ?? 'csv',
          delimiter: d2.delimiter,
          quote: d2.quote,
          ...(d2.escape === undefined ? {} : { escape: d2.escape }),
          ...(d2.nullString === undefined ? {} : { nullString: d2.nullString }),
        })
        expect(report, `dialect ${d}, ${method}`).toMatchObject({ rowsRead: 300, rowsLoaded: 300, rowsRejected: 0 })
        const rows = await db.client.query<{ id: number; v: string | null }>(`SELECT id, v FROM ${t} ORDER BY id`)
        expect(
          rows.rows.map((x) => [x.id, x.v]),
          `dialect ${d}, ${method}`,
        ).toEqual(expected)
      }
    }
  })

  it('with --workers, loads and rejects exactly what one worker does, reject lines in the same order, even when batches in flight share keys', async () => {
    // Every 7th row repeats the key of a row two batches earlier or later (so that batches in
    // flight at the same time fight over it), every 13th fails a check only the database knows,
    // every 17th is not a number: client-side, database and key rejections all at once.
    const n = 1500
    const batch = 40
    // (A row with a shared key never also fails the check: which of its two faults is named
    // would depend on whether the other row had committed yet.)
    const ids = Array.from({ length: n }, (_, k) => {
      const i = k + 1
      const dupOf = i % 7 === 0 ? (i % 2 === 0 ? i - 2 * batch : i + 2 * batch) : i
      return dupOf >= 1 && dupOf <= n ? dupOf : i
    })
    const shared = new Set(ids.filter((id, k) => ids.indexOf(id) !== k))
    let text = 'id,v\n'
    for (let i = 1; i <= n; i++) {
      const id = ids[i - 1]!
      text += `${i % 17 === 0 ? `x${i}` : id},${i % 13 === 0 && !shared.has(id) ? -i : i}\n`
    }
    const runs: { workers: number; method: string; table: string; rejects: unknown[][]; report: LoadReport }[] = []
    for (const workers of [1, 3]) {
      for (const method of ['copy', 'insert'] as const) {
        const t = await table('id int PRIMARY KEY, v int CHECK (v > 0)')
        const input = await file(`workers-${workers}-${method}.csv`, text)
        const report = await load({ inputs: [input], table: t, db: db.url, method, batchRows: batch, workers })
        const rejects = (await readRejects(`${input}.rejects.ndjson`)).map((r) => [
          r['line'],
          r['code'],
          r['batch'] ?? null,
        ])
        runs.push({ workers, method, table: await tableContents(db, t), rejects, report })
      }
    }
    for (const method of ['copy', 'insert']) {
      const [one, three] = runs.filter((r) => r.method === method)
      expect(one!.report).toMatchObject({ rowsRead: n, exitCode: 2 })
      expect(one!.report.rowsLoaded + one!.report.rowsRejected).toBe(n)
      expect(new Set(one!.rejects.map((r) => r[1]))).toEqual(new Set(['VALUE_INVALID', '23505', '23514']))
      expect(three!.table, method).toBe(one!.table)
      expect(three!.rejects, method).toEqual(one!.rejects)
      expect(three!.report).toMatchObject({
        rowsRead: n,
        rowsLoaded: one!.report.rowsLoaded,
        rowsRejected: one!.report.rowsRejected,
        batches: one!.report.batches,
      })
    }
    // Both methods refuse the same rows (in its batch, a method may list them in another order).
    const sorted = (r: (typeof runs)[number]) => [...r.rejects].sort((a, b) => (a[0] as number) - (b[0] as number))
    expect(runs[2]!.table).toBe(runs[0]!.table)
    expect(sorted(runs[2]!)).toEqual(sorted(runs[0]!))
  })

  it('loads a field of several megabytes with quotes and newlines, by both methods', async () => {
    const big = 'x"y\n\\z\t'.repeat(600_000) // 6 MB
    const csv = `id,body\n1,"${big.replaceAll('"', '""')}"\n2,small\n`
    for (const method of ['copy', 'insert'] as const) {
      const t = await table('id int, body text')
      await load({ inputs: [await file(`big-${method}.csv`, csv)], table: t, db: db.url, method })
      const r = await db.client.query(`SELECT id, md5(body) AS h, length(body) AS n FROM ${t} ORDER BY id`)
      const md5 = (s: string) => createHash('md5').update(s).digest('hex')
      expect(r.rows).toEqual([
        { id: 1, h: md5(big), n: big.length },
        { id: 2, h: md5('small'), n: 5 },
      ])
    }
  })

  it('finds bad keys without asking the database when it may not (no SELECT on the parent) or cannot (a two-column key)', async () => {
    await db.client.query(
      `CREATE TABLE kparent (id int PRIMARY KEY); INSERT INTO kparent SELECT generate_series(1, 10)`,
    )
    const t = await table('id int PRIMARY KEY, p int REFERENCES kparent, a int, b int, UNIQUE (a, b)')
    const role = `pgbulk_test_${randomBytes(4).toString('hex')}`
    await db.client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'; GRANT SELECT, INSERT ON ${t} TO ${role}`)
    const url = new URL(db.url)
    url.username = role
    url.password = 'pw'
    const lines = ['id,p,a,b']
    const good: string[] = []
    for (let i = 1; i <= 300; i++) {
      const badParent = i % 37 === 0
      const dupPair = i % 41 === 0
      lines.push(`${i},${badParent ? 99 : 1 + (i % 10)},${dupPair ? i - 1 : i},${dupPair ? i - 1 : 0}`)
      if (i % 41 === 40) lines[lines.length - 1] = `${i},${1 + (i % 10)},${i},${i}`
      if (!badParent && !dupPair) good.push(String(i))
    }
    const input = await file('keys.csv', lines.join('\n') + '\n')
    for (const method of ['copy', 'insert'] as const) {
      await db.client.query(`TRUNCATE ${t}`)
      const report = await load({
        inputs: [input],
        table: t,
        db: url.toString(),
        method,
        batchRows: 100,
        force: true,
        checkpoint: false,
      })
      const rejects = await readRejects(`${input}.rejects.ndjson`)
      const expectedBad = Array.from({ length: 300 }, (_, k) => k + 1).filter((i) => i % 37 === 0 || i % 41 === 0)
      expect(rejects.map((r) => Number((r['raw'] as string).split(',')[0])).sort((x, y) => x - y)).toEqual(expectedBad)
      expect(report).toMatchObject({ rowsLoaded: 300 - expectedBad.length, rowsRejected: expectedBad.length })
      const ids = await db.client.query<{ id: number }>(`SELECT id FROM ${t} ORDER BY id`)
      expect(ids.rows.map((r) => String(r.id))).toEqual(good)
    }
    // Checkpoints need a table this role may not create: a clear error, with the ways out.
    await expect(
      load({ inputs: [input], table: t, db: url.toString(), checkpointSchema: `cp_${role}` }),
    ).rejects.toMatchObject({
      code: 'CHECKPOINT_UNAVAILABLE',
      exitCode: 1,
      message: expect.stringMatching(
        new RegExp(`schema "cp_${role}" does not exist, and role "${role}" lacks CREATE on database`),
      ) as unknown,
      hint: 'see "Preparing checkpoints for a role" in the README, or pass --no-checkpoint to load without resume',
    })
    await db.client.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`)
  })

  it('keeps checkpoints in the schema --checkpoint-schema names', async () => {
    const t = await table('id int, name text')
    const input = await file('cp-schema.csv', csvRows(3))
    await load({ inputs: [input], table: t, db: db.url, checkpointSchema: 'My CP', job: 'cp-job' })
    const r = await db.client.query<{ job: string; done: boolean; rows_loaded: string; next_byte: string }>(
      `SELECT job, done, rows_loaded, next_byte FROM "My CP".checkpoints`,
    )
    expect(r.rows).toEqual([
      { job: 'cp-job', done: true, rows_loaded: '3', next_byte: String(Buffer.byteLength(csvRows(3))) },
    ])
  })

  it('never sends more than 65535 bind parameters in one INSERT', async () => {
    const cols = Array.from({ length: 100 }, (_, k) => `c${k} int`).join(', ')
    const t = await table(cols)
    const header = Array.from({ length: 100 }, (_, k) => `c${k}`).join(',')
    const line = (i: number) => Array.from({ length: 100 }, (_, k) => i * 1000 + k).join(',')
    const input = await file('wide.csv', header + '\n' + range(1500).map(line).join('\n') + '\n')
    const report = await load({ inputs: [input], table: t, db: db.url, method: 'insert', batchRows: 1500 })
    expect(report).toMatchObject({ rowsLoaded: 1500, batches: 1 })
    const sum = await db.client.query<{ n: number; s: string }>(
      `SELECT count(*)::int AS n, sum(c99)::int8 AS s FROM ${t}`,
    )
    expect(sum.rows[0]).toEqual({ n: 1500, s: String(range(1500).reduce((s, i) => s + i * 1000 + 99, 0)) })
  })

  it('puts NDJSON values where json_populate_record would', async () => {
    const cols = 'id int8, t text, n numeric, b bool, d date, ts timestamptz, j jsonb, js json, a int[], ta text[]'
    const t = await table(cols)
    const ref = await table(cols)
    const lines = [
      '{"id": 1, "t": 42, "n": 1.50, "b": "yes", "d": "20240105", "ts": "2024-01-05 10:00:00-08", "j": "s", "js": {"a" : 1}, "a": [1, null, 3], "ta": ["x,y", "q\\"", null]}',
      '{"id": 9007199254740993, "t": {"k": [1, 2]}, "n": 1e3, "b": 1, "d": "Jan 5 2024", "ts": "epoch", "j": [1, {"x": null}], "js": "str", "a": [], "ta": ["NULL"]}',
      '{"id": 3, "t": true, "n": -0.0, "b": false, "d": null, "ts": null, "j": null, "js": null, "a": null, "ta": null}',
      '{"id": 4, "t": "tab\\there", "n": 12345678901234567890.12345, "b": "on", "d": "infinity", "ts": "2024-01-05T10:00:00Z", "j": 1.0, "js": 1.0, "a": [[1, 2], [3, 4]], "ta": [["a"], ["b"]]}',
    ]
    const input = await file('populate.ndjson', lines.join('\n') + '\n')
    const report = await load({ inputs: [input], table: t, db: db.url })
    expect(report).toMatchObject({ rowsLoaded: 4, rowsRejected: 0 })
    for (const l of lines)
      await db.client.query(`INSERT INTO ${ref} SELECT * FROM json_populate_record(null::${ref}, $1)`, [l])
    expect(await tableContents(db, t)).toBe(await tableContents(db, ref))
  })

  it('puts NDJSON arrays where json_populate_record and jsonb_populate_record would, from their text, never through JS numbers (issue 10, item 2)', async () => {
    const cols = 'k int, a int8[], n numeric[], i int4[], t text[], j jsonb[], js json[]'
    const lines = [
      '{"k": 1, "a": [9007199254740993, 9223372036854775807, -9223372036854775808]}',
      '{"k": 2, "n": [12345678901234567890.12345, 1.10, 1e400, -0.0]}',
      '{"k": 3, "i": [[]], "t": [[], []], "n": [[[]]]}',
      '{"k": 4, "a": [[1, 2], [3, 4]], "t": [1, [2, 3], {"b" : 1, "b": 2}, "x\\u00e9"]}',
      '{"k": 5, "j": [{"a": 9007199254740993}, "s", 1.50], "js": [{"a" : 9007199254740993, "a": 1}, "q\\"\\/", 1.50]}',
      '{"k": 6, "i": "{1,2}"}',
      '{"k": 7, "i": [1e2]}',
      '{"k": 8, "i": {}}',
      '{"k": 9, "i": [[1], []]}',
      '{"k": 10, "i": [[1], 2]}',
      '{"k": 11, "i": 5}',
      '{"k": 12, "i": [[[[[[[1]]]]]]]}',
      '{"k": 13, "a": [9223372036854775808]}',
    ]
    const refusedByBoth = [8, 9, 10, 11, 12, 13]
    const input = await file('arrays.ndjson', lines.join('\n') + '\n')
    for (const method of ['copy', 'insert'] as const) {
      const t = await table(cols)
      const ref = await table(cols)
      const rejects = join(dir, `arrays-${method}.rejects.ndjson`)
      const report = await load({ inputs: [input], table: t, db: db.url, method, rejects })
      // [1e2] into integer[]: json_populate_record passes "1e2" to int4in, which refuses it (jsonb would read it as numeric 100).
      expect((await readRejects(rejects)).map((r) => r['line'] as number).sort((a, b) => a - b)).toEqual([
        7,
        ...refusedByBoth,
      ])
      expect(report).toMatchObject({ rowsRead: lines.length, rowsLoaded: lines.length - 7, rowsRejected: 7 })
      for (const [k, l] of lines.entries()) {
        if (k + 1 === 7 || refusedByBoth.includes(k + 1)) {
          await expect(db.client.query(`SELECT * FROM json_populate_record(null::${ref}, $1)`, [l])).rejects.toThrow()
          if (k + 1 !== 7)
            await expect(
              db.client.query(`SELECT * FROM jsonb_populate_record(null::${ref}, $1)`, [l]),
            ).rejects.toThrow()
        } else await db.client.query(`INSERT INTO ${ref} SELECT * FROM json_populate_record(null::${ref}, $1)`, [l])
      }
      expect(await tableContents(db, t)).toBe(await tableContents(db, ref))
      const stored = await db.client.query<{ a: string; n: string }>(
        `SELECT a::text, n::text FROM ${t} WHERE k IN (1, 2) ORDER BY k`,
      )
      expect(stored.rows).toEqual([
        { a: '{9007199254740993,9223372036854775807,-9223372036854775808}', n: null },
        { a: null, n: `{12345678901234567890.12345,1.10,1${'0'.repeat(400)},0.0}` },
      ])
    }
  })

  it('writes NDJSON arrays with their element type\'s delimiter and JSON-ness: box (";"), domains over box and over json', async () => {
    await db.client.query(
      `CREATE DOMAIN dom_box AS box; CREATE DOMAIN dom_json AS json; CREATE DOMAIN dom_dom_jsonb AS dom_json`,
    )
    const cols = 'k int, bx box[], dbx dom_box[], dj dom_json[], ddj dom_dom_jsonb[]'
    const lines = [
      '{"k": 1, "bx": ["(1,1),(0,0)", "(2,2),(1,1)"], "dbx": [["(1,1),(0,0)"], ["(3,3),(2,2)"]]}',
      '{"k": 2, "dj": ["abc", {"a" : 1}, 1e2, null], "ddj": ["x\\u00e9"]}',
    ]
    const input = await file('delimiters.ndjson', lines.join('\n') + '\n')
    for (const method of ['copy', 'insert'] as const) {
      const t = await table(cols)
      const ref = await table(cols)
      const report = await load({ inputs: [input], table: t, db: db.url, method })
      expect(report).toMatchObject({ rowsLoaded: 2, rowsRejected: 0 })
      for (const l of lines)
        await db.client.query(`INSERT INTO ${ref} SELECT * FROM json_populate_record(null::${ref}, $1)`, [l])
      expect(await tableContents(db, t)).toBe(await tableContents(db, ref))
    }
  })

  it('gives a column the value of the key that names it exactly, the last when it is repeated, as json_populate_record does (issue 10, item 14)', async () => {
    const t = await table('k int, id int, "Name" text')
    const lines = [
      '{"k": 1, "id": 3, "Id": 4, "id": 5}',
      '{"k": 2, "Id": 4, "id": 3}',
      '{"k": 3, "ID": 7, "name": "lower"}',
      '{"k": 4, "ID": 1, "Id": 2}',
      '{"k": 5, "NAME": "x", "Name": "exact", "name": "y"}',
      '{"k": 6, "Id": 1, "ID": 2, "id": 9}',
    ]
    const input = await file('keys.ndjson', lines.join('\n') + '\n')
    for (const method of ['copy', 'insert'] as const) {
      await db.client.query(`TRUNCATE ${t}`)
      const rejects = join(dir, `keys-${method}.rejects.ndjson`)
      const report = await load({
        inputs: [input],
        table: t,
        db: db.url,
        method,
        rejects,
        force: true,
        checkpoint: false,
      })
      expect(report).toMatchObject({ rowsRead: 6, rowsLoaded: 5, rowsRejected: 1 })
      // Case variants without the exact name: one is taken as the column; two are ambiguous.
      expect(await readRejects(rejects)).toEqual([
        expect.objectContaining({
          line: 4,
          code: 'FIELD_AMBIGUOUS',
          columnName: 'id',
          message:
            'keys "ID" and "Id" both name column "id" (case-insensitively): keep one, or name the column exactly',
        }),
      ])
      expect(await tableContents(db, t)).toBe('1\t5\t\\N\n2\t3\t\\N\n3\t7\tlower\n5\t\\N\texact\n6\t9\t\\N\n')
    }
    // Where a line names the column exactly, pgbulk and json_populate_record agree.
    for (const l of [lines[0]!, lines[1]!, lines[4]!, lines[5]!]) {
      const r = await db.client.query<{ id: number | null; Name: string | null }>(
        `SELECT id, "Name" FROM json_populate_record(null::${t}, $1)`,
        [l],
      )
      const b = await db.client.query<{ id: number | null; Name: string | null }>(
        `SELECT id, "Name" FROM jsonb_populate_record(null::${t}, $1)`,
        [l],
      )
      const ours = await db.client.query<{ id: number | null; Name: string | null }>(
        `SELECT id, "Name" FROM ${t} WHERE k = $1`,
        [(JSON.parse(l) as { k: number }).k],
      )
      expect(r.rows[0]).toEqual(b.rows[0])
      expect(ours.rows[0]!.id ?? null).toBe(r.rows[0]!.id)
      if (r.rows[0]!.Name !== null) expect(ours.rows[0]!.Name).toBe(r.rows[0]!.Name)
    }
  })

  it('rejects NDJSON lines with a lone surrogate or \\u0000 anywhere, client-side with their line, by COPY and by INSERT (issue 10, item 14)', async () => {
    const cols = 'k int, t text, j json, jb jsonb, ta text[]'
    const lines = [
      '{"k": 1, "t": "ok \\ud83d\\ude00"}',
      '{"k": 2, "t": "\\ud800"}',
      '{"k": 3, "j": "\\udc00"}',
      '{"k": 4, "jb": {"a": "\\ud800x"}}',
      '{"k": 5, "j": {"a": ["\\u0000"]}}',
      '{"k": 6, "ta": ["\\ud800\\u0041"]}',
      '{"k": 7, "t": "\\ud800", "t": "later"}',
      '{"k": 8, "zz": "\\udbff"}',
      '{"k": 9, "t": "\\\\ud800 is text"}',
    ]
    const input = await file('surrogates.ndjson', lines.join('\n') + '\n')
    for (const method of ['copy', 'insert'] as const) {
      const t = await table(cols)
      const rejects = join(dir, `surrogates-${method}.rejects.ndjson`)
      const report = await load({ inputs: [input], table: t, db: db.url, method, rejects, ignoreExtra: true })
      expect(report).toMatchObject({ rowsRead: 9, rowsLoaded: 2, rowsRejected: 7 })
      const got = await readRejects(rejects)
      expect(got.map((r) => [r['line'], r['stage'], r['code'], r['columnName']])).toEqual([
        [2, 'validate', 'VALUE_INVALID', 't'],
        [3, 'validate', 'VALUE_INVALID', 'j'],
        [4, 'validate', 'VALUE_INVALID', 'jb'],
        [5, 'validate', 'VALUE_INVALID', 'j'],
        [6, 'validate', 'VALUE_INVALID', 'ta'],
        [7, 'validate', 'NDJSON_INVALID_JSON', undefined],
        [8, 'validate', 'NDJSON_INVALID_JSON', undefined],
      ])
      expect(got[0]!['message']).toBe(
        'column "t" (text): contains \\ud800, a UTF-16 surrogate without its pair, which PostgreSQL\'s JSON reader refuses',
      )
      expect(await tableContents(db, t)).toBe('1\tok 😀\t\\N\t\\N\t\\N\n9\t\\\\ud800 is text\t\\N\t\\N\t\\N\n')
      for (const [k, l] of lines.entries()) {
        const refused = await db.client.query(`SELECT * FROM json_populate_record(null::${t}, $1)`, [l]).then(
          () => false,
          () => true,
        )
        expect(refused, l).toBe(k + 1 !== 1 && k + 1 !== 9)
      }
    }
  })

  it('loads the demo fixture with its bad rows rejected', async () => {
    await db.client.query(readFileSync(join(FIXTURES, 'demo/schema.sql'), 'utf8'))
    const tmp = await tempDir()
    for (const method of ['copy', 'insert'] as const) {
      await db.client.query('TRUNCATE people')
      const rejects = join(tmp, `${method}.ndjson`)
      const report = await load({
        inputs: [join(FIXTURES, 'demo/people.csv')],
        table: 'people',
        db: db.url,
        rejects,
        method,
        checkpoint: false,
      })
      expect(report).toMatchObject({ rowsRead: 17, rowsLoaded: 9, rowsRejected: 8, exitCode: 2 })
      expect(await tableContents(db, 'people')).toBe(DEMO_TABLE)
      // In the order they were found: the batch's client-side rejections, then the database's.
      expect(
        (await readRejects(rejects)).map((r) => [r['line'], r['stage'], r['code'], (r['raw'] as string).split(',')[0]]),
      ).toEqual([
        [6, 'validate', 'VALUE_INVALID', 'x5'],
        [8, 'validate', 'VALUE_OUT_OF_RANGE', '7'],
        [9, 'validate', 'VALUE_OUT_OF_RANGE', '8'],
        [12, 'validate', 'VALUE_NULL_NOT_ALLOWED', '10'],
        [13, 'parse', 'CSV_PARSE', '11'],
        [14, 'validate', 'VALUE_TOO_LONG', '12'],
        [17, 'parse', 'FIELD_COUNT', '15'],
        [11, 'database', '23505', '2'],
      ])
    }
  })

  it('fails to connect with a clear message that holds no password', async () => {
    const input = await file('c.csv', 'id\n1\n')
    const err = await load({ inputs: [input], table: 't', db: 'postgres://someone:s3cret-pw@127.0.0.1:1/db' }).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'DB_CONNECT', exitCode: 1 })
    expect((err as Error).message).toMatch(/cannot connect to someone@127.0.0.1:1\/db/)
    expect(JSON.stringify(err) + String(err) + (err as Error).message).not.toContain('s3cret-pw')
  })

  it('refuses a role without INSERT privilege before reading, and lets it dry-run', async () => {
    const t = await table('id int')
    const role = `pgbulk_test_${randomBytes(4).toString('hex')}`
    await db.client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'; GRANT SELECT ON ${t} TO ${role}`)
    const url = new URL(db.url)
    url.username = role
    url.password = 'pw'
    const input = await file('priv.csv', 'id\n1\n')
    await expect(load({ inputs: [input], table: t, db: url.toString() })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      exitCode: 1,
      message: `permission denied: the current role may not insert into "public"."${t}"`,
    })
    const dry = await load({ inputs: [input], table: t, db: url.toString(), dryRun: true })
    expect(dry).toMatchObject({ rowsRead: 1, rowsLoaded: 1, exitCode: 0 })
    await db.client.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`)
  })

  it('refuses a record size limit that is not a whole number of bytes from 1 to 256 MiB, before connecting', async () => {
    for (const maxRecordBytes of [0, 1.5, 257 * 1024 * 1024, Number.NaN]) {
      await expect(
        load({ inputs: ['nowhere.csv'], table: 't', db: 'postgres://nobody@127.0.0.1:1/x', maxRecordBytes }),
      ).rejects.toMatchObject({
        code: 'USAGE',
        message: expect.stringContaining(
          '--max-record-bytes must be a whole number of bytes from 1 to 268435456',
        ) as unknown,
      })
    }
  })

  it('says so when the table does not exist', async () => {
    const input = await file('n.csv', 'id\n1\n')
    await expect(load({ inputs: [input], table: 'public.userz', db: db.url })).rejects.toMatchObject({
      code: 'TABLE_NOT_FOUND',
      message: 'table "public.userz" not found',
    })
    await expect(load({ inputs: [join(dir, 'nope.csv')], table: 't1', db: db.url })).rejects.toMatchObject({
      code: 'INPUT_NOT_FOUND',
    })
  })
})
