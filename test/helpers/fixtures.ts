import { existsSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { to as copyToStream } from 'pg-copy-streams'
import { expect } from 'vitest'
import type { LoadOptions, LoadReport } from '../../src/index.js'
import { load } from '../../src/index.js'
import type { TestDb } from './db.js'

export const FIXTURES = join(import.meta.dirname, '../../fixtures')

/** A fresh temporary directory. */
export function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pgbulk-test-'))
}

/** What a table holds, as COPY prints it ordered by its first column: the form of expected.rows.tsv. */
export async function tableContents(db: TestDb, table: string): Promise<string> {
  await db.client.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET extra_float_digits = 1`)
  const stream = db.client.query(copyToStream(`COPY (SELECT * FROM ${table} ORDER BY 1) TO STDOUT`))
  let out = ''
  for await (const chunk of stream) out += (chunk as Buffer).toString('utf8')
  return out
}

/**
 * The reject file's lines as objects, in file order. A missing file throws (an empty one gives []):
 * pgbulk creates the file only when a row is rejected, so a test that expects none says so with
 * `expect(existsSync(path)).toBe(false)`, or `rejectsOf`.
 */
export async function readRejects(path: string): Promise<Record<string, unknown>[]> {
  if (!existsSync(path)) throw new Error(`no reject file at ${path}`)
  const text = await readFile(path, 'utf8')
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/**
 * The reject file of a run that reported `rowsRejected`: its lines when it rejected rows (the file
 * must exist and hold exactly that many), else [] after checking that no file was created.
 */
export async function rejectsOf(path: string, report: { rowsRejected: number }): Promise<Record<string, unknown>[]> {
  if (report.rowsRejected === 0) {
    expect(existsSync(path), `${path}: no row was rejected, so no reject file`).toBe(false)
    return []
  }
  const rejects = await readRejects(path)
  expect(rejects).toHaveLength(report.rowsRejected)
  return rejects
}

/** The fields of a rejection that golden files pin down (file paths differ per run). */
export function rejectKey(r: Record<string, unknown>): Record<string, unknown> {
  const { file: _file, input: _input, ...rest } = r
  return rest
}

/**
 * Create a fixture's schema in the test database, load its input with the given options, and
 * return what landed. With PGBULK_UPDATE_FIXTURES=1 the golden files are (re)written instead of
 * compared: review the diff before committing it.
 */
export async function loadFixture(
  db: TestDb,
  name: string,
  opts: Partial<LoadOptions> = {},
): Promise<{ report: LoadReport; rows: string; rejects: Record<string, unknown>[]; rejectsPath: string }> {
  const dir = join(FIXTURES, name)
  await db.client.query(await readFile(join(dir, 'schema.sql'), 'utf8'))
  const input = ['input.csv', 'input.tsv', 'input.ndjson'].map((f) => join(dir, f)).find((f) => existsSync(f))!
  const tmp = await tempDir()
  const rejectsPath = join(tmp, 'rejects.ndjson')
  const table = opts.table ?? (await mainTable(db))
  const report = await load({ inputs: [input], table, db: db.url, rejects: rejectsPath, ...opts })
  return { report, rows: await tableContents(db, table), rejects: await rejectsOf(rejectsPath, report), rejectsPath }
}

/** The fixture's target: the last table its schema.sql created. */
async function mainTable(db: TestDb): Promise<string> {
  const r = await db.client.query<{ t: string }>(
    `SELECT relname AS t FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY oid DESC LIMIT 1`,
  )
  return r.rows[0]!.t
}

/** Compare with (or, when updating, write) a fixture's golden file. */
export async function golden(name: string, file: string, actual: string): Promise<string> {
  const path = join(FIXTURES, name, file)
  if (process.env['PGBULK_UPDATE_FIXTURES'] === '1') await writeFile(path, actual)
  if (!existsSync(path))
    throw new Error(`golden file ${path} is missing: run with PGBULK_UPDATE_FIXTURES=1 and review it`)
  return readFile(path, 'utf8')
}

/** What fixtures/demo/people.csv leaves in its table (fixtures/demo/schema.sql), as tableContents shows it. */
export const DEMO_TABLE =
  [
    '1\tAda Lovelace\tada@example.org\t1815-12-10\t99.50\tt\t["math", "poetry"]',
    '2\tAlan Turing\talan@example.org\t1912-06-23\t98.25\tt\t{"field": "computing"}',
    '3\tHopper, Grace\tgrace@example.org\t1906-12-09\t97.00\tt\t\\N',
    '4\tEdsger Dijkstra\tedsger@example.org\t1930-01-05\t\\N\tf\t[]',
    '6\tBarbara Liskov\tbarbara@example.org\t1939-11-07\t95.50\tt\t\\N',
    '9\tFrances Allen\tfran@example.org\t1932-08-04\t93.30\tt\t\\N',
    '13\tRadia Perlman\tradia@example.org\t1951-12-18\t90.00\tt\t{"spanning": "tree"}',
    '14\tLeslie Lamport\tleslie@example.org\t1941-02-07\t89.99\tt\t\\N',
    '16\tTony Hoare\ttony@example.org\t1934-01-11\t88.00\tt\t{"quick": "sort"}',
  ].join('\n') + '\n'
