import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type pg from 'pg'
import { describe, expect, it } from 'vitest'
import { Batcher } from '../../src/batch/batcher.js'
import { dialectOf } from '../../src/parse/dialect.js'
import type { ParsedRecord } from '../../src/parse/parsed-record.js'
import { runInput } from '../../src/pipeline/run-input.js'
import { newTotals } from '../../src/report/run-figures.js'
import { RejectSink } from '../../src/reject/reject-sink.js'
import type { TableSchema } from '../../src/schema/introspect.js'
import type { Writer } from '../../src/write/types.js'
import { WriterPool } from '../../src/write/writer-pool.js'

const schema: TableSchema = {
  schema: 'public',
  name: 't',
  sqlName: '"public"."t"',
  columns: [
    {
      name: 'a',
      type: 'text',
      typmod: -1,
      displayType: 'text',
      notNull: false,
      hasDefault: false,
      generated: false,
      identityAlways: false,
      isArray: false,
    },
  ],
  serverVersionNum: 180000,
  beforeRowTriggers: false,
}

describe('runInput', () => {
  it('ends with the error a record made the validator throw, not a TypeError about a record without a result', async () => {
    // A 600 MB line made the validator throw (a string too long) after its record was counted
    // in: the run then crashed with "Cannot use 'in' operator to search for 'stage' in undefined".
    const dir = await mkdtemp(join(tmpdir(), 'pgbulk-pipeline-'))
    try {
      const at = { byte: 0, nextByte: 9, nextLine: 2, raw: Buffer.from('{"a":"x"}') }
      const good: ParsedRecord = {
        ...at,
        line: 1,
        kind: 'object',
        refusedEscape: false,
        fields: new Map([['a', { kind: 'string', text: 'x' }]]),
      }
      const bad: ParsedRecord = {
        ...at,
        line: 2,
        kind: 'object',
        refusedEscape: false,
        get fields(): Map<string, never> {
          throw new RangeError('Invalid string length')
        },
      }
      const run = runInput({
        name: 'in.ndjson',
        records: [[good, bad]],
        bytesConsumed: () => 0,
        schema,
        parse: { format: 'ndjson', encoding: 'utf8', dialect: dialectOf('ndjson', {}) },
        header: false,
        ignoreExtra: false,
        writers: undefined,
        batcher: new Batcher({ maxRows: 10, maxBytes: 1e9 }),
        sink: await RejectSink.prepare(join(dir, 'r.ndjson'), false),
        totals: newTotals(undefined),
        rejectLimit: undefined,
        signal: undefined,
        onProgress: undefined,
        onReject: undefined,
      })
      await expect(run).rejects.toThrow(RangeError)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('runInput with a flush window (--flush-interval)', () => {
  /** An NDJSON record {"a":"<line>"} on line `line`. */
  function rec(line: number): ParsedRecord {
    const raw = Buffer.from(`{"a":"${line}"}`)
    const byte = line * 100
    return {
      byte,
      nextByte: byte + raw.length,
      line,
      nextLine: line + 1,
      raw,
      kind: 'object',
      refusedEscape: false,
      fields: new Map([['a', { kind: 'string', text: String(line) }]]),
    }
  }

  it('commits the rows read when the window closes while input is idle, and loses no chunk it was waiting for', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgbulk-pipeline-'))
    try {
      let open: () => void = () => {}
      const gate = new Promise<void>((resolve) => (open = resolve))
      // Two rows, then nothing until the test opens the gate (the chunk asked for stays pending), then two more.
      async function* records(): AsyncGenerator<ParsedRecord[]> {
        yield [rec(1), rec(2)]
        await gate
        yield [rec(3)]
        yield [rec(4)]
      }
      const batches: number[][] = []
      let gateOpen = false
      const openedAt: boolean[] = []
      const writer: Writer = {
        connection: {} as pg.Client,
        async write(rows, call) {
          const res = { loaded: rows.length, skipped: 0, rejected: [] }
          await call?.beforeCommit?.({} as pg.Client, res)
          batches.push(rows.map((r) => r.line))
          openedAt.push(gateOpen)
          return res
        },
        close: () => Promise.resolve(),
        retarget: () => {},
      }
      const run = runInput({
        name: 'in.ndjson',
        records: records(),
        bytesConsumed: () => 0,
        schema,
        parse: { format: 'ndjson', encoding: 'utf8', dialect: dialectOf('ndjson', {}) },
        header: false,
        ignoreExtra: false,
        writers: new WriterPool([writer]),
        batcher: new Batcher({ maxRows: 1000, maxBytes: 1e9 }, { intervalMs: 30, jitterMs: 0 }),
        sink: await RejectSink.prepare(join(dir, 'r.ndjson'), false),
        totals: newTotals(undefined),
        rejectLimit: undefined,
        signal: undefined,
        onProgress: undefined,
        onReject: undefined,
      })
      // The window closes with the input idle: the first two rows go without waiting for more.
      const until = Date.now() + 5000
      while (batches.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5))
      expect(batches).toEqual([[1, 2]])
      // The time that passes with no input sends nothing more (no empty batches).
      await new Promise((r) => setTimeout(r, 100))
      expect(batches).toEqual([[1, 2]])
      gateOpen = true
      open()
      const result = await run
      expect(batches.flat()).toEqual([1, 2, 3, 4])
      expect(openedAt[0]).toBe(false)
      expect(result.file).toMatchObject({ rowsRead: 4, rowsLoaded: 4 })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
