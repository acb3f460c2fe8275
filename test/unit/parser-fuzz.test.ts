import fc from 'fast-check'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import type { CsvDialect } from '../../src/parse/dialect.js'
import { CsvParser } from '../../src/parse/csv.js'
import { decoderFor } from '../../src/parse/decode.js'
import { NdjsonParser } from '../../src/parse/ndjson.js'
import { parseInput, type InputFormat } from '../../src/parse/parse-input.js'
import type { ParsedRecord } from '../../src/parse/parsed-record.js'
import { recordLimits } from '../../src/parse/record-limits.js'

// Property-based tests of the parsers (issue 10): inputs generated with known truth (records
// serialized with random quoting, embedded delimiters, quotes and line breaks, CRLF, multi-byte
// UTF-8, empty fields, blank lines, a BOM), corrupted variants, and pathological ones, each fed
// in random chunks. Every record comes out exactly once, as its fields or as a problem, at the
// right line and byte, however the input is split; and the parser holds no more than the limit.
// The number of runs is bounded so that the suite takes a few seconds; PGBULK_FUZZ_RUNS=2000
// hunts longer (a failure prints the seed and path that replay it).

const RUNS = Number(process.env['PGBULK_FUZZ_RUNS'] ?? 60)

/** Dialects fuzzed: RFC 4180, an escape character with a NULL string, TSV plain and quoted. */
const DIALECTS: CsvDialect[] = [
  { delimiter: ',', quote: '"', escape: null, nullString: null },
  { delimiter: ';', quote: "'", escape: '\\', nullString: '\\N' },
  { delimiter: '\t', quote: null, escape: null, nullString: null },
  { delimiter: '\t', quote: '"', escape: null, nullString: null },
]

/** Characters values are made of: the dialects' special ones, line breaks, multi-byte UTF-8. */
const UNITS = ['a', 'Z', '0', ' ', ',', ';', '\t', '"', "'", '\\', 'N', '\n', '\r', 'é', '日', '😀']
const text = (maxLength: number) => fc.string({ unit: fc.constantFrom(...UNITS), maxLength })

/** One record's fields (null: NULL) and how it is written. */
const recordArb = (maxFields: number) =>
  fc.record({
    fields: fc.array(fc.option(text(8), { nil: null, freq: 5 }), { minLength: 1, maxLength: maxFields }),
    quoteAll: fc.array(fc.boolean(), { minLength: maxFields, maxLength: maxFields }),
    crlf: fc.boolean(),
    blankLinesBefore: fc.array(fc.constantFrom('\n', '\r\n'), { maxLength: 2 }),
  })
type GenRecord = { fields: (string | null)[]; quoteAll: boolean[]; crlf: boolean; blankLinesBefore: string[] }

/** A record as the parser should give it. */
interface Expected {
  line: number
  byte: number
  nextByte: number
  nextLine: number
  /** The record's bytes, as latin1 text (one character a byte). */
  raw: string
  values?: (string | null)[]
  problem?: { code: string; rawTruncated?: true }
}

const count = (s: string, c: string) => s.split(c).length - 1
/** A text's UTF-8 bytes, one character a byte. */
const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1')

/** A field as written in the dialect, and what it reads back as. */
function writeField(v: string | null, quoteIt: boolean, d: CsvDialect): { text: string; value: string | null } {
  const nullText = d.nullString ?? ''
  if (d.quote === null) {
    // Unquoted only: no delimiter or line break can be in it, and the NULL string reads as NULL.
    if (v === null) return { text: nullText, value: null }
    const t = v.replaceAll(d.delimiter, '').replaceAll('\n', '').replaceAll('\r', '')
    return { text: t, value: t === nullText ? null : t }
  }
  if (v === null) return { text: nullText, value: null }
  const q = d.quote
  const needs = v === nullText || [d.delimiter, q, '\n', '\r'].some((c) => v.includes(c))
  if (!needs && !quoteIt) return { text: v, value: v }
  const e = d.escape
  const body = e === null ? v.replaceAll(q, q + q) : v.replaceAll(e, e + e).replaceAll(q, e + q)
  return { text: q + body + q, value: v }
}

