import { describe, expect, it } from 'vitest'
import { LoadError } from '../../src/errors.js'
import type { SampledRow } from '../../src/observe/sample.js'
import { inSample, rowSampler, sampleHash } from '../../src/observe/sample.js'

const ids = Array.from({ length: 10_000 }, (_, k) => String(k + 1))

describe('deterministic sampling by id', () => {
  it('decides the same for the same id, every time (a hash, not a draw)', () => {
    for (const id of ids.slice(0, 500)) {
      expect(inSample(id, 0.3)).toBe(inSample(id, 0.3))
      expect(sampleHash(id)).toBe(sampleHash(id))
    }
  })

  it('is pinned: these ids hash to these values on every machine and in every version', () => {
    // (changing the hash changes which ids every fraction logs: a break of the contract)
    expect(['', '1', '42', 'élan'].map((id) => sampleHash(id).toFixed(8))).toEqual([
      '0.66892219',
      '0.33251128',
      '0.15985374',
      '0.98079359',
    ])
    expect(sampleHash('1')).not.toBe(sampleHash('2'))
    for (const id of ids.slice(0, 100)) {
      expect(sampleHash(id)).toBeGreaterThanOrEqual(0)
      expect(sampleHash(id)).toBeLessThan(1)
    }
  })

  it.each([0.01, 0.1, 0.5, 0.9])('keeps about %s of 10,000 ids', (fraction) => {
    const kept = ids.filter((id) => inSample(id, fraction)).length
    // 4 standard deviations of a binomial count: a fair sampler fails this about once in 15,000 runs.
    const sd = Math.sqrt(ids.length * fraction * (1 - fraction))
    expect(Math.abs(kept - ids.length * fraction)).toBeLessThan(4 * sd)
  })

  it('a larger fraction keeps every id a smaller one keeps; 1 keeps all', () => {
    const small = ids.filter((id) => inSample(id, 0.05))
    expect(small.every((id) => inSample(id, 0.2))).toBe(true)
    expect(ids.every((id) => inSample(id, 1))).toBe(true)
    expect(ids.some((id) => inSample(id, 0))).toBe(false)
  })

  it('spreads ids that differ in one character (no run of neighbours all in or all out)', () => {
    const runs = ids.slice(0, 1000).map((id) => inSample(id, 0.5))
    let longest = 0
    let n = 0
    for (let k = 0; k < runs.length; k++) {
      n = k > 0 && runs[k] === runs[k - 1] ? n + 1 : 1
      longest = Math.max(longest, n)
    }
    expect(longest).toBeLessThan(20)
  })
})

describe('rowSampler', () => {
  const columns = [{ name: 'id' }, { name: 'name' }]

  it('tells of the rows whose id is in the sample, with their batch, file and line; not NULL or absent ids', () => {
    const got: SampledRow[] = []
    const sample = rowSampler({ idColumn: 'id', fraction: 1, onRow: (r) => got.push(r) }, columns)
    sample(
      [
        { line: 2, values: ['7', 'a'] },
        { line: 3, values: [null, 'b'] },
        { line: 4, values: [undefined, 'c'] },
        { line: 5, values: [], value: (c: number) => (c === 0 ? '9' : 'd') },
      ],
      3,
      'in.csv',
    )
    expect(got).toEqual([
      { id: '7', batch: 3, file: 'in.csv', line: 2 },
      { id: '9', batch: 3, file: 'in.csv', line: 5 },
    ])
  })

  it('samples the same ids as inSample', () => {
    const got: string[] = []
    const sample = rowSampler({ idColumn: 'id', fraction: 0.1, onRow: (r) => got.push(r.id) }, columns)
    sample(
      ids.map((id, k) => ({ line: k + 2, values: [id, 'x'] })),
      1,
      'f',
    )
    expect(got).toEqual(ids.filter((id) => inSample(id, 0.1)))
  })

  it('refuses a column the table does not have (COLUMN_UNKNOWN, exit 1)', () => {
    let err: unknown
    try {
      rowSampler({ idColumn: 'nope', fraction: 1, onRow: () => {} }, columns)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(LoadError)
    expect(err).toMatchObject({
      code: 'COLUMN_UNKNOWN',
      exitCode: 1,
      message: '--id-column "nope" is not a column of the table',
      hint: "the table's columns: id, name",
    })
  })
})
