import { describe, expect, it } from 'vitest'
import { LoadError } from '../../src/errors.js'
import { closest, ColumnMatcher, looseName } from '../../src/validate/column-match.js'

const COLUMNS = ['customer_id', 'email_address', 'Name', 'created']

describe('looseName', () => {
  it.each([
    ['Customer ID', 'customer_id'],
    ['  email_address ', 'email_address'],
    ['E-Mail.Address', 'e_mail_address'],
    ['Amount (€)', 'amount'],
    ['Größe', 'größe'],
    ['__x__', 'x'],
    ['***', ''],
  ])('%j is %j', (name, loose) => expect(looseName(name)).toBe(loose))
})

describe('ColumnMatcher', () => {
  const m = new ColumnMatcher(COLUMNS, { 'Mail Addr': 'email_address', when: 'CREATED' }, '"public"."t"')

  it.each([
    ['customer_id', 0, 'exact'],
    ['CUSTOMER_ID', 0, 'case'],
    ['Customer ID', 0, 'loose'],
    [' customer-id ', 0, 'loose'],
    ['Name', 2, 'exact'],
    ['name', 2, 'case'],
    ['Mail Addr', 1, 'map'],
    [' Mail Addr ', 1, 'map'],
    ['when', 3, 'map'],
  ])('%j fills column %i (%s)', (name, index, how) => expect(m.match(name)).toEqual({ index, how }))

  it.each(['customer', 'id', '', '  ', 'emailaddress'])('%j fills nothing', (name) => {
    expect(m.match(name)).toBeUndefined()
  })

  it('refuses a loose name that fits two columns (COLUMN_AMBIGUOUS), naming both and a --map', () => {
    const two = new ColumnMatcher(['order id', 'order_id'], undefined, 't')
    expect(two.match('order_id')).toEqual({ index: 1, how: 'exact' })
    const err = (() => {
      try {
        two.match('Order-ID')
      } catch (e) {
        return e as LoadError
      }
      throw new Error('accepted')
    })()
    expect(err).toMatchObject({ code: 'COLUMN_AMBIGUOUS', exitCode: 1 })
    expect(err.message).toBe('field "Order-ID" fits 2 columns of t: "order id", "order_id"')
    expect(err.hint).toBe('say which with --map "Order-ID=order id"')
  })

  it('refuses --map to a column the table does not have, with what it probably meant', () => {
    expect(() => new ColumnMatcher(COLUMNS, { a: 'emial_address' }, 't')).toThrow(
      '--map "a=emial_address": t has no column "emial_address" (did you mean "email_address"?)',
    )
  })

  it('names the --map fields a header does not have', () => {
    expect(m.unusedMap(['Mail Addr ', 'x'])).toEqual(['when'])
  })

  it('suggests a column for a misspelt name only when one is close', () => {
    expect(m.didYouMean('Emial Address')).toBe(' (did you mean "email_address"?)')
    expect(m.didYouMean('nmae')).toBe(' (did you mean "Name"?)')
    expect(m.didYouMean('zip')).toBe('')
  })
})

describe('closest', () => {
  it('takes the nearest within 2 edits and under half the word, and none on a tie', () => {
    expect(closest('colour', ['color', 'column'])).toBe(0)
    expect(closest('ab', ['xy'])).toBeUndefined()
    expect(closest('abcd', ['abce', 'abcf'])).toBeUndefined()
    expect(closest('abcdefgh', ['abcdxxxx'])).toBeUndefined()
  })
})