/** A CSV/TSV input from generated records, with what each should parse as. */
function writeCsv(
  records: GenRecord[],
  d: CsvDialect,
  opts: { bom: boolean; lastEnding: boolean },
): { input: Buffer; expected: Expected[] } {
  let out = opts.bom ? '\uFEFF' : ''
  const expected: Expected[] = []
  records.forEach((r, k) => {
    for (const blank of r.blankLinesBefore) out += blank
    const fields = r.fields.map((v, j) => writeField(v, r.quoteAll[j]!, d))
    // A record that writes as an empty line is a blank line, not a record: give it a value.
    if (fields.length === 1 && fields[0]!.text === '') fields[0] = writeField('x', false, d)
    const raw = fields.map((f) => f.text).join(d.delimiter)
    const ending = k === records.length - 1 && !opts.lastEnding ? '' : r.crlf ? '\r\n' : '\n'
    const byte = Buffer.byteLength(out)
    const line = 1 + count(out, '\n')
    out += raw + ending
    expected.push({
      line,
      byte,
      nextByte: Buffer.byteLength(out),
      nextLine: 1 + count(out, '\n'),
      raw: latin1(raw),
      values: fields.map((f) => f.value),
    })
  })
  return { input: Buffer.from(out), expected }
}

/** Cut points from arbitrary numbers: sorted, inside the input. */
function cutsOf(ns: number[], length: number): number[] {
  return [...new Set(ns.map((n) => n % (length + 1)))].sort((a, b) => a - b)
}

function chunksOf(input: Buffer, cuts: number[]): Buffer[] {
  const chunks: Buffer[] = []
  let prev = 0
  for (const c of [...cuts, input.length]) {
    chunks.push(input.subarray(prev, c))
    prev = c
  }
  return chunks
}

/** What a parsed record says, in the form of Expected. */
function seen(r: ParsedRecord): Expected {
  const base = { line: r.line, byte: r.byte, nextByte: r.nextByte, nextLine: r.nextLine, raw: r.raw.toString('latin1') }
  if (r.kind === 'fields') return { ...base, values: r.texts }
  if (r.kind === 'object') return { ...base, values: [JSON.stringify(Object.fromEntries(r.fields))] }
  return {
    ...base,
    problem: { code: r.problem.code, ...(r.problem.rawTruncated ? { rawTruncated: true as const } : {}) },
  }
}

async function parseAll(
  input: Buffer,
  cuts: number[],
  format: InputFormat,
  dialect: CsvDialect,
  maxRecordBytes?: number,
): Promise<Expected[]> {
  const out: Expected[] = []
  const opts = {
    format,
    dialect,
    encoding: 'utf8' as const,
    ...(maxRecordBytes === undefined ? {} : { maxRecordBytes }),
  }
  for await (const batch of parseInput(Readable.from(chunksOf(input, cuts)), opts))
    for (const r of batch) out.push(seen(r))
  return out
}

/** Feed a parser directly (to set the field limit too), checking what it holds after each push. */
function pushAll(p: CsvParser | NdjsonParser, input: Buffer, cuts: number[], maxBytes: number): Expected[] {
  const out: ParsedRecord[] = []
  for (const chunk of chunksOf(input, cuts)) {
    out.push(...p.push(chunk))
    // Memory is bounded: what is held is at most the record in progress, cut at the limit.
    expect(p.bufferedBytes).toBeLessThanOrEqual(maxBytes + 1)
  }
  return [...out, ...p.end()].map(seen)
}

/**
 * The invariants of any input, well-formed or not: records in input order, each starting where
 * the one before ended (only blank lines between), so that no byte is lost or read twice; their
 * lines are the line feeds before them; raw is the record's bytes, or their first bytes when
 * marked truncated; nothing longer than the limit is a record.
 */
function checkTiling(input: Buffer, recs: Expected[], format: InputFormat, start: number, maxBytes: number): void {
  const linesBefore = (at: number) => 1 + count(input.subarray(0, at).toString('latin1'), '\n')
  const blank = (from: number, to: number) => {
    const lines = input.subarray(from, to).toString('utf8').split('\n')
    for (const l of lines)
      expect(format === 'ndjson' ? l.trim() : l.replace(/\r$/, ''), `blank line between ${from} and ${to}`).toBe('')
  }
  let at = start
  for (const r of recs) {
    expect(r.byte).toBeGreaterThanOrEqual(at)
    blank(at, r.byte)
    expect(r.line, `line of the record at ${r.byte}`).toBe(linesBefore(r.byte))
    expect(r.nextByte).toBeGreaterThan(r.byte)
    expect(r.nextLine).toBe(linesBefore(r.nextByte))
    const rawBytes = Buffer.from(r.raw, 'latin1')
    expect(input.subarray(r.byte, r.byte + rawBytes.length).equals(rawBytes), `raw of the record at ${r.byte}`).toBe(
      true,
    )
    if (r.problem?.rawTruncated) {
      expect(rawBytes.length).toBe(Math.min(maxBytes, 64 * 1024))
      const lf = input.indexOf(0x0a, r.byte)
      const lineEnd = lf < 0 || lf >= r.nextByte ? r.nextByte : lf
      expect(lineEnd - r.byte).toBeGreaterThan(maxBytes)
    } else {
      const ending = input.subarray(r.byte + rawBytes.length, r.nextByte).toString('latin1')
      expect(['', '\n', '\r\n', ...(r.nextByte === input.length ? ['\r'] : [])]).toContain(ending)
      if (!r.problem) expect(rawBytes.length).toBeLessThanOrEqual(maxBytes)
    }
    at = r.nextByte
  }
  blank(at, input.length)
}

