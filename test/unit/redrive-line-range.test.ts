import { describe, expect, it } from 'vitest'
import { lineRange } from '../../src/redrive/redrive.js'

// A redrive batch's ledger row takes the range of the lines its rows came from. It was
// Math.min(...lines): a redrive with --batch-size 150000 stopped at its first batch with "database
// error: Maximum call stack size exceeded" (exit 3), having loaded nothing.
describe('lineRange (a redrive batch in the ledger)', () => {
  it('takes the smallest and largest of a million scattered lines', () => {
    const lines = Array.from({ length: 1_000_000 }, (_, k) => ((k * 7919) % 1_000_000) + 2)
    expect(lineRange(lines)).toEqual([2, 1_000_001])
  })

  it('of one line', () => {
    expect(lineRange([42])).toEqual([42, 42])
  })
})
