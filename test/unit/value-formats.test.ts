import { describe, expect, it } from 'vitest'
import { plainColumn } from '../../src/schema/introspect.js'
import { checkFor } from '../../src/validate/check-value.js'
import type { ValueFormats } from '../../src/validate/value-formats.js'
import { rewritesValues, transformFor } from '../../src/validate/value-formats.js'

const col = (type: string) => plainColumn('c', type)

/** What a value of a column of `type` becomes: its text, NULL, or the problem's code. */
function rewrite(type: string, f: ValueFormats, v: string): string | null | undefined {
  const t = transformFor(col(type), f)
  if (!t) return undefined
  const out = t(v)
  return out === null || typeof out === 'string' ? out : `!${out.code}`
}

describe('value formats', () => {
  it.each<[string, ValueFormats, string, string | null | undefined]>([
    ['date', { dateOrder: 'DMY' }, '03.01.2020', '2020-01-03'],
    ['date', { dateOrder: 'DMY' }, '3/1/2020', '2020-01-03'],
    ['date', { dateOrder: 'MDY' }, '03.01.2020', '2020-03-01'],
    ['date', { dateOrder: 'DMY' }, '26.05.2015', '2015-05-26'],
    ['date', { dateOrder: 'MDY' }, '26.05.2015', '!VALUE_OUT_OF_RANGE'],
    ['date', { dateOrder: 'DMY' }, '31.02.2020', '!VALUE_OUT_OF_RANGE'],
    ['date', { dateOrder: 'DMY' }, '2020-01-03', '2020-01-03'],
    ['date', { dateOrder: 'DMY' }, '2020.01.03', '2020-01-03'],
    ['date', { dateOrder: 'DMY' }, '03.01.20', '2020-01-03'],
    ['date', { dateOrder: 'DMY' }, '31.12.99', '1999-12-31'],
    ['date', { dateOrder: 'DMY' }, '12/31/99', '!VALUE_OUT_OF_RANGE'],
    ['date', { dateOrder: 'DMY' }, '03.01.020', '03.01.020'],
    ['date', { dateOrder: 'DMY' }, '31.12.0000', '!VALUE_OUT_OF_RANGE'],
    ['date', { dateOrder: 'DMY' }, '31.12.00', '2000-12-31'],
    ['timestamp', { dateOrder: 'DMY' }, '03.01.2020 10:30', '2020-01-03 10:30'],
    ['text', { dateOrder: 'DMY' }, '03.01.2020', undefined],
    ['numeric', { thousands: ',' }, '57,190.56', '57190.56'],
    ['numeric', { thousands: ',' }, '-1,234,567', '-1234567'],
    ['numeric', { thousands: ',' }, '5,71,90', '!VALUE_INVALID'],
    ['numeric', { decimalComma: true, thousands: '.' }, '1.234,56', '1234.56'],
    ['numeric', { decimalComma: true }, '12,5', '12.5'],
    ['numeric', { decimalComma: true }, '1.5', '!VALUE_INVALID'],
    ['numeric', { decimalComma: true, thousands: ' ' }, '1 234,5', '1234.5'],
    ['numeric', { currency: true, thousands: ',' }, '$58,044.03', '58044.03'],
    ['numeric', { currency: true, decimalComma: true }, '12,50 €', '12.50'],
    ['int4', { thousands: ',' }, '1,000', '1000'],
    ['timestamptz', { epoch: 's' }, '1704164645', '2024-01-02T03:04:05.000Z'],
    ['timestamp', { epoch: 'ms' }, '1704164645123', '2024-01-02T03:04:05.123'],
    ['timestamptz', { epoch: 's' }, '2024-01-02', '2024-01-02'],
    ['date', { epoch: 's' }, '1704164645', undefined],
    ['text', { nulls: ['N/A', 'NULL'] }, 'N/A', null],
    ['int4', { nulls: ['N/A'] }, 'n/a', 'n/a'],
  ])('%s %j: %j → %j', (type, f, v, out) => expect(rewrite(type, f, v)).toEqual(out))

  it('rewrites nothing when no format is asked for (the fast paths stay on)', () => {
    expect(rewritesValues(undefined)).toBe(false)
    expect(rewritesValues({})).toBe(false)
    expect(rewritesValues({ nulls: [] })).toBe(false)
    expect(rewritesValues({ dateOrder: 'DMY' })).toBe(true)
  })
})

describe('date checks in the server DateStyle order', () => {
  it.each<[string, 'DMY' | 'MDY' | 'YMD' | undefined, boolean]>([
    ['26.05.2015', 'MDY', false],
    ['26.05.2015', 'DMY', true],
    ['03.01.2020', 'MDY', true],
    ['13/01/2020', 'MDY', false],
    ['01-13-2020', 'MDY', true],
    ['2020/13/01', 'MDY', false],
    ['26.05.2015', undefined, true],
    ['03.01.20', 'MDY', true],
    ['13.01.20', 'MDY', false],
    ['13.01.20', 'DMY', true],
    ['12.31.0000', 'MDY', false],
  ])('%j under %s passes: %s', (v, order, ok) => {
    expect(checkFor(col('date'), order)!(v) === undefined).toBe(ok)
    expect(checkFor(col('timestamp'), order)!(`${v} 10:00`) === undefined).toBe(ok)
  })
})
