import { resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { LoadError } from '../../src/errors.js'
import type { LoadOptions, RedriveOptions } from '../../src/options.js'
import { resolveLoadOptions, resolveRedriveOptions, resolveRunOptions } from '../../src/options.js'

const MiB = 1024 ** 2
const DAY = 24 * 60 * 60 * 1000
const BASE: LoadOptions = { inputs: ['a.csv'], table: 't' }
const REDRIVE: RedriveOptions & { table: string } = { rejectsFile: 'a.csv.rejects.ndjson', table: 't' }
/** --batch-size auto with bounds of its own: the smallest batch may be the largest. */
const AUTO_EQUAL = { budgetMs: 50, minRows: 10, maxRows: 10 }
/** --batch-size auto with the smallest batch larger than the largest. */
const autoTune = (minRows: number, maxRows: number) => ({ autoTune: { budgetMs: 200, minRows, maxRows } })

/** The LoadError a resolver throws for `opts` (fails when it throws none, or something else). */
function refusal(resolveIt: () => unknown): LoadError {
  try {
    resolveIt()
  } catch (err) {
    expect(err).toBeInstanceOf(LoadError)
    return err as LoadError
  }
  throw new Error('the options were accepted')
}

describe('resolveLoadOptions: what an option not given becomes', () => {
  it.each<[keyof LoadOptions, unknown]>([
    ['method', 'copy'],
    ['mode', 'append'],
    ['key', undefined],
    ['update', undefined],
    ['updateIfNewer', undefined],
    ['batchRows', 10_000],
    ['batchBytes', 16 * MiB],
    ['autoTune', undefined],
    ['workers', 1],
    ['dryRun', false],
    ['retries', 5],
    ['ledgerDays', 30],
    ['retryBaseDelayMs', 250],
    ['retryMaxDelayMs', 30_000],
    ['lockBudgetMs', 200],
    ['overridingSystemValue', false],
    ['ignoreExtra', false],
    ['maxRejects', undefined],
    ['header', true],
    ['encoding', 'utf8'],
    ['maxRecordBytes', 64 * MiB],
    ['force', false],
    ['resume', false],
    ['restart', false],
    ['checkpoint', true],
    ['checkpointSchema', 'pgbulk'],
    ['job', undefined],
    ['format', undefined],
    ['columns', undefined],
    ['rowSample', undefined],
    ['flushIntervalMs', undefined],
    ['flushJitterMs', 0],
    ['startJitterMs', 0],
    ['follow', false],
    ['followPollMs', 100],
    ['random', undefined],
  ])('%s defaults to %j', (option, expected) => {
    expect(resolveLoadOptions(BASE)[option]).toEqual(expected)
  })

  it('reads "-" from process.stdin and writes "--rejects -" to process.stdout', () => {
    const opts = resolveLoadOptions(BASE)
    expect(opts.stdin).toBe(process.stdin)
    expect(opts.stdout).toBe(process.stdout)
  })

  it.each([
    ['csv', { delimiter: ',', quote: '"', escape: null, nullString: null }],
    ['tsv', { delimiter: '\t', quote: null, escape: null, nullString: null }],
    ['ndjson', { delimiter: ',', quote: '"', escape: null, nullString: null }],
  ] as const)('reads %s with its format default dialect', (format, dialect) => {
    expect(resolveLoadOptions(BASE).dialectFor(format)).toEqual(dialect)
  })

  it('puts a file’s rejects beside it, and a stream’s in the working directory', () => {
    const opts = resolveLoadOptions(BASE)
    expect(opts.rejectsFor({ path: '/data/a.csv', stream: false })).toBe('/data/a.csv.rejects.ndjson')
    expect(opts.rejectsFor({ path: '-', stream: true })).toBe(resolve('pgbulk-rejects.ndjson'))
  })
})

describe('resolveLoadOptions: a run id', () => {
  it('is a new UUIDv7 for each run when not given, later runs sorting after earlier ones', async () => {
    const first = resolveLoadOptions(BASE).runId
    await new Promise((r) => setTimeout(r, 2))
    const second = resolveLoadOptions(BASE).runId
    for (const id of [first, second])
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(second > first).toBe(true)
  })
})

describe('resolveLoadOptions: what is given passes through', () => {
  const stdin = new PassThrough()
  const stdout = new PassThrough()
  it.each<[Partial<LoadOptions>, Record<string, unknown>]>([
    [{ method: 'insert' }, { method: 'insert' }],
    [{ runId: '01a23181-6bd9-7f1e-99c4-632e946b43ea' }, { runId: '01a23181-6bd9-7f1e-99c4-632e946b43ea' }],
    [{ ledgerDays: 7 }, { ledgerDays: 7 }],
    [{ batchRows: 500 }, { batchRows: 500 }],
    [{ batchBytes: 1024 }, { batchBytes: 1024 }],
    [{ autoTune: AUTO_EQUAL }, { autoTune: AUTO_EQUAL, lockBudgetMs: AUTO_EQUAL.budgetMs }],
    [
      { mode: 'replace', lockBudgetMs: 75 },
      { mode: 'replace', lockBudgetMs: 75 },
    ],
    [{ workers: 4 }, { workers: 4 }],
    [{ workers: 0 }, { workers: 1 }],
    [{ dryRun: 'db' }, { dryRun: 'db' }],
    [{ dryRun: true }, { dryRun: true }],
    [
      { retries: 2, retryBaseDelayMs: 1, retryMaxDelayMs: 2 },
      { retries: 2, retryBaseDelayMs: 1, retryMaxDelayMs: 2 },
    ],
    [
      { overridingSystemValue: true, ignoreExtra: true },
      { overridingSystemValue: true, ignoreExtra: true },
    ],
    [{ maxRejects: { percent: 2.5 } }, { maxRejects: { percent: 2.5 } }],
    [
      { header: false, columns: ['a', 'b'], format: 'tsv' },
      { header: false, columns: ['a', 'b'], format: 'tsv' },
    ],
    [{ encoding: 'Windows-1252' }, { encoding: 'windows-1252' }],
    [{ encoding: 'ISO-8859-1' }, { encoding: 'latin1' }],
    [{ maxRecordBytes: 1 }, { maxRecordBytes: 1 }],
    [{ flushIntervalMs: 300 }, { flushIntervalMs: 300, flushJitterMs: 0 }],
    [
      { flushIntervalMs: 1, flushJitterMs: 100 },
      { flushIntervalMs: 1, flushJitterMs: 100 },
    ],
    [
      { flushIntervalMs: 24 * DAY, flushJitterMs: 24 * DAY, startJitterMs: 24 * DAY },
      { flushIntervalMs: 24 * DAY, flushJitterMs: 24 * DAY, startJitterMs: 24 * DAY },
    ],
    [{ flushJitterMs: 0 }, { flushJitterMs: 0 }],
    [{ startJitterMs: 300_000 }, { startJitterMs: 300_000 }],
    // (--follow commits by time: 1 s unless given; a jitter alone is then enough)
    [{ follow: true }, { follow: true, flushIntervalMs: 1000, followPollMs: 100 }],
    [
      { follow: true, flushIntervalMs: 5000, flushJitterMs: 1000 },
      { follow: true, flushIntervalMs: 5000, flushJitterMs: 1000 },
    ],
    [
      { follow: true, flushJitterMs: 200 },
      { flushIntervalMs: 1000, flushJitterMs: 200 },
    ],
    [{ maxRecordBytes: 256 * MiB }, { maxRecordBytes: 256 * MiB }],
    [
      { force: true, resume: true },
      { force: true, resume: true, restart: false },
    ],
    [{ restart: true }, { resume: false, restart: true }],
    [
      { checkpoint: false, checkpointSchema: 'etl', job: 'nightly' },
      { checkpoint: false, checkpointSchema: 'etl', job: 'nightly' },
    ],
    [
      { db: 'postgres://h/d', table: 's.t', inputs: ['x', 'y'] },
      { db: 'postgres://h/d', table: 's.t', inputs: ['x', 'y'] },
    ],
    [
      { stdin, stdout },
      { stdin, stdout },
    ],
  ])('keeps %j', (opts, expected) => {
    expect(resolveLoadOptions({ ...BASE, ...opts })).toMatchObject(expected)
  })

  it('reads CSV and TSV with the dialect given', () => {
    const opts = resolveLoadOptions({ ...BASE, delimiter: ';', quote: null, escape: '\\', nullString: '\\N' })
    expect(opts.dialectFor('csv')).toEqual({ delimiter: ';', quote: null, escape: '\\', nullString: '\\N' })
    expect(resolveLoadOptions({ ...BASE, quote: "'" }).dialectFor('tsv')).toEqual({
      delimiter: '\t',
      quote: "'",
      escape: null,
      nullString: null,
    })
  })

  it('puts every input’s rejects in the one --rejects file', () => {
    const opts = resolveLoadOptions({ ...BASE, rejects: 'r.ndjson' })
    expect(opts.rejectsFor({ path: '-', stream: true })).toBe('r.ndjson')
  })

  it('leaves the options given as they were (the report lists those), and cannot be changed', () => {
    const given: LoadOptions = { ...BASE, encoding: 'UTF-8' }
    const opts = resolveLoadOptions(given)
    expect(given).toEqual({ ...BASE, encoding: 'UTF-8' })
    expect(Object.isFrozen(opts)).toBe(true)
  })
})

describe('resolveLoadOptions: what is refused, before anything is opened', () => {
  const ENCODINGS = 'use utf8, latin1 or windows-1252'
  const tooLong = (n: number) => `--max-record-bytes must be a whole number of bytes from 1 to 268435456, not ${n}`
  it.each<[string, Partial<LoadOptions>, string, string | undefined]>([
    ['an unknown encoding', { encoding: 'ebcdic' }, 'unsupported --encoding "ebcdic"', ENCODINGS],
    ['--resume and --restart', { resume: true, restart: true }, '--resume and --restart exclude each other', undefined],
    ['a record limit of 0', { maxRecordBytes: 0 }, tooLong(0), undefined],
    ['a record limit that is not whole', { maxRecordBytes: 1.5 }, tooLong(1.5), undefined],
    ['a record limit over 256 MiB', { maxRecordBytes: 256 * MiB + 1 }, tooLong(256 * MiB + 1), undefined],
    ['a record limit that is not a number', { maxRecordBytes: Number.NaN }, tooLong(Number.NaN), undefined],
    ['--min-batch over --max-batch', autoTune(500, 100), '--min-batch 500 is larger than --max-batch 100', undefined],
    ['--key in append mode', { key: ['id'] }, '--key applies to --mode ignore, upsert and replace', undefined],
    [
      '--key in truncate mode',
      { mode: 'truncate', key: ['id'] },
      '--key applies to --mode ignore, upsert and replace',
      undefined,
    ],
    ['--update in ignore mode', { mode: 'ignore', update: ['a'] }, '--update applies to --mode upsert', undefined],
    [
      '--update-if-newer in append mode',
      { updateIfNewer: 'ts' },
      '--update-if-newer applies to --mode upsert',
      undefined,
    ],
    [
      'a row sample of 0',
      { rowSample: { idColumn: 'id', fraction: 0, onRow: () => {} } },
      "a row sample's fraction must be more than 0 and at most 1, not 0",
      undefined,
    ],
    [
      'a row sample over 1',
      { rowSample: { idColumn: 'id', fraction: 1.5, onRow: () => {} } },
      "a row sample's fraction must be more than 0 and at most 1, not 1.5",
      undefined,
    ],
    [
      'a run id that could end a SQL comment',
      { runId: 'x*/ DROP TABLE t; /*' },
      `a run id is 1 to 40 letters, digits, '-', '_', '.' or ':', not "x*/ DROP TABLE t; /*"`,
      undefined,
    ],
    [
      'replace without checkpoints',
      { mode: 'replace', checkpoint: false },
      '--mode replace keeps checkpoints: the new rows wait in a table of pgbulk until the switch, ' +
        'which --resume needs checkpoints to find',
      undefined,
    ],
  ])('refuses %s (USAGE)', (_, opts, message, hint) => {
    const err = refusal(() => resolveLoadOptions({ ...BASE, ...opts }))
    expect(err).toMatchObject({ code: 'USAGE', message, exitCode: 1 })
    expect(err.hint).toBe(hint)
  })
})

describe('resolveRunOptions and resolveRedriveOptions', () => {
  it('default what pgbulk load and pgbulk redrive share, and the redrive ledger’s schema', () => {
    const expected = {
      method: 'copy',
      batchRows: 10_000,
      batchBytes: 16 * MiB,
      workers: 1,
      dryRun: false,
      retries: 5,
      ignoreExtra: false,
    }
    expect(resolveRunOptions({ table: 't' })).toMatchObject(expected)
    expect(resolveRedriveOptions(REDRIVE)).toMatchObject({
      ...expected,
      rejectsFile: REDRIVE.rejectsFile,
      checkpointSchema: 'pgbulk',
    })
    expect(resolveRedriveOptions({ ...REDRIVE, checkpointSchema: 'etl', ignoreExtra: true })).toMatchObject({
      checkpointSchema: 'etl',
      ignoreExtra: true,
    })
  })

  it('make the first batch small only where no batch size was given', () => {
    expect(resolveRunOptions({ table: 't' }).firstBatchRows).toBe(1000)
    expect(resolveLoadOptions(BASE).firstBatchRows).toBe(1000)
    expect(resolveRunOptions({ table: 't', batchRows: 10_000 }).firstBatchRows).toBeUndefined()
    expect(resolveLoadOptions({ ...BASE, ...autoTune(10, 100) }).firstBatchRows).toBeUndefined()
  })

  it.each(['truncate', 'replace'] as const)('refuse --mode %s in a redrive (it would empty the table)', (mode) => {
    const err = refusal(() => resolveRedriveOptions({ ...REDRIVE, mode }))
    expect(err).toMatchObject({
      code: 'USAGE',
      message: `--mode ${mode} does not apply to pgbulk redrive: it would empty the table`,
    })
  })

  it('refuse --min-batch over --max-batch in a redrive too (USAGE)', () => {
    const err = refusal(() => resolveRedriveOptions({ ...REDRIVE, ...autoTune(2, 1) }))
    expect(err).toMatchObject({ code: 'USAGE', message: '--min-batch 2 is larger than --max-batch 1' })
  })
})

describe('a run id given by a library user', () => {
  // It is written into the SQL of every batch, inside /* */: a '*/' in it would end the comment and
  // run what follows (a load with runId 'x */ DROP TABLE victim; /*' ran the DROP).
  it.each(['x */ DROP TABLE victim; /*', '*/', "a'b", 'a b', '', 'é', 'x'.repeat(41), 'a\nb'])(
    'refuses %j (USAGE), in a load and a redrive',
    (runId) => {
      expect(refusal(() => resolveLoadOptions({ ...BASE, runId }))).toMatchObject({ code: 'USAGE' })
      expect(refusal(() => resolveRedriveOptions({ ...REDRIVE, runId }))).toMatchObject({ code: 'USAGE' })
    },
  )

  it.each(['0190a0b4-5e6f-7abc-8def-0123456789ab', 'nightly_2024-01-02T03:04', 'r.1', 'x'.repeat(40)])(
    'keeps %j',
    (runId) => {
      expect(resolveLoadOptions({ ...BASE, runId }).runId).toBe(runId)
    },
  )
})

describe('--ledger-days', () => {
  // (the ledger's cutoff is now() less that many days: 99999999 failed as an internal error,
  // "timestamp out of range", once the load had connected)
  it.each([0, -1, Number.NaN, Infinity, 1_000_001, 99_999_999])('refuses %s (USAGE)', (ledgerDays) => {
    expect(refusal(() => resolveLoadOptions({ ...BASE, ledgerDays }))).toMatchObject({ code: 'USAGE' })
  })

  it.each([0.5, 1, 36_500, 1_000_000])('keeps %s', (ledgerDays) => {
    expect(resolveLoadOptions({ ...BASE, ledgerDays }).ledgerDays).toBe(ledgerDays)
  })
})

describe('--flush-interval, --flush-jitter and --start-jitter (ms)', () => {
  const range = (flag: string, from: string, v: number) => `${flag} must be ${from} ms and at most 24 days, not ${v}`
  it.each<[Partial<LoadOptions>, string]>([
    [{ flushIntervalMs: 0 }, range('--flush-interval', 'more than 0', 0)],
    [{ flushIntervalMs: -5 }, range('--flush-interval', 'more than 0', -5)],
    [{ flushIntervalMs: Number.NaN }, range('--flush-interval', 'more than 0', Number.NaN)],
    [{ flushIntervalMs: Infinity }, range('--flush-interval', 'more than 0', Infinity)],
    // (more than a timer takes: it would fire at once)
    [{ flushIntervalMs: 24 * DAY + 1 }, range('--flush-interval', 'more than 0', 24 * DAY + 1)],
    [{ flushIntervalMs: 100, flushJitterMs: -1 }, range('--flush-jitter', 'at least 0', -1)],
    [{ flushIntervalMs: 100, flushJitterMs: Number.NaN }, range('--flush-jitter', 'at least 0', Number.NaN)],
    [{ flushJitterMs: 100 }, '--flush-jitter needs --flush-interval'],
    [{ startJitterMs: -1 }, range('--start-jitter', 'at least 0', -1)],
    [{ startJitterMs: Number.NaN }, range('--start-jitter', 'at least 0', Number.NaN)],
    [{ startJitterMs: 24 * DAY + 1 }, range('--start-jitter', 'at least 0', 24 * DAY + 1)],
  ])('refuses %j (USAGE)', (opts, message) => {
    expect(refusal(() => resolveLoadOptions({ ...BASE, ...opts }))).toMatchObject({ code: 'USAGE', message })
  })

  it.each<[Partial<LoadOptions>, string]>([
    [{ inputs: ['a.csv', 'b.csv'] }, '--follow follows one file, not 2: run one pgbulk per file'],
    [{ inputs: [] }, '--follow follows one file, not 0: run one pgbulk per file'],
    [{ inputs: ['-'] }, '--follow follows a file: stdin is read until it closes without it'],
    [{ mode: 'truncate' }, '--mode truncate needs the input to end: it cannot --follow'],
    [{ mode: 'replace', key: ['id'] }, '--mode replace needs the input to end: it cannot --follow'],
  ])('--follow refuses %j (USAGE)', (opts, message) => {
    const err = refusal(() => resolveLoadOptions({ ...BASE, follow: true, ...opts }))
    expect(err).toMatchObject({ code: 'USAGE', message })
  })

  it('refuses them in a redrive too (the flush window is a batching option)', () => {
    const err = refusal(() => resolveRedriveOptions({ ...REDRIVE, flushIntervalMs: -1 }))
    expect(err).toMatchObject({ code: 'USAGE' })
  })
})
