import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { load, redrive } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects, tableContents } from '../helpers/fixtures.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

describe('pgbulk redrive', () => {
  it('reloads the rows that now pass, keeps the others with their new reason, and empties the file in the end', async () => {
    await db.client.query(`CREATE TABLE teams (id int PRIMARY KEY); INSERT INTO teams VALUES (1);
      CREATE TABLE members (id int PRIMARY KEY, name varchar(5), team int REFERENCES teams, note text)`)
    const input = join(dir, 'members.csv')
    await writeFile(
      input,
      'id,name,team,note\n1,ann,1,\n2,bob,2,"multi\nline"\n3,carolyn,1,x\n4,dan,1,\n5,x y,1,\n6,eve,9,\n',
    )
    const first = await load({ inputs: [input], table: 'members', db: db.url, method: 'insert' })
    expect(first).toMatchObject({ rowsLoaded: 3, rowsRejected: 3 })
    const rejects = `${input}.rejects.ndjson`
    // In the order found: the batch's client-side rejection first, then the database's, by line.
    expect((await readRejects(rejects)).map((r) => [r['line'], r['code']])).toEqual([
      [5, 'VALUE_TOO_LONG'],
      [3, '23503'],
      [8, '23503'],
    ])

    // Fix part of it: team 2 now exists, and the long name is shortened in the reject file itself.
    await db.client.query(`INSERT INTO teams VALUES (2)`)
    const text = await readFile(rejects, 'utf8')
    await writeFile(rejects, text.replace('"raw":"3,carolyn,1,x"', '"raw":"3,carol,1,x"'))
    const second = await redrive({ rejectsFile: rejects, table: 'members', db: db.url })
    expect(second).toMatchObject({ rowsRead: 3, rowsLoaded: 2, rowsRejected: 1, exitCode: 2 })
    expect(await tableContents(db, 'members')).toBe(
      '1\tann\t1\t\\N\n2\tbob\t2\tmulti\\nline\n3\tcarol\t1\tx\n4\tdan\t1\t\\N\n5\tx y\t1\t\\N\n',
    )
    const left = await readRejects(rejects)
    expect(left).toEqual([
      expect.objectContaining({ file: input, line: 8, code: '23503', raw: '6,eve,9,', stage: 'database' }),
    ])
    expect((await stat(rejects)).mode & 0o777).toBe(0o600)

    // A dry run changes neither the table nor the file.
    await db.client.query(`INSERT INTO teams VALUES (9)`)
    const dry = await redrive({ rejectsFile: rejects, table: 'members', db: db.url, dryRun: 'db' })
    expect(dry).toMatchObject({ rowsLoaded: 1, rowsRejected: 0, exitCode: 0 })
    expect(await readRejects(rejects)).toHaveLength(1)

    const third = await redrive({ rejectsFile: rejects, table: 'members', db: db.url })
    expect(third).toMatchObject({ rowsRead: 1, rowsLoaded: 1, rowsRejected: 0, exitCode: 0 })
    expect(existsSync(rejects)).toBe(false)
    expect(await tableContents(db, 'members')).toContain('6\teve\t9\t\\N\n')
  })

  it('reads NDJSON rejects with the original dialect, and keeps lines it cannot use', async () => {
    await db.client.query(`CREATE TABLE ev (id int PRIMARY KEY, level text CHECK (level IN ('info', 'warn')))`)
    const input = join(dir, 'ev.ndjson')
    await writeFile(input, '{"id": 1, "level": "info"}\n{"id": 2, "level": "fatal"}\n{"id": 3,\n')
    await load({ inputs: [input], table: 'ev', db: db.url })
    const rejects = `${input}.rejects.ndjson`
    await writeFile(rejects, (await readFile(rejects, 'utf8')) + 'this line is not a rejection\n')
    await db.client.query(`ALTER TABLE ev DROP CONSTRAINT ev_level_check`)
    const r = await redrive({ rejectsFile: rejects, table: 'ev', db: db.url })
    expect(r).toMatchObject({ rowsRead: 2, rowsLoaded: 1, rowsRejected: 1, exitCode: 2 })
    expect(await tableContents(db, 'ev')).toBe('1\tinfo\n2\tfatal\n')
    const lines = (await readFile(rejects, 'utf8')).trim().split('\n')
    expect(JSON.parse(lines[0]!)).toMatchObject({ line: 3, code: 'NDJSON_INVALID_JSON', raw: '{"id": 3,' })
    expect(lines[1]).toBe('this line is not a rejection')
  })

  it('leaves a row whose raw text was cut (a line past --max-record-bytes) in the file instead of loading part of it', async () => {
    await db.client.query(`CREATE TABLE cut (id int, note text)`)
    const input = join(dir, 'cut.csv')
    await writeFile(input, `id,note\n1,short\n2,${'n'.repeat(300)}\n`)
    const first = await load({ inputs: [input], table: 'cut', db: db.url, maxRecordBytes: 100 })
    expect(first).toMatchObject({ rowsRead: 2, rowsLoaded: 1, rowsRejected: 1 })
    const rejects = `${input}.rejects.ndjson`
    const before = await readFile(rejects, 'utf8')
    // Its first 100 bytes read as a good row ("2", "nnn…"): it must not load.
    expect(JSON.parse(before)).toMatchObject({
      line: 3,
      code: 'RECORD_TOO_LONG',
      rawTruncated: true,
      raw: `2,${'n'.repeat(98)}`,
    })
    const again = await redrive({ rejectsFile: rejects, table: 'cut', db: db.url })
    expect(again).toMatchObject({ rowsRead: 1, rowsLoaded: 0, rowsRejected: 1, exitCode: 2 })
    expect(await tableContents(db, 'cut')).toBe('1\tshort\n')
    expect(await readRejects(rejects)).toEqual([
      expect.objectContaining({ line: 3, code: 'RECORD_TOO_LONG', rawTruncated: true, raw: `2,${'n'.repeat(98)}` }),
    ])
  })

  it('refuses a file none of whose lines is a rejection (a data file given by mistake), and leaves it as it was', async () => {
    const path = join(dir, 'data.csv')
    await writeFile(path, 'id,name\n1,a\n')
    await db.client.query('CREATE TABLE plain (id int, name text)')
    await expect(redrive({ rejectsFile: path, table: 'plain', db: db.url })).rejects.toMatchObject({
      code: 'INPUT_UNREADABLE',
      message: expect.stringContaining('is not a reject file') as string,
    })
    expect(await readFile(path, 'utf8')).toBe('id,name\n1,a\n')
  })

  it('says so when the reject file does not exist', async () => {
    await expect(redrive({ rejectsFile: join(dir, 'none.ndjson'), table: 'ev', db: db.url })).rejects.toMatchObject({
      code: 'INPUT_NOT_FOUND',
    })
  })
})
