import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { load } from '../../src/index.js'
import { rng } from '../helpers/random.js'
import { introspectTable } from '../../src/schema/introspect.js'
import { checkFor } from '../../src/validate/check-value.js'
import { byteCheckFor } from '../../src/validate/check-bytes.js'
import { createTestDb, type TestDb } from '../helpers/db.js'
import { leftToDatabase } from '../helpers/left-to-database.js'

// The promise of the client-side checks, both ways: never refuse a value that PostgreSQL accepts,
// and refuse every value PostgreSQL refuses, except the forms pgbulk deliberately leaves to the
// database (listed per type below, each with its reason), which it must send so that the
// database's refusal lands in the reject file as that row's. Each value is checked by pgbulk and
// inserted by PostgreSQL (an INSERT of a literal, so typmods apply as they do for COPY; one
// plpgsql call per type, a subtransaction per value), for hand-picked edge cases and for seeded
// random strings. The hand-picked values are then loaded by pgbulk itself: each must be stored as
// PostgreSQL stores it, or rejected, at the stage and with the code the verdicts say. The byte
// checks (the fast path for common spellings) are held to the text checks on the same values: a
// value they pass must pass the text check too, read as it is or with its quotes doubled as in a
// CSV field.

let db: TestDb
let dir: string

beforeAll(async () => {
  db = await createTestDb()
  dir = await mkdtemp(join(tmpdir(), 'pgbulk-check-value-'))
  await db.client.query(`
    CREATE TYPE mood AS ENUM ('happy', 'sad', 'Ok ');
    CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
    CREATE DOMAIN short AS varchar(3);
    CREATE FUNCTION pg_accepts(tbl regclass, vals text[]) RETURNS bool[] LANGUAGE plpgsql AS $$
    DECLARE r bool[] := '{}';
    BEGIN
      FOR i IN 1 .. coalesce(array_length(vals, 1), 0) LOOP
        BEGIN
          EXECUTE format('INSERT INTO %s (n, v) VALUES (%s, %L)', tbl, i, vals[i]);
          r := r || true;
        EXCEPTION WHEN others THEN
          r := r || false;
        END;
      END LOOP;
      RETURN r;
    END $$`)
})
afterAll(async () => {
  await db?.cleanup()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** PostgreSQL's verdict on each value as a `type` column, in one round trip; the accepted rows stay in `table` (n = index + 1). */
async function pgVerdicts(table: string, type: string, values: string[]): Promise<boolean[]> {
  await db.client.query(`CREATE TABLE ${table} (n int, v ${type})`)
  const r = await db.client.query<{ ok: boolean[] }>(`SELECT pg_accepts($1::regclass, $2::text[]) AS ok`, [
    table,
    values,
  ])
  return r.rows[0]!.ok
}

/** PGBULK_FUZZ_SCALE=20 runs twenty times as many random values (and other seeds), for a longer hunt. */
const SCALE = Number(process.env['PGBULK_FUZZ_SCALE'] ?? 1)

function randomStrings(seed: number, alphabet: string[], count: number, maxLen: number): string[] {
  const r = rng(seed * SCALE)
  count *= SCALE
  return Array.from({ length: count }, () =>
    Array.from({ length: Math.floor(r() * (maxLen + 1)) }, () => alphabet[Math.floor(r() * alphabet.length)]!).join(''),
  )
}

const NUMBERISH = [
  ...'0123456789',
  '0',
  '1',
  '9',
  '+',
  '-',
  '.',
  'e',
  'E',
  ' ',
  '_',
  'x',
  'inf',
  'nan',
  'Infinity',
  '00',
  '99999',
]
const DATEISH = [
  ...'0123456789',
  '-',
  '-',
  ':',
  ' ',
  'T',
  'Z',
  '+',
  '/',
  '.',
  '2024',
  '02',
  '29',
  '30',
  '31',
  '12',
  '13',
  '24',
  '60',
  'Jan',
  'BC',
  'am',
  'today',
  'infinity',
  'epoch',
  'UTC',
  '+05:30',
]
const BOOLISH = ['t', 'r', 'u', 'e', 'f', 'a', 'l', 's', 'y', 'n', 'o', '1', '0', ' ', 'T', 'Y', 'O', 'N', 'F']
const UUIDISH = [
  ...'0123456789abcdefABCDEF',
  '-',
  '{',
  '}',
  ' ',
  'g',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  'a0eebc99',
  '9c0b4ef8',
]
const JSONISH = [
  '{',
  '}',
  '[',
  ']',
  '"',
  ':',
  ',',
  '1',
  '1.5e3',
  '-',
  'true',
  'null',
  ' ',
  'a',
  '\\',
  '\\u00e9',
  '\\u0000',
  'nul',
  '\\ud800',
  '\\udc00',
]

const EDGE: Record<string, string[]> = {
  number: [
    '',
    ' ',
    '0',
    '-0',
    '+0',
    '007',
    ' 42 ',
    '\t42\n',
    '1_000',
    '0x1F',
    '0o17',
    '0b101',
    '1e3',
    '1.5',
    '.5',
    '5.',
    '.',
    '-',
    '+',
    'e5',
    '1e',
    '1e+',
    '32767',
    '32768',
    '-32768',
    '-32769',
    '2147483647',
    '2147483648',
    '-2147483648',
    '9223372036854775807',
    '9223372036854775808',
    '-9223372036854775808',
    'NaN',
    'nan',
    'Infinity',
    '-inf',
    'inf',
    '1e308',
    '1e309',
    '-1e309',
    '1e-400',
    '4.9e-324',
    '3.4028235e38',
    '3.5e38',
    '1e-45',
    '1e-46',
    '999.99',
    '999.995',
    '-999.995',
    '0.005',
    '99949',
    '99950',
    '1e2',
    '1e-9999',
    '12x',
    '１２',
    '1e 5',
    '1 e5',
  ],
  date: [
    '2024-02-29',
    '2023-02-29',
    '2024-13-01',
    '2024-00-10',
    '2024-01-32',
    '0000-01-01',
    '0001-01-01',
    '2024-1-5',
    'Jan 5 2024',
    '20240105',
    '1/5/2024',
    '5/1/2024',
    '13/13/2024',
    'J2451187',
    'infinity',
    '-infinity',
    'epoch',
    'today',
    'now',
    'allballs',
    'soon',
    '',
    ' 2024-01-05 ',
    '2024-01-05 10:00',
    '2024-01-05T10:00:00Z',
    '2024-01-05 24:00:00',
    '2024-01-05 24:00:01',
    '2024-01-05 25:00',
    '2024-01-05 23:59:60',
    '2024-01-05 23:60',
    '2024-01-05 10:00:00+05:30',
    '2024-01-05 10:00:00-0800',
    '2024-01-05 10:00:00+14',
    '2024-01-05 10:00:00+16',
    '2024-01-05 10:00 America/New_York',
    '10:00',
    '24:00',
    '04:05 PM',
    '10:00:00+05',
    '10:00:00 Z',
    '5874897-12-31',
    '5874898-01-01',
    '4713-01-01 BC',
    '2024-01-05 BC',
  ],
  bool: [
    't',
    'tr',
    'true',
    'TRUE',
    ' yes ',
    'y',
    'ye',
    'on',
    'of',
    'off',
    'o',
    '1',
    '0',
    '2',
    'f',
    'fa',
    'false',
    'n',
    'no',
    'nope',
    '',
    ' ',
    'truee',
    'yess',
  ],
  uuid: [
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
    'a0eebc999c0b4ef8bb6d6bb9bd380a11',
    'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11',
    '{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1',
    ' a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    'a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11',
    '',
  ],
  json: [
    '{}',
    '[]',
    '1',
    '"s"',
    'null',
    'true',
    ' {"a": [1, 2]} ',
    '{"a":1,}',
    '{a:1}',
    "{'a':1}",
    '',
    ' ',
    '"\\u00e9"',
    '"\\u0000"',
    '1e400',
    '-0',
    '01',
    '[1,]',
    'NaN',
    '"\\ud800"',
    '"\\udc00"',
    '"\\ud83d\\ude00"',
    '"\\ud800\\u0041"',
    '{"\\ud800": 1}',
    '["\\\\ud800"]',
  ],
  text: ['', 'abc', 'abcd', 'abc   ', 'ab  ', '日本語', '日本語x', '😀😀😀', '😀😀😀😀', 'a\u0301b', '   '],
  mood: ['happy', 'sad', 'Happy', ' sad', 'sad ', 'Ok ', 'Ok', '', 'angry'],
}

/** More hand-picked values, for the both-ways comparison: bounds, signs, spaces, exponents, special words, junk. */
const MORE: Record<string, string[]> = {
  number: [
    '  -0  ',
    '+-1',
    '--1',
    '1.0',
    '1,5',
    '12 34',
    '0x',
    '0x80000000',
    '-0x80000000',
    '1__000',
    '_1',
    '1_',
    '0x_1F',
    '00000000000000000000000000001',
    '-9223372036854775809',
    '99999999999999999999999',
    '-32768.0',
    'Inf',
    '+inf',
    '-Infinity',
    ' NaN ',
    'infinit',
    'nana',
    '3.4028236e38',
    '-3.4028235e38',
    '1e39',
    '-4e38',
    '1.4e-45',
    '7e-46',
    '1e-47',
    '1e-320',
    '2.5e-324',
    '0e5',
    '0.0e-999',
    '1e+308',
    '1.7976931348623157e308',
    '12345.6',
    '-0.005',
    '0.004999',
    '999.994999',
    '99999',
    '0.0099994',
    '0.0099995',
    '0.01',
    '-99950',
    '1e5',
    '1e1000',
    '1e-1000',
    '.e1',
    '1.2.3',
    'x',
    'one',
    '1 2',
  ],
  date: [
    '2000-02-29',
    '1900-02-29',
    '2100-02-29',
    '2023-02-28',
    '2024-02-30',
    '2024-04-30',
    '2024-04-31',
    '2024-06-31',
    '2024-09-31',
    '2024-11-31',
    '2024-12-31',
    '2024-12-32',
    '9999-12-31',
    '2024-01-05 23:59:59.999999',
    '2024-01-05 23:59:60.5',
    '2024-01-05 10:00:00.123456789',
    '2024-01-05T10:00:00z',
    '2024-01-05 10:00:00+15',
    '2024-01-05 10:00:00+15:59',
    '2024-01-05 10:00:00-15:59:59',
    '2024-01-05 10:00:00+1530',
    '2024-01-05 10:61',
    '2024-01-05 10:00:61',
    '2024-02-30 10:00',
    '294276-12-31 23:59:59',
    '294277-01-01 00:00:00',
    '00:00',
    '00:00:00',
    '23:59:59.999999',
    '23:59:59.9999999',
    '24:00:00',
    '24:00:00.000001',
    '24:01',
    '23:60',
    '23:59:61',
    '10:00+15:59',
    '10:00+16',
    '10:00:00-08:00',
    '10:00Z',
    'Infinity',
    'INFINITY',
    'EPOCH',
    'allballs',
    'J0',
    'abc',
    '--',
    ':',
    'T',
    'Jan',
  ],
  bool: [
    'tRuE',
    '  t',
    'yes\t',
    'on ',
    'ON',
    'offf',
    'oFf',
    '00',
    '01',
    '1 ',
    'true!',
    'ys',
    'tru',
    'fals',
    'N',
    'Y',
    'yes no',
  ],
  uuid: [
    '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-',
    '-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 ',
    'a0eebc99 9c0b-4ef8-bb6d-6bb9bd380a11',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g',
    'a0eebc999c0b4ef8bb6d6bb9bd380a111',
    'a0eebc999c0b4ef8bb6d6bb9bd380a1',
    '{}',
    '{{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}}',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
    'not a uuid',
  ],
  json: [
    '{"a":1} x',
    '[1] [2]',
    '"\\x"',
    '"\t"',
    '"\\t"',
    '1.',
    '.5',
    '+1',
    '-',
    'tru',
    'True',
    'nul',
    '"\\u00"',
    '{"a":1,"a":2}',
    '\uFEFF{}',
    '\u00a0{}',
    '\t[1]\r\n',
    '1E400',
    '-1.5e-3',
    '"日本語"',
    '{"a":{"b":[{"c":null}]}}',
    '[',
    '}',
  ],
  text: ['abc\t', 'ab\u3000', 'abc\u3000', 'abcd ', '😀😀😀 ', 'é́é', 'a b', ' ab', '  ab  ', 'abc\n'],
  mood: ['happ', 'happy ', 'HAPPY', 'Ok  '],
}

interface TypeCase {
  type: string
  /** Hand-picked values: held both ways, and loaded by pgbulk. */
  values: string[]
  /** Seeded random values: never refused when PostgreSQL accepts them (and both ways for exact types). */
  random: string[]
  /** The check is exact for these types: random values are held both ways too. */
  exact: boolean
}

const numberValues = [...EDGE['number']!, ...MORE['number']!]
const dateValues = [...EDGE['date']!, ...MORE['date']!]

/** Types pgbulk checks; then a domain over a checked type, and types it passes to the database (text, bytea, interval, inet, arrays) for which every refusal must be the database's. */
const CASES: TypeCase[] = [
  ...['int2', 'int4', 'int8'].map((type, k) => ({
    type,
    values: numberValues,
    random: randomStrings(10 + k, NUMBERISH, 400, 5),
    exact: false,
  })),
  ...['numeric', 'numeric(5,2)', 'numeric(3,-2)', 'numeric(4,6)', 'float4', 'float8'].map((type, k) => ({
    type,
    values: numberValues,
    random: randomStrings(20 + k, NUMBERISH, 400, 5),
    exact: false,
  })),
  ...['date', 'time', 'timetz', 'timestamp', 'timestamptz'].map((type, k) => ({
    type,
    values: dateValues,
    random: randomStrings(30 + k, DATEISH, 400, 6),
    exact: false,
  })),
  {
    type: 'bool',
    values: [...EDGE['bool']!, ...MORE['bool']!],
    random: randomStrings(40, BOOLISH, 500, 5),
    exact: true,
  },
  {
    type: 'uuid',
    values: [...EDGE['uuid']!, ...MORE['uuid']!],
    random: randomStrings(41, UUIDISH, 300, 4),
    exact: false,
  },
  {
    type: 'jsonb',
    values: [...EDGE['json']!, ...MORE['json']!],
    random: randomStrings(42, JSONISH, 400, 6),
    exact: false,
  },
  {
    type: 'json',
    values: [...EDGE['json']!, ...MORE['json']!],
    random: randomStrings(43, JSONISH, 400, 6),
    exact: false,
  },
  { type: 'varchar(3)', values: [...EDGE['text']!, ...MORE['text']!], random: [], exact: true },
  { type: 'char(3)', values: [...EDGE['text']!, ...MORE['text']!], random: [], exact: true },
  { type: 'mood', values: [...EDGE['mood']!, ...MORE['mood']!], random: [], exact: true },
  { type: 'posint', values: numberValues, random: [], exact: false },
  { type: 'short', values: [...EDGE['text']!, ...MORE['text']!], random: [], exact: true },
  { type: 'text', values: ['', 'abc', '日本語', '\\x00', ' '], random: [], exact: true },
  {
    type: 'bytea',
    values: ['', '\\x', '\\x0a0B', '\\x0', '\\xzz', '\\x 0a', 'abc', '\\\\', '\\', '\\001', '\\400', '\\39', 'é'],
    random: [],
    exact: false,
  },
  {
    type: 'interval',
    values: ['1 day', 'P1D', 'PT1H30M', '1 fortnight', '', '-1 year 2 mons', '1e400 days', '10:00', 'x'],
    random: [],
    exact: false,
  },
  { type: 'inet', values: ['10.0.0.1', '10.0.0.256', '::1', '10.0.0.0/33', 'x', ''], random: [], exact: false },
  {
    type: 'int4[]',
    values: ['{1,2}', '{}', '{1,x}', '{2147483648}', '1,2', '{{1},{2,3}}', '{NULL}', '[1:2]={3,4}'],
    random: [],
    exact: false,
  },
]

/** Types pgbulk passes to the database unchecked. */
const UNCHECKED = ['text', 'bytea', 'interval', 'inet', 'int4[]']

/** A CSV field that reads back as exactly `v` (quoted: "" is the empty string, not NULL). */
const csvField = (v: string) => `"${v.replaceAll('"', '""')}"`

/** Values whose stored value depends on when they are read. */
const MOVING = /now|today|tomorrow|yesterday/i

describe('value checks against PostgreSQL', () => {
  it.each(CASES)(
    'holds $type both ways: never stricter than PostgreSQL, and refuses what it refuses',
    async ({ type, values, random, exact }) => {
      const name = type.replace('[]', '_array').replace(/\W+/g, '_').replace(/_$/, '')
      const curated = [...new Set(values)]
      // The hand-picked values first: their rows in ref_<type> are n = 1 … curated.length.
      const all = [...new Set([...curated, ...random])]
      const pgOk = await pgVerdicts(`ref_${name}`, type, all)
      const accepts = new Map(all.map((v, i) => [v, pgOk[i]!]))
      const isCurated = new Set(curated)
      const schema = await introspectTable(db.client, `ref_${name}`)
      const col = schema.columns[1]!
      // (dates of numbers are checked in the server's DateStyle order, as a load checks them)
      const check = checkFor(col, schema.dateOrder)
      const byteCheck = byteCheckFor(col)

      const wrongRefusals: string[] = []
      const letThrough: string[] = []
      const byteCheckTooLoose: string[] = []
      let surePassed = 0
      for (const v of all) {
        const ours = check?.(v)
        // Padded on both sides: a byte check must not read past its field.
        const plain = Buffer.from(`1${v}1`)
        const doubled = Buffer.from(`"${v.replaceAll('"', '""')}"`)
        const sure = byteCheck(plain, 1, plain.length - 1, false)
        const sureDoubled = v.includes('"') && byteCheck(doubled, 1, doubled.length - 1, true)
        if (sure) surePassed++
        if ((sure || sureDoubled) && ours)
          byteCheckTooLoose.push(`${JSON.stringify(v)}${sure ? '' : ' (quotes doubled)'}: ${ours.message}`)
        if (ours && accepts.get(v)) wrongRefusals.push(`${JSON.stringify(v)}: ${ours.message}`)
        if (!ours && !accepts.get(v) && (exact || isCurated.has(v))) letThrough.push(v)
      }
      expect(wrongRefusals, `pgbulk refused values PostgreSQL accepts as ${type}`).toEqual([])
      expect(byteCheckTooLoose, `byte checks passed values the text check refuses as ${type}`).toEqual([])
      // (Types and typmods the byte checks leave to the text check: times of day, enums, unusual scales.)
      if (check && !['time', 'timetz', 'mood', 'numeric(3,-2)', 'numeric(4,6)'].includes(type))
        expect(surePassed, `the byte check of ${type} is never sure`).toBeGreaterThan(0)
      // Not looser: what PostgreSQL refuses, pgbulk refuses, but for the forms it leaves to the database.
      const unexplained = check ? letThrough.filter((v) => !leftToDatabase(type, v)) : []
      expect(unexplained, `pgbulk let through values PostgreSQL refuses as ${type}`).toEqual([])
      // The corpus must exercise both sides, or the test would prove nothing.
      const refusedByUs = curated.filter((v) => check?.(v))
      const acceptedByPg = curated.filter((v) => accepts.get(v))
      expect(acceptedByPg.length).toBeGreaterThan(0)
      if (type !== 'text') expect(acceptedByPg.length).toBeLessThan(curated.length)
      expect(check === undefined, `${type} is ${check ? '' : 'not '}checked client-side`).toBe(UNCHECKED.includes(type))
      if (check) expect(refusedByUs.length, `no ${type} value refused by the client check`).toBeGreaterThan(0)

      // pgbulk itself: each hand-picked value stored as PostgreSQL stores it, or rejected where the verdicts say.
      await db.client.query(`CREATE TABLE got_${name} (n int, v ${type})`)
      const input = join(dir, `${name}.csv`)
      await writeFile(input, `n,v\n${curated.map((v, i) => `${i + 1},${csvField(v)}\n`).join('')}`)
      const rejectsPath = `${input}.rejects.ndjson`
      const report = await load({
        inputs: [input],
        table: `got_${name}`,
        db: db.url,
        rejects: rejectsPath,
        force: true,
        checkpoint: false,
        batchRows: 1000,
      })
      const want = curated.map((v) =>
        accepts.get(v) ? 'stored' : check?.(v) ? `validate ${check(v)!.code}` : 'database',
      )
      const rejects = existsSync(rejectsPath)
        ? (await readFile(rejectsPath, 'utf8'))
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as { line: number; stage: string; code: string })
        : []
      const stored = await db.client.query<{ n: number }>(`SELECT n FROM got_${name}`)
      const got = curated.map(() => 'missing')
      for (const r of stored.rows) got[r.n - 1] = 'stored'
      // A record starts at line 2 plus the line breaks of the values before it.
      const startLine = new Map<number, number>()
      curated.reduce((line, v, i) => (startLine.set(line, i), line + 1 + (v.match(/\n/g)?.length ?? 0)), 2)
      expect(
        rejects.filter((r) => !startLine.has(r.line)),
        'reject lines that start no record',
      ).toEqual([])
      for (const r of rejects)
        got[startLine.get(r.line)!] = r.stage === 'database' ? 'database' : `${r.stage} ${r.code}`
      expect(
        curated.map((v, i) => `${JSON.stringify(v)}: ${got[i]}`),
        `pgbulk's load of ${type}`,
      ).toEqual(curated.map((v, i) => `${JSON.stringify(v)}: ${want[i]}`))
      expect(report.rowsRead).toBe(curated.length)
      expect(report.rowsLoaded).toBe(acceptedByPg.length)
      expect(report.rowsRejected).toBe(curated.length - acceptedByPg.length)
      expect(rejects.length).toBe(report.rowsRejected)
      // The client's rejects come first, in input order, then the database's (one batch), in input order.
      const lines = rejects.map((r) => r.line)
      const clientLines = rejects.filter((r) => r.stage !== 'database').map((r) => r.line)
      const dbLines = rejects.filter((r) => r.stage === 'database').map((r) => r.line)
      expect(lines).toEqual([...clientLines.sort((a, b) => a - b), ...dbLines.sort((a, b) => a - b)])
      // And stored exactly as PostgreSQL stores the same literal.
      const differs = await db.client.query<{ n: number; want: string; got: string }>(
        `SELECT r.n, r.v::text AS want, g.v::text AS got FROM ref_${name} r JOIN got_${name} g USING (n) WHERE r.v::text IS DISTINCT FROM g.v::text`,
      )
      expect(differs.rows.filter((r) => !MOVING.test(curated[r.n - 1]!))).toEqual([])
    },
  )
})
