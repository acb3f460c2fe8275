import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { load } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects } from '../helpers/fixtures.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

interface Row {
  id: number
  amount: number
}

/**
 * What loading the rows one at a time in input order gives: a row breaking the CHECK (amount > 0)
 * is refused, then a row whose id is stored already; the others are stored. The ids stored, and
 * each refused row's line (the header is line 1) with the constraint PostgreSQL names.
 */
function oneByOne(rows: readonly Row[], before: readonly number[]): { ids: number[]; refused: Map<number, string> } {
  const stored = new Set(before)
  const refused = new Map<number, string>()
  rows.forEach((r, k) => {
    if (r.amount <= 0) refused.set(k + 2, 'positive')
    else if (stored.has(r.id)) refused.set(k + 2, 'keyed_pkey')
    else stored.add(r.id)
  })
  return { ids: [...stored].sort((a, b) => a - b), refused }
}

/** Rows i = 1…n with id i, but for what `edit` says. */
function rowsWith(n: number, edit: (i: number) => Partial<Row> | undefined): Row[] {
  return Array.from({ length: n }, (_, k) => ({ id: k + 1, amount: k + 1, ...edit(k + 1) }))
}

async function loadRows(name: string, rows: readonly Row[], batchRows: number) {
  const input = join(dir, `${name}.csv`)
  await writeFile(input, `id,amount\n${rows.map((r) => `${r.id},${r.amount}`).join('\n')}\n`)
  const report = await load({ inputs: [input], table: 'keyed', db: db.url, batchRows, force: true })
  const rejects = await readRejects(`${input}.rejects.ndjson`).catch(() => [])
  const ids = await db.client.query<{ id: number }>('SELECT id FROM keyed ORDER BY id')
  return {
    report,
    ids: ids.rows.map((r) => r.id),
    refused: new Map(rejects.map((r) => [r['line'] as number, (r['pg'] as { constraint: string }).constraint])),
    lines: rejects.map((r) => r['line']),
  }
}

