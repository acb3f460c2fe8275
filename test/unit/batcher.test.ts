import { describe, expect, it } from 'vitest'
import { Batcher } from '../../src/batch/batcher.js'
import type { ValidRow } from '../../src/validate/valid-row.js'

function row(line: number, bytes: number): ValidRow {
  return { line, byte: line * 1000, nextByte: line * 1000 + bytes, raw: Buffer.alloc(0), values: [], shape: '' }
}

describe('batcher', () => {
  it('closes a batch at the row limit', () => {
    const b = new Batcher({ maxRows: 3, maxBytes: 1e9 })
    expect([1, 2].map((i) => b.add(row(i, 10)))).toEqual([undefined, undefined])
    expect(b.add(row(3, 10))?.map((r) => r.line)).toEqual([1, 2, 3])
    expect(b.add(row(4, 10))).toBeUndefined()
    expect(b.flush()?.map((r) => r.line)).toEqual([4])
    expect(b.flush()).toBeUndefined()
  })

  it('closes a batch at the byte limit, whichever comes first', () => {
    const b = new Batcher({ maxRows: 100, maxBytes: 25 })
    expect(b.add(row(1, 10))).toBeUndefined()
    expect(b.add(row(2, 10))).toBeUndefined()
    expect(b.add(row(3, 10))?.map((r) => r.line)).toEqual([1, 2, 3])
    // A single row larger than the limit is a batch of its own.
    expect(b.add(row(4, 1000))?.map((r) => r.line)).toEqual([4])
  })
})
