import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { load } from '../../src/index.js'
import type { LoadOptions } from '../../src/options.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

// How an input's fields find the table's columns: tolerant header names, --map (CSV and NDJSON),
// --columns with a header, and what is refused before anything is written (exit 1).

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
async function customers(): Promise<string> {
  const name = `c${++seq}`
  await db.client.query(`CREATE TABLE ${name} (customer_id int NOT NULL, email_address text, name text)`)
  return name
}

async function file(content: string, ext = 'csv'): Promise<string> {
  const path = join(dir, `f${++seq}.${ext}`)
  await writeFile(path, content)
  return path
}

async function refused(opts: LoadOptions): Promise<{ code: string; message: string; hint?: string }> {
  const err = await load({ ...opts, db: db.url, checkpoint: false }).then(
    () => {
      throw new Error('the load was not refused')
    },
    (e: unknown) => e as { code: string; message: string; hint?: string; exitCode: number },
  )
  expect(err).toMatchObject({ exitCode: 1 })
  return err
}

describe('header names that are not the column names', () => {
  it('fills columns from names that differ in case, spaces and punctuation, and lists the mappings', async () => {
    const t = await customers()
    const input = await file('Customer ID, Email-Address ,NAME\n1,a@x.org,Ann\n2,b@x.org,Bob\n')
    const report = await load({ inputs: [input], table: t, db: db.url, checkpoint: false })
    expect(report).toMatchObject({ rowsRead: 2, rowsLoaded: 2, exitCode: 0 })
    expect(await tableContents(db, t)).toBe('1\ta@x.org\tAnn\n2\tb@x.org\tBob\n')
    expect(report.files[0]!.mapped).toEqual([
      { field: 'Customer ID', column: 'customer_id' },
      { field: ' Email-Address ', column: 'email_address' },
      { field: 'NAME', column: 'name' },
    ])
  })

  it('refuses two fields for one column (COLUMN_AMBIGUOUS), and --map says which one fills it', async () => {
    const t = await customers()
    const input = await file('customer_id,Customer ID,name\n1,2,Ann\n')
    const err = await refused({ inputs: [input], table: t })
    expect(err.code).toBe('COLUMN_AMBIGUOUS')
    expect(err.message).toMatch(/fields "customer_id", "Customer ID" both fill column "customer_id"/)
    expect(err.hint).toMatch(/--map/)
    expect(await tableContents(db, t)).toBe('')
    // (the other field is then extra: refused unless dropped)
    const extra = await refused({ inputs: [input], table: t, map: { 'Customer ID': 'customer_id' } })
    expect(extra.message).toMatch(/"customer_id" \(customer_id is filled by --map\) matches no column/)
    await load({
      inputs: [input],
      table: t,
      db: db.url,
      checkpoint: false,
      map: { 'Customer ID': 'customer_id' },
      ignoreExtra: true,
    })
    expect(await tableContents(db, t)).toBe('2\t\\N\tAnn\n')
  })

  it('maps by hand with --map, over any other match; a --map field the header lacks is refused', async () => {
    const t = await customers()
    const input = await file('id,Mail,name\n7,m@x.org,Max\n')
    const map = { id: 'customer_id', Mail: 'email_address', name: 'email_address' }
    // (two fields mapped to one column are still two fields for one column)
    expect((await refused({ inputs: [input], table: t, map })).code).toBe('COLUMN_AMBIGUOUS')
    const report = await load({
      inputs: [input],
      table: t,
      db: db.url,
      checkpoint: false,
      map: { id: 'customer_id', Mail: 'email_address' },
    })
    expect(report.rowsLoaded).toBe(1)
    expect(await tableContents(db, t)).toBe('7\tm@x.org\tMax\n')
    const typo = await refused({ inputs: [input], table: t, map: { id: 'customer_id', Mial: 'email_address' } })
    expect(typo).toMatchObject({ code: 'COLUMN_UNKNOWN' })
    expect(typo.message).toMatch(/--map names field "Mial" that the header does not have/)
    const noColumn = await refused({ inputs: [input], table: t, map: { id: 'custmer_id' } })
    expect(noColumn.message).toMatch(/has no column "custmer_id" \(did you mean "customer_id"\?\)/)
  })

  it('maps NDJSON keys too, tolerantly and by --map', async () => {
    const t = await customers()
    const input = await file(
      '{"Customer ID": 1, "mail": "a@x.org"}\n{"Customer ID": 2, "mail": "b@x.org", "Name": "Bo"}\n',
      'ndjson',
    )
    await load({ inputs: [input], table: t, db: db.url, checkpoint: false, map: { mail: 'email_address' } })
    expect(await tableContents(db, t)).toBe('1\ta@x.org\t\\N\n2\tb@x.org\tBo\n')
  })

  it('maps NDJSON paths into nested objects (--map user.id=customer_id), their values exactly as written', async () => {
    const t = await customers()
    const input = await file(
      '{"user": {"id": 7, "contact": {"mail": "a@x.org"}}, "name": "Al"}\n' +
        '{"user": {"id": 8}, "name": "Bo"}\n' +
        '{"user": null, "name": "Cy"}\n',
      'ndjson',
    )
    const map = { 'user.id': 'customer_id', 'user.contact.mail': 'email_address' }
    const report = await load({ inputs: [input], table: t, db: db.url, checkpoint: false, map })
    expect(report).toMatchObject({ rowsLoaded: 2, rowsRejected: 1 })
    expect(await tableContents(db, t)).toBe('7\ta@x.org\tAl\n8\t\\N\tBo\n')
    const [cy] = await readRejects(`${input}.rejects.ndjson`)
    expect(cy).toMatchObject({ line: 3, code: 'VALUE_NULL_NOT_ALLOWED' })
  })

  it('says "did you mean" for a misspelt field', async () => {
    const t = await customers()
    const err = await refused({ inputs: [await file('customer_id,emial_address,nmae,zip\n1,a,b,c\n')], table: t })
    expect(err.message).toMatch(
      /"emial_address" \(did you mean "email_address"\?\), "nmae" \(did you mean "name"\?\), "zip" match no columns/,
    )
  })
})

