import { describe, expect, it } from 'vitest'
import { backoffDelayMs, classifyFault } from '../../src/write/writer.js'

describe('retries', () => {
  it('backs off with full jitter: uniform below a cap that doubles up to the maximum', () => {
    const policy = (random: number) => ({ baseDelayMs: 100, maxDelayMs: 1000, random: () => random })
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(a, policy(0.999999)))).toEqual([99, 199, 399, 799, 999, 999])
    expect(backoffDelayMs(3, policy(0))).toBe(0)
    expect(backoffDelayMs(3, policy(0.5))).toBe(200)
  })

  it('tells passing faults from the rest', () => {
    const e = (code: string, message = 'x') => Object.assign(new Error(message), { code })
    expect(['40001', '40P01', '55P03', '57014'].map((c) => classifyFault(e(c)))).toEqual([
      'statement',
      'statement',
      'statement',
      'statement',
    ])
    expect(['57P01', '57P02', '57P03', '53300', 'ECONNREFUSED', 'ECONNRESET'].map((c) => classifyFault(e(c)))).toEqual(
      Array(6).fill('connection'),
    )
    expect(classifyFault(new Error('Connection terminated unexpectedly'))).toBe('connection')
    expect(classifyFault(new Error('cannot connect', { cause: e('ECONNREFUSED') }))).toBe('connection')
    expect(['23505', '42501', '42P01', '22P02'].map((c) => classifyFault(e(c)))).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ])
  })
})
