import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { load, LoadError, redrive, trace } from '../../src/index.js'
import type { TraceAnswer } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects } from '../helpers/fixtures.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

interface LedgerRow {
  run_id: string
  batch: string
  first_line: string
  last_line: string
  txid: string
  committed_at: Date
  lines: string[] | null
}

/** The ledger rows of a run, by batch. */
async function ledgerOf(runId: string, schema = 'pgbulk'): Promise<LedgerRow[]> {
  const r = await db.client.query<LedgerRow>(`SELECT * FROM ${schema}.batches WHERE run_id = $1 ORDER BY batch`, [
    runId,
  ])
  return r.rows
}

/** What trace must say of a line a batch of `runId` loaded: that batch's row of the ledger, exactly. */
async function expectLoadedBy(a: TraceAnswer | undefined, runId: string): Promise<void> {
  await expectLoadedByIn('pgbulk', a, runId)
}

async function expectLoadedByIn(schema: string, a: TraceAnswer | undefined, runId: string): Promise<void> {
  expect(a?.status).toBe('loaded')
  const row = (await ledgerOf(runId, schema)).find((b) => Number(b.batch) === a!.batch)
  expect(row, `batch ${a!.batch} of run ${runId}`).toBeDefined()
  expect(a).toMatchObject({
    runId,
    firstLine: Number(row!.first_line),
    lastLine: Number(row!.last_line),
    txid: row!.txid,
    committedAt: row!.committed_at.toISOString(),
  })
  if (row!.lines) expect(row!.lines.map(Number)).toContain(a!.line)
  else expect(a!.line).toBeGreaterThanOrEqual(Number(row!.first_line))
  if (!row!.lines) expect(a!.line).toBeLessThanOrEqual(Number(row!.last_line))
}

