import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { load, LoadError, redrive } from '../../src/index.js'
import type { LoadOptions } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects } from '../helpers/fixtures.js'
import { appendedToEmpty, BEFORE, COLUMNS, csv, input, reference, type Row, type Stored } from '../helpers/modes.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0

async function freshTable(): Promise<string> {
  const name = `m${++seq}`
  await db.client.query(`CREATE TABLE ${name} (${COLUMNS})`)
  const values = BEFORE.map((x) => `(${x.id}, '${x.name}', ${x.n as number}, ${x.ts})`).join(', ')
  await db.client.query(`INSERT INTO ${name} VALUES ${values}`)
  return name
}

async function contents(table: string): Promise<Map<number, Stored>> {
  const r = await db.client.query<Stored>(`SELECT id, name, n, ts FROM ${table} ORDER BY id`)
  return new Map(r.rows.map((x) => [x.id!, x]))
}

async function run(rows: readonly Row[], opts: Partial<LoadOptions> & Pick<LoadOptions, 'mode'>) {
  const table = await freshTable()
  const path = join(dir, `${table}.csv`)
  await writeFile(path, csv(rows))
  const report = await load({ table, db: db.url, inputs: [path], checkpoint: false, ...opts })
  return { table, path, report }
}

describe('--mode ignore and upsert', () => {
  const cases: {
    name: string
    mode: 'ignore' | 'upsert'
    extra?: Partial<LoadOptions>
    ref?: Parameters<typeof reference>[2]
  }[] = [
    { name: 'ignore: a key already there, or earlier in the input, leaves the row out', mode: 'ignore' },
    { name: 'upsert: a key repeated in the input ends with its last row', mode: 'upsert' },
    {
      name: 'upsert --update name: only that column changes on a key already there',
      mode: 'upsert',
      extra: { update: ['name'] },
      ref: { update: ['name'] },
    },
    {
      name: 'upsert --update-if-newer ts: a row updates only when its ts is greater than the stored one',
      mode: 'upsert',
      extra: { updateIfNewer: 'ts' },
      ref: { newer: 'ts' },
    },
  ]
  for (const c of cases) {
    for (const shape of [
      { batchRows: 7, workers: 1 },
      { batchRows: 10_000, workers: 1 },
      { batchRows: 5, workers: 2 },
    ]) {
      it(`${c.name} (batches of ${shape.batchRows}, ${shape.workers} worker${shape.workers > 1 ? 's' : ''})`, async () => {
        const rows = input(seq + 11, 240)
        const expected = reference(rows, c.mode, c.ref)
        const { table, path, report } = await run(rows, { mode: c.mode, ...shape, ...c.extra })
        expect(await contents(table)).toEqual(expected.table)
        expect({
          read: report.rowsRead,
          loaded: report.rowsLoaded,
          inserted: report.rowsInserted,
          updated: report.rowsUpdated,
          skipped: report.rowsSkipped,
          rejected: report.rowsRejected,
          mode: report.mode,
        }).toEqual({
          read: rows.length,
          loaded: expected.inserted + expected.updated,
          inserted: expected.inserted,
          updated: expected.updated,
          skipped: expected.skipped,
          rejected: expected.rejected,
          mode: c.mode,
        })
        // Every rejected row is in the reject file with its reason; a key conflict never is.
        const rejects = await readRejects(`${path}.rejects.ndjson`)
        expect(rejects).toHaveLength(expected.rejected)
        expect(new Set(rejects.map((r) => r.code))).not.toContain('23505')
        const checks = rejects.filter((r) => r.code === '23514')
        expect(checks.length).toBe(rows.filter((x) => x.id !== null && typeof x.n === 'number' && x.n < 0).length)
        expect(report.exitCode).toBe(expected.rejected > 0 ? 2 : 0)
      })
    }
  }

  it.each(['ignore', 'upsert'] as const)(
    '--dry-run=db counts as the load would and leaves the table as it was (%s)',
    async (mode) => {
      const rows = input(99, 120)
      const expected = reference(rows, mode)
      const { table, report } = await run(rows, { mode, dryRun: 'db', batchRows: 9 })
      expect(await contents(table)).toEqual(reference([], mode).table)
      expect([report.rowsInserted, report.rowsUpdated, report.rowsSkipped, report.rowsRejected]).toEqual([
        expected.inserted,
        expected.updated,
        expected.skipped,
        expected.rejected,
      ])
    },
  )

  it('a key is chosen as PostgreSQL can use it: --key, the primary key, or the only unique index on NOT NULL columns', async () => {
    const path = join(dir, 'keys.csv')
    await writeFile(path, 'a,b,c\n1,2,x\n1,2,y\n')
    const attempt = async (columns: string, key?: string[], index?: string) => {
      const table = `k${++seq}`
      await db.client.query(`CREATE TABLE ${table} (${columns})`)
      if (index) await db.client.query(`CREATE UNIQUE INDEX ON ${table} ${index}`)
      try {
        const opts = { table, db: db.url, inputs: [path], checkpoint: false, force: true, ...(key ? { key } : {}) }
        const r = await load({ ...opts, mode: 'upsert' })
        const rows = await db.client.query<{ c: string }>(`SELECT c FROM ${table}`)
        return { rows: rows.rows.map((x) => x.c), updated: r.rowsUpdated }
      } catch (err) {
        if (!(err instanceof LoadError)) throw err
        return { code: err.code, message: err.message, hint: err.hint }
      }
    }
    // The only unique index on NOT NULL columns.
    expect(await attempt('a int NOT NULL, b int, c text, UNIQUE (a)')).toEqual({ rows: ['y'], updated: 1 })
    // A composite key given with --key.
    expect(await attempt('a int, b int, c text, UNIQUE (a, b), UNIQUE (c)', ['b', 'a'])).toEqual({
      rows: ['y'],
      updated: 1,
    })
    // Nothing to go by: the message lists what there is.
    expect(await attempt('a int, b int, c text, UNIQUE (a)')).toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('no primary key and no unique index on NOT NULL columns') as string,
      hint: expect.stringContaining('--key') as string,
    })
    expect(await attempt('a int, b int, c text, UNIQUE (a)')).toMatchObject({
      message: expect.stringMatching(/unique index \w+ \(a, nullable\)/) as string,
    })
    // A --key that no unique index has.
    expect(await attempt('a int PRIMARY KEY, b int, c text', ['b'])).toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringContaining('--key b is not the key of a unique index') as string,
    })
    // A partial unique index cannot be named by ON CONFLICT (columns).
    expect(await attempt('a int NOT NULL, b int, c text', undefined, '(a) WHERE b > 0')).toMatchObject({
      code: 'KEY_INVALID',
      message: expect.stringMatching(/unique index \w+ \(a, partial or on expressions\)/) as string,
    })
  })

  it('refuses key options outside the keyed modes, before connecting', async () => {
    const base = { table: 'nowhere', db: db.url, inputs: [join(dir, 'none.csv')] }
    await expect(load({ ...base, key: ['a'] })).rejects.toMatchObject({ code: 'USAGE', message: /--key applies/ })
    await expect(load({ ...base, mode: 'ignore', update: ['a'] })).rejects.toMatchObject({
      code: 'USAGE',
      message: /--update applies to --mode upsert/,
    })
  })
})

