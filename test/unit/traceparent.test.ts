import { describe, expect, it } from 'vitest'
import { newSpanId, parseTraceparent, traceContextOf } from '../../src/observe/traceparent.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'

describe('parseTraceparent (W3C trace context)', () => {
  it('reads a version 00 traceparent: trace id, parent span id, flags', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toEqual({ traceId: TRACE, parentSpanId: PARENT, flags: '01' })
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)).toEqual({ traceId: TRACE, parentSpanId: PARENT, flags: '00' })
  })

  it('reads a later version, whose fields after the flags it does not know', () => {
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-01-what-comes-next`)).toMatchObject({ traceId: TRACE })
  })

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version 00 with more fields', `00-${TRACE}-${PARENT}-01-extra`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['a long parent id', `00-${TRACE}-${PARENT}0-01`],
    ['no flags', `00-${TRACE}-${PARENT}`],
    ['not hex', `00-${TRACE.slice(0, 31)}g-${PARENT}-01`],
    ['another separator', `00_${TRACE}_${PARENT}_01`],
  ])('ignores a malformed one: %s', (_, header) => {
    expect(parseTraceparent(header)).toBeUndefined()
    expect(traceContextOf(header)).toBeUndefined()
  })
})

describe('the span of pgbulk’s run', () => {
  it('is 16 random hex digits, never all zero, and differs from run to run', () => {
    const a = newSpanId()
    expect(a).toMatch(/^[0-9a-f]{16}$/)
    expect(newSpanId()).not.toBe(a)
    let calls = 0
    const zeroFirst = () => (calls++ === 0 ? Buffer.alloc(8) : Buffer.from('0102030405060708', 'hex'))
    expect(newSpanId(zeroFirst)).toBe('0102030405060708')
  })

  it('joins the caller’s trace: its trace id, its span as the parent, a span of its own', () => {
    expect(traceContextOf(`00-${TRACE}-${PARENT}-01`, 'aaaaaaaaaaaaaaaa')).toEqual({
      traceId: TRACE,
      parentSpanId: PARENT,
      flags: '01',
      spanId: 'aaaaaaaaaaaaaaaa',
    })
  })
})
