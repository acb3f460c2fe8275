import type { Readable } from 'node:stream'
import { LoadError } from '../errors.js'
import { resolveEncoding } from '../parse/decode.js'
import { dialectOf } from '../parse/dialect.js'
import { DEFAULT_MAX_RECORD_BYTES } from '../parse/record-limits.js'
import type { CsvDialect } from '../parse/dialect.js'
import type { InputEncoding } from '../parse/decode.js'
import type { InputFormat } from '../parse/parse-input.js'
import { formatOf, parseInput } from '../parse/parse-input.js'
import type { InputFile } from '../source/open-input.js'
import { checkInputs, openInput } from '../source/open-input.js'
import type { ValueFormats } from '../validate/value-formats.js'
import { ColumnGuess } from './column-types.js'
import type { InferredColumn } from './create-table.js'
import { columnNames } from '../validate/column-match.js'
import { createTableSql, tableName, tableNameFor } from './create-table.js'
import { sniffDelimiter } from './sniff.js'

/** How one input is read for inference: what was given, and (CSV/TSV) whether to sniff what was not. */
export interface InferReading {
  format: InputFormat
  encoding: InputEncoding
  dialect: CsvDialect
  /** The delimiter was given (else it is sniffed among , ; tab |). */
  delimiterGiven: boolean
  /** true/false when given; undefined: found from the first row (a header when it does not fit the types below it). */
  header: boolean | undefined
  /** Column names of a file without a header (--columns). */
  columns?: string[] | undefined
  maxRecordBytes: number
  /** The load's value formats (--create): values are tried on a type as the load would rewrite them. */
  formats?: ValueFormats | undefined
}

/** What inference found: the columns, and how the inputs were read. */
export interface Inference {
  table: string
  columns: InferredColumn[]
  /** Rows read (sampled, with a limit); records that could not be parsed are not counted. */
  rows: number
  unreadable: number
  /** Per input: its name, format, and what was sniffed or assumed (for people). */
  inputs: { name: string; format: InputFormat; delimiter?: string; header?: boolean; found: string[] }[]
  sql: string
}

/** Between a header's repeated name and its occurrence, in the key of its guess (no header name holds it). */
const SAME = '\u0000'

/** Bytes read ahead to sniff the delimiter. */
const SNIFF_BYTES = 64 * 1024

/**
 * Read the inputs (all of each, or the first `sampleRows` rows) and guess a table: per column, the
 * narrowest type all its values fit (ColumnGuess). Several inputs add up (NDJSON keys and CSV header
 * names are matched by name; new ones are appended).
 */
export async function inferTable(
  files: readonly InputFile[],
  readingOf: (f: InputFile) => InferReading,
  o: { table: string; sampleRows: number | undefined; stdin: Readable },
): Promise<Inference> {
  const guesses = new Map<string, ColumnGuess>()
  let rows = 0
  let unreadable = 0
  const inputs: Inference['inputs'] = []
  for (const f of files) {
    const r = await inferInput(f, readingOf(f), o, guesses)
    rows += r.rows
    unreadable += r.unreadable
    inputs.push(r.input)
  }
  if (guesses.size === 0)
    throw new LoadError(
      'INPUT_CORRUPT',
      `no column could be read from ${files.map((f) => f.path).join(', ')}`,
      'check --format (stdin is read as CSV unless --format ndjson or tsv) and --encoding',
    )
  const sources = [...guesses.keys()].map((key) => key.split(SAME)[0]!)
  const names = columnNames(sources)
  const columns = sources.map((source, k) => {
    const g = guesses.get(source)!
    // (an NDJSON key absent from a row is a NULL there)
    return { name: names[k]!, source, type: g.type, nulls: rows - g.values, values: g.values, example: g.example }
  })
  return { table: o.table, columns, rows, unreadable, inputs, sql: createTableSql(o.table, columns) }
}

