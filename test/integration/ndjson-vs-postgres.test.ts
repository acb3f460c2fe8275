import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { load } from '../../src/index.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects } from '../helpers/fixtures.js'
import { leftToDatabase } from '../helpers/left-to-database.js'
import { NDJSON_COLUMNS, NDJSON_TABLE_COLUMNS, ndjsonLines } from '../helpers/ndjson-lines.js'
import { rng } from '../helpers/random.js'

// The promise of the NDJSON reader: a line lands the way json_populate_record(null::<table>,
// '<line>') puts it there, or is rejected when PostgreSQL refuses it, whatever the values: arrays
// of big integers, long numerics and exponents, nested, ragged and empty arrays, objects inside
// arrays, duplicate and case-variant keys, \u0000 and lone surrogates. Many seeded random lines
// are loaded by COPY and by INSERT, and each is given to json_populate_record in the same
// database: the same rows must be stored and the same rows refused. jsonb_populate_record reads
// numbers as numeric and writes objects in jsonb's own layout, so it differs from
// json_populate_record on "1e2" and {"b" : 1,"a":2}; on every line where the two functions
// agree, pgbulk must agree with jsonb_populate_record too. And not only the same rows: a line
// json_populate_record refuses because of a scalar column's value (an integer out of range, a
// numeric too wide, a float overflow, a bad boolean, JSON text jsonb refuses) must be rejected by
// pgbulk's own checks, not sent, unless that value is one pgbulk leaves to the database on purpose.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

/** PGBULK_FUZZ_SCALE=20 runs twenty times as many lines (and other seeds), for a longer hunt. */
const SCALE = Number(process.env['PGBULK_FUZZ_SCALE'] ?? 1)

/** Each row of a table as PostgreSQL prints the record, by its k. */
async function rowsByK(table: string): Promise<Map<number, string>> {
  const r = await db.client.query<{ k: number; r: string }>(`SELECT k, x::text AS r FROM ${table} x ORDER BY k`)
  return new Map(r.rows.map((row) => [row.k, row.r]))
}

/**
 * What a PostgreSQL function makes of each line, one line at a time, in one round trip: the rows
 * it stores go into `table`; returns the lines it refused, with the error.
 */
async function populateEach(fn: 'json' | 'jsonb', table: string, lines: string[]): Promise<Map<number, string>> {
  const r = await db.client.query<{ n: number; err: string }>(
    `SELECT n, err FROM populate_each_${fn}($1::text[], $2::regclass) WHERE err IS NOT NULL`,
    [lines, table],
  )
  return new Map(r.rows.map((row) => [row.n, row.err]))
}

/** The lines where json_populate_record and jsonb_populate_record read every value the same way (or both refuse the line). */
async function neutralLines(lines: string[]): Promise<Set<number>> {
  const r = await db.client.query<{ n: number }>(`SELECT x AS n FROM neutral_lines($1::text[]) x`, [lines])
  return new Set(r.rows.map((row) => row.n))
}

