import { describe, expect, it } from 'vitest'
import type { LedgerRow } from '../../src/checkpoint/batch-ledger.js'
import type { Rejection } from '../../src/reject/rejection.js'
import type { LineFacts } from '../../src/trace/decide-line.js'
import { decideLine, latestRejection } from '../../src/trace/decide-line.js'
import { formatAnswer } from '../../src/cli/trace-command.js'

const at = new Date('2026-12-01T11:34:38.123Z')

function batch(b: Partial<LedgerRow> & Pick<LedgerRow, 'batch' | 'firstLine' | 'lastLine'>): LedgerRow {
  return {
    job: 'job',
    runId: 'run-1',
    input: '/d/orders.csv',
    firstByte: 0,
    nextByte: 0,
    rowsLoaded: 1,
    rowsRejected: 0,
    attempts: 1,
    txid: '181531',
    ms: 1,
    lines: undefined,
    committedAt: at,
    ...b,
  }
}

function rejection(line: number, byte: number, code = 'VALUE_INVALID'): Rejection {
  return {
    file: 'orders.csv',
    input: '/d/orders.csv',
    line,
    byte,
    stage: 'validate',
    code,
    message: `bad ${code}`,
    raw: 'x',
  }
}

function facts(f: Partial<LineFacts>): LineFacts {
  return {
    input: '/d/orders.csv',
    line: 10,
    header: true,
    rejections: [],
    batches: [],
    checkpoint: { nextLine: 100, nextByte: 1000, done: true },
    lastRun: { runId: 'run-2', job: 'job', endedAt: undefined, exitCode: undefined },
    ...f,
  }
}

describe('decideLine', () => {
  it('says loaded by the batch whose range holds the line, with its run, range, commit time and transaction', () => {
    expect(decideLine(facts({ batches: [batch({ batch: 3, firstLine: 5, lastLine: 12 })] }))).toEqual({
      input: '/d/orders.csv',
      line: 10,
      status: 'loaded',
      runId: 'run-1',
      job: 'job',
      batch: 3,
      firstLine: 5,
      lastLine: 12,
      committedAt: '2026-12-01T11:34:38.123Z',
      txid: '181531',
    })
  })

  it('asks the reject file first: a rejected line lies inside a load batch, and its latest entry wins', () => {
    const a = decideLine(
      facts({
        rejections: [
          rejection(10, 500, 'VALUE_INVALID'),
          rejection(11, 510),
          { ...rejection(10, 500, '23514'), stage: 'database', column: 2 },
        ],
        batches: [batch({ batch: 3, firstLine: 5, lastLine: 12 })],
      }),
    )
    expect(a).toMatchObject({ status: 'rejected', code: '23514', stage: 'database', column: 2, message: 'bad 23514' })
    expect(a).toMatchObject({ runId: 'run-1', batch: 3 })
  })

  it('prefers a redrive batch that loaded the line over the load batch that rejected it', () => {
    const redrive = batch({
      batch: 1,
      runId: 'run-r',
      job: 'redrive:/d/r.ndjson',
      firstLine: 2,
      lastLine: 40,
      lines: [2, 10, 40],
    })
    const a = decideLine(facts({ batches: [redrive, batch({ batch: 3, firstLine: 5, lastLine: 12 })] }))
    expect(a).toMatchObject({ status: 'loaded', redrive: true, runId: 'run-r', batch: 1, job: 'redrive:/d/r.ndjson' })
  })

  it('ignores reject lines past an unfinished checkpoint (written by a batch that never committed)', () => {
    const cp = { nextLine: 10, nextByte: 500, done: false }
    expect(latestRejection([rejection(10, 500)], 10, cp)).toBeUndefined()
    expect(latestRejection([rejection(10, 500)], 10, { ...cp, done: true })).toBeDefined()
    expect(latestRejection([rejection(9, 499)], 9, cp)).toBeDefined()
    const a = decideLine(facts({ rejections: [rejection(10, 500)], checkpoint: cp }))
    expect(a).toMatchObject({ status: 'not loaded', runId: 'run-2', killed: true })
  })

  it('says line 1 of an input with a header is the header', () => {
    const a = decideLine(facts({ line: 1, batches: [batch({ batch: 1, firstLine: 1, lastLine: 9 })] }))
    expect(a).toEqual({
      input: '/d/orders.csv',
      line: 1,
      status: 'not loaded',
      why: expect.stringContaining('header') as string,
    })
    expect(
      decideLine(facts({ line: 1, header: false, batches: [batch({ batch: 1, firstLine: 1, lastLine: 9 })] })).status,
    ).toBe('loaded')
  })

  it('names the run that stopped before the line: killed (no end), or its exit code', () => {
    const cp = { nextLine: 8, nextByte: 400, done: false }
    expect(decideLine(facts({ checkpoint: cp }))).toEqual({
      input: '/d/orders.csv',
      line: 10,
      status: 'not loaded',
      runId: 'run-2',
      job: 'job',
      killed: true,
      why: 'the run was killed before this line, or is still running (it recorded no end): its checkpoint stops at line 8 (--resume loads the rest)',
    })
    const ended = { runId: 'run-2', job: 'job', endedAt: at, exitCode: 3 }
    expect(decideLine(facts({ checkpoint: cp, lastRun: ended }))).toMatchObject({
      exitCode: 3,
      why: expect.stringContaining('ended with exit code 3') as string,
    })
  })

  it('says a line past the end of the input is, and a line with no checkpoint or ledger entry why', () => {
    expect(decideLine(facts({ inputLines: 7 })).why).toBe('the input has 7 lines: line 10 lies past its end')
    expect(decideLine(facts({ checkpoint: { nextLine: 8, nextByte: 9, done: true } })).why).toContain('had 7 lines')
    expect(decideLine(facts({ checkpoint: undefined })).why).toContain('no checkpoint')
    expect(decideLine(facts({})).why).toContain('no batch in the ledger')
  })
})

