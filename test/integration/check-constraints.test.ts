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

/**
 * Every row the server tried to insert takes a number from the sequence `attempts`, also in a
 * statement that failed and was rolled back (a sequence is not transactional): what the search for
 * bad rows cost, counted in rows sent, without timing anything.
 */
async function table(name: string, checks: string): Promise<void> {
  await db.client.query(`
    DROP TABLE IF EXISTS ${name}; DROP SEQUENCE IF EXISTS ${name}_attempts;
    CREATE SEQUENCE ${name}_attempts;
    CREATE TABLE ${name} (
      id int PRIMARY KEY, amount numeric(10,2), qty int, note text,
      n bigint NOT NULL DEFAULT nextval('${name}_attempts') CONSTRAINT a_n CHECK (n > 0)
      ${checks})`)
}

/** Each reject line of the input's reject file as [line, the constraint its database error names]. */
async function constraintsByLine(input: string): Promise<[unknown, string][]> {
  const rejects = await readRejects(`${input}.rejects.ndjson`)
  return rejects.map((r) => [r['line'], (r['pg'] as { constraint: string }).constraint])
}

async function attempts(name: string): Promise<number> {
  const r = await db.client.query<{ v: string; called: boolean }>(
    `SELECT last_value AS v, is_called AS called FROM ${name}_attempts`,
  )
  return r.rows[0]!.called ? Number(r.rows[0]!.v) : 0
}