describe('keys repeated within a batch', () => {
  it('a row repeating the key of an earlier row that the database refuses for another reason goes in, as one by one', async () => {
    await db.client.query(`
      DROP TABLE IF EXISTS keyed;
      CREATE TABLE keyed (id int CONSTRAINT keyed_pkey PRIMARY KEY, amount int CONSTRAINT positive CHECK (amount > 0));
      INSERT INTO keyed VALUES (1000000, 1)`)
    // In every batch of 2000: row 2 repeats row 1's key (COPY finds it when it writes its first
    // 1000 rows, before it reads row 1500); row 1500 breaks the CHECK, and row 1600 has its key
    // again: it must go in. Key 1699 three times; a key already in the table (1000000).
    const rows = rowsWith(4000, (i) => {
      const at = i % 2000
      const base = i - at
      if (at === 2) return { id: i - 1 }
      if (at === 1500) return { amount: -1 }
      if (at === 1600) return { id: base + 1500 }
      if (at === 1700 || at === 1701) return { id: base + 1699 }
      if (at === 1800) return { id: 1_000_000 }
      return undefined
    })
    const expected = oneByOne(rows, [1_000_000])
    const got = await loadRows('repeats', rows, 2000)
    expect(got.ids).toEqual(expected.ids)
    expect(got.refused).toEqual(expected.refused)
    // (rows held back are refused after later ones: the reject file keeps input order all the same)
    expect(got.lines).toEqual([...expected.refused.keys()].sort((a, b) => a - b))
    expect(got.report).toMatchObject({
      rowsRead: 4000,
      rowsLoaded: expected.ids.length - 1,
      rowsRejected: expected.refused.size,
      batches: 2,
    })
  })

  it('two unique keys, repeats in every batch, keys of another spelling: the same rows as one by one', async () => {
    await db.client.query(`
      DROP TABLE IF EXISTS keyed;
      CREATE TABLE keyed (id int CONSTRAINT keyed_pkey PRIMARY KEY, amount int CONSTRAINT positive CHECK (amount > 0),
                          code text UNIQUE)`)
    // Every 7th row repeats the id before it, every 11th the code before it (a third of the codes
    // are NULL, which repeats nothing); every 500th id is spelled 00<id>: the same key to
    // PostgreSQL and not to the bytes (found by sending, as before).
    const n = 2000
    const code = (k: number) => (k % 3 === 0 ? null : `c${k % 11 === 0 ? k - 1 : k}`)
    const ids = Array.from({ length: n }, (_, k) => (k % 7 === 6 ? k : k + 1))
    const stored = { ids: new Set<number>(), codes: new Set<string>() }
    const refused: number[] = []
    ids.forEach((id, k) => {
      const c = code(k)
      if (stored.ids.has(id) || (c !== null && stored.codes.has(c))) refused.push(k + 2)
      else {
        stored.ids.add(id)
        if (c !== null) stored.codes.add(c)
      }
    })
    const text = ids.map((id, k) => `${k % 500 === 3 ? `00${id}` : id},1,${code(k) ?? ''}`)
    const input = join(dir, 'two-keys.csv')
    await writeFile(input, `id,amount,code\n${text.join('\n')}\n`)
    const report = await load({ inputs: [input], table: 'keyed', db: db.url, batchRows: 300, force: true })
    const got = await db.client.query<{ id: number }>('SELECT id FROM keyed ORDER BY id')
    expect(got.rows.map((r) => r.id)).toEqual([...stored.ids].sort((a, b) => a - b))
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    expect(rejects.map((r) => r['line'])).toEqual(refused)
    expect(report).toMatchObject({ rowsRead: n, rowsLoaded: stored.ids.size, rowsRejected: refused.length })
  })

  it('once a batch repeated a key, the next ones send the rows that repeat none in one statement that passes, the repeats in one after it', async () => {
    // Every statement that inserts takes a number from keyed_statements, also one that fails and
    // is rolled back (a sequence is not transactional): statements counted without timing anything.
    await db.client.query(`
      DROP TABLE IF EXISTS keyed; DROP SEQUENCE IF EXISTS keyed_statements;
      CREATE SEQUENCE keyed_statements;
      CREATE TABLE keyed (id int CONSTRAINT keyed_pkey PRIMARY KEY, amount int CONSTRAINT positive CHECK (amount > 0));
      CREATE FUNCTION pg_temp.count_statement() RETURNS trigger LANGUAGE plpgsql AS
        $$BEGIN PERFORM nextval('keyed_statements'); RETURN NULL; END$$;
      CREATE TRIGGER counted BEFORE INSERT ON keyed FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_statement()`)
    const rows = rowsWith(5000, (i) => (i % 100 === 50 ? { id: i - 1 } : undefined))
    const expected = oneByOne(rows, [])
    const got = await loadRows('counted', rows, 1000)
    expect(got.ids).toEqual(expected.ids)
    expect(got.refused).toEqual(expected.refused)
    const statements = await db.client.query<{ n: string }>('SELECT last_value AS n FROM keyed_statements')
    // The first batch: the statement of every row fails, the others pass, the repeats fail (as
    // rows already there); each later batch: the others pass, the repeats fail.
    expect(Number(statements.rows[0]!.n)).toBe(3 + 4 * 2)
  })
})