describe('trace (library)', () => {
  it('answers loaded, rejected (client-side and by the database) and not loaded, as the ledger, reject file and table say', async () => {
    await db.client.query(`CREATE TABLE orders (id int PRIMARY KEY, qty int CHECK (qty > 0), note text)`)
    const input = join(dir, 'orders.csv')
    // line 3: a bad integer (client-side); line 4: breaks the CHECK (database); line 5-6: one record.
    await writeFile(input, 'id,qty,note\n1,5,a\n2,x,b\n3,-1,c\n4,2,"multi\nline"\n5,3,e\n')
    const report = await load({ inputs: [input], table: 'orders', db: db.url, batchRows: 2 })
    expect(report).toMatchObject({ rowsLoaded: 3, rowsRejected: 2 })
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    const byLine = (line: number) => rejects.find((r) => r['line'] === line)!
    const at = async (line: number) => (await trace({ input, line, db: db.url }))[0]

    const one = await at(2)
    await expectLoadedBy(one, report.runId)
    expect(one).toMatchObject({
      input,
      line: 2,
      job: report.job,
      inTable: true,
      key: { id: '1' },
      target: '"public"."orders"',
    })

    const bad = await at(3)
    expect(bad).toMatchObject({
      status: 'rejected',
      code: 'VALUE_INVALID',
      stage: 'validate',
      column: 2,
      message: byLine(3)['message'],
      runId: report.runId,
    })
    expect(bad?.inTable).toBeUndefined()
    const refused = await at(4)
    expect(refused).toMatchObject({
      status: 'rejected',
      code: '23514',
      stage: 'database',
      message: byLine(4)['message'],
    })
    expect(String(refused?.message)).toContain('orders_qty_check')

    // Line 6 is inside the record that starts at line 5.
    const multi = await at(6)
    expect(multi?.line).toBe(5)
    await expectLoadedBy(multi, report.runId)
    expect(multi).toMatchObject({ inTable: true, key: { id: '4' } })

    expect(await at(1)).toEqual({
      input,
      line: 1,
      status: 'not loaded',
      why: expect.stringContaining('header') as string,
    })
    expect(await at(40)).toEqual({
      input,
      line: 40,
      status: 'not loaded',
      why: expect.stringContaining('7 lines') as string,
    })

    // By key: the line that holds it.
    expect(await trace({ input, key: '5', table: 'orders', db: db.url })).toEqual([
      expect.objectContaining({ line: 7, status: 'loaded', inTable: true, key: { id: '5' } }),
    ])
    expect(await trace({ input, key: '2', table: 'orders', db: db.url })).toEqual([
      expect.objectContaining({ line: 3, status: 'rejected', code: 'VALUE_INVALID' }),
    ])
    await expect(trace({ input, key: '42', table: 'orders', db: db.url })).rejects.toMatchObject({
      code: 'TRACE_UNKNOWN',
      exitCode: 1,
      message: expect.stringContaining('id = "42"') as string,
    })

    // A row deleted since: loaded, but not in the table now.
    await db.client.query(`DELETE FROM orders WHERE id = 5`)
    expect(await at(7)).toMatchObject({ status: 'loaded', inTable: false, key: { id: '5' } })

    // Fix line 4 in the reject file and redrive it: loaded by the redrive's run; line 3 fails again.
    const path = `${input}.rejects.ndjson`
    await writeFile(path, (await readFile(path, 'utf8')).replace('"raw":"3,-1,c"', '"raw":"3,1,c"'))
    const again = await redrive({ rejectsFile: path, table: 'orders', db: db.url })
    expect(again).toMatchObject({ rowsLoaded: 1, rowsRejected: 1 })
    expect(again.runId).not.toBe(report.runId)
    const redriven = await at(4)
    await expectLoadedBy(redriven, again.runId)
    expect(redriven).toMatchObject({ redrive: true, job: `redrive:${path}`, inTable: true, key: { id: '3' } })
    expect(await at(3)).toMatchObject({ status: 'rejected', code: 'VALUE_INVALID' })
  })

  it('refuses an input never loaded, a job that did not load it, and a table it was not loaded into (TRACE_UNKNOWN, exit 1)', async () => {
    await db.client.query(`CREATE TABLE other (id int PRIMARY KEY)`)
    const never = join(dir, 'never.csv')
    await writeFile(never, 'id\n1\n')
    const err = await trace({ input: never, line: 2, db: db.url }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LoadError)
    expect(err).toMatchObject({
      code: 'TRACE_UNKNOWN',
      exitCode: 1,
      message: expect.stringContaining('never loaded') as string,
    })

    const input = join(dir, 'orders.csv')
    await expect(trace({ input, line: 2, job: 'nope', db: db.url })).rejects.toMatchObject({
      code: 'TRACE_UNKNOWN',
      message: expect.stringContaining('job "nope"') as string,
    })
    await expect(trace({ input, key: '1', table: 'other', db: db.url })).rejects.toMatchObject({
      code: 'TRACE_UNKNOWN',
      hint: expect.stringContaining('"public"."orders"') as string,
    })
    await expect(trace({ input, db: db.url })).rejects.toMatchObject({ code: 'USAGE' })
    await expect(trace({ input, key: '1', db: db.url })).rejects.toMatchObject({ code: 'USAGE' })
  })

  it('reads a gzip input again from its start, and a plain one from the batch that holds the line', async () => {
    await db.client.query(
      `CREATE TABLE zipped (id int PRIMARY KEY, v text); CREATE TABLE plain (LIKE zipped INCLUDING ALL)`,
    )
    const rows = Array.from({ length: 30 }, (_, k) => `${k + 1},"v ${k + 1}"`)
    for (const gz of [true, false]) {
      const input = join(dir, gz ? 'zipped.csv.gz' : 'plain.csv')
      const text = 'v,id\n' + rows.map((r) => r.split(',').reverse().join(',')).join('\n') + '\n'
      await writeFile(input, gz ? gzipSync(text) : text)
      // (the header names the columns out of the table's order)
      const report = await load({ inputs: [input], table: gz ? 'zipped' : 'plain', db: db.url, batchRows: 4 })
      expect(report.rowsLoaded).toBe(30)
      for (const line of [2, 17, 31]) {
        const [a] = await trace({ input, line, db: db.url })
        await expectLoadedBy(a, report.runId)
        expect(a).toMatchObject({ line, inTable: true, key: { id: String(line - 1) } })
      }
      expect((await trace({ input, line: 32, db: db.url }))[0]?.why).toBe(
        'the input has 31 lines: line 32 lies past its end',
      )
    }
  })

  it('reads the checkpoint schema and job it is given', async () => {
    await db.client.query(`CREATE TABLE audited (id text PRIMARY KEY)`)
    const input = join(dir, 'audited.csv')
    await writeFile(input, 'id\nab\n"c,d"\n')
    const report = await load({ inputs: [input], table: 'audited', db: db.url, checkpointSchema: 'audit', job: 'j1' })
    expect(report.rowsLoaded).toBe(2)
    const opts = { input, table: 'audited', db: db.url, checkpointSchema: 'audit' }
    // (a key of one column is the whole text, commas included, unquoted as the parser reads it)
    const found = await trace({ ...opts, key: 'c,d', job: 'j1' })
    expect(found).toEqual([expect.objectContaining({ line: 3, status: 'loaded', job: 'j1', inTable: true })])
    await expectLoadedByIn('audit', found[0], report.runId)
    await expect(trace({ ...opts, key: 'ab', job: 'j2' })).rejects.toMatchObject({ code: 'TRACE_UNKNOWN' })
    await expect(trace({ ...opts, key: 'ab', checkpointSchema: 'pgbulk' })).rejects.toMatchObject({
      code: 'TRACE_UNKNOWN',
    })
  })

  it('finds a composite key in NDJSON, and names the run that stopped before a line with its exit code', async () => {
    await db.client.query(`CREATE TABLE pairs (a int, b text, v int CHECK (v < 100), PRIMARY KEY (a, b))`)
    const input = join(dir, 'pairs.ndjson')
    const lines = [
      { a: 1, b: 'x', v: 1 },
      { a: 1, b: 'y', v: 200 },
      { a: 2, b: 'x', v: 3 },
      { a: 3, b: 'x', v: 'many' },
      { a: 4, b: 'x', v: 4 },
      { a: 5, b: 'x', v: 5 },
    ]
    await writeFile(input, lines.map((l) => JSON.stringify(l)).join('\n') + '\n')
    // The second rejection passes --max-rejects 1: the run stops after the batch of lines 3-4.
    const report = await load({ inputs: [input], table: 'pairs', db: db.url, batchRows: 2, maxRejects: { count: 1 } })
    expect(report.exitCode).toBe(3)
    const key = (k: string) => trace({ input, key: k, table: 'pairs', db: db.url })

    expect(await key('1,y')).toEqual([
      expect.objectContaining({ line: 2, status: 'rejected', code: '23514', stage: 'database' }),
    ])
    const loaded = await key('2,x')
    expect(loaded).toHaveLength(1)
    await expectLoadedBy(loaded[0], report.runId)
    expect(loaded[0]).toMatchObject({ line: 3, inTable: true, key: { a: '2', b: 'x' }, target: '"public"."pairs"' })
    expect(await key('3,x')).toEqual([expect.objectContaining({ line: 4, status: 'rejected', code: 'VALUE_INVALID' })])
    await expect(key('2')).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('2 columns') as string,
    })

    const cp = await db.client.query<{ next_line: string }>(
      `SELECT next_line FROM pgbulk.checkpoints WHERE input = $1`,
      [input],
    )
    const after = Number(cp.rows[0]!.next_line)
    expect(after).toBeLessThanOrEqual(6)
    expect(await key('5,x')).toEqual([
      {
        input,
        line: 6,
        status: 'not loaded',
        runId: report.runId,
        job: report.job,
        exitCode: 3,
        why: expect.stringContaining(
          `ended with exit code 3 before this line: its checkpoint stops at line ${after}`,
        ) as string,
      },
    ])
  })
})

