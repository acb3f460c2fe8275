import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { load, redrive } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

// Real-world value formats, rewritten client-side: dates of numbers in a given order, decimal
// commas, thousands separators, currency symbols, epoch timestamps, several NULL markers; and dates
// checked in the server's DateStyle order when no format is given, so a dry run finds what the load rejects.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
async function table(columns: string): Promise<string> {
  const name = `vf${++seq}`
  await db.client.query(`CREATE TABLE ${name} (${columns})`)
  return name
}

async function file(content: string): Promise<string> {
  const path = join(dir, `vf${++seq}.csv`)
  await writeFile(path, content)
  return path
}

describe('value formats', () => {
  it('reads day-first dates, grouped amounts, currency symbols and several NULL markers', async () => {
    const t = await table('id int, signed date, amount numeric(12,2), note text')
    const input = await file(
      'id,signed,amount,note\n' +
        '1,03.01.2020,"57,190.56",a\n' +
        '2,26.05.2015,"$58,044.03",N/A\n' +
        '3,N/A,-3,NULL\n' +
        '4,31.02.2020,5,bad date\n' +
        '5,01.02.2020,"5,71",bad amount\n',
    )
    const formats = { dateOrder: 'DMY' as const, thousands: ',', currency: true, nulls: ['N/A', 'NULL'] }
    const dry = await load({ inputs: [input], table: t, db: db.url, formats, dryRun: true, checkpoint: false })
    const report = await load({ inputs: [input], table: t, db: db.url, formats, checkpoint: false })
    expect(report).toMatchObject({ rowsRead: 5, rowsLoaded: 3, rowsRejected: 2 })
    expect(await tableContents(db, t)).toBe(
      '1\t2020-01-03\t57190.56\ta\n2\t2015-05-26\t58044.03\t\\N\n3\t\\N\t-3.00\t\\N\n',
    )
    // (the dry run found exactly the rejects the load found: every format is applied client-side)
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    const dryRejects = await readRejects(`${input}.dry-run.rejects.ndjson`)
    expect(rejects.map((r) => [r['line'], r['code']])).toEqual([
      [5, 'VALUE_OUT_OF_RANGE'],
      [6, 'VALUE_INVALID'],
    ])
    expect(dryRejects.map((r) => [r['line'], r['code'], r['message']])).toEqual(
      rejects.map((r) => [r['line'], r['code'], r['message']]),
    )
    expect(dry.rowsRejected).toBe(2)
  })

  it('--date-order DMY gives the table the server gives with DateStyle DMY', async () => {
    const dates = ['03.01.2020', '3/1/2020', '31-12-1999', '29.02.2024', '2020-01-03', '01.02.2020 10:30:00']
    // (two-digit years too: read in the given order, not the server's MDY; 24 → 2024, 99 → 1999)
    dates.push('2.1.24', '13.1.24', '31/12/69', '1.1.5', '31.12.99 10:00')
    const ours = await table('d timestamp')
    const input = await file(`d\n${dates.join('\n')}\n`)
    await load({ inputs: [input], table: ours, db: db.url, formats: { dateOrder: 'DMY' }, checkpoint: false })
    await db.client.query(`SET DateStyle = 'ISO, DMY'`)
    const expected = await db.client.query<{ d: string }>(
      `SELECT string_agg(x::timestamp::text, ',' ORDER BY k) AS d FROM unnest($1::text[]) WITH ORDINALITY AS u(x, k)`,
      [dates],
    )
    await db.client.query('RESET DateStyle')
    const got = await db.client.query<{ d: string }>(`SELECT string_agg(d::text, ',' ORDER BY ctid) AS d FROM ${ours}`)
    expect(got.rows[0]!.d).toBe(expected.rows[0]!.d)
  })

  it('--date-order with a two-digit year: a day or month out of range is rejected by the dry run as by the load', async () => {
    const t = await table('id int, d date')
    const input = await file('id,d\n1,13.1.24\n2,12/31/99\n3,29.02.23\n')
    const formats = { dateOrder: 'DMY' as const }
    const dry = await load({ inputs: [input], table: t, db: db.url, formats, dryRun: true, checkpoint: false })
    const real = await load({ inputs: [input], table: t, db: db.url, formats, checkpoint: false })
    expect(real).toMatchObject({ rowsLoaded: 1, rowsRejected: 2 })
    expect(dry).toMatchObject({ rowsRejected: 2 })
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    expect(rejects.map((r) => [r['line'], r['stage'], r['code']])).toEqual([
      [3, 'validate', 'VALUE_OUT_OF_RANGE'],
      [4, 'validate', 'VALUE_OUT_OF_RANGE'],
    ])
    expect(await tableContents(db, t)).toBe('1\t2024-01-13\n')
  })

  it('without a format, refuses client-side a date the server would refuse in its DateStyle order (dry run = load)', async () => {
    const t = await table('id int, d date')
    const input = await file('id,d\n1,03.01.2020\n2,26.05.2015\n3,2020-02-30\n')
    const dry = await load({ inputs: [input], table: t, db: db.url, dryRun: true, checkpoint: false })
    expect(dry.rowsRejected).toBe(2)
    const real = await load({ inputs: [input], table: t, db: db.url, checkpoint: false })
    expect(real).toMatchObject({ rowsLoaded: 1, rowsRejected: 2 })
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    expect(rejects.map((r) => [r['line'], r['stage']])).toEqual([
      [3, 'validate'],
      [4, 'validate'],
    ])
    expect(await tableContents(db, t)).toBe('1\t2020-03-01\n')
  })

  it('keeps the formats in each reject line, so redrive reads the row as the load did', async () => {
    const t = await table('id int, amount numeric CHECK (amount < 100)')
    const input = await file('id,amount\n1,"1.234,5"\n2,"12,5"\n')
    const formats = { decimalComma: true, thousands: '.' }
    const report = await load({ inputs: [input], table: t, db: db.url, formats, checkpoint: false })
    expect(report).toMatchObject({ rowsLoaded: 1, rowsRejected: 1 })
    const [rejected] = await readRejects(`${input}.rejects.ndjson`)
    expect(rejected).toMatchObject({ line: 2, source: { formats } })
    await db.client.query(`ALTER TABLE ${t} DROP CONSTRAINT ${t}_amount_check`)
    const again = await redrive({ rejectsFile: `${input}.rejects.ndjson`, table: t, db: db.url })
    expect(again).toMatchObject({ rowsLoaded: 1, rowsRejected: 0 })
    expect(await tableContents(db, t)).toBe('1\t1234.5\n2\t12.5\n')
  })
})