describe('a held repeat whose first row is refused later in the statement (a foreign key)', () => {
  async function loadText(name: string, header: string, lines: readonly string[], batchRows: number) {
    const input = join(dir, `${name}.csv`)
    await writeFile(input, `${header}\n${lines.join('\n')}\n`)
    const report = await load({ inputs: [input], table: 'fk_keyed', db: db.url, batchRows, force: true })
    const rejects = await readRejects(`${input}.rejects.ndjson`).catch(() => [])
    const rows = await db.client.query<{ id: number; code: string }>('SELECT id, code FROM fk_keyed ORDER BY id, code')
    return {
      report,
      rows: rows.rows.map((r) => `${r.id}:${r.code}`),
      refused: rejects.map((r) => [r['line'], (r['pg'] as { constraint: string }).constraint]),
    }
  }

  it('two unique keys: the repeat goes in before a later row of its other key, as one by one', async () => {
    await db.client.query(`
      DROP TABLE IF EXISTS fk_keyed; DROP TABLE IF EXISTS fk_parent;
      CREATE TABLE fk_parent (id int PRIMARY KEY); INSERT INTO fk_parent VALUES (1);
      CREATE TABLE fk_keyed (id int CONSTRAINT fk_keyed_pkey PRIMARY KEY, code text CONSTRAINT fk_keyed_code UNIQUE,
                             parent int CONSTRAINT fk_keyed_parent REFERENCES fk_parent)`)
    // One by one: line 2 is refused (no parent 99), line 3 goes in (id 1 is free), line 4 is
    // refused (code b is line 3's). The foreign key is checked at the end of the statement, so
    // the statement of all three fails first on line 3's id.
    const got = await loadText('fk-two-keys', 'id,code,parent', ['1,a,99', '1,b,1', '2,b,1'], 1000)
    expect(got.rows).toEqual(['1:b'])
    expect(got.refused).toEqual([
      [2, 'fk_keyed_parent'],
      [4, 'fk_keyed_code'],
    ])
  })

  it('one key spelled two ways in a later batch: the row held by its bytes goes in before the other spelling', async () => {
    await db.client.query(`
      DROP TABLE IF EXISTS fk_keyed; DROP TABLE IF EXISTS fk_parent;
      CREATE TABLE fk_parent (id int PRIMARY KEY); INSERT INTO fk_parent VALUES (1);
      CREATE TABLE fk_keyed (id int CONSTRAINT fk_keyed_pkey PRIMARY KEY, code text,
                             parent int CONSTRAINT fk_keyed_parent REFERENCES fk_parent)`)
    // The first batch repeats a key (later batches hold repeats by their bytes). In the second:
    // line 5 is refused (no parent 99), line 6 goes in (id 7 is free), line 7 (id 007) is refused.
    const lines = ['1,a,1', '1,b,1', '5,x,1', '7,c,99', '7,d,1', '007,e,1']
    const got = await loadText('fk-spelled', 'id,code,parent', lines, 3)
    expect(got.rows).toEqual(['1:a', '5:x', '7:d'])
    expect(got.refused).toEqual([
      [3, 'fk_keyed_pkey'],
      [5, 'fk_keyed_parent'],
      [7, 'fk_keyed_pkey'],
    ])
  })

  it('a batch of repeats, rows without a parent and rows breaking a CHECK: those are set aside, the others still pass in one statement', async () => {
    await db.client.query(`
      DROP TABLE IF EXISTS fk_keyed; DROP TABLE IF EXISTS fk_parent; DROP SEQUENCE IF EXISTS fk_statements;
      CREATE SEQUENCE fk_statements;
      CREATE TABLE fk_parent (id int PRIMARY KEY); INSERT INTO fk_parent VALUES (1);
      CREATE TABLE fk_keyed (id int CONSTRAINT fk_keyed_pkey PRIMARY KEY, code text CONSTRAINT fk_keyed_check CHECK (code <> 'bad'),
                             parent int CONSTRAINT fk_keyed_parent REFERENCES fk_parent);
      CREATE OR REPLACE FUNCTION pg_temp.count_statement() RETURNS trigger LANGUAGE plpgsql AS
        $$BEGIN PERFORM nextval('fk_statements'); RETURN NULL; END$$;
      CREATE TRIGGER counted BEFORE INSERT ON fk_keyed FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_statement()`)
    // Every 100th row repeats the id before it; the 990th of every 1000 has no parent, the 995th breaks the CHECK.
    const lines = Array.from({ length: 5000 }, (_, k) => {
      const i = k + 1
      return `${i % 100 === 50 ? i - 1 : i},${i % 1000 === 995 ? 'bad' : `c${i}`},${i % 1000 === 990 ? 99 : 1}`
    })
    const got = await loadText('fk-counted', 'id,code,parent', lines, 1000)
    const refused = lines.flatMap((l, k) =>
      l.endsWith(',99')
        ? [[k + 2, 'fk_keyed_parent']]
        : l.includes(',bad,')
          ? [[k + 2, 'fk_keyed_check']]
          : (k + 1) % 100 === 50
            ? [[k + 2, 'fk_keyed_pkey']]
            : [],
    )
    expect(got.refused).toEqual(refused)
    expect(got.rows.length).toBe(5000 - refused.length)
    const statements = await db.client.query<{ n: string }>('SELECT last_value AS n FROM fk_statements')
    // Per batch about: the rows but the repeats fail on the CHECK, then on the parent, pass without those rows,
    // the repeats fail (30 measured; 38 when a row breaking a CHECK was not set aside, 161 when neither was).
    expect(Number(statements.rows[0]!.n)).toBeLessThanOrEqual(32)
  })
})