/** Load a random file and check the table, the figures and the reject file against appending it to an empty table. */
async function expectAppendedToEmpty(opts: Partial<LoadOptions> & Pick<LoadOptions, 'mode'>): Promise<void> {
  const rows = input(seq + 300, 200)
  const expected = appendedToEmpty(rows)
  const { table, path, report } = await run(rows, opts)
  expect(await contents(table)).toEqual(expected.table)
  expect(report).toMatchObject({
    rowsRead: rows.length,
    rowsLoaded: expected.table.size,
    rowsRejected: expected.rejected,
  })
  expect(await readRejects(`${path}.rejects.ndjson`)).toHaveLength(expected.rejected)
}

/** Staging tables of --mode replace in the database. */
async function stageCount(): Promise<number> {
  const r = await db.client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'replace\\_%' AND relkind = 'r'`,
  )
  return r.rows[0]!.n
}

describe('--mode truncate', () => {
  for (const shape of [
    { batchRows: 9, workers: 1 },
    { batchRows: 6, workers: 2 },
  ]) {
    it(`ends with what appending the file to an empty table gives (batches of ${shape.batchRows}, ${shape.workers} worker${shape.workers > 1 ? 's' : ''})`, async () => {
      await expectAppendedToEmpty({ mode: 'truncate', ...shape })
    })
  }

  it('empties the table for a file without rows, with or without checkpoints', async () => {
    for (const checkpoint of [false, true]) {
      const { table, report } = await run([], { mode: 'truncate', checkpoint, job: `empty-${seq}` })
      expect(report.rowsRead).toBe(0)
      expect((await contents(table)).size).toBe(0)
    }
  })

  it.each(['truncate', 'replace'] as const)(
    '--dry-run=db checks the rows as if the table were empty, and leaves it as it was (%s)',
    async (mode) => {
      // Keys 1-3 are in the table: appended to it they would be rejected, appended to an empty table they load.
      const rows: Row[] = [1, 2, 3, 4, 4].map((id) => ({ id, name: `new-${id}`, n: id, ts: 1 }))
      const { table, report } = await run(rows, { mode, dryRun: 'db', checkpoint: true, job: `dry-${mode}` })
      expect(report).toMatchObject({ rowsLoaded: 4, rowsRejected: 1 })
      expect(await contents(table)).toEqual(reference([], 'upsert').table)
    },
  )

  it('refuses a table that foreign keys point at, before anything is written', async () => {
    const parent = await freshTable()
    await db.client.query(`CREATE TABLE ${parent}_child (id int REFERENCES ${parent} (id))`)
    const path = join(dir, `${parent}-again.csv`)
    await writeFile(path, csv([{ id: 9, name: 'x', n: 1, ts: 1 }]))
    await expect(load({ table: parent, db: db.url, inputs: [path], mode: 'truncate' })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(`foreign keys of ${parent}_child point at it`) as string,
    })
    expect(await contents(parent)).toEqual(reference([], 'upsert').table)
  })
})

describe('--mode replace', () => {
  for (const shape of [
    { batchRows: 9, workers: 1 },
    { batchRows: 6, workers: 2 },
  ]) {
    it(`ends with what appending the file to an empty table gives, and leaves no staging table (batches of ${shape.batchRows}, ${shape.workers} worker${shape.workers > 1 ? 's' : ''})`, async () => {
      const before = await stageCount()
      await expectAppendedToEmpty({ mode: 'replace', checkpoint: true, job: `replace-${seq}`, ...shape })
      expect(await stageCount()).toBe(before)
    })
  }

  it('readers see the old rows or the new ones, never a part; a view, a grant and a foreign key into the table keep working', async () => {
    const table = await freshTable()
    await db.client.query(`CREATE VIEW ${table}_v AS SELECT id, name FROM ${table};
      CREATE TABLE ${table}_child (id int PRIMARY KEY, parent int REFERENCES ${table} (id));
      INSERT INTO ${table}_child VALUES (1, 1), (2, 2);
      DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modes_reader') THEN CREATE ROLE modes_reader; END IF; END $$;
      GRANT SELECT ON ${table} TO modes_reader;
      CREATE FUNCTION ${table}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.0003); RETURN NEW; END $$;
      CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_slow()`)
    // (the trigger is the table's, not the staging table's: it draws out the switch, ~1 s, for the reader to look at)
    // Keys 1 and 2 stay (the child rows point at them), 3 goes, 4-3000 are new.
    const rows: Row[] = [1, 2, ...Array.from({ length: 2997 }, (_, k) => k + 4)].map((id) => ({
      id,
      name: `r${id}`,
      n: id % 50,
      ts: 1,
    }))
    const path = join(dir, `${table}.csv`)
    await writeFile(path, csv(rows))
    const state = async () =>
      (
        await db.client.query<{ s: string }>(
          `SELECT count(*) || ':' || coalesce(sum(hashtext(name)), 0) AS s FROM ${table}`,
        )
      ).rows[0]!.s
    const before = await state()
    const seen = new Set<string>()
    let loading = true
    let polls = 0
    const reader = (async () => {
      while (loading) {
        seen.add(await state())
        polls++
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    const report = await load({
      table,
      db: db.url,
      inputs: [path],
      mode: 'replace',
      batchRows: 100,
      job: `replace-read-${table}`,
    })
    loading = false
    await reader
    const after = await state()
    expect(report).toMatchObject({ rowsLoaded: rows.length, rowsRejected: 0, exitCode: 0 })
    expect(after).not.toBe(before)
    expect([...seen].filter((s) => s !== before && s !== after)).toEqual([])
    expect(seen.has(before)).toBe(true)
    // (the reader looked all along: the switch alone takes about a second at 5 ms between looks)
    expect(polls).toBeGreaterThan(50)
    const view = await db.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}_v`)
    expect(view.rows[0]!.n).toBe(rows.length)
    const grant = await db.client.query<{ ok: boolean }>(
      `SELECT has_table_privilege('modes_reader', '${table}', 'SELECT') AS ok`,
    )
    expect(grant.rows[0]!.ok).toBe(true)
    const children = await db.client.query<{ name: string }>(
      `SELECT p.name FROM ${table}_child c JOIN ${table} p ON p.id = c.parent ORDER BY c.id`,
    )
    expect(children.rows.map((r) => r.name)).toEqual(['r1', 'r2'])
  })

  it('a switch that would leave rows of another table pointing at nothing fails, and the table stays as it was', async () => {
    const table = await freshTable()
    await db.client.query(`CREATE TABLE ${table}_child (id int PRIMARY KEY, parent int REFERENCES ${table} (id));
      INSERT INTO ${table}_child VALUES (1, 3)`)
    const path = join(dir, `${table}.csv`)
    await writeFile(path, csv([{ id: 1, name: 'new', n: 1, ts: 1 }]))
    const report = await load({ table, db: db.url, inputs: [path], mode: 'replace', job: `replace-fk-${table}` })
    expect(report.exitCode).toBe(3)
    expect(report.stopped?.message).toMatch(/the switch of .* failed: .*foreign key/)
    expect(await contents(table)).toEqual(reference([], 'upsert').table)
  })

  it('a stopped replace leaves the table as it was, and a staging table that lost rows is never switched in', async () => {
    const table = await freshTable()
    const rows: Row[] = Array.from({ length: 60 }, (_, k) => ({
      id: k + 10,
      name: `s${k}`,
      n: k === 40 ? 'x' : k,
      ts: 1,
    }))
    const path = join(dir, `${table}.csv`)
    await writeFile(path, csv(rows))
    const opts = {
      table,
      db: db.url,
      inputs: [path],
      mode: 'replace' as const,
      job: `replace-lost-${table}`,
      batchRows: 10,
    }
    const stages = async () =>
      (
        await db.client.query<{ t: string }>(
          `SELECT oid::regclass::text AS t FROM pg_class WHERE relname LIKE 'replace\\_%' AND relkind = 'r'`,
        )
      ).rows.map((r) => r.t)
    const before = await stages()
    const stopped = await load({ ...opts, maxRejects: { count: 0 } })
    expect(stopped.stopped?.code).toBe('REJECT_LIMIT_EXCEEDED')
    expect(await contents(table)).toEqual(reference([], 'upsert').table)
    // Rows gone from the staging table (by hand, or lost): the switch must not take a part for the whole.
    const stage = (await stages()).filter((t) => !before.includes(t))
    expect(stage).toHaveLength(1)
    await db.client.query(`DELETE FROM ${stage[0]!}`)
    const resumed = await load({ ...opts, resume: true })
    expect(resumed.stopped).toMatchObject({
      code: 'CHECKPOINT_UNAVAILABLE',
      message: expect.stringContaining('holds 19 rows where its checkpoints say 59') as string,
    })
    expect(await contents(table)).toEqual(reference([], 'upsert').table)
  })

  it('is refused without checkpoints, and in pgbulk redrive', async () => {
    const base = { table: 'nowhere', db: db.url, inputs: [join(dir, 'none.csv')] }
    await expect(load({ ...base, mode: 'replace', checkpoint: false })).rejects.toMatchObject({ code: 'USAGE' })
    await expect(
      redrive({ rejectsFile: base.inputs[0]!, table: 'nowhere', db: db.url, mode: 'replace' }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('does not apply to pgbulk redrive') as string,
    })
  })
})

