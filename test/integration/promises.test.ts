// README promises that had no test of their own (issue 12, item 8): each test quotes what it holds.
import { existsSync } from 'node:fs'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { load, LoadError } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
async function table(columns: string, extra = ''): Promise<string> {
  const name = `p${++seq}`
  await db.client.query(`CREATE TABLE ${name} (${columns}); ${extra.replaceAll('$T', name)}`)
  return name
}

async function file(name: string, content: string | Buffer): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, content)
  return path
}

/** [line, stage, code] of each reject line, in file order. */
async function rejectLines(path: string): Promise<[unknown, unknown, unknown][]> {
  return (await readRejects(path)).map((r) => [r['line'], r['stage'], r['code']])
}

/** The error a load throws (it must throw a LoadError). */
async function loadError(p: Promise<unknown>): Promise<LoadError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(LoadError)
  return err as LoadError
}

describe('--dry-run=db', () => {
  // README: "--dry-run=db does everything a real load does, the database's own checks included (constraints,
  // foreign keys, triggers), in one transaction with a savepoint per batch that is rolled back at the end, so the
  // report and reject file list every row the real load would reject (a key repeated across batches included),
  // and the table is unchanged afterwards"; "In their report, rowsLoaded counts the rows that would load."
  it('rejects what the real load rejects, by the database too, and leaves the table unchanged', async () => {
    await db.client.query(`CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent VALUES (1)`)
    const t = await table(
      `id int PRIMARY KEY, email text UNIQUE, parent int REFERENCES parent, qty int CHECK (qty > 0)`,
      `CREATE FUNCTION $T_guard() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
         IF NEW.email = 'forbidden' THEN RAISE EXCEPTION 'no such email'; END IF; RETURN NEW; END $f$;
       CREATE TRIGGER guard BEFORE INSERT ON $T FOR EACH ROW EXECUTE FUNCTION $T_guard()`,
    )
    const input = await file(
      'dry-db.csv',
      'id,email,parent,qty\n1,a@x,1,1\n2,b@x,9,1\n3,a@x,1,1\n4,c@x,1,-1\nx5,e@x,1,1\n6,forbidden,1,1\n7,d@x,1,1\n8,f@x,1,1\n9,d@x,1,1\n10,g@x,1,1\n',
    )
    // Batches of 4 valid rows; a batch's client-side rejections, then its database ones (x5 waits for batch 2).
    const expected = [
      [3, 'database', '23503'],
      [4, 'database', '23505'],
      [5, 'database', '23514'],
      [6, 'validate', 'VALUE_INVALID'],
      [7, 'database', 'P0001'],
      // id 9 repeats the email of id 7, which is in an earlier batch: caught across batches.
      [10, 'database', '23505'],
    ]
    for (const method of ['copy', 'insert'] as const) {
      const rejects = join(dir, `dry-db-${method}.ndjson`)
      const dry = await load({ inputs: [input], table: t, db: db.url, method, batchRows: 4, dryRun: 'db', rejects })
      expect(dry).toMatchObject({ dryRun: 'db', rowsRead: 10, rowsLoaded: 4, rowsRejected: 6, exitCode: 2 })
      expect(await tableContents(db, t)).toBe('')
      expect(await rejectLines(rejects)).toEqual(expected)
    }
    // A dry run keeps no checkpoint: the real load runs, and rejects the same rows.
    const rejects = join(dir, 'real.ndjson')
    const real = await load({ inputs: [input], table: t, db: db.url, batchRows: 4, rejects })
    expect(real).toMatchObject({ dryRun: false, rowsRead: 10, rowsLoaded: 4, rowsRejected: 6, exitCode: 2 })
    expect(await rejectLines(rejects)).toEqual(expected)
    expect(await tableContents(db, t)).toBe('1\ta@x\t1\t1\n7\td@x\t1\t1\n8\tf@x\t1\t1\n10\tg@x\t1\t1\n')
  })
})