describe('NDJSON values compared with json_populate_record', () => {
  it('stores what json_populate_record stores and rejects what it refuses, by COPY and by INSERT', async () => {
    for (const fn of ['json', 'jsonb'] as const) {
      await db.client.query(`
        CREATE FUNCTION populate_each_${fn}(lines text[], tbl regclass) RETURNS TABLE (n int, err text) LANGUAGE plpgsql AS $$
        BEGIN
          FOR i IN 1 .. coalesce(array_length(lines, 1), 0) LOOP
            n := i;
            err := NULL;
            BEGIN
              EXECUTE format('INSERT INTO %s SELECT * FROM ${fn}_populate_record(null::%s, $1::${fn})', tbl, tbl) USING lines[i];
            EXCEPTION WHEN others THEN
              err := SQLSTATE || ' ' || SQLERRM;
            END;
            RETURN NEXT;
          END LOOP;
        END $$`)
    }
    await db.client.query(`
      CREATE FUNCTION neutral_lines(lines text[]) RETURNS SETOF int LANGUAGE plpgsql AS $$
      DECLARE b jsonb;
      BEGIN
        FOR i IN 1 .. coalesce(array_length(lines, 1), 0) LOOP
          BEGIN
            b := lines[i]::jsonb;
          EXCEPTION WHEN others THEN
            RETURN NEXT i; -- refused by both
            CONTINUE;
          END;
          IF (SELECT count(*) = count(DISTINCT key) AND bool_and(CASE WHEN json_typeof(value) = 'string' THEN value #>> '{}' = b ->> key ELSE value::text = (b -> key)::text END)
              FROM json_each(lines[i]::json)) THEN
            RETURN NEXT i;
          END IF;
        END LOOP;
      END $$`)
    const count = 1500 * SCALE
    const generated = ndjsonLines(rng(20240610 * SCALE), count)
    const lines = generated.map((g) => g.text)
    for (const l of lines) JSON.parse(l) // every line is JSON (the test is about values, not syntax)
    const input = join(dir, 'values.ndjson')
    await writeFile(input, lines.join('\n') + '\n')

    for (const t of ['ref_json', 'ref_jsonb', 'by_copy', 'by_insert'])
      await db.client.query(`CREATE TABLE ${t} (${NDJSON_TABLE_COLUMNS})`)
    // The scalar columns alone (json_populate_record ignores the other keys): the lines refused for a scalar value.
    const scalars = NDJSON_COLUMNS.filter(([, type]) => !type.endsWith('[]'))
    await db.client.query(`CREATE TABLE ref_scalar (${scalars.map(([n, type]) => `"${n}" ${type}`).join(', ')})`)
    const refusedScalar = await populateEach('json', 'ref_scalar', lines)
    /** Lines whose scalar refusal pgbulk's checks must find (not a refused escape, which is checked below; no value left to the database). */
    const forTheClient = [...refusedScalar.keys()].filter((n) => {
      if (generated[n - 1]!.refusedEscape) return false
      const obj = JSON.parse(lines[n - 1]!) as Record<string, unknown>
      return !scalars.some(([c, type]) => typeof obj[c] === 'string' && leftToDatabase(type, obj[c]))
    })
    const refusedJson = await populateEach('json', 'ref_json', lines)
    const refusedJsonb = await populateEach('jsonb', 'ref_jsonb', lines)
    const expected = await rowsByK('ref_json')
    const expectedJsonb = await rowsByK('ref_jsonb')
    const neutral = await neutralLines(lines)

    for (const method of ['copy', 'insert'] as const) {
      const table = `by_${method}`
      const rejectsPath = join(dir, `${method}.rejects.ndjson`)
      const report = await load({
        inputs: [input],
        table,
        db: db.url,
        method,
        ignoreExtra: true,
        batchRows: 250,
        rejects: rejectsPath,
        checkpoint: false,
      })
      expect(report.rowsRead).toBe(count)
      expect(report.rowsLoaded + report.rowsRejected).toBe(report.rowsRead)
      const rejects = await readRejects(rejectsPath)
      const rejectedLines = new Set(rejects.map((x) => x['line'] as number))
      const got = await rowsByK(table)

      const wrong: string[] = []
      for (let n = 1; n <= count; n++) {
        const line = lines[n - 1]!
        const want = refusedJson.has(n) ? `refused (${refusedJson.get(n)})` : expected.get(n)
        const have = rejectedLines.has(n)
          ? `rejected (${rejects.find((x) => x['line'] === n)?.['message'] as string})`
          : got.get(n)
        const same = refusedJson.has(n) ? rejectedLines.has(n) : !rejectedLines.has(n) && got.get(n) === expected.get(n)
        if (!same) wrong.push(`line ${n}: ${line}\n  json_populate_record: ${want}\n  pgbulk ${method}: ${have}`)
        if (neutral.has(n)) {
          const sameJsonb = refusedJsonb.has(n)
            ? rejectedLines.has(n)
            : !rejectedLines.has(n) && got.get(n) === expectedJsonb.get(n)
          if (!sameJsonb)
            wrong.push(
              `line ${n}: ${line}\n  jsonb_populate_record: ${refusedJsonb.get(n) ?? expectedJsonb.get(n)}\n  pgbulk ${method}: ${have}`,
            )
        }
      }
      expect(wrong.slice(0, 8)).toEqual([])
      // Not looser than PostgreSQL: a scalar value it refuses is refused before sending.
      const sent = forTheClient
        .filter((n) => rejects.find((x) => x['line'] === n)?.['stage'] === 'database')
        .map(
          (n) =>
            `line ${n}: ${lines[n - 1]}\n  json_populate_record: ${refusedScalar.get(n)}\n  pgbulk ${method}: sent it, the database refused it`,
        )
      expect(sent.slice(0, 8), `pgbulk ${method} sent values PostgreSQL refuses`).toEqual([])
      // \u0000 and lone surrogates are refused by the client, not sent.
      for (const x of rejects)
        if (generated[(x['line'] as number) - 1]!.refusedEscape)
          expect(x['stage'], JSON.stringify(x)).not.toBe('database')
    }
    // The lines cover what they are meant to: refusals of each kind, and lines jsonb_populate_record reads alike.
    expect(refusedJson.size).toBeGreaterThan(count / 10)
    expect(count - refusedJson.size).toBeGreaterThan(count / 3)
    expect(generated.filter((g) => g.refusedEscape).length).toBeGreaterThan(count / 50)
    expect(neutral.size).toBeGreaterThan(count / 4)
    expect(forTheClient.length).toBeGreaterThan(count / 10)
  })
})