describe('rows that break CHECK constraints', () => {
  it('finds every row of a batch that breaks a CHECK in one query: half the rows bad cost one failed statement per batch', async () => {
    await table('half', ', CONSTRAINT b_amount CHECK (amount > 0), CONSTRAINT c_qty CHECK (qty BETWEEN 1 AND 100)')
    // Rows 2, 4, 6, …: odd ids are good; of the bad ones, every third breaks both constraints
    // (b_amount is the first PostgreSQL checks: by name), the others one of them.
    let text = 'id,amount,qty,note\n'
    const good: number[] = []
    const bad = new Map<number, string>()
    for (let i = 1; i <= 4000; i++) {
      if (i % 2 === 1) {
        good.push(i)
        text += `${i},${i}.50,${(i % 100) + 1},"ok, ${i}"\n`
      } else if (i % 3 === 0) {
        bad.set(i, 'b_amount')
        text += `${i},-1,0,both\n`
      } else if (i % 4 === 0) {
        bad.set(i, 'c_qty')
        text += `${i},1,101,qty\n`
      } else {
        bad.set(i, 'b_amount')
        text += `${i},0,5,amount\n`
      }
    }
    const input = join(dir, 'half.csv')
    await writeFile(input, text)
    const report = await load({ inputs: [input], table: 'half', db: db.url, batchRows: 1000, force: true })
    expect(report).toMatchObject({ rowsRead: 4000, rowsLoaded: 2000, rowsRejected: 2000, batches: 4 })
    const ids = await db.client.query<{ id: number }>('SELECT id FROM half ORDER BY id')
    expect(ids.rows.map((r) => r.id)).toEqual(good)
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    expect(rejects).toHaveLength(2000)
    for (const r of rejects) {
      const id = Number(String(r['raw']).split(',')[0])
      const pg = r['pg'] as { code: string; constraint: string }
      expect({ id, code: r['code'], constraint: pg.constraint, stage: r['stage'] }).toEqual({
        id,
        code: '23514',
        constraint: bad.get(id),
        stage: 'database',
      })
      expect(r['message']).toBe(`new row for relation "half" violates check constraint "${bad.get(id)}"`)
    }
    // Per batch: the first statement fails on its second row, one query finds the other 499 bad
    // rows, and one statement sends the 500 good ones. A statement per bad row would have sent
    // each stretch of good rows again after every bad one.
    expect(await attempts('half')).toBe(2000 + 4 * 2)
  })

  it('keeps a duplicate key and CHECK failures apart in one batch; a CHECK on a column not sent does not stop the query', async () => {
    // e_qty reads qty, which the file does not send (its default is the server's): the query
    // leaves it out and evaluates the others.
    await table(
      'mixed',
      ", CONSTRAINT b_amount CHECK (amount > 0), CONSTRAINT d_note CHECK (note <> 'forbidden'), CONSTRAINT e_qty CHECK (qty > 0)",
    )
    await db.client.query('ALTER TABLE mixed ALTER COLUMN qty SET DEFAULT 1')
    await db.client.query("INSERT INTO mixed (id, amount, note) VALUES (7, 1, 'there before')")
    let text = 'id,amount,note\n'
    const expected = new Map<number, string>()
    for (let i = 1; i <= 600; i++) {
      const id = i === 150 ? 7 : i
      const amount = i % 10 === 0 && i !== 150 ? -i : i
      const note = i % 25 === 0 ? 'forbidden' : `n${i}`
      text += `${id},${amount},${note}\n`
      // (by name: b_amount is checked before d_note, and both before the primary key)
      const why = amount <= 0 ? 'b_amount' : note === 'forbidden' ? 'd_note' : id === 7 ? 'mixed_pkey' : ''
      if (why) expected.set(i + 1, why)
    }
    const input = join(dir, 'mixed.csv')
    await writeFile(input, text)
    const report = await load({ inputs: [input], table: 'mixed', db: db.url, force: true })
    expect(report).toMatchObject({ rowsRead: 600, rowsLoaded: 600 - expected.size, rowsRejected: expected.size })
    expect(new Map(await constraintsByLine(input))).toEqual(expected)
    expect(await db.count('mixed')).toBe(1 + 600 - expected.size)
    // Two failed statements and a query for the CHECKs, one for the key, then the good rows: far
    // fewer rows sent than a statement per bad row would send again.
    expect(await attempts('mixed')).toBeLessThan(2 * 600)
  })

  it('rows of NDJSON that lack a column a CHECK reads are found by sending them; the others by the query', async () => {
    await table('shapes', ', CONSTRAINT b_amount CHECK (amount > 0), CONSTRAINT c_qty CHECK (qty < 100)')
    await db.client.query('ALTER TABLE shapes ALTER COLUMN qty SET DEFAULT 500')
    const lines: string[] = []
    const good: number[] = []
    for (let i = 1; i <= 400; i++) {
      const row: Record<string, unknown> = { id: i, amount: i % 5 === 0 ? -1 : 1 }
      if (i % 7 !== 0) row['qty'] = i % 11 === 0 ? 1000 : 1
      lines.push(JSON.stringify(row))
      if (i % 5 !== 0 && i % 7 !== 0 && i % 11 !== 0) good.push(i)
    }
    const input = join(dir, 'shapes.ndjson')
    await writeFile(input, `${lines.join('\n')}\n`)
    const report = await load({ inputs: [input], table: 'shapes', db: db.url, force: true })
    expect(report).toMatchObject({ rowsRead: 400, rowsLoaded: good.length, rowsRejected: 400 - good.length })
    const ids = await db.client.query<{ id: number }>('SELECT id FROM shapes ORDER BY id')
    expect(ids.rows.map((r) => r.id)).toEqual(good)
    for (const r of await readRejects(`${input}.rejects.ndjson`)) {
      const id = (JSON.parse(String(r['raw'])) as { id: number }).id
      expect((r['pg'] as { constraint: string }).constraint).toBe(id % 5 === 0 ? 'b_amount' : 'c_qty')
    }
  })

  it('a partition with a BEFORE ROW trigger may mend a row the parent CHECK would refuse: it is loaded, and each bad row names its own partition', async () => {
    await db.client.query(`
      CREATE TABLE parted (id int, x int, CONSTRAINT b_x CHECK (x >= 0)) PARTITION BY RANGE (id);
      CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
      CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (100) TO (200);
      CREATE FUNCTION parted_clamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.x := greatest(NEW.x, 0); RETURN NEW; END$$;
      CREATE TRIGGER parted_clamp BEFORE INSERT ON parted_1 FOR EACH ROW EXECUTE FUNCTION parted_clamp();`)
    const input = join(dir, 'parted.csv')
    await writeFile(input, 'id,x\n150,-1\n1,-5\n2,3\n151,-2\n')
    const report = await load({ inputs: [input], table: 'parted', db: db.url, force: true })
    expect(report).toMatchObject({ rowsRead: 4, rowsLoaded: 2, rowsRejected: 2 })
    const rows = await db.client.query<{ id: number; x: number }>('SELECT id, x FROM parted ORDER BY id')
    expect(rows.rows).toEqual([
      { id: 1, x: 0 },
      { id: 2, x: 3 },
    ])
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    expect(rejects.map((r) => [r['line'], r['message']])).toEqual([
      [2, 'new row for relation "parted_2" violates check constraint "b_x"'],
      [5, 'new row for relation "parted_2" violates check constraint "b_x"'],
    ])
  })

  it("a CHECK compares text in its column's collation, not the database's", async () => {
    // In ICU's English order 'a' < 'B'; in the byte order of "C" it is not.
    await db.client.query(`
      CREATE TABLE collated (id int, name text COLLATE "en-x-icu", x int,
        CONSTRAINT b_name CHECK (name < 'B'), CONSTRAINT c_x CHECK (x > 0))`)
    const input = join(dir, 'collated.csv')
    await writeFile(input, 'id,name,x\n1,a,-1\n2,a,1\n3,c,1\n')
    const report = await load({ inputs: [input], table: 'collated', db: db.url, force: true })
    expect(report).toMatchObject({ rowsRead: 3, rowsLoaded: 1, rowsRejected: 2 })
    const ids = await db.client.query<{ id: number }>('SELECT id FROM collated ORDER BY id')
    expect(ids.rows.map((r) => r.id)).toEqual([2])
    expect(await constraintsByLine(input)).toEqual([
      [2, 'c_x'],
      [4, 'b_name'],
    ])
  })

  it("a value its column's domain refuses is rejected with the domain's constraint, which PostgreSQL checks first", async () => {
    await db.client.query(`
      CREATE DOMAIN small AS int CONSTRAINT d_positive CHECK (VALUE > 0);
      CREATE DOMAIN smaller AS small CONSTRAINT d_below_100 CHECK (VALUE < 100);
      CREATE TABLE domained (id int, d smaller, x int, CONSTRAINT b_x CHECK (x > 0))`)
    const input = join(dir, 'domained.csv')
    await writeFile(input, 'id,d,x\n1,5,-1\n2,-1,-1\n3,500,-2\n4,5,1\n')
    const report = await load({ inputs: [input], table: 'domained', db: db.url, force: true })
    expect(report).toMatchObject({ rowsRead: 4, rowsLoaded: 1, rowsRejected: 3 })
    expect(await constraintsByLine(input)).toEqual([
      [2, 'b_x'],
      [3, 'd_positive'],
      [4, 'd_below_100'],
    ])
  })

  it("a CHECK on the whole row of a table named like the query's own alias (t) is not evaluated over the query's row", async () => {
    await db.client.query(
      'CREATE TABLE t (x int, y int, CONSTRAINT a_w CHECK (t IS NOT NULL), CONSTRAINT b_x CHECK (x > 0))',
    )
    const input = join(dir, 't.csv')
    await writeFile(input, 'x,y\n-1,1\n-1,\n2,\n3,3\n')
    const report = await load({ inputs: [input], table: 't', db: db.url, force: true })
    expect(report).toMatchObject({ rowsRead: 4, rowsLoaded: 1, rowsRejected: 3 })
    expect(await constraintsByLine(input)).toEqual([
      [2, 'b_x'],
      [3, 'a_w'],
      [4, 'a_w'],
    ])
  })
})
