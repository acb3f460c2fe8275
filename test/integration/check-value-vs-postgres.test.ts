import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rng } from '../helpers/random.js'
import { introspectTable } from '../../src/schema/introspect.js'
import { checkFor } from '../../src/validate/check-value.js'
import { byteCheckFor } from '../../src/validate/check-bytes.js'
import { createTestDb, type TestDb } from '../helpers/db.js'

// The promise of the client-side checks: never refuse a value that PostgreSQL accepts. Each
// value is checked by pgbulk and inserted by PostgreSQL (an INSERT, so typmods apply as they do
// for COPY), for hand-picked edge cases and for seeded random strings. The byte checks (the fast
// path for common spellings) are held to the text checks on the same values: a value they pass
// must pass the text check too, read as it is or with its quotes doubled as in a CSV field.

let db: TestDb

beforeAll(async () => {
  db = await createTestDb()
  await db.client.query(`CREATE TYPE mood AS ENUM ('happy', 'sad', 'Ok ')`)
})
afterAll(async () => {
  await db?.cleanup()
})

/** PGBULK_FUZZ_SCALE=20 runs twenty times as many random values (and other seeds), for a longer hunt. */
const SCALE = Number(process.env['PGBULK_FUZZ_SCALE'] ?? 1)

function randomStrings(seed: number, alphabet: string[], count: number, maxLen: number): string[] {
  const r = rng(seed * SCALE)
  count *= SCALE
  return Array.from({ length: count }, () =>
    Array.from({ length: Math.floor(r() * (maxLen + 1)) }, () => alphabet[Math.floor(r() * alphabet.length)]!).join(''),
  )
}

const NUMBERISH = [...'0123456789', '0', '1', '9', '+', '-', '.', 'e', 'E', ' ', '_', 'x', 'inf', 'nan', 'Infinity', '00', '99999']
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
const UUIDISH = [...'0123456789abcdefABCDEF', '-', '{', '}', ' ', 'g', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a0eebc99', '9c0b4ef8']
const JSONISH = ['{', '}', '[', ']', '"', ':', ',', '1', '1.5e3', '-', 'true', 'null', ' ', 'a', '\\', '\\u00e9', '\\u0000', 'nul', '\\ud800', '\\udc00']

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
  bool: ['t', 'tr', 'true', 'TRUE', ' yes ', 'y', 'ye', 'on', 'of', 'off', 'o', '1', '0', '2', 'f', 'fa', 'false', 'n', 'no', 'nope', '', ' ', 'truee', 'yess'],
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

interface TypeCase {
  type: string
  values: string[]
  /** Both directions must agree (the check is exact for these types). */
  exact: boolean
}

const CASES: TypeCase[] = [
  ...['int2', 'int4', 'int8'].map((type, k) => ({ type, values: [...EDGE['number']!, ...randomStrings(10 + k, NUMBERISH, 400, 5)], exact: false })),
  ...['numeric', 'numeric(5,2)', 'numeric(3,-2)', 'numeric(4,6)', 'float4', 'float8'].map((type, k) => ({
    type,
    values: [...EDGE['number']!, ...randomStrings(20 + k, NUMBERISH, 400, 5)],
    exact: false,
  })),
  ...['date', 'time', 'timetz', 'timestamp', 'timestamptz'].map((type, k) => ({
    type,
    values: [...EDGE['date']!, ...randomStrings(30 + k, DATEISH, 400, 6)],
    exact: false,
  })),
  { type: 'bool', values: [...EDGE['bool']!, ...randomStrings(40, BOOLISH, 500, 5)], exact: true },
  { type: 'uuid', values: [...EDGE['uuid']!, ...randomStrings(41, UUIDISH, 300, 4)], exact: false },
  { type: 'jsonb', values: [...EDGE['json']!, ...randomStrings(42, JSONISH, 400, 6)], exact: false },
  { type: 'json', values: [...EDGE['json']!, ...randomStrings(43, JSONISH, 400, 6)], exact: false },
  { type: 'varchar(3)', values: EDGE['text']!, exact: true },
  { type: 'char(3)', values: EDGE['text']!, exact: true },
  { type: 'mood', values: EDGE['mood']!, exact: true },
]

describe('value checks against PostgreSQL', () => {
  it.each(CASES)('never refuse a $type value that PostgreSQL accepts', async ({ type, values, exact }) => {
    const table = `probe_${type.replace(/\W+/g, '_')}`
    await db.client.query(`CREATE TABLE ${table} (v ${type})`)
    const schema = await introspectTable(db.client, table)
    const check = checkFor(schema.columns[0]!)
    const byteCheck = byteCheckFor(schema.columns[0]!)
    const wrongRefusals: string[] = []
    const disagreements: string[] = []
    const byteCheckTooLoose: string[] = []
    let accepted = 0
    let surePassed = 0
    for (const v of new Set(values)) {
      const ours = check?.(v)
      // Padded on both sides: a byte check must not read past its field.
      const plain = Buffer.from(`1${v}1`)
      const doubled = Buffer.from(`"${v.replaceAll('"', '""')}"`)
      const sure = byteCheck(plain, 1, plain.length - 1, false)
      const sureDoubled = v.includes('"') && byteCheck(doubled, 1, doubled.length - 1, true)
      if (sure) surePassed++
      if ((sure || sureDoubled) && ours) byteCheckTooLoose.push(`${JSON.stringify(v)}${sure ? '' : ' (quotes doubled)'}: ${ours.message}`)
      const pgAccepts = await db.client.query(`INSERT INTO ${table} VALUES ($1)`, [v]).then(
        () => true,
        () => false,
      )
      if (pgAccepts) accepted++
      if (ours && pgAccepts) wrongRefusals.push(`${JSON.stringify(v)}: ${ours.message}`)
      if (!ours && !pgAccepts) disagreements.push(JSON.stringify(v))
    }
    expect(wrongRefusals, `pgbulk refused values PostgreSQL accepts as ${type}`).toEqual([])
    expect(byteCheckTooLoose, `byte checks passed values the text check refuses as ${type}`).toEqual([])
    // (Types and typmods the byte checks leave to the text check: times of day, enums, unusual scales.)
    if (!['time', 'timetz', 'mood', 'numeric(3,-2)', 'numeric(4,6)'].includes(type))
      expect(surePassed, `the byte check of ${type} is never sure`).toBeGreaterThan(0)
    if (exact) expect(disagreements, `pgbulk let through values PostgreSQL refuses as ${type}`).toEqual([])
    // The corpus must exercise both sides, or the test would prove nothing.
    expect(accepted).toBeGreaterThan(0)
    expect(accepted).toBeLessThan(new Set(values).size)
  })
})