describe('modes at the edges', () => {
  /** A table of its own, made by `sql` (with %t for its name), loaded from `text` in `mode`. */
  async function loadInto(sql: string, text: string, opts: Partial<LoadOptions> & Pick<LoadOptions, 'mode'>) {
    const table = `e${++seq}`
    await db.client.query(sql.replaceAll('%t', table))
    const path = join(dir, `${table}.csv`)
    await writeFile(path, text)
    const report = await load({ table, db: db.url, inputs: [path], job: `edge-${table}`, ...opts })
    const rows = async (q = `SELECT * FROM ${table} ORDER BY 1`) =>
      (await db.client.query<Record<string, unknown>>(q)).rows
    return { table, report, rows }
  }

  it('upsert: a row that breaks another unique index is rejected alone; the row that updates past it is not', async () => {
    const r = await loadInto(
      `CREATE TABLE %t (id int PRIMARY KEY, email text UNIQUE, v text); INSERT INTO %t VALUES (1, 'e1', 'old')`,
      'id,email,v\n1,e1,a\n2,e1,d\n',
      { mode: 'upsert' },
    )
    expect(await r.rows()).toEqual([{ id: 1, email: 'e1', v: 'a' }])
    expect(r.report).toMatchObject({ rowsUpdated: 1, rowsInserted: 0, rowsRejected: 1 })
  })

  it('a foreign key to the table itself: a parent earlier in the same batch is a parent (append and replace)', async () => {
    for (const mode of ['append', 'replace'] as const) {
      const r = await loadInto(
        'CREATE TABLE %t (id int PRIMARY KEY, mgr int REFERENCES %t (id), v text)',
        'id,mgr,v\n1,,boss\n2,1,ok\n3,99,orphan\n',
        { mode },
      )
      expect((await r.rows()).map((x) => x['id'])).toEqual([1, 2])
      expect(r.report).toMatchObject({ rowsLoaded: 2, rowsRejected: 1, exitCode: 2 })
    }
  })

  it("replace: identity values come from the table's own sequence, so an insert after it still works", async () => {
    const r = await loadInto(
      `CREATE TABLE %t (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text); INSERT INTO %t (v) VALUES ('a'), ('b')`,
      'v\nnew1\nnew2\n',
      { mode: 'replace' },
    )
    await db.client.query(`INSERT INTO ${r.table} (v) VALUES ('after')`)
    expect(await r.rows()).toEqual([
      { id: 3, v: 'new1' },
      { id: 4, v: 'new2' },
      { id: 5, v: 'after' },
    ])
  })

  it('upsert into a partitioned table counts what it inserted and updated', async () => {
    const r = await loadInto(
      `CREATE TABLE %t (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
       CREATE TABLE %t_a PARTITION OF %t FOR VALUES IN ('a'); CREATE TABLE %t_b PARTITION OF %t FOR VALUES IN ('b');
       INSERT INTO %t VALUES (1, 'a', 'old')`,
      'region,id,v\na,1,new\nb,1,x\nb,1,y\n',
      { mode: 'upsert', key: ['region', 'id'] },
    )
    expect(await r.rows(`SELECT * FROM ${r.table} ORDER BY region, id`)).toEqual([
      { id: 1, region: 'a', v: 'new' },
      { id: 1, region: 'b', v: 'y' },
    ])
    expect(r.report).toMatchObject({ rowsInserted: 1, rowsUpdated: 2, rowsRejected: 0 })
  })

  it('upsert without the key in the input inserts every row, in one round per statement', async () => {
    const lines = Array.from({ length: 3000 }, (_, k) => `v${k}`).join('\n')
    const r = await loadInto('CREATE TABLE %t (id serial PRIMARY KEY, v text)', `v\n${lines}\n`, { mode: 'upsert' })
    expect(r.report).toMatchObject({ rowsInserted: 3000, rowsUpdated: 0 })
    expect(r.report.elapsedMs).toBeLessThan(20_000)
  })

  it('--update cannot name the key', async () => {
    await expect(
      loadInto('CREATE TABLE %t (id int PRIMARY KEY, v text)', 'id,v\n1,a\n', { mode: 'upsert', update: ['id'] }),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('--update cannot set the key') as string,
    })
  })

  it('truncate waits at most the lock budget for a reader to let go, then backs off and stops, leaving the table', async () => {
    const holder = new pg.Client({ connectionString: db.url })
    await holder.connect()
    try {
      await db.client.query('CREATE TABLE held (id int PRIMARY KEY); INSERT INTO held VALUES (1)')
      await holder.query('BEGIN; SELECT * FROM held')
      const path = join(dir, 'held.csv')
      await writeFile(path, 'id\n2\n')
      const started = performance.now()
      const report = await load({
        table: 'held',
        db: db.url,
        inputs: [path],
        mode: 'truncate',
        lockBudgetMs: 100,
        retries: 2,
        retryBaseDelayMs: 10,
        checkpoint: false,
      })
      expect(report.exitCode).toBe(3)
      expect(report.stopped?.message).toMatch(/lock timeout|canceling statement due to lock timeout/)
      expect(performance.now() - started).toBeLessThan(10_000)
      expect((await db.client.query('SELECT id FROM held')).rows).toEqual([{ id: 1 }])
    } finally {
      await holder.end()
    }
  })
})