/** Damage an input: insert bytes that matter to the parsers, delete a range, cut the end. */
const corruptionArb = fc.array(
  fc.oneof(
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.constantFrom('"', "'", '\\', ',', '\t', '\n', '\r', '{', '}', '[', ':', '\xff', '\xc3', ' '),
    }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  ),
  { minLength: 1, maxLength: 4 },
)
type Corruption = typeof corruptionArb extends fc.Arbitrary<infer T> ? T : never

function corrupt(input: Buffer, edits: Corruption): Buffer {
  let b = input
  for (const e of edits) {
    const at = e.at % (b.length + 1)
    if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes, 'latin1'), b.subarray(at)])
    else if (e.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.length)])
    else b = b.subarray(0, at)
  }
  return b
}

/** NDJSON: an object's members (unique keys) and how the line is spaced. */
const objectArb = fc.record({
  members: fc.uniqueArray(fc.tuple(text(6), fc.jsonValue({ maxDepth: 2 })), { selector: ([k]) => k, maxLength: 5 }),
  spaces: fc.array(fc.constantFrom('', ' ', '\t', '  '), { minLength: 12, maxLength: 12 }),
  crlf: fc.boolean(),
  blankLinesBefore: fc.array(fc.constantFrom('\n', '  \n', '\t\r\n'), { maxLength: 2 }),
})
type GenObject = typeof objectArb extends fc.Arbitrary<infer T> ? T : never

/** What a top-level JSON value's field is: strings decoded, anything else its JSON text as written. */
function jsonField(v: unknown): { kind: string; text: string } {
  if (typeof v === 'string') return { kind: 'string', text: v }
  const kind =
    v === null
      ? 'null'
      : Array.isArray(v)
        ? 'array'
        : typeof v === 'object'
          ? 'object'
          : typeof v === 'number'
            ? 'number'
            : 'boolean'
  return { kind, text: JSON.stringify(v) }
}

function writeNdjson(objects: GenObject[], lastEnding: boolean): { input: Buffer; expected: Expected[] } {
  let out = ''
  const expected: Expected[] = []
  objects.forEach((o, k) => {
    for (const blank of o.blankLinesBefore) out += blank
    const sp = (j: number) => o.spaces[j % o.spaces.length]!
    const members = o.members.map(
      ([key, v], j) => `${sp(j)}${JSON.stringify(key)}${sp(j + 1)}:${sp(j + 2)}${JSON.stringify(v)}${sp(j + 3)}`,
    )
    const raw = `${sp(4)}{${members.join(',')}${members.length === 0 ? sp(5) : ''}}${sp(6)}`
    const ending = k === objects.length - 1 && !lastEnding ? '' : o.crlf ? '\r\n' : '\n'
    const byte = Buffer.byteLength(out)
    const line = 1 + count(out, '\n')
    out += raw + ending
    const fields = JSON.stringify(Object.fromEntries(o.members.map(([key, v]) => [key, jsonField(v)])))
    expected.push({
      line,
      byte,
      nextByte: Buffer.byteLength(out),
      nextLine: 1 + count(out, '\n'),
      raw: latin1(raw),
      values: [fields],
    })
  })
  return { input: Buffer.from(out), expected }
}

/** What becomes of a record under the limits: rejected past either, with its first bytes when too long. */
function underLimits(e: Expected, fields: number, maxBytes: number, maxFields: number): Expected {
  const { line, byte, nextByte, nextLine, raw } = e
  const at = { line, byte, nextByte, nextLine }
  if (raw.length > maxBytes)
    return {
      ...at,
      raw: raw.slice(0, Math.min(maxBytes, 64 * 1024)),
      problem: { code: 'RECORD_TOO_LONG', rawTruncated: true },
    }
  if (fields > maxFields) return { ...at, raw, problem: { code: 'RECORD_TOO_LONG' } }
  return e
}

