import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Batcher } from '../../src/batch/batcher.js'
import { dialectOf } from '../../src/parse/dialect.js'
import type { ParsedRecord } from '../../src/parse/parsed-record.js'
import { runInput } from '../../src/pipeline/run-input.js'
import { newTotals } from '../../src/report/run-figures.js'
import { RejectSink } from '../../src/reject/reject-sink.js'
import type { TableSchema } from '../../src/schema/introspect.js'

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