describe('SET CONSTRAINTS ALL IMMEDIATE', () => {
  // README: "Each batch runs SET CONSTRAINTS ALL IMMEDIATE, so deferrable constraints are checked per statement
  // and a violation can be pinned to its row rather than failing at COMMIT."
  it.each(['copy', 'insert'] as const)(
    'pins a deferred unique or foreign key violation to its row (%s), in a real load and a dry run',
    async (method) => {
      const parent = await table('id int PRIMARY KEY', 'INSERT INTO $T VALUES (1)')
      const t = await table(
        `id int, k int UNIQUE DEFERRABLE INITIALLY DEFERRED, p int REFERENCES ${parent} DEFERRABLE INITIALLY DEFERRED`,
      )
      const input = await file(`deferred-${method}.csv`, 'id,k,p\n1,1,1\n2,1,1\n3,3,9\n4,4,1\n')
      for (const dryRun of ['db', false] as const) {
        const rejects = join(dir, `deferred-${method}-${dryRun}.ndjson`)
        const report = await load({ inputs: [input], table: t, db: db.url, method, dryRun, rejects })
        expect(report).toMatchObject({ rowsRead: 4, rowsLoaded: 2, rowsRejected: 2, exitCode: 2 })
        expect(report.stopped).toBeUndefined()
        expect(await rejectLines(rejects)).toEqual([
          [3, 'database', '23505'],
          [4, 'database', '23503'],
        ])
        expect(await tableContents(db, t)).toBe(dryRun ? '' : '1\t1\t1\n4\t4\t1\n')
      }
    },
  )
})

describe('domains', () => {
  // README: "domains (checked as their base type; the domain's own CHECK is the server's)".
  it.each(['copy', 'insert'] as const)(
    'checks a domain as its base type client-side, and its CHECK and NOT NULL by the server (%s)',
    async (method) => {
      const dom = `posint_${method}`
      await db.client.query(
        `CREATE DOMAIN ${dom} AS integer CHECK (VALUE > 0); CREATE DOMAIN short_${method} AS varchar(3) NOT NULL`,
      )
      const t = await table(`id int, n ${dom}, s short_${method}`)
      const input = await file(
        `domain-${method}.csv`,
        'id,n,s\n1,5,abc\n2,-1,ab\n3,x,ab\n4,1,abcd\n5,1,\n6,99999999999,a\n7,2,b\n',
      )
      const rejects = join(dir, `domain-${method}.ndjson`)
      const report = await load({ inputs: [input], table: t, db: db.url, method, rejects })
      expect(report).toMatchObject({ rowsRead: 7, rowsLoaded: 2, rowsRejected: 5, exitCode: 2 })
      expect(await tableContents(db, t)).toBe('1\t5\tabc\n7\t2\tb\n')
      const got = await readRejects(rejects)
      expect(got.map((r) => [r['line'], r['stage'], r['code'], r['message']])).toEqual([
        [4, 'validate', 'VALUE_INVALID', `column "n" (${dom}): expected an integer, found "x"`],
        [5, 'validate', 'VALUE_TOO_LONG', `column "s" (short_${method}): value is 4 characters long, the limit is 3`],
        [6, 'validate', 'VALUE_NULL_NOT_ALLOWED', `column "s" (short_${method}) is NOT NULL, found NULL`],
        [7, 'validate', 'VALUE_OUT_OF_RANGE', `column "n" (${dom}): "99999999999" is out of range for int4`],
        [3, 'database', '23514', `value for domain ${dom} violates check constraint "${dom}_check"`],
      ])
    },
  )
})

