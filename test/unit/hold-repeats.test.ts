import { describe, expect, it } from 'vitest'
import type { ValidRow } from '../../src/validate/valid-row.js'
import { holdRepeats } from '../../src/write/key-check.js'

/** A row of NDJSON-like values (no input bytes to hash: its texts are). */
function row(line: number, ...values: (string | null | undefined)[]): ValidRow {
  return { line, byte: line, nextByte: line + 1, raw: Buffer.alloc(0), values, shape: '0,1' }
}

describe('holdRepeats', () => {
  it('holds back (by index, in input order) every row that repeats a key of an earlier row (held or not)', () => {
    const rows = [row(1, '1'), row(2, '2'), row(3, '2'), row(4, '3'), row(5, '1'), row(6, '2')]
    expect(holdRepeats(rows, [0])).toEqual([2, 4, 5])
  })

  it('looks at each key on its own; NULL and absent values repeat nothing; nothing repeated: undefined', () => {
    const rows = [
      row(1, '1', 'a'),
      row(2, '2', 'a'),
      row(3, null, 'b'),
      row(4, null, undefined),
      row(5, '3', undefined),
    ]
    expect(holdRepeats(rows, [0, 1])).toEqual([1])
    expect(holdRepeats(rows, [0])).toBeUndefined()
    expect(holdRepeats([], [0])).toBeUndefined()
  })

  it("compares a CSV row's key by its bytes (valueHash) where it has one", () => {
    const hashed = (line: number, h: number | undefined): ValidRow => ({ ...row(line, 'same'), valueHash: () => h })
    const rows = [hashed(1, 7), hashed(2, 8), hashed(3, 7), hashed(4, undefined), hashed(5, undefined)]
    expect(holdRepeats(rows, [0])).toEqual([2])
  })
})
