import { describe, expect, it } from 'vitest'
import type { ColumnInfo } from '../../src/schema/introspect.js'
import { byteCheckFor } from '../../src/validate/check-bytes.js'
import { jsonBytes } from '../../src/parse/json-scan.js'
import { rng } from '../helpers/random.js'

function col(type: string, typmod = -1): ColumnInfo {
  return {
    name: 'c',
    type,
    typmod,
    displayType: type,
    notNull: false,
    hasDefault: false,
    generated: false,
    identityAlways: false,
    isArray: false,
  }
}
const numeric = (p: number, s: number) => ((p << 16) | (s & 0x7ff)) + 4

/** The byte check's verdict on a value, with bytes around it that must not be read. */
function sure(c: ColumnInfo, v: string): boolean {
  const b = Buffer.from(`9${v}9`)
  return byteCheckFor(c)(b, 1, b.length - 1, false)
}

const parses = (s: string) => {
  try {
    JSON.parse(s)
    return true
  } catch {
    return false
  }
}

function randomJsonValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 5 : 7))
  if (k === 0) return null
  if (k === 1) return r() < 0.5
  if (k === 2) return Math.round((r() - 0.5) * 1e6) / (r() < 0.5 ? 1 : 1000)
  if (k === 3) return ['', 'a"b', 'é\\', 'tab\there', '日本', '\u0001', 'q"'][Math.floor(r() * 7)]
  if (k === 4) return r() * 1e300
  if (k === 5) return Array.from({ length: Math.floor(r() * 4) }, () => randomJsonValue(r, depth + 1))
  return Object.fromEntries(
    Array.from({ length: Math.floor(r() * 4) }, (_, i) => [`k${i}"`, randomJsonValue(r, depth + 1)]),
  )
}

describe('byte checks', () => {
  it('are sure of the common spellings of each type', () => {
    expect(['42', '-7', '+0', '999999999'].map((v) => sure(col('int4'), v))).toEqual([true, true, true, true])
    expect(
      ['123.45', '-0.5', '.5', '7', '0000000000123.4'].map((v) => sure(col('numeric', numeric(12, 2)), v)),
    ).toEqual([true, true, true, true, true])
    expect(sure(col('bool'), 'TRUE') && sure(col('bool'), 'f') && sure(col('bool'), 'off')).toBe(true)
    expect(sure(col('date'), '2024-02-29')).toBe(true)
    expect(
      [
        '2024-01-05 10:00:00+00',
        '2024-01-05T10:00:00.123456Z',
        '2024-01-05 10:00',
        '2024-01-05 10:00:00-08:30',
        '2024-01-05',
      ].every((v) => sure(col('timestamptz'), v)),
    ).toBe(true)
    expect(
      sure(col('uuid'), 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11') &&
        sure(col('uuid'), 'a0eebc999c0b4ef8bb6d6bb9bd380a11'),
    ).toBe(true)
    expect(sure(col('varchar', 3 + 4), 'abc') && sure(col('text'), 'anything at all')).toBe(true)
  })

  it('leave what they are unsure of to the text check', () => {
    // out of range, other spellings, or simply wrong: not "sure" (the text check decides and explains)
    expect(['2147483648', '9999999999', ' 42', '1e3', '0x1F', '', '-'].some((v) => sure(col('int4'), v))).toBe(false)
    expect(['12345678901.5', '1.234', '1e2', 'NaN', '.'].some((v) => sure(col('numeric', numeric(12, 2)), v))).toBe(
      false,
    )
    expect(
      [
        '2023-02-29',
        '0000-01-01',
        '2024-1-5',
        '2024-01-05 24:00:00',
        '2024-01-05 10:00:00+16',
        '2024-01-05 10:00:60',
      ].some((v) => sure(col('timestamp'), v)),
    ).toBe(false)
    expect(
      ['{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g'].some((v) =>
        sure(col('uuid'), v),
      ),
    ).toBe(false)
    expect(sure(col('varchar', 3 + 4), 'abcd')).toBe(false)
    expect(sure(col('bool'), 'o') || sure(col('bool'), ' t')).toBe(false)
  })

  it('read JSON exactly as JSON.parse does, plain and with the quotes of a CSV field doubled', () => {
    const r = rng(7)
    const alphabet = [
      '{',
      '}',
      '[',
      ']',
      '"',
      ':',
      ',',
      '1',
      '0',
      '-',
      '.',
      'e',
      '+',
      'true',
      'null',
      'fals',
      ' ',
      '\t',
      'a',
      '\\',
      '\\u00e9',
      '\\u12',
      '\\n',
      '\\x',
      '\n',
    ]
    const samples = [
      ...Array.from({ length: 3000 }, () => JSON.stringify(randomJsonValue(r, 0), null, r() < 0.3 ? 1 : undefined)),
      ...Array.from({ length: 6000 }, () =>
        Array.from({ length: Math.floor(r() * 8) }, () => alphabet[Math.floor(r() * alphabet.length)]).join(''),
      ),
      '[]',
      '  {} ',
      '-0',
      '01',
      '1.',
      '.5',
      '1e5',
      '1E+5',
      '"\\ud800"',
      '[1,]',
      '{"a":1,}',
      'truex',
    ]
    const wrong: string[] = []
    for (const s of samples) {
      const expected = parses(s)
      const plain = Buffer.from(`[${s}]`)
      if (jsonBytes(plain, 1, plain.length - 1) !== expected) wrong.push(s)
      const doubled = Buffer.from(`"${s.replaceAll('"', '""')}"`)
      if (jsonBytes(doubled, 1, doubled.length - 1, true) !== expected) wrong.push(`doubled: ${s}`)
    }
    expect(wrong).toEqual([])
    expect(samples.filter(parses).length).toBeGreaterThan(3000)
  })

  it('leave JSON nested deeper than 64 to the text check', () => {
    const deep = Buffer.from('['.repeat(100) + ']'.repeat(100))
    expect(jsonBytes(deep, 0, deep.length)).toBe(false)
  })
})
