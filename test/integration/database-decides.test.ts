import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { load } from '../../src/index.js'
import type { LoadReport } from '../../src/report/load-report.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

// What the database decides, pgbulk reports as it is (issue 10): an error is a row's when the
// row alone fails, whatever its SQLSTATE; …

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
async function table(columns: string, extra = ''): Promise<string> {
  const name = `d${++seq}`
  await db.client.query(`CREATE TABLE ${name} (${columns}); ${extra.replaceAll('$T', name)}`)
  return name
}

async function run(t: string, content: string, method: 'copy' | 'insert', opts: { format?: 'csv' | 'ndjson' } = {}) {
  const input = join(dir, `${t}-${method}.${opts.format ?? 'csv'}`)
  await writeFile(input, content)
  const rejects = `${input}.rejects.ndjson`
  const report = await load({
    inputs: [input],
    table: t,
    db: db.url,
    method,
    rejects,
    force: true,
    batchRows: 50,
    ...(opts.format ? { format: opts.format } : {}),
  })
  return { report, rejects: await readRejects(rejects) }
}

function expectAccounted(report: LoadReport, read: number): void {
  expect(report.rowsRead).toBe(read)
  expect(report.rowsLoaded + report.rowsRejected).toBe(read)
}

describe('row errors outside the usual SQLSTATE classes', () => {
  it.each(['copy', 'insert'] as const)('rejects the rows that fail alone, whatever their SQLSTATE, and loads the rest (%s)', async (method) => {
    const t = await table(
      'id int, doc tsvector, j jsonb, note text',
      `CREATE FUNCTION $T_check() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
         IF NEW.note = 'forbidden' THEN RAISE EXCEPTION 'note is forbidden' USING ERRCODE = '45000'; END IF;
         RETURN NEW; END $f$;
       CREATE TRIGGER check_note BEFORE INSERT ON $T FOR EACH ROW EXECUTE FUNCTION $T_check()`,
    )
    const deep = '"' + '['.repeat(100_000) + ']'.repeat(100_000) + '"'
    const lines = ['id,doc,j,note']
    for (let i = 1; i <= 120; i++) {
      if (i === 17)
        lines.push(`${i},'unterminated,{},ok`) // tsvector input: 42601
      else if (i === 64)
        lines.push(`${i},a b,${deep},ok`) // JSON nested too deep: 54001
      else if (i === 99)
        lines.push(`${i},a b,{},forbidden`) // the trigger's own code
      else lines.push(`${i},a b,{},ok`)
    }
    const { report, rejects } = await run(t, lines.join('\n') + '\n', method)
    expect(report.exitCode).toBe(2)
    expectAccounted(report, 120)
    expect(rejects.map((r) => [r['line'], r['code']])).toEqual([
      [18, '42601'],
      [65, '54001'],
      [100, '45000'],
    ])
    expect(await db.count(t)).toBe(117)
  })

  it('stops the run when an error no row explains fails every row (a broken trigger), instead of rejecting them all', async () => {
    const t = await table(
      'id int',
      `CREATE FUNCTION $T_broken() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
         RAISE EXCEPTION 'misconfigured' USING ERRCODE = '45001'; END $f$;
       CREATE TRIGGER broken BEFORE INSERT ON $T FOR EACH ROW EXECUTE FUNCTION $T_broken()`,
    )
    const { report, rejects } = await run(t, 'id\n' + Array.from({ length: 40 }, (_, k) => k + 1).join('\n') + '\n', 'insert')
    expect(report.exitCode).toBe(3)
    expect(report.stopped?.message).toContain('misconfigured (SQLSTATE 45001)')
    expect(rejects).toEqual([])
    expect(await db.count(t)).toBe(0)
  })
})

describe('tables with BEFORE ROW triggers', () => {
  it.each(['copy', 'insert'] as const)(
    'lets the database judge the values a trigger stores, not the ones sent: foreign keys, NOT NULL (%s)',
    async (method) => {
      const parent = await table('code text PRIMARY KEY', `INSERT INTO $T VALUES ('GB'), ('US')`)
      // The trigger upper-cases the country and fills in a missing name: "gb" is a good row, and so is a NULL name.
      const t = await table(
        `id int, country text REFERENCES ${parent}, name text NOT NULL`,
        `CREATE FUNCTION $T_fix() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
         NEW.country := upper(NEW.country); NEW.name := coalesce(NEW.name, 'unnamed'); RETURN NEW; END $f$;
       CREATE TRIGGER fix BEFORE INSERT ON $T FOR EACH ROW EXECUTE FUNCTION $T_fix()`,
      )
      const { report, rejects } = await run(t, 'id,country,name\n1,gb,a\n2,us,\n3,fr,c\n4,GB,d\n5,xx,e\n', method)
      expectAccounted(report, 5)
      expect(rejects.map((r) => [r['line'], r['code']])).toEqual([
        [4, '23503'],
        [6, '23503'],
      ])
      expect(await tableContents(db, t)).toBe('1\tGB\ta\n2\tUS\tunnamed\n4\tGB\td\n')
    },
  )
})

describe('GENERATED ALWAYS identity columns', () => {
  it.each(['copy', 'insert'] as const)('are refused in the input by both methods, and stored as given with --overriding-system-value (%s)', async (method) => {
    const t = await table('id int GENERATED ALWAYS AS IDENTITY, v text')
    await expect(run(t, 'id,v\n7,a\n', method)).rejects.toMatchObject({
      code: 'COLUMN_NOT_WRITABLE',
      message: expect.stringContaining('is an identity column GENERATED ALWAYS') as unknown,
    })
    expect(await db.count(t)).toBe(0)
    const input = join(dir, `${t}-${method}-o.csv`)
    await writeFile(input, 'id,v\n7,a\n9,b\n')
    const report = await load({ inputs: [input], table: t, db: db.url, method, overridingSystemValue: true })
    expect(report.exitCode).toBe(0)
    expect(await tableContents(db, t)).toBe('7\ta\n9\tb\n')
    // Without the column, the table numbers the rows.
    const { report: numbered } = await run(t, 'v\nc\n', method)
    expect(numbered.exitCode).toBe(0)
    expect(await db.count(t)).toBe(3)
  })
})
