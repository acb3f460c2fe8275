import { ByteBuffer } from './byte-buffer.js'
import type { Decode } from './decode.js'
import type { JsonField, ParsedRecord, ParseProblem } from './parsed-record.js'

const LF = 0x0a
const CR = 0x0d

/** Longest line kept in memory before it is rejected (a JSON value of this size is not a row). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024
/** What the reject file keeps of an over-long line. */
const RAW_KEPT_OF_LONG_LINE = 64 * 1024

/**
 * An incremental NDJSON parser: one JSON object per line, blank lines skipped. Each top-level
 * value is kept as the text it had in the line, so a number like 12345678901234567890 or 1.10
 * reaches the database exactly as written (JSON.parse would round the first and drop the zero).
 */
export class NdjsonParser {
  private readonly buf = new ByteBuffer()
  private base = 0
  private line = 1
  /** Bytes at the start of buf already known to hold no line feed: a long line is not searched again per chunk. */
  private searched = 0
  /** Set while the rest of an over-long line is skipped: its start, kept for the rejection made when it ends. */
  private skipping: { line: number; byte: number; raw: Buffer } | undefined

  constructor(
    private readonly decode: Decode,
    private readonly maxLineBytes = MAX_LINE_BYTES,
  ) {}

  /** Start counting at a later position of the input (after a BOM, or where a resumed load seeks to). */
  skipBytes(n: number): void {
    this.base += n
  }

  /** The line the first record starts on (a resumed load starts mid-file). */
  startAtLine(line: number): void {
    this.line = line
  }

  push(chunk: Buffer): ParsedRecord[] {
    this.buf.append(chunk)
    const out: ParsedRecord[] = []
    const b = this.buf.bytes
    const n = this.buf.length
    let start = 0
    for (;;) {
      const nl = b.subarray(0, n).indexOf(LF, Math.max(start, this.searched))
      if (nl < 0) break
      if (this.skipping) this.rejectLongLine(this.base + nl + 1, out)
      else this.record(start, nl, nl + 1, out)
      start = nl + 1
    }
    if (!this.skipping && n - start > this.maxLineBytes) {
      // A line past the limit is not kept: its first bytes are, for the rejection made when it ends.
      this.skipping = { line: this.line, byte: this.base + start, raw: Buffer.from(b.subarray(start, start + RAW_KEPT_OF_LONG_LINE)) }
    }
    // While skipping, nothing of the long line is kept.
    const drop = this.skipping ? n : start
    this.buf.discard(drop)
    this.base += drop
    this.searched = n - drop
    return out
  }

  end(): ParsedRecord[] {
    const out: ParsedRecord[] = []
    if (this.skipping) this.rejectLongLine(this.base + this.buf.length, out)
    else if (this.buf.length > 0) this.record(0, this.buf.length, this.buf.length, out)
    this.buf.discard(this.buf.length)
    return out
  }

  /** The over-long line ended just before `nextByte`: reject it, with its first bytes as raw. */
  private rejectLongLine(nextByte: number, out: ParsedRecord[]): void {
    const s = this.skipping!
    this.skipping = undefined
    out.push({
      line: s.line,
      byte: s.byte,
      nextByte,
      nextLine: s.line + 1,
      raw: s.raw,
      kind: 'problem',
      problem: { code: 'NDJSON_INVALID_JSON', message: `line longer than ${this.maxLineBytes} bytes (the reject file keeps its first ${s.raw.length})` },
    })
    this.line = s.line + 1
  }

  private record(start: number, lf: number, next: number, out: ParsedRecord[]): void {
    const b = this.buf.bytes
    const end = lf > start && b[lf - 1] === CR ? lf - 1 : lf
    const line = this.line++
    const common = { line, byte: this.base + start, nextByte: this.base + next, nextLine: line + 1, raw: b.subarray(start, end) }
    const text = this.decode(b, start, end)
    if (text === null) {
      out.push({ ...common, kind: 'problem', problem: { code: 'ENCODING_INVALID', message: 'invalid byte sequence for the input encoding (see --encoding)' } })
      return
    }
    if (text.trim() === '') return
    out.push({ ...common, ...parseObjectLine(text) })
  }
}

type LineResult = { kind: 'object'; fields: Map<string, JsonField> } | { kind: 'problem'; problem: ParseProblem }

/** Parse one NDJSON line into its top-level fields, or say why it is not a JSON object. */
export function parseObjectLine(text: string): LineResult {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    const msg = (err as Error).message
    const at = /position (\d+)/.exec(msg)
    const column = at ? Number(at[1]) + 1 : undefined
    const reason = msg.replace(/, ".*" is not valid JSON$/s, '').replace(/ in JSON at position \d+.*$/s, '')
    return {
      kind: 'problem',
      problem: { code: 'NDJSON_INVALID_JSON', message: `invalid JSON: ${reason}`, ...(column === undefined ? {} : { column }) },
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`
    return { kind: 'problem', problem: { code: 'NDJSON_NOT_OBJECT', message: `expected a JSON object, found ${what}` } }
  }
  return { kind: 'object', fields: topLevelFields(text) }
}

/** Slice the top-level values of a JSON object that JSON.parse has already accepted. */
function topLevelFields(text: string): Map<string, JsonField> {
  const fields = new Map<string, JsonField>()
  let i = text.indexOf('{') + 1
  const n = text.length
  const skipWs = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++
  }
  const stringEnd = (from: number) => {
    // from points at the opening quote; returns the index after the closing quote
    let j = from + 1
    for (;;) {
      const c = text.charCodeAt(j)
      if (c === 0x5c) j += 2
      else if (c === 0x22) return j + 1
      else j++
    }
  }
  for (;;) {
    skipWs()
    if (text[i] === '}') break
    const keyEnd = stringEnd(i)
    const key = JSON.parse(text.slice(i, keyEnd)) as string
    i = keyEnd
    skipWs()
    i++ // the colon
    skipWs()
    const vStart = i
    const c = text[i]
    let kind: JsonField['kind']
    if (c === '"') {
      i = stringEnd(i)
      kind = 'string'
    } else if (c === '{' || c === '[') {
      let depth = 0
      for (;;) {
        const d = text[i]
        if (d === '"') {
          i = stringEnd(i)
          continue
        }
        if (d === '{' || d === '[') depth++
        else if (d === '}' || d === ']') depth--
        i++
        if (depth === 0) break
      }
      kind = c === '{' ? 'object' : 'array'
    } else {
      while (i < n && text[i] !== ',' && text[i] !== '}' && text[i] !== ' ' && text[i] !== '\t' && text[i] !== '\r' && text[i] !== '\n') i++
      kind = c === 't' || c === 'f' ? 'boolean' : c === 'n' ? 'null' : 'number'
    }
    const slice = text.slice(vStart, i)
    fields.set(key, { kind, text: kind === 'string' ? (JSON.parse(slice) as string) : slice })
    skipWs()
    if (text[i] === ',') i++
  }
  return fields
}
