import { describe, expect, it } from 'vitest'
import { encodeCopyText, escapeCopyText } from '../../src/write/copy-text.js'

describe('COPY text encoding', () => {
  it('escapes backslash, tab, newline and carriage return', () => {
    expect(escapeCopyText('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re')
    expect(escapeCopyText('plain, "quoted" and ünïcödé')).toBe('plain, "quoted" and ünïcödé')
  })

  it('writes NULL as \\N and an empty string as nothing, and a literal \\N so that it stays text', () => {
    expect(encodeCopyText([{ values: [null, '', '\\N', undefined] }], [0, 1, 2, 3]).toString()).toBe(
      '\\N\t\t\\\\N\t\\N\n',
    )
  })

  it('writes only the given columns, in the given order', () => {
    expect(encodeCopyText([{ values: ['a', 'b', 'c'] }, { values: ['d', 'e', 'f'] }], [2, 0]).toString()).toBe(
      'c\ta\nf\td\n',
    )
  })
})