describe('formatAnswer', () => {
  it('prints one block per answer, with the data escaped', () => {
    const loaded = decideLine(facts({ batches: [batch({ batch: 5, firstLine: 1, lastLine: 12 })] }))
    expect(
      formatAnswer({ ...loaded, inTable: true, key: { id: '10' }, target: '"public"."orders"' }, 'orders.csv'),
    ).toBe(
      'orders.csv:10: loaded by run run-1 batch 5 (lines 1–12), committed 2026-12-01T11:34:38Z as transaction 181531; ' +
        'a row with id 10 is in "public"."orders" now',
    )
    const rejected = decideLine(
      facts({ rejections: [{ ...rejection(10, 5), message: 'bad\x1b[2J', column: 2, columnName: 'qty' }] }),
    )
    expect(formatAnswer(rejected, 'orders.csv')).toBe(
      'orders.csv:10: rejected (validate stage, code VALUE_INVALID, column 2 "qty"): bad\\x1b[2J',
    )
  })

  // (the note that the load's rejects went to stdout was in --json only: people read "loaded" for a
  // line the load may have rejected)
  it('prints what a loaded answer cannot be sure of', () => {
    const loaded = decideLine(facts({ batches: [batch({ batch: 5, firstLine: 1, lastLine: 12 })] }))
    const text = formatAnswer({ ...loaded, why: 'the load wrote its reject lines to stdout' }, 'orders.csv')
    expect(text.split('\n')).toEqual([
      'orders.csv:10: loaded by run run-1 batch 5 (lines 1–12), committed 2026-12-01T11:34:38Z as transaction 181531',
      '  but the load wrote its reject lines to stdout',
    ])
  })

  it('warns when the input changed since it was loaded', () => {
    const loaded = decideLine(facts({ batches: [batch({ batch: 5, firstLine: 1, lastLine: 12 })] }))
    const text = formatAnswer({ ...loaded, inputChanged: 'its content changed' }, 'orders.csv')
    expect(text.split('\n')[1]).toBe(
      '  warning: the input changed since it was loaded (its content changed): the line read now may not be the one loaded',
    )
  })
})