describe('trace of an input that is not the file it was loaded from', () => {
  it('a new file at the path, loaded anew: answers from its own run, not the batches of the old file', async () => {
    // (the old run's batch of lines 1–7 answered "loaded" for line 5 of a new file of 3 lines, and
    // for a line the new run stopped before)
    await db.client.query(`CREATE TABLE nightly (id int PRIMARY KEY, v text)`)
    const input = join(dir, 'nightly.csv')
    await writeFile(input, 'id,v\n' + [1, 2, 3, 4, 5, 6].map((k) => `${k},old ${k}`).join('\n') + '\n')
    const old = await load({ inputs: [input], table: 'nightly', db: db.url })
    expect(old.rowsLoaded).toBe(6)
    await writeFile(input, 'id,v\n11,new\n12,new\n')
    const fresh = await load({ inputs: [input], table: 'nightly', db: db.url })
    expect(fresh.rowsLoaded).toBe(2)
    await expectLoadedBy((await trace({ input, line: 2, db: db.url }))[0], fresh.runId)
    expect((await trace({ input, line: 5, db: db.url }))[0]).toMatchObject({
      status: 'not loaded',
      why: 'the input has 3 lines: line 5 lies past its end',
    })
    // A new file the new run stopped in (a reject over --max-rejects 0): not loaded, whatever the old run loaded there.
    await writeFile(input, 'id,v\n21,a\nx,b\n23,c\n24,d\n')
    const stopped = await load({
      inputs: [input],
      table: 'nightly',
      db: db.url,
      batchRows: 1,
      maxRejects: { count: 0 },
    })
    expect(stopped.exitCode).toBe(3)
    expect((await trace({ input, line: 5, db: db.url }))[0]).toMatchObject({ status: 'not loaded', exitCode: 3 })
  })

  it('says so when the file changed since it was loaded', async () => {
    await db.client.query(`CREATE TABLE edited (id int PRIMARY KEY, v text)`)
    const input = join(dir, 'edited.csv')
    await writeFile(input, 'id,v\n1,a\n2,b\n')
    const report = await load({ inputs: [input], table: 'edited', db: db.url })
    expect((await trace({ input, line: 2, db: db.url }))[0]?.inputChanged).toBeUndefined()
    await writeFile(input, 'id,v\n9,z\n1,a\n2,b\n')
    const [a] = await trace({ input, line: 2, db: db.url })
    await expectLoadedBy(a, report.runId)
    expect(a).toMatchObject({ inTable: false, key: { id: '9' }, inputChanged: 'its size changed from 13 to 17 bytes' })
  })
})

