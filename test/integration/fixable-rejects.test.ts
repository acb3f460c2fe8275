import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { load, redrive } from '../../src/index.js'
import { runPgbulk } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

// Rejects a person can fix: every problem of a row listed, raw before the message (an edit of a
// line's first match fixes the row), redrive without --table, and a round trip through a CSV.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
async function setUp(content: string): Promise<{ t: string; input: string; rejects: string }> {
  const t = `fr${++seq}`
  await db.client.query(`CREATE TABLE ${t} (id int NOT NULL, d date, amount numeric(6,2), note text)`)
  const input = join(dir, `${t}.csv`)
  await writeFile(input, content)
  return { t, input, rejects: `${input}.rejects.ndjson` }
}

const MESSY =
  'id,d,amount,note\n' +
  '1,2020-01-03,5,"a, b"\n' +
  '2,2020-02-31,x,""\n' +
  ',2020-13-01,7,\n' +
  '4,2020-01-01,bad,"two\nlines"\n'

describe('reject lines a person can fix', () => {
  it('lists every problem of a row, and puts raw before the message', async () => {
    const { t, input, rejects } = await setUp(MESSY)
    const report = await load({ inputs: [input], table: t, db: db.url, checkpoint: false })
    expect(report).toMatchObject({ rowsLoaded: 1, rowsRejected: 3 })
    const [two, three, four] = await readRejects(rejects)
    expect(two).toMatchObject({ line: 3, code: 'VALUE_OUT_OF_RANGE', columnName: 'd' })
    expect(two!['errors']).toEqual([
      expect.objectContaining({ column: 2, columnName: 'd', code: 'VALUE_OUT_OF_RANGE' }),
      expect.objectContaining({ column: 3, columnName: 'amount', code: 'VALUE_INVALID' }),
    ])
    expect((three!['errors'] as { columnName: string }[]).map((e) => e.columnName)).toEqual(['id', 'd'])
    expect(four!['errors']).toBeUndefined()
    const text = await readFile(rejects, 'utf8')
    const first = text.split('\n')[0]!
    expect(first.indexOf('"raw"')).toBeLessThan(first.indexOf('"message"'))
    // (sed's first match on the line is in raw: the row is fixed, and redrive needs no --table)
    await writeFile(rejects, text.replace('2020-02-31', '2020-02-28').replace('2,2020-02-28,x', '2,2020-02-28,6'))
    const again = await redrive({ rejectsFile: rejects, db: db.url })
    expect(again).toMatchObject({ rowsLoaded: 1, rowsRejected: 2 })
    expect(await tableContents(db, t)).toBe('1\t2020-01-03\t5.00\ta, b\n2\t2020-02-28\t6.00\t\n')
  })

  it('exports the rejects as a CSV to fix, and redrive of the fixed CSV loads its rows (once)', async () => {
    const { t, input, rejects } = await setUp(MESSY)
    await load({ inputs: [input], table: t, db: db.url, checkpoint: false })
    const csvPath = join(dir, `${t}-fix.csv`)
    const r = await runPgbulk(['rejects', rejects, '--output', csvPath], { cwd: dir })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toBe(`pgbulk: 3 rejected rows written to ${csvPath}\n`)
    expect((await stat(csvPath)).mode & 0o777).toBe(0o600)
    const csv = await readFile(csvPath, 'utf8')
    const lines = csv.split('\r\n')
    expect(lines[0]).toBe('"id","d","amount","note","_reason","_line","_input","_rejects"')
    expect(lines[1]).toMatch(
      /^"2","2020-02-31","x","","VALUE_OUT_OF_RANGE: .*\(\+1 more\)","3",".*\.csv",".*rejects\.ndjson"$/,
    )
    expect(csv).toContain('"4","2020-01-01","bad","two\nlines"')
    // Fixed as a spreadsheet would: row 2's date and amount, row 4's amount; row 3 left as it is.
    const fixed = csv
      .replace('"2","2020-02-31","x"', '"2","2020-02-28","6"')
      .replace('"4","2020-01-01","bad"', '"4","2020-01-01","8"')
    await writeFile(csvPath, fixed)
    const report = await redrive({ rejectsFile: csvPath, db: db.url })
    expect(report).toMatchObject({ rowsRead: 3, rowsLoaded: 2, rowsRejected: 1, redriven: rejects })
    expect(await tableContents(db, t)).toBe(
      '1\t2020-01-03\t5.00\ta, b\n2\t2020-02-28\t6.00\t\n4\t2020-01-01\t8.00\ttwo\\nlines\n',
    )
    // The reject file holds only the row that still fails; the CSV again loads nothing twice.
    expect((await readRejects(rejects)).map((x) => x['line'])).toEqual([4])
    const rerun = await redrive({ rejectsFile: csvPath, db: db.url })
    expect(rerun).toMatchObject({ rowsLoaded: 0, rowsRejected: 1 })
    expect(await db.count(t)).toBe(3)
  })

  it('refuses an --output that exists, and says which rows it cannot export', async () => {
    const { t, rejects } = await setUp('id,d,amount,note\n1,x,1,a\n')
    await load({ inputs: [join(dir, `${t}.csv`)], table: t, db: db.url, checkpoint: false })
    const out = join(dir, `${t}-exists.csv`)
    await writeFile(out, 'mine\n')
    const r = await runPgbulk(['rejects', rejects, '--output', out], { cwd: dir })
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/already exists \(REJECTS_FILE_EXISTS\)/)])
    expect(await readFile(out, 'utf8')).toBe('mine\n')
  })
})