describe('parser fuzz', () => {
  it('CSV/TSV: every record comes out once, with its fields, line and byte, wherever the input is split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...DIALECTS),
        fc.array(recordArb(5), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (dialect, records, bom, lastEnding, cutNs) => {
          const { input, expected } = writeCsv(records, dialect, { bom, lastEnding })
          const format = dialect.delimiter === '\t' ? 'tsv' : 'csv'
          expect(await parseAll(input, cutsOf(cutNs, input.length), format, dialect)).toEqual(expected)
        },
      ),
      { numRuns: RUNS * 2 },
    )
  })

  it('NDJSON: every object comes out once, with its members as written, line and byte, wherever the input is split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(objectArb, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (objects, lastEnding, cutNs) => {
          const { input, expected } = writeNdjson(objects, lastEnding)
          expect(await parseAll(input, cutsOf(cutNs, input.length), 'ndjson', DIALECTS[0]!)).toEqual(expected)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('corrupted input: never throws, loses or doubles no byte, and gives the same records wherever it is split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<InputFormat>('csv', 'tsv', 'ndjson'),
        fc.constantFrom(...DIALECTS),
        fc.array(recordArb(4), { minLength: 1, maxLength: 8 }),
        fc.array(objectArb, { minLength: 1, maxLength: 5 }),
        corruptionArb,
        fc.integer({ min: 4, max: 200 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (format, dialect, records, objects, edits, maxBytes, cutNs) => {
          const valid =
            format === 'ndjson'
              ? writeNdjson(objects, true).input
              : writeCsv(records, dialect, { bom: false, lastEnding: true }).input
          const input = corrupt(valid, edits)
          const whole = await parseAll(input, [], format, dialect, maxBytes)
          expect(await parseAll(input, cutsOf(cutNs, input.length), format, dialect, maxBytes)).toEqual(whole)
          const bom = input.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])) ? 3 : 0
          checkTiling(input, whole, format, bom, maxBytes)
        },
      ),
      { numRuns: RUNS * 3 },
    )
  })

  it('CSV/TSV under small limits: a record past the byte or field limit is rejected whole, the rest read as they are', () => {
    // Single-line records (no line break in a value): a record past the limit costs its line, which is all of it.
    const oneLine = recordArb(6).map((r) => ({
      ...r,
      fields: r.fields.map((v) => (v === null ? null : v.replace(/[\r\n]/g, ''))),
    }))
    fc.assert(
      fc.property(
        fc.constantFrom(...DIALECTS),
        fc.array(oneLine, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 4, max: 60 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (dialect, records, maxBytes, maxFields, cutNs) => {
          const { input, expected } = writeCsv(records, dialect, { bom: false, lastEnding: true })
          const want = expected.map((e) => underLimits(e, e.values!.length, maxBytes, maxFields))
          const p = new CsvParser(dialect, decoderFor('utf8'), recordLimits(maxBytes, maxFields))
          expect(pushAll(p, input, cutsOf(cutNs, input.length), maxBytes)).toEqual(want)
        },
      ),
      { numRuns: RUNS * 2 },
    )
  })

  it('NDJSON under small limits: a line past the byte limit or an object past the member limit is rejected, the rest read', () => {
    fc.assert(
      fc.property(
        fc.array(objectArb, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 2, max: 80 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (objects, maxBytes, maxFields, cutNs) => {
          const { input, expected } = writeNdjson(objects, true)
          const want = expected.map((e, k) => underLimits(e, objects[k]!.members.length, maxBytes, maxFields))
          const p = new NdjsonParser(decoderFor('utf8'), recordLimits(maxBytes, maxFields))
          expect(pushAll(p, input, cutsOf(cutNs, input.length), maxBytes)).toEqual(want)
        },
      ),
      { numRuns: RUNS * 2 },
    )
  })

  it('pathological input (long runs of one byte, no line feed for a long while): memory held to the limit, every byte accounted for', async () => {
    const runArb = fc.tuple(
      fc.constantFrom('x', ',', '\t', '"', "'", '\\', '\n', '\r', '{', ' ', '日'),
      fc.integer({ min: 1, max: 3000 }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<InputFormat>('csv', 'tsv', 'ndjson'),
        fc.constantFrom(...DIALECTS),
        fc.array(runArb, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 16, max: 1000 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (format, dialect, runs, maxBytes, cutNs) => {
          const input = Buffer.from(runs.map(([c, n]) => c.repeat(n)).join(''))
          const cuts = cutsOf(cutNs, input.length)
          const p =
            format === 'ndjson'
              ? new NdjsonParser(decoderFor('utf8'), recordLimits(maxBytes))
              : new CsvParser(dialect, decoderFor('utf8'), recordLimits(maxBytes))
          const recs = pushAll(p, input, cuts, maxBytes)
          expect(await parseAll(input, cuts, format, dialect, maxBytes)).toEqual(recs)
          checkTiling(input, recs, format, 0, maxBytes)
        },
      ),
      { numRuns: RUNS },
    )
  })
})