describe('trace when the reject file is not as the load left it', () => {
  it('a loaded line of a batch that rejected rows the reject file no longer holds: says the answer may be wrong', async () => {
    // (with the reject file removed, trace answered "loaded" for a line the load had rejected, with no doubt)
    await db.client.query(`CREATE TABLE lost (id int PRIMARY KEY, qty int CONSTRAINT pos CHECK (qty > 0))`)
    const input = join(dir, 'lost.csv')
    await writeFile(input, 'id,qty\n1,1\n2,-1\nx,3\n4,4\n')
    const report = await load({ inputs: [input], table: 'lost', db: db.url })
    expect(report.rowsRejected).toBe(2)
    const rejects = report.files[0]!.rejectsFile!
    // A redrive loads line 3 (its constraint gone) and rejects line 4 again: the batch's two rejects are still known.
    await db.client.query(`ALTER TABLE lost DROP CONSTRAINT pos`)
    const again = await redrive({ rejectsFile: rejects, table: 'lost', db: db.url })
    expect(again.rowsLoaded).toBe(1)
    for (const line of [2, 5]) {
      const [a] = await trace({ input, line, db: db.url })
      await expectLoadedBy(a, report.runId)
      expect(a?.why).toBeUndefined()
    }
    expect((await trace({ input, line: 3, db: db.url }))[0]).toMatchObject({ status: 'loaded', redrive: true })
    expect((await trace({ input, line: 4, db: db.url }))[0]?.status).toBe('rejected')
    await writeFile(rejects, '')
    const [a] = await trace({ input, line: 4, db: db.url })
    await expectLoadedBy(a, report.runId)
    expect(a?.why).toBe(
      `its batch rejected 2 rows, of which the reject file ${rejects} holds 1 ` +
        '(removed, replaced or edited since?): this line may be one it rejected',
    )
  })
})

describe('a run id given by a library user', () => {
  it('given to a second run: refused as USAGE naming the id, not a duplicate key error of the run log', async () => {
    await db.client.query(`CREATE TABLE first_t (id int); CREATE TABLE second_t (id int)`)
    const [a, b] = [join(dir, 'first.csv'), join(dir, 'second.csv')]
    await writeFile(a, 'id\n1\n')
    await writeFile(b, 'id\n2\n')
    const runId = 'orchestrator-run-7'
    expect((await load({ inputs: [a], table: 'first_t', db: db.url, runId })).exitCode).toBe(0)
    const err = await load({ inputs: [b], table: 'second_t', db: db.url, runId }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LoadError)
    expect((err as LoadError).code).toBe('USAGE')
    expect((err as LoadError).message).toContain('run id "orchestrator-run-7" is taken')
    expect(await db.count('second_t')).toBe(0)
    // (the job is not left locked or half-started: a run with an id of its own loads it)
    expect((await load({ inputs: [b], table: 'second_t', db: db.url })).rowsLoaded).toBe(1)
  })
})