async function inferInput(
  f: InputFile,
  reading: InferReading,
  o: { sampleRows: number | undefined; stdin: Readable },
  guesses: Map<string, ColumnGuess>,
): Promise<{ rows: number; unreadable: number; input: Inference['inputs'][number] }> {
  const opened = await openInput(f, o.stdin)
  const found: string[] = []
  let dialect = reading.dialect
  let chunks: AsyncIterable<Buffer> = opened.chunks
  if (reading.format !== 'ndjson' && !reading.delimiterGiven) {
    const { head, rest, whole } = await readHead(opened.chunks, SNIFF_BYTES)
    const sniffed = sniffDelimiter(head.toString('latin1'), whole)
    if (sniffed && sniffed.delimiter !== dialect.delimiter) {
      dialect = { ...dialect, delimiter: sniffed.delimiter }
      found.push(
        `delimiter ${describeDelimiter(sniffed.delimiter)} (it splits ${sniffed.lines} lines into ${sniffed.fields} fields)`,
      )
    } else found.push(`delimiter ${describeDelimiter(dialect.delimiter)}`)
    chunks = rest
  }
  const limit = o.sampleRows ?? (f.stream ? STREAM_SAMPLE_ROWS : Infinity)
  let rows = 0
  let unreadable = 0
  let first: (string | null)[] | undefined
  let headerRow = reading.header === true
  let names: string[] | undefined = reading.columns
  const perField: ColumnGuess[] = []
  const guessOf = (k: number) => (perField[k] ??= new ColumnGuess(reading.formats))
  outer: for await (const records of parseInput(chunks, { ...reading, dialect })) {
    for (const rec of records) {
      if (rec.kind === 'problem') {
        unreadable++
        continue
      }
      if (rec.kind === 'object') {
        if (rows >= limit) break outer
        rows++
        for (const [key, field] of rec.fields) {
          let g = guesses.get(key)
          if (!g) guesses.set(key, (g = new ColumnGuess(reading.formats)))
          g.add(field.kind === 'null' ? null : { text: field.text, json: field.kind })
        }
        continue
      }
      // (the first row waits: a header, or the first row of data, decided once the rows below it are seen)
      if (first === undefined && reading.header !== false) {
        first = rec.texts.slice()
        continue
      }
      if (rows >= limit) break outer
      rows++
      rec.texts.forEach((t, k) => guessOf(k).add(t === null ? null : { text: t }))
    }
  }
  if (first !== undefined) {
    const header = reading.header ?? looksLikeHeader(first, perField)
    headerRow = header
    found.push(reading.header === undefined ? (header ? 'a header row' : 'no header row') : '')
    // (--columns renames a header's fields, or names those of a file without one)
    if (header) names = reading.columns ?? first.map((t) => t ?? '')
    else {
      rows++
      first.forEach((t, k) => guessOf(k).add(t === null ? null : { text: t }))
    }
  }
  if (reading.format !== 'ndjson') {
    const width = Math.max(perField.length, names?.length ?? 0)
    const seen = new Map<string, number>()
    for (let k = 0; k < width; k++) {
      const field = names?.[k] ?? `column_${k + 1}`
      // (a name the header repeats is a column of its own each time: the n-th is keyed apart, see SAME)
      const n = (seen.get(field) ?? 0) + 1
      seen.set(field, n)
      const name = n === 1 ? field : `${field}${SAME}${n}`
      const g = guessOf(k)
      const before = guesses.get(name)
      // (a later input's column of the same name: the types all values of both fit)
      guesses.set(name, before ? before.absorb(g) : g)
    }
  }
  const input = {
    name: opened.name,
    format: reading.format,
    ...(reading.format === 'ndjson' ? {} : { delimiter: dialect.delimiter, header: headerRow }),
    found: found.filter((x) => x !== ''),
  }
  return { rows, unreadable, input }
}

/** Rows read from stdin when no --sample-rows is given: stdin may not end. */
const STREAM_SAMPLE_ROWS = 10_000

/**
 * Whether a first row is a header: when some column below it has a type other than text and the
 * first row's value does not fit it (a name where numbers or dates are). When every column is text,
 * a first row of distinct non-empty names is taken for a header (pgbulk's default).
 */
function looksLikeHeader(first: readonly (string | null)[], below: readonly ColumnGuess[]): boolean {
  let typed = false
  for (const [k, t] of first.entries()) {
    const g = below[k]
    if (!g || g.type === 'text') continue
    typed = true
    if (t === null || t === '' || !g.fitsNow({ text: t })) return true
  }
  if (typed) return false
  const names = first.filter((t): t is string => t !== null && t !== '')
  return names.length === first.length && new Set(names).size === names.length
}

function describeDelimiter(d: string): string {
  return d === '\t' ? 'tab' : JSON.stringify(d)
}

/** The first `bytes` of a stream, and the whole stream again (the head, then the rest). */
async function readHead(
  chunks: AsyncIterable<Buffer>,
  bytes: number,
): Promise<{ head: Buffer; rest: AsyncIterable<Buffer>; whole: boolean }> {
  const it = chunks[Symbol.asyncIterator]()
  const got: Buffer[] = []
  let n = 0
  let done = false
  while (n < bytes) {
    const r = await it.next()
    if (r.done) {
      done = true
      break
    }
    got.push(r.value)
    n += r.value.length
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* got
    if (done) return
    for (;;) {
      const r = await it.next()
      if (r.done) return
      yield r.value
    }
  }
  return { head: Buffer.concat(got), rest: rest(), whole: done }
}

/** What `pgbulk infer` is asked (the library's infer()): the inputs, and how to read them where sniffing should not guess. */
export interface InferOptions {
  inputs: string[]
  /** [schema.]name of the table to create; default from the first input's file name. */
  table?: string
  format?: InputFormat
  encoding?: string
  /** Given: not sniffed. */
  delimiter?: string
  quote?: string | null
  escape?: string | null
  nullString?: string | null
  /** Given: not sniffed from the first row. */
  header?: boolean
  columns?: string[]
  /** How the input writes dates and numbers (--date-order, --thousands, --decimal-comma, --currency, --null). */
  formats?: ValueFormats
  /** Read only this many rows of each input (default: all of a file, 10,000 of stdin). */
  sampleRows?: number
  stdin?: Readable
  maxRecordBytes?: number
}

/** Guess the table of the inputs (pgbulk infer): no database needed. */
export async function infer(o: InferOptions): Promise<Inference> {
  const encoding = resolveEncoding(o.encoding ?? 'utf8')
  if (!encoding) throw new LoadError('USAGE', `unsupported --encoding ${JSON.stringify(o.encoding)}`)
  if (o.sampleRows !== undefined && !(Number.isInteger(o.sampleRows) && o.sampleRows > 0))
    throw new LoadError('USAGE', `--sample-rows must be a whole number above 0, not ${String(o.sampleRows)}`)
  const files = await checkInputs(o.inputs)
  const table = o.table !== undefined ? tableName(o.table) : tableNameFor(o.inputs[0] ?? '-')
  const readingOf = (f: InputFile): InferReading => {
    const format = formatOf(f.path, o.format)
    return {
      format,
      encoding,
      dialect: dialectOf(format, o),
      delimiterGiven: o.delimiter !== undefined || format === 'tsv',
      header: o.header,
      columns: o.columns,
      formats: o.formats,
      maxRecordBytes: o.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    }
  }
  return inferTable(files, readingOf, { table, sampleRows: o.sampleRows, stdin: o.stdin ?? process.stdin })
}
