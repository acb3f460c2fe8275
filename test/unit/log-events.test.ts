import { describe, expect, it } from 'vitest'
import { LoadError } from '../../src/errors.js'
import {
  batchFields,
  errorFields,
  levelOfExit,
  logEvent,
  rejectFields,
  retryFields,
} from '../../src/observe/log-events.js'
import type { Rejection } from '../../src/reject/rejection.js'

const NOW = new Date('2026-12-01T12:00:00.123Z')
const TRACE = { traceId: 'a'.repeat(32), parentSpanId: 'b'.repeat(16), flags: '01', spanId: 'c'.repeat(16) }

describe('log events (--log-format json)', () => {
  it('lead with time, level, event, run id, job and the trace, then the event’s own fields', () => {
    const e = logEvent({ runId: 'r1', job: 'j', trace: TRACE }, 'info', 'batch', { rows: 3 }, NOW)
    expect(Object.keys(e)).toEqual([
      'time',
      'level',
      'event',
      'runId',
      'job',
      'traceId',
      'spanId',
      'parentSpanId',
      'rows',
    ])
    expect(e).toEqual({
      time: '2026-12-01T12:00:00.123Z',
      level: 'info',
      event: 'batch',
      runId: 'r1',
      job: 'j',
      traceId: TRACE.traceId,
      spanId: TRACE.spanId,
      parentSpanId: TRACE.parentSpanId,
      rows: 3,
    })
    // No job yet, no trace: the fields are left out, not null.
    expect(logEvent({ runId: 'r1' }, 'warn', 'x', {}, NOW)).toEqual({
      time: '2026-12-01T12:00:00.123Z',
      level: 'warn',
      event: 'x',
      runId: 'r1',
    })
  })

  it('a batch: its place and figures; with --batch-size auto the wait it caused and the next size', () => {
    const b = {
      batch: 4,
      file: 'a.csv',
      firstLine: 10,
      lastLine: 19,
      firstByte: 100,
      nextByte: 200,
      rows: 9,
      rejected: 1,
      skipped: 0,
      attempts: 2,
      txid: '777',
      ms: 12,
      committedAt: NOW,
    }
    expect(batchFields(b)).toEqual({
      batch: 4,
      file: 'a.csv',
      firstLine: 10,
      lastLine: 19,
      rows: 9,
      rejected: 1,
      ms: 12,
      txid: '777',
      attempts: 2,
    })
    expect(batchFields({ ...b, autoTune: { blockedMs: 35, nextRows: 800 } })).toMatchObject({
      blockedMs: 35,
      nextBatchRows: 800,
    })
  })

  it('a retry: the SQLSTATE, the attempt, the wait and the message', () => {
    const error = Object.assign(new Error('deadlock detected'), { code: '40P01' })
    expect(retryFields({ attempt: 1, delayMs: 250.4, error })).toEqual({
      code: '40P01',
      attempt: 1,
      delayMs: 250,
      message: 'deadlock detected',
    })
    expect(retryFields({ attempt: 2, delayMs: 10, error: 'boom' })).toEqual({
      attempt: 2,
      delayMs: 10,
      message: 'boom',
    })
  })

  it('a reject: where and why, never the row’s text', () => {
    const r: Rejection = {
      file: 'a.csv',
      line: 7,
      byte: 70,
      stage: 'database',
      code: '23505',
      message: 'duplicate key value violates unique constraint "t_pkey"',
      raw: '1,secret-value',
      pg: { code: '23505', constraint: 't_pkey', detail: 'Key (id)=(1) already exists.' },
      batch: 2,
    }
    const f = rejectFields(r)
    expect(f).toEqual({ file: 'a.csv', line: 7, code: '23505', stage: 'database', constraint: 't_pkey', batch: 2 })
    expect(JSON.stringify(f)).not.toContain('secret-value')
    expect(JSON.stringify(f)).not.toContain('already exists')
  })

  it('an error before the run: code, message, hint and exit code; an internal error is INTERNAL', () => {
    const err = new LoadError('TABLE_NOT_FOUND', 'table "t" not found', 'check --table')
    expect(errorFields(err, 1, 5)).toEqual({
      code: 'TABLE_NOT_FOUND',
      message: 'table "t" not found',
      hint: 'check --table',
      exitCode: 1,
      elapsedMs: 5,
    })
    expect(errorFields(new TypeError('x is undefined'), 1, 0)).toMatchObject({
      code: 'INTERNAL',
      message: 'x is undefined',
    })
  })

  it('ends at info for exit 0, warn for 2 (rows rejected), error otherwise', () => {
    expect([0, 2, 1, 3, 130].map(levelOfExit)).toEqual(['info', 'warn', 'error', 'error', 'error'])
  })
})