describe('a table that is not there', () => {
  it('is refused with the table it probably meant', async () => {
    const t = await customers()
    const input = await file('customer_id\n1\n')
    const typo = `${t.slice(0, 1)}x${t.slice(1)}`
    const err = await refused({ inputs: [input], table: typo })
    expect(err).toMatchObject({ code: 'TABLE_NOT_FOUND' })
    expect(err.message).toBe(`table ${JSON.stringify(typo)} not found (did you mean ${t}?)`)
    expect((await refused({ inputs: [input], table: 'zzzzzzzz' })).message).toBe('table "zzzzzzzz" not found')
  })
})

describe('a file where no field fills a column', () => {
  it('is refused even with --ignore-extra (no rows of NULLs), with the delimiter it probably has', async () => {
    const t = await customers()
    const input = await file('customer_id;email_address;name\n1;a@x.org;Ann\n')
    const err = await refused({ inputs: [input], table: t, ignoreExtra: true })
    expect(err.code).toBe('COLUMN_UNKNOWN')
    expect(err.message).toMatch(/no field of the header matches a column/)
    expect(err.hint).toBe('the header splits on ";" into 3 fields, 3 of them columns: pass --delimiter ";"')
    const tabs = await refused({ inputs: [await file('customer_id\tname\n1\tAnn\n')], table: t, ignoreExtra: true })
    expect(tabs.hint).toMatch(
      /splits on tab into 2 fields, 2 of them columns: pass --delimiter "\\t" \(or --format tsv\)/,
    )
    expect(await tableContents(db, t)).toBe('')
  })

  it('is refused for NDJSON whose first object has no key that fills a column, even with --ignore-extra', async () => {
    const t = await customers()
    const err = await refused({ inputs: [await file('{"a": 1, "b": 2}\n', 'ndjson')], table: t, ignoreExtra: true })
    expect(err.message).toMatch(/no key of the first object matches a column of "public"."c\d+": "a", "b"/)
  })
})

describe('--columns and the header row', () => {
  it('with a header, renames its fields (as many names as fields, else refused)', async () => {
    const t = await customers()
    const input = await file('A,B,C\n1,a@x.org,Ann\n')
    await load({
      inputs: [input],
      table: t,
      db: db.url,
      checkpoint: false,
      columns: ['customer_id', 'email_address', 'name'],
    })
    expect(await tableContents(db, t)).toBe('1\ta@x.org\tAnn\n')
    const err = await refused({ inputs: [input], table: t, columns: ['customer_id', 'name'] })
    expect(err).toMatchObject({ code: 'HEADER_INVALID' })
    expect(err.message).toMatch(/:1: --columns names 2 columns, but the header has 3 fields \("A", "B", "C"\)/)
  })

  it('with --no-header, refuses a first line that names the columns instead of loading it as data', async () => {
    const t = await customers()
    const input = await file('Customer_ID,email_address,name\n1,a@x.org,Ann\n')
    const err = await refused({ inputs: [input], table: t, header: false })
    expect(err).toMatchObject({ code: 'HEADER_INVALID' })
    expect(err.message).toMatch(/:1: the first line names the columns .* a header row/)
    expect(await tableContents(db, t)).toBe('')
  })

  it('reads a reject of a mapped file back in redrive without --map (the reject line names the columns)', async () => {
    const t = await customers()
    const input = await file('Customer ID,Mail\nx,a@x.org\n2,b@x.org\n')
    const report = await load({
      inputs: [input],
      table: t,
      db: db.url,
      checkpoint: false,
      map: { Mail: 'email_address' },
    })
    expect(report).toMatchObject({ rowsLoaded: 1, rowsRejected: 1 })
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    expect(rejects[0]).toMatchObject({ line: 2, source: { columns: ['customer_id', 'email_address'] } })
  })
})
