import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { infer, load } from '../../src/index.js'
import { runPgbulk } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { tableContents } from '../helpers/fixtures.js'

// pgbulk infer and load --create against a real PostgreSQL: the statement is accepted as it is,
// and the file it was inferred from loads into it with no reject.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
async function file(content: string, ext = 'csv'): Promise<string> {
  const path = join(dir, `messy${++seq}.${ext}`)
  await writeFile(path, content)
  return path
}

const MESSY =
  'Customer ID;Email Address;Signup Date;Amount;Active;Last Seen;Notes\n' +
  '1;ann@example.org;2020-01-03;57190.56;yes;2024-01-02T03:04:05Z;"two\nlines"\n' +
  '2;;2021-12-31;;no;;\n' +
  '3000000000;bob@example.org;2020-02-29;-3;t;2024-05-06 07:08:09+02;plain\n'

async function columnsOf(table: string): Promise<string[]> {
  const r = await db.client.query<{ c: string }>(
    `SELECT attname || ' ' || format_type(atttypid, atttypmod) AS c FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  )
  return r.rows.map((x) => x.c)
}

describe('pgbulk infer', () => {
  it('infers a statement PostgreSQL accepts as it is, and the file loads into it with no reject', async () => {
    const input = await file(MESSY)
    const inference = await infer({ inputs: [input], table: 'customers' })
    expect(inference.inputs[0]!.found).toEqual(['delimiter ";" (it splits 4 lines into 7 fields)', 'a header row'])
    await db.client.query(inference.sql)
    expect(await columnsOf('customers')).toEqual([
      'customer_id bigint',
      'email_address text',
      'signup_date date',
      'amount numeric',
      'active boolean',
      'last_seen timestamp with time zone',
      'notes text',
    ])
    const report = await load({ inputs: [input], table: 'customers', db: db.url, delimiter: ';', checkpoint: false })
    expect(report).toMatchObject({ rowsRead: 3, rowsLoaded: 3, rowsRejected: 0, exitCode: 0 })
    const rows = await db.client.query(`SELECT customer_id, amount, active, notes FROM customers ORDER BY 1`)
    expect(rows.rows).toEqual([
      { customer_id: '1', amount: '57190.56', active: true, notes: 'two\nlines' },
      { customer_id: '2', amount: null, active: false, notes: null },
      { customer_id: '3000000000', amount: '-3', active: true, notes: 'plain' },
    ])
  })

  it('infers NDJSON: keys in first-seen order, objects and arrays as jsonb, nulls and absent keys as NULL', async () => {
    const input = await file(
      '{"id": 1, "user": {"id": 7}, "tags": ["a"], "ok": true, "when": "2024-01-01"}\n' +
        '{"id": 2, "user": null, "ok": false, "score": 2.5}\n',
      'ndjson',
    )
    const inference = await infer({ inputs: [input], table: 'events' })
    expect(inference.columns.map((c) => [c.name, c.type, c.nulls])).toEqual([
      ['id', 'smallint', 0],
      ['user', 'jsonb', 1],
      ['tags', 'jsonb', 1],
      ['ok', 'boolean', 0],
      ['when', 'date', 1],
      ['score', 'numeric', 1],
    ])
    await db.client.query(inference.sql)
    const report = await load({ inputs: [input], table: 'events', db: db.url, checkpoint: false })
    expect(report).toMatchObject({ rowsLoaded: 2, rowsRejected: 0 })
    expect(await tableContents(db, 'events')).toBe(
      '1\t{"id": 7}\t["a"]\tt\t2024-01-01\t\\N\n2\t\\N\t\\N\tf\t\\N\t2.5\n',
    )
  })

  it('finds no header when the first row fits the types below it, and samples stdin', async () => {
    const input = await file('1,2024-01-01,5\n2,2024-01-02,6\n')
    const inference = await infer({ inputs: [input] })
    expect(inference.table).toMatch(/^messy\d+$/)
    expect(inference.columns.map((c) => `${c.name} ${c.type}`)).toEqual([
      'column_1 smallint',
      'column_2 date',
      'column_3 smallint',
    ])
    expect(inference.rows).toBe(2)
    const lines = Array.from({ length: 20_000 }, (_, k) => `${k},x${k}\n`).join('')
    const sampled = await infer({ inputs: ['-'], stdin: Readable.from([Buffer.from(`n,label\n${lines}`)]) })
    expect(sampled.rows).toBe(10_000)
    expect(sampled.table).toBe('stdin')
  })

  it('prints the statement on stdout and how it read the file on stderr (the CLI); --json for tools', async () => {
    const input = await file(MESSY)
    const r = await runPgbulk(['infer', input, '--table', 'sales.customers'], { cwd: dir })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^CREATE TABLE sales\.customers \(\n {2}customer_id +bigint, +-- from "Customer ID"\n/)
    expect(r.stderr).toMatch(/read .*messy\d+\.csv as csv: found delimiter ";" .*a header row\npgbulk: 3 rows read\n$/)
    const j = await runPgbulk(['infer', input, '--json', '--sample-rows', '1'], { cwd: dir })
    const parsed = JSON.parse(j.stdout) as { rows: number; columns: { name: string; example?: string }[] }
    expect(parsed.rows).toBe(1)
    expect(parsed.columns[0]).toMatchObject({ name: 'customer_id', example: '1' })
    const bad = await runPgbulk(['infer', join(dir, 'nope.csv')], { cwd: dir })
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/no such file \(INPUT_NOT_FOUND\)/)])
  })
})

describe('pgbulk load --create', () => {
  it('creates the missing table from the input, then loads it; next time says the table exists', async () => {
    const input = await file(MESSY)
    const opts = { inputs: [input], table: 'created1', db: db.url, delimiter: ';', create: true, checkpoint: false }
    const report = await load(opts)
    expect(report).toMatchObject({ rowsLoaded: 3, rowsRejected: 0, exitCode: 0 })
    expect(report.created).toMatch(/^CREATE TABLE created1 \(/)
    expect(await columnsOf('created1')).toContain('customer_id bigint')
    const again = await load({ ...opts, force: true })
    expect(again.created).toBeUndefined()
    expect(again.warnings).toEqual(['--create: created1 exists already; loaded into it as it is'])
    expect(await db.count('created1')).toBe(6)
  })

  it('names renamed header fields so that the load fills them: repeated, empty, digits, system columns, too long', async () => {
    const long = 'x'.repeat(70)
    const input = await file(`xmin,ctid,a,A,"","",1,a,${long}\n1,2,3,4,5,6,7,8,9\n`)
    const inference = await infer({ inputs: [input], table: 'renamed1' })
    await db.client.query(inference.sql)
    const names = ['xmin_2', 'ctid_2', 'a', 'a_2', 'column_5', 'column_6', 'c_1', 'a_3', 'x'.repeat(63)]
    expect(inference.columns.map((c) => c.name)).toEqual(names)
    const report = await load({ inputs: [input], table: 'renamed1', db: db.url, checkpoint: false })
    expect(report).toMatchObject({ rowsLoaded: 1, rowsRejected: 0, exitCode: 0 })
    const row = await db.client.query(`SELECT ${names.join(', ')} FROM renamed1`)
    expect(Object.values(row.rows[0] as object)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    const created = await load({ inputs: [input], table: 'renamed2', db: db.url, create: true, checkpoint: false })
    expect(created).toMatchObject({ rowsLoaded: 1, rowsRejected: 0, exitCode: 0 })
  })

  it("infers the table from the values as the load's value formats rewrite them", async () => {
    const input = await file('n;d;m\n1,5;31.12.2024;€ 1.234,50\n2;N/A;7\n')
    const formats = { decimalComma: true, thousands: '.', currency: true, dateOrder: 'DMY' as const, nulls: ['N/A'] }
    const opts = { inputs: [input], table: 'formatted1', db: db.url, delimiter: ';', create: true, checkpoint: false }
    const report = await load({ ...opts, formats })
    expect(report).toMatchObject({ rowsLoaded: 2, rowsRejected: 0, exitCode: 0 })
    expect(await columnsOf('formatted1')).toEqual(['n numeric', 'd date', 'm numeric'])
    expect(await tableContents(db, 'formatted1')).toBe('1.5\t2024-12-31\t1234.50\n2\t\\N\t7\n')
  })

  it('refuses stdin (read twice) and a dry run (exit 1), creating nothing', async () => {
    const stdin = load({ inputs: ['-'], table: 'created2', db: db.url, create: true, stdin: Readable.from(['a\n1\n']) })
    await expect(stdin).rejects.toMatchObject({ code: 'USAGE', exitCode: 1 })
    const dry = load({ inputs: [await file(MESSY)], table: 'created2', db: db.url, create: true, dryRun: true })
    await expect(dry).rejects.toMatchObject({ code: 'USAGE' })
    const r = await db.client.query(`SELECT to_regclass('created2') AS t`)
    expect(r.rows[0]).toEqual({ t: null })
  })
})
