import { readFileSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { InvalidArgumentError } from 'commander'
import { describe, expect, it } from 'vitest'
import { buildProgram, main } from '../../src/cli/main.js'
import type { LoadOptions } from '../../src/index.js'
import { parseDuration, parsePositiveInt, parseRejectLimit, parseSize } from '../../src/cli/options.js'

interface Parsed {
  opts?: LoadOptions
  extra?: unknown
  error?: string
}

/** Parse a command line in-process, as main() would, without loading anything. */
async function parse(args: string[]): Promise<Parsed> {
  let got: Parsed = {}
  let err = ''
  const program = buildProgram((job, extra) => {
    got = { opts: job.opts as LoadOptions, extra }
    return Promise.resolve()
  })
  for (const c of [program, ...program.commands]) {
    c.exitOverride()
    c.configureOutput({ writeOut: () => {}, writeErr: (s) => (err += s) })
  }
  try {
    await program.parseAsync(['node', 'pgbulk', ...args])
    return got
  } catch {
    return { error: err }
  }
}

/** Run main() in-process with streams of the test's own: its exit code and what it wrote. */
async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [stdout, stderr] = [new PassThrough(), new PassThrough()]
  // (a PassThrough lacks a terminal's fields, which nothing here reads)
  const io = { stdout, stderr: stderr as unknown as NodeJS.WriteStream, signals: false }
  const code = await main(['node', 'pgbulk', ...args], io)
  const text = (s: PassThrough) => String(s.read() ?? '')
  return { code, stdout: text(stdout), stderr: text(stderr) }
}