describe('row and setup error codes', () => {
  // README: row code FIELD_UNKNOWN; "Lines with different keys still go in input order".
  it('FIELD_UNKNOWN: an NDJSON line with a key that matches no column is rejected, the others load; --ignore-extra drops the key', async () => {
    const t = await table('id int, name text')
    const input = await file(
      'unknown-key.ndjson',
      '{"id": 1, "name": "a"}\n{"id": 2, "nmae": "b"}\n{"id": 3, "name": "c"}\n',
    )
    const rejects = join(dir, 'unknown-key.rejects.ndjson')
    const report = await load({ inputs: [input], table: t, db: db.url, rejects })
    expect(report).toMatchObject({
      rowsRead: 3,
      rowsLoaded: 2,
      rowsRejected: 1,
      exitCode: 2,
      rejectsByCode: { FIELD_UNKNOWN: 1 },
    })
    expect(await tableContents(db, t)).toBe('1\ta\n3\tc\n')
    expect(await readRejects(rejects)).toEqual([
      expect.objectContaining({
        line: 2,
        stage: 'validate',
        code: 'FIELD_UNKNOWN',
        columnName: 'nmae',
        message: `key "nmae" matches no column of "public"."${t}"`,
        raw: '{"id": 2, "nmae": "b"}',
      }),
    ])
    await db.client.query(`TRUNCATE ${t}`)
    const extra = await load({
      inputs: [input],
      table: t,
      db: db.url,
      ignoreExtra: true,
      restart: true,
      rejects: join(dir, 'unknown-key-2.ndjson'),
    })
    expect(extra).toMatchObject({ rowsRead: 3, rowsLoaded: 3, rowsRejected: 0, exitCode: 0 })
    expect(existsSync(join(dir, 'unknown-key-2.ndjson'))).toBe(false)
    expect(await tableContents(db, t)).toBe('1\ta\n2\t\\N\n3\tc\n')
  })

  // README: COLUMN_NOT_WRITABLE "total" … is a generated column, "id" … is an identity column GENERATED ALWAYS;
  // "for an identity, --overriding-system-value stores the input's values (by COPY and INSERT alike)".
  it('COLUMN_NOT_WRITABLE: a generated column, or a GENERATED ALWAYS identity, in the input is refused before anything is written', async () => {
    const gen = await table('id int, a int, total int GENERATED ALWAYS AS (a * 2) STORED')
    const genInput = await file('generated.csv', 'id,a,total\n1,2,4\n')
    const e1 = await loadError(load({ inputs: [genInput], table: gen, db: db.url }))
    expect(e1).toMatchObject({
      code: 'COLUMN_NOT_WRITABLE',
      exitCode: 1,
      message: `${genInput}: "total" of "public"."${gen}" is a generated column and cannot be written`,
    })
    expect(await tableContents(db, gen)).toBe('')
    expect(existsSync(`${genInput}.rejects.ndjson`)).toBe(false)

    const ident = await table('id int GENERATED ALWAYS AS IDENTITY, v text')
    const identInput = await file('identity.csv', 'id,v\n10,a\n20,b\n')
    for (const method of ['copy', 'insert'] as const) {
      const e2 = await loadError(load({ inputs: [identInput], table: ident, db: db.url, method }))
      expect(e2).toMatchObject({
        code: 'COLUMN_NOT_WRITABLE',
        exitCode: 1,
        message: `${identInput}: "id" of "public"."${ident}" is an identity column GENERATED ALWAYS`,
      })
      expect(await tableContents(db, ident)).toBe('')
    }
    for (const method of ['copy', 'insert'] as const) {
      const r = await load({
        inputs: [identInput],
        table: ident,
        db: db.url,
        method,
        overridingSystemValue: true,
        checkpoint: false,
      })
      expect(r).toMatchObject({ rowsRead: 2, rowsLoaded: 2, exitCode: 0 })
      expect(await tableContents(db, ident)).toBe('10\ta\n20\tb\n')
      await db.client.query(`TRUNCATE ${ident}`)
    }
  })

  // README: HEADER_INVALID "the header row cannot be read" (check --format, --delimiter, --encoding).
  it('HEADER_INVALID: a header that cannot be read, or names a column twice, is refused before anything is written', async () => {
    const t = await table('id int, name text')
    const broken = await file('broken-header.csv', 'id,"na"me\n1,a\n')
    const e1 = await loadError(load({ inputs: [broken], table: t, db: db.url }))
    expect(e1).toMatchObject({
      code: 'HEADER_INVALID',
      exitCode: 1,
      hint: 'check --format, --delimiter and --encoding, or pass --no-header with --columns',
    })
    expect(e1.message).toBe(
      `${broken}:1: the header row cannot be read: expected a delimiter or the end of the line after a closing quote, found "m"`,
    )
    const twice = await file('twice.csv', 'id,name,id\n1,a,1\n')
    const e2 = await loadError(load({ inputs: [twice], table: t, db: db.url }))
    expect(e2).toMatchObject({
      code: 'HEADER_INVALID',
      exitCode: 1,
      message: `${twice}: column "id" appears twice in the header`,
    })
    expect(await tableContents(db, t)).toBe('')
  })

  // README: exit 3 "… or a gzip input is corrupt. Batches committed before stay committed"; INPUT_CORRUPT
  // "x.csv.gz: gzip data is corrupt or truncated".
  it('INPUT_CORRUPT: a truncated gzip stops the run with exit 3; the batches before stay committed, every row read is accounted for', async () => {
    const t = await table('id int PRIMARY KEY, name text')
    let csv = 'id,name\n'
    for (let i = 1; i <= 20000; i++) csv += `${i},name-${i}\n`
    const gz = gzipSync(csv)
    const input = await file('cut.csv.gz', gz.subarray(0, Math.floor(gz.length * 0.6)))
    const report = await load({ inputs: [input], table: t, db: db.url, batchRows: 1000 })
    expect(report.exitCode).toBe(3)
    expect(report.stopped).toMatchObject({
      code: 'INPUT_CORRUPT',
      file: input,
      message: `${input}: gzip data is corrupt or truncated (unexpected end of file)`,
    })
    expect(report.rowsRead).toBe(report.rowsLoaded + report.rowsRejected)
    expect(report.rowsRejected).toBe(0)
    expect(report.rowsLoaded).toBeGreaterThan(0)
    expect(report.rowsLoaded).toBeLessThan(20000)
    const ids = Array.from({ length: report.rowsLoaded }, (_, k) => k + 1)
    expect(await tableContents(db, t)).toBe(ids.map((i) => `${i}\tname-${i}\n`).join(''))
  })

  // README: INPUT_UNREADABLE "check the path and its permissions"; exit 1, "Nothing was written".
  it('INPUT_UNREADABLE: a directory given as input is refused before anything is written', async () => {
    const t = await table('id int')
    const good = await file('good-before-dir.csv', 'id\n1\n')
    const folder = join(dir, 'a-folder.csv')
    await mkdir(folder)
    const err = await loadError(load({ inputs: [good, folder], table: t, db: db.url }))
    expect(err).toMatchObject({
      code: 'INPUT_UNREADABLE',
      exitCode: 1,
      message: `${folder}: is a directory, not a file`,
    })
    expect(await tableContents(db, t)).toBe('')
  })

  const root = process.getuid?.() === 0
  it.skipIf(root)(
    'INPUT_UNREADABLE: a file without read permission is refused before anything is written (root reads any file: skipped as root)',
    async () => {
      const t = await table('id int')
      const locked = await file('locked.csv', 'id\n1\n')
      await chmod(locked, 0o000)
      try {
        const err = await loadError(load({ inputs: [locked], table: t, db: db.url }))
        expect(err).toMatchObject({ code: 'INPUT_UNREADABLE', exitCode: 1, message: `${locked}: permission denied` })
        expect(await tableContents(db, t)).toBe('')
      } finally {
        await chmod(locked, 0o600)
      }
    },
  )
})
