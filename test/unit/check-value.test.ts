import { describe, expect, it } from 'vitest'
import type { ColumnInfo } from '../../src/schema/introspect.js'
import { checkFor, isPgBoolean } from '../../src/validate/check-value.js'

function col(type: string, typmod = -1, extra: Partial<ColumnInfo> = {}): ColumnInfo {
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
    ...extra,
  }
}

/** numeric(p,s) typmod as PostgreSQL stores it. */
const numeric = (p: number, s: number) => ((p << 16) | (s & 0x7ff)) + 4

function verdicts(c: ColumnInfo, values: string[]): Record<string, string> {
  const check = checkFor(c)
  return Object.fromEntries(values.map((v) => [v, check?.(v)?.code ?? 'ok']))
}

describe('value checks', () => {
  it('accepts every integer form PostgreSQL reads, and checks the range per width', () => {
    expect(verdicts(col('int4'), [' 42 ', '+7', '-2147483648', '2147483647', '007', '0x1F', '1_000'])).toEqual(
      Object.fromEntries([' 42 ', '+7', '-2147483648', '2147483647', '007', '0x1F', '1_000'].map((v) => [v, 'ok'])),
    )
    expect(verdicts(col('int4'), ['2147483648', '12x', '1.5', '', '1e3'])).toEqual({
      '2147483648': 'VALUE_OUT_OF_RANGE',
      '12x': 'VALUE_INVALID',
      '1.5': 'VALUE_INVALID',
      '': 'VALUE_INVALID',
      '1e3': 'VALUE_INVALID',
    })
    expect(verdicts(col('int2'), ['32767', '32768', '-32769'])).toEqual({
      '32767': 'ok',
      '32768': 'VALUE_OUT_OF_RANGE',
      '-32769': 'VALUE_OUT_OF_RANGE',
    })
    expect(verdicts(col('int8'), ['9223372036854775807', '9223372036854775808', '000000000000000000000001'])).toEqual({
      '9223372036854775807': 'ok',
      '9223372036854775808': 'VALUE_OUT_OF_RANGE',
      '000000000000000000000001': 'ok',
    })
  })

  it('checks numeric precision and scale after rounding, as numeric_in does', () => {
    const c = col('numeric', numeric(5, 2))
    expect(
      verdicts(c, [
        '999.99',
        '999.994',
        '999.995',
        '-999.995',
        '1e2',
        ' 1e3 ',
        '.5',
        '5.',
        'NaN',
        '0.000001',
        '1e-9999',
      ]),
    ).toEqual({
      '999.99': 'ok',
      '999.994': 'ok',
      '999.995': 'VALUE_OUT_OF_RANGE',
      '-999.995': 'VALUE_OUT_OF_RANGE',
      '1e2': 'ok',
      ' 1e3 ': 'VALUE_OUT_OF_RANGE',
      '.5': 'ok',
      '5.': 'ok',
      NaN: 'ok',
      '0.000001': 'ok',
      '1e-9999': 'ok',
    })
    expect(verdicts(col('numeric', numeric(3, -2)), ['99949', '99950'])).toEqual({
      '99949': 'ok',
      '99950': 'VALUE_OUT_OF_RANGE',
    })
    expect(verdicts(col('numeric'), ['1e300', 'abc', '.', '-'])).toEqual({
      '1e300': 'ok',
      abc: 'VALUE_INVALID',
      '.': 'VALUE_INVALID',
      '-': 'VALUE_INVALID',
    })
  })

  it('checks floats: syntax, special values and range', () => {
    expect(
      verdicts(col('float8'), ['1.5', ' -1e308 ', 'Infinity', '-inf', 'nan', '1e309', '1e-400', '4.9e-324', 'x']),
    ).toEqual({
      '1.5': 'ok',
      ' -1e308 ': 'ok',
      Infinity: 'ok',
      '-inf': 'ok',
      nan: 'ok',
      '1e309': 'VALUE_OUT_OF_RANGE',
      '1e-400': 'VALUE_OUT_OF_RANGE',
      '4.9e-324': 'ok',
      x: 'VALUE_INVALID',
    })
    expect(verdicts(col('float4'), ['3.4e38', '1e39'])).toEqual({ '3.4e38': 'ok', '1e39': 'VALUE_OUT_OF_RANGE' })
  })

  it('accepts the boolean spellings boolin accepts, and no others', () => {
    for (const v of ['t', 'TRUE', ' yes ', 'y', 'on', 'off', 'of', '1', '0', 'f', 'fal', 'n', 'no'])
      expect(isPgBoolean(v), v).toBe(true)
    for (const v of ['o', '2', 'yess', 'truth', '', 'ja']) expect(isPgBoolean(v), v).toBe(false)
  })

  it('limits varchar and char length in characters, allowing cut-off trailing spaces', () => {
    const c = col('varchar', 3 + 4)
    expect(verdicts(c, ['abc', 'abcd', 'abc   ', '日本語', '😀😀😀', '😀😀😀😀'])).toEqual({
      abc: 'ok',
      abcd: 'VALUE_TOO_LONG',
      'abc   ': 'ok',
      日本語: 'ok',
      '😀😀😀': 'ok',
      '😀😀😀😀': 'VALUE_TOO_LONG',
    })
    expect(checkFor(col('text'))).toBeUndefined()
  })

  it('range-checks ISO dates and times, and leaves other date styles to the server', () => {
    expect(
      verdicts(col('date'), [
        '2024-02-29',
        '2023-02-29',
        '2024-13-01',
        'Jan 5 2024',
        '20240105',
        'infinity',
        'today',
        'soon',
        'J2451187',
      ]),
    ).toEqual({
      '2024-02-29': 'ok',
      '2023-02-29': 'VALUE_OUT_OF_RANGE',
      '2024-13-01': 'VALUE_OUT_OF_RANGE',
      'Jan 5 2024': 'ok',
      '20240105': 'ok',
      infinity: 'ok',
      today: 'ok',
      soon: 'VALUE_INVALID',
      J2451187: 'ok',
    })
    expect(
      verdicts(col('timestamptz'), [
        '2024-01-05T10:00:00Z',
        '2024-01-05 10:00:00+05:30',
        '2024-01-05 10:00:00.123456-0800',
        '2024-01-05 25:00',
        '2024-01-05 24:00:00',
        '2024-01-05 10:00 America/New_York',
        '2024-01-05 10:00:00+14',
      ]),
    ).toEqual({
      '2024-01-05T10:00:00Z': 'ok',
      '2024-01-05 10:00:00+05:30': 'ok',
      '2024-01-05 10:00:00.123456-0800': 'ok',
      '2024-01-05 25:00': 'VALUE_OUT_OF_RANGE',
      '2024-01-05 24:00:00': 'ok',
      '2024-01-05 10:00 America/New_York': 'ok',
      '2024-01-05 10:00:00+14': 'ok',
    })
    expect(verdicts(col('time'), ['23:59:60', '12:60', 'allballs', '04:05 PM'])).toEqual({
      '23:59:60': 'ok',
      '12:60': 'VALUE_OUT_OF_RANGE',
      allballs: 'ok',
      '04:05 PM': 'ok',
    })
  })

  it('refuses the near misses PostgreSQL refuses: leap days of century years, 30-day months, 24:00 plus a bit, spaces other than blanks', () => {
    expect(
      verdicts(col('date'), ['2000-02-29', '1900-02-29', '2100-02-29', '2024-06-30', '2024-06-31', '2024-11-31']),
    ).toEqual({
      '2000-02-29': 'ok',
      '1900-02-29': 'VALUE_OUT_OF_RANGE',
      '2100-02-29': 'VALUE_OUT_OF_RANGE',
      '2024-06-30': 'ok',
      '2024-06-31': 'VALUE_OUT_OF_RANGE',
      '2024-11-31': 'VALUE_OUT_OF_RANGE',
    })
    expect(verdicts(col('time'), ['24:00', '24:00:00', '24:01', '24:00:00.000001', '23:60', '23:59:61'])).toEqual({
      '24:00': 'ok',
      '24:00:00': 'ok',
      '24:01': 'VALUE_OUT_OF_RANGE',
      '24:00:00.000001': 'VALUE_OUT_OF_RANGE',
      '23:60': 'VALUE_OUT_OF_RANGE',
      '23:59:61': 'VALUE_OUT_OF_RANGE',
    })
    // PostgreSQL cuts off blanks only: a tab, a newline or an ideographic space past the limit is too long.
    expect(verdicts(col('bpchar', 3 + 4), ['abc  ', 'abc\t', 'abc\n', 'abc\u3000', 'ab\u3000'])).toEqual({
      'abc  ': 'ok',
      'abc\t': 'VALUE_TOO_LONG',
      'abc\n': 'VALUE_TOO_LONG',
      'abc\u3000': 'VALUE_TOO_LONG',
      'ab\u3000': 'ok',
    })
    expect(verdicts(col('float4'), ['-3.4028235e38', '-4e38', '1e-45', '1e-47'])).toEqual({
      '-3.4028235e38': 'ok',
      '-4e38': 'VALUE_OUT_OF_RANGE',
      '1e-45': 'ok',
      '1e-47': 'VALUE_OUT_OF_RANGE',
    })
    expect(verdicts(col('numeric', numeric(4, 6)), ['0.0099994', '0.0099995', '0.01'])).toEqual({
      '0.0099994': 'ok',
      '0.0099995': 'VALUE_OUT_OF_RANGE',
      '0.01': 'VALUE_OUT_OF_RANGE',
    })
    expect(verdicts(col('int2'), ['-32768', '-32768.0', '0x1F', '1_000'])).toEqual({
      '-32768': 'ok',
      '-32768.0': 'VALUE_INVALID',
      '0x1F': 'ok',
      '1_000': 'ok',
    })
  })

  it('accepts uuids in every layout uuid_in reads', () => {
    expect(
      verdicts(col('uuid'), [
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        'A0EEBC999C0B4EF8BB6D6BB9BD380A11',
        '{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}',
        'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11',
        'a0eebc99',
        'g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      ]),
    ).toEqual({
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11': 'ok',
      A0EEBC999C0B4EF8BB6D6BB9BD380A11: 'ok',
      '{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}': 'ok',
      'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11': 'ok',
      a0eebc99: 'VALUE_INVALID',
      'g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11': 'VALUE_INVALID',
    })
  })

  it('checks JSON syntax, the escapes jsonb refuses, and enum labels exactly', () => {
    expect(verdicts(col('jsonb'), ['{"a":1}', ' [1, 2] ', '"s"', '{a:1}', ''])).toEqual({
      '{"a":1}': 'ok',
      ' [1, 2] ': 'ok',
      '"s"': 'ok',
      '{a:1}': 'VALUE_INVALID',
      '': 'VALUE_INVALID',
    })
    // jsonb decodes escapes and refuses \u0000 and lone surrogates; json keeps its text as written and takes them.
    const escapes = [
      '"\\u0000"',
      '{"a": ["\\ud800"]}',
      '"\\udc00\\ud800"',
      '"\\ud83d\\ude00"',
      '"\\\\ud800"',
      '{"\\ud800": 1}',
    ]
    expect(verdicts(col('jsonb'), escapes)).toEqual({
      '"\\u0000"': 'VALUE_INVALID',
      '{"a": ["\\ud800"]}': 'VALUE_INVALID',
      '"\\udc00\\ud800"': 'VALUE_INVALID',
      '"\\ud83d\\ude00"': 'ok',
      '"\\\\ud800"': 'ok',
      '{"\\ud800": 1}': 'VALUE_INVALID',
    })
    expect(Object.values(verdicts(col('json'), escapes))).toEqual(escapes.map(() => 'ok'))
    expect(verdicts(col('mood', -1, { enumLabels: new Set(['happy', 'sad']) }), ['happy', 'Happy', ' sad'])).toEqual({
      happy: 'ok',
      Happy: 'VALUE_INVALID',
      ' sad': 'VALUE_INVALID',
    })
  })

  it('passes types it does not know through unchecked', () => {
    expect(checkFor(col('inet'))).toBeUndefined()
    expect(checkFor(col('_int4', -1, { isArray: true }))).toBeUndefined()
  })

  it('says what was expected and what was found, with the column and its type', () => {
    expect(checkFor({ ...col('int4'), name: 'age', displayType: 'integer' })!('12x')).toEqual({
      code: 'VALUE_INVALID',
      message: 'column "age" (integer): expected an integer, found "12x"',
    })
  })
})