describe('command-line options', () => {
  it('reads pgbulk redrive with the options it shares with load', async () => {
    const r = await parse([
      'redrive',
      'x.rejects.ndjson',
      '-t',
      'public.t',
      '--method',
      'insert',
      '--retries',
      '2',
      '--dry-run=db',
    ])
    expect(r.opts).toMatchObject({
      rejectsFile: 'x.rejects.ndjson',
      table: 'public.t',
      method: 'insert',
      retries: 2,
      dryRun: 'db',
    })
  })

  it('builds load options with defaults', async () => {
    const r = await parse(['load', 'a.csv', 'b.csv.gz', '--table', 'public.t'])
    expect(r.opts).toMatchObject({
      inputs: ['a.csv', 'b.csv.gz'],
      table: 'public.t',
      header: true,
      method: 'copy',
      encoding: 'utf8',
      dryRun: false,
    })
    // (no batch size given: load() defaults it, and makes the first batch small)
    expect(r.opts).not.toHaveProperty('batchRows')
  })

  it('reads every option', async () => {
    const r = await parse([
      'load',
      '-',
      '-t',
      't',
      '--db',
      'postgres://u:p@h/d',
      '--format',
      'tsv',
      '--no-header',
      '--columns',
      'a, b',
      '--delimiter',
      'tab',
      '--quote',
      'none',
      '--null',
      '\\N',
      '--method',
      'insert',
      '--batch-size',
      '500',
      '--batch-bytes',
      '1MB',
      '--rejects',
      'r.ndjson',
      '--force',
      '--max-rejects',
      '2.5%',
      '--dry-run',
      '--ignore-extra',
      '--report',
      'rep.json',
      '--quiet',
    ])
    expect(r.opts).toMatchObject({
      inputs: ['-'],
      format: 'tsv',
      header: false,
      columns: ['a', 'b'],
      delimiter: '\t',
      quote: null,
      nullString: '\\N',
      method: 'insert',
      batchRows: 500,
      batchBytes: 1048576,
      rejects: 'r.ndjson',
      force: true,
      maxRejects: { percent: 2.5 },
      dryRun: true,
      ignoreExtra: true,
    })
    expect(r.extra).toEqual({ report: 'rep.json', quiet: true, logFormat: 'text' })
  })

  it('reads --dry-run=db and --retries', async () => {
    expect((await parse(['load', 'a.csv', '-t', 't', '--dry-run=db', '--retries', '9'])).opts).toMatchObject({
      dryRun: 'db',
      retries: 9,
    })
    expect((await parse(['load', 'a.csv', '-t', 't', '--dry-run=client'])).opts).toMatchObject({ dryRun: true })
    expect((await parse(['load', 'a.csv', '-t', 't', '--dry-run=maybe'])).error).toMatch(
      /Allowed choices are client, db/,
    )
  })

  it("refuses a bad batch size with commander's message", async () => {
    const r = await parse(['load', 'a.csv', '-t', 't', '--batch-size', 'abc'])
    expect(r.error).toMatch(
      /option '--batch-size <rows\|auto>' argument 'abc' is invalid\. expected a whole number of at least 1, or auto/,
    )
  })

  it('reads --batch-size auto with its budget and bounds', async () => {
    const r = await parse([
      'load',
      'a.csv',
      '-t',
      't',
      '--batch-size',
      'auto',
      '--lock-budget',
      '150',
      '--max-batch',
      '5000',
    ])
    expect(r.opts).toMatchObject({ autoTune: { budgetMs: 150, minRows: 100, maxRows: 5000 } })
    expect(r.opts).not.toHaveProperty('batchRows')
  })

  it('requires --table and refuses an unknown method', async () => {
    expect((await parse(['load', 'a.csv'])).error).toMatch(/required option '-t, --table/)
    expect((await parse(['load', 'a.csv', '-t', 't', '--method', 'upsert'])).error).toMatch(
      /Allowed choices are copy, insert/,
    )
  })

  it('reads --max-record-bytes as a size, 64MB by default, at most 256MB', async () => {
    expect((await parse(['load', 'a.csv', '-t', 't'])).opts).toMatchObject({ maxRecordBytes: 64 * 1024 * 1024 })
    expect((await parse(['load', 'a.csv', '-t', 't', '--max-record-bytes', '1kB'])).opts).toMatchObject({
      maxRecordBytes: 1024,
    })
    expect((await parse(['load', 'a.csv', '-t', 't', '--max-record-bytes', '256MB'])).opts).toMatchObject({
      maxRecordBytes: 256 * 1024 * 1024,
    })
    expect((await parse(['load', 'a.csv', '-t', 't', '--max-record-bytes', '257MB'])).error).toMatch(
      /option '--max-record-bytes <size>' argument '257MB' is invalid\. at most 256MB/,
    )
    expect((await parse(['load', 'a.csv', '-t', 't', '--max-record-bytes', '0'])).error).toMatch(
      /argument '0' is invalid\. expected a size/,
    )
  })

  it('refuses --resume with --restart before running anything, as commander refuses conflicting options', async () => {
    for (const order of [
      ['--resume', '--restart'],
      ['--restart', '--resume'],
    ]) {
      const r = await parse(['load', 'a.csv', '-t', 't', ...order])
      expect(r.opts).toBeUndefined()
      expect(r.error).toMatch(/error: option '--re(sume|start)' cannot be used with option '--re(start|sume)'/)
    }
    const alone = async (flag: string) => (await parse(['load', 'a.csv', '-t', 't', flag])).opts
    expect(await alone('--resume')).toMatchObject({ resume: true, restart: false })
    expect(await alone('--restart')).toMatchObject({ resume: false, restart: true })
  })

  it('exits with 1 and the pgbulk prefix on --resume with --restart', async () => {
    const r = await runMain(['load', 'a.csv', '-t', 't', '--resume', '--restart'])
    const conflict = "option '--resume' cannot be used with option '--restart'"
    const stderr = `pgbulk: error: ${conflict}\n(run with --help for usage)\n`
    expect(r).toEqual({ code: 1, stdout: '', stderr })
  })

  it("prints package.json's version on --version", async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(await runMain(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' })
  })

  it('parses sizes and reject limits', () => {
    expect(parseSize('16MB')).toBe(16 * 1024 * 1024)
    expect(parseSize('512k')).toBe(512 * 1024)
    expect(() => parseSize('12 parsecs')).toThrow(InvalidArgumentError)
    expect(parseRejectLimit('100')).toEqual({ count: 100 })
    expect(parseRejectLimit('0')).toEqual({ count: 0 })
    expect(parseRejectLimit('5%')).toEqual({ percent: 5 })
    expect(() => parseRejectLimit('150%')).toThrow(/at most 100%/)
  })

  it('reads the log and metrics flags, and refuses a fraction outside (0, 1]', async () => {
    const r = await parse([
      'load',
      'a.csv',
      '-t',
      't',
      '--log-format',
      'json',
      '--log-rejects',
      '0.25',
      '--log-sample-rows',
      '1',
      '--id-column',
      'id',
      '--metrics-file',
      'm.prom',
    ])
    expect(r.extra).toEqual({
      quiet: false,
      logFormat: 'json',
      logRejects: 0.25,
      logSampleRows: 1,
      idColumn: 'id',
      metricsFile: 'm.prom',
    })
    for (const bad of ['0', '1.5', '-0.1', 'abc', ''])
      expect((await parse(['load', 'a.csv', '-t', 't', '--log-rejects', bad])).error).toMatch(
        /option '--log-rejects <fraction>' argument '.*' is invalid\. expected a fraction more than 0 and at most 1/,
      )
    expect((await parse(['load', 'a.csv', '-t', 't', '--log-format', 'xml'])).error).toMatch(
      /argument 'xml' is invalid\. Allowed choices are text, json/,
    )
  })

  it.each([
    [['--log-rejects', '0.5'], '--log-rejects needs --log-format json'],
    [['--log-format', 'json', '--log-sample-rows', '0.5'], '--log-sample-rows needs --log-format json and --id-column'],
    [['--log-sample-rows', '0.5', '--id-column', 'id'], '--log-sample-rows needs --log-format json and --id-column'],
    [['--log-format', 'json', '--id-column', 'id'], '--id-column names the rows of --log-sample-rows: give that too'],
  ])('refuses log flags that need others (%j), before connecting: exit 1', async (flags, message) => {
    const r = await runMain(['load', 'missing.csv', '-t', 't', '--db', 'postgres://nobody@127.0.0.1:1/x', ...flags])
    expect(r.code).toBe(1)
    const json = flags.includes('json')
    if (json) {
      const line = JSON.parse(r.stderr.trim()) as Record<string, unknown>
      expect(line).toMatchObject({ level: 'error', event: 'error', code: 'USAGE', message, exitCode: 1 })
    } else expect(r.stderr).toBe(`pgbulk: error: ${message} (USAGE)\n`)
  })
})

describe('durations (--flush-interval, --flush-jitter, --start-jitter)', () => {
  it.each([
    ['500ms', 500],
    ['60s', 60_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['250', 250],
    [' 10 S ', 10_000],
    ['0', 0],
  ])('reads %j as %i ms (a plain number is ms)', (v, ms) => {
    expect(parseDuration(v)).toBe(ms)
  })

  it.each(['', '-1s', '5 minutes', '1d', 's', '1e3', 'NaN'])('refuses %j', (v) => {
    expect(() => parseDuration(v)).toThrow(InvalidArgumentError)
  })

  it('hands load() the durations in ms; they are not given when not on the command line', async () => {
    const flags = ['--flush-interval', '300ms', '--flush-jitter', '100', '--start-jitter', '5m']
    const r = await parse(['load', '-', '-t', 't', ...flags])
    expect(r.opts).toMatchObject({ flushIntervalMs: 300, flushJitterMs: 100, startJitterMs: 300_000 })
    const plain = await parse(['load', '-', '-t', 't'])
    for (const k of ['flushIntervalMs', 'flushJitterMs', 'startJitterMs']) expect(plain.opts).not.toHaveProperty(k)
  })
})

describe('parsePositiveInt (--batch-size, trace --line)', () => {
  it('keeps the whole numbers JavaScript holds exactly', () => {
    expect(parsePositiveInt('1')).toBe(1)
    expect(parsePositiveInt(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER)
  })

  // (pgbulk trace --line 9007199254740993 answered for line 9007199254740992, and --line 1e20's
  // digits failed in the database as an internal error: bigint out of range)
  it.each(['0', '-1', '1.5', '9007199254740992', '9007199254740993', '99999999999999999999'])('refuses %s', (v) => {
    expect(() => parsePositiveInt(v)).toThrow(InvalidArgumentError)
  })
})

// (commander's usage errors were text lines in a --log-format json log, with "(run with --help for usage)")
describe('--log-format json and a usage error', () => {
  it.each([
    [['load', 'a.csv', '-t', 't', '--log-format', 'json', '--bogus'], "unknown option '--bogus'"],
    [['load', 'a.csv', '--log-format=json'], "required option '-t, --table <[schema.]table>' not specified"],
    [['redrive', 'r.ndjson', '-t', 't', '--log-format', 'json', '--batch-size', '0'], 'whole number'],
  ])('%j writes one error event, exit 1', async (args, message) => {
    const r = await runMain(args)
    expect(r.code).toBe(1)
    const lines = r.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    const e = JSON.parse(lines[0]!) as Record<string, unknown>
    expect(e).toMatchObject({ level: 'error', event: 'error', code: 'USAGE', exitCode: 1 })
    expect(e['message']).toContain(message)
    expect(typeof e['runId']).toBe('string')
  })

  it('keeps text for a text log, and for a --log-format that is not json', async () => {
    for (const args of [
      ['load', 'a.csv', '-t', 't', '--bogus'],
      ['load', 'a.csv', '-t', 't', '--log-format', 'xml'],
    ]) {
      const r = await runMain(args)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/^pgbulk: error: .*\n\(run with --help for usage\)\n$/)
    }
  })
})
