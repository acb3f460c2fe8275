import { isUtf8 } from 'node:buffer'
import type { ValidRow } from '../validate/valid-row.js'
import { ByteBuffer } from './byte-buffer.js'
import type { Decode } from './decode.js'
import { JsonKind, MEMBER_SIZE, ObjectScan, scanObject } from './json-scan.js'
import type {
  JsonField,
  ObjectRecord,
  ObjectRowLayout,
  ParsedRecord,
  ParseProblem,
  ScannedObject,
} from './parsed-record.js'
import { RecordAt } from './parsed-record.js'
import type { RecordLimits } from './record-limits.js'
import { keptOfLongLine, lineTooLong, PARSE_SLICE_BYTES, recordLimits, tooManyFields } from './record-limits.js'
import { refusedJsonEscape } from './refused-escape.js'

const LF = 0x0a
const CR = 0x0d

/**
 * An incremental NDJSON parser: one JSON object per line, blank lines skipped. Each top-level
 * value is kept as the text it had in the line, so a number like 12345678901234567890 or 1.10
 * reaches the database exactly as written (JSON.parse would round the first and drop the zero).
 * A line longer than `limits.maxBytes` is rejected without being kept (its first bytes are, for
 * the reject file), and so is an object with more than `limits.maxFields` members.
 */
export class NdjsonParser {
  private readonly buf: ByteBuffer
  private base = 0
  private line = 1
  /** How many numbers the last object's members took: the next line's array is made at that size. */
  private memberSlots = 0
  /** Bytes at the start of buf already known to hold no line feed: a long line is not searched again per chunk. */
  private searched = 0
  /** Set while the rest of an over-long line is skipped: its start, kept for the rejection made when it ends. */
  private skipping: { line: number; byte: number; raw: Buffer } | undefined

  constructor(
    private readonly decode: Decode,
    private readonly limits: RecordLimits = recordLimits(),
  ) {
    // A line at the limit, the slice that showed it, and a CR that may end it.
    this.buf = new ByteBuffer(limits.maxBytes + PARSE_SLICE_BYTES + 2)
  }

  /** Start counting at a later position of the input (after a BOM, or where a resumed load seeks to). */
  skipBytes(n: number): void {
    this.base += n
  }

  /** The line the first record starts on (a resumed load starts mid-file). */
  startAtLine(line: number): void {
    this.line = line
  }

  /** Bytes held for the line not yet ended: after each push, at most the limit and a CR (tests hold it to that). */
  get bufferedBytes(): number {
    return this.buf.length
  }

  push(chunk: Buffer): ParsedRecord[] {
    const out: ParsedRecord[] = []
    if (chunk.length <= PARSE_SLICE_BYTES) this.pushSlice(chunk, out)
    else
      for (let s = 0; s < chunk.length; s += PARSE_SLICE_BYTES)
        this.pushSlice(chunk.subarray(s, s + PARSE_SLICE_BYTES), out)
    return out
  }

  private pushSlice(chunk: Buffer, out: ParsedRecord[]): void {
    if (this.skipping) {
      // Nothing of the long line is kept: the slice is searched for its end, not buffered.
      const nl = chunk.indexOf(LF)
      if (nl < 0) {
        this.base += chunk.length
        return
      }
      this.rejectLongLine(this.base + nl + 1, true, out)
      this.base += nl + 1
      chunk = chunk.subarray(nl + 1)
    }
    this.buf.append(chunk)
    const b = this.buf.bytes
    const n = this.buf.length
    let start = 0
    for (;;) {
      const nl = b.subarray(0, n).indexOf(LF, Math.max(start, this.searched))
      if (nl < 0) break
      this.record(start, nl, nl + 1, out)
      start = nl + 1
    }
    // (a CR at the end may be the line ending, which is not part of the line)
    if (n - start > this.limits.maxBytes + 1) {
      // A line past the limit is not kept: its first bytes are, for the rejection made when it ends.
      this.skipping = {
        line: this.line,
        byte: this.base + start,
        raw: Buffer.from(b.subarray(start, start + keptOfLongLine(this.limits))),
      }
      this.base += n
      this.buf.release()
      this.searched = 0
      return
    }
    this.buf.discard(start)
    this.base += start
    this.searched = n - start
  }

  end(): ParsedRecord[] {
    const out: ParsedRecord[] = []
    if (this.skipping) this.rejectLongLine(this.base, false, out)
    else if (this.buf.length > 0) this.record(0, this.buf.length, this.buf.length, out)
    this.buf.discard(this.buf.length)
    return out
  }

  /**
   * The over-long line ended just before `nextByte` (with its line feed when `terminated`): reject it,
   * with its first bytes as raw.
   */
  private rejectLongLine(nextByte: number, terminated: boolean, out: ParsedRecord[]): void {
    const s = this.skipping!
    this.skipping = undefined
    const nextLine = s.line + (terminated ? 1 : 0)
    out.push({
      line: s.line,
      byte: s.byte,
      nextByte,
      nextLine,
      raw: s.raw,
      kind: 'problem',
      problem: lineTooLong(this.limits, s.raw.length),
    })
    this.line = nextLine
  }

  private record(start: number, lf: number, next: number, out: ParsedRecord[]): void {
    const b = this.buf.bytes
    const end = lf > start && b[lf - 1] === CR ? lf - 1 : lf
    const line = this.line++
    const byte = this.base + start
    const nextByte = this.base + next
    const nextLine = next > lf ? line + 1 : line
    // One comparison per line: a line past the limit that ended within one slice, as if it had been skipped.
    if (end - start > this.limits.maxBytes) {
      const kept = keptOfLongLine(this.limits)
      const raw = Buffer.from(b.subarray(start, start + kept))
      out.push({ line, byte, nextByte, nextLine, raw, kind: 'problem', problem: lineTooLong(this.limits, kept) })
      return
    }
    const raw = b.subarray(start, end)
    // The common case: checked and cut into members on its bytes, no string made (see JsonRecord).
    // (made at the size of the last line's members: lines of one shape fill it exactly, with no array grown per line)
    const members = new Array<number>(this.memberSlots)
    const maxMembers = this.limits.maxFields * MEMBER_SIZE
    const scan =
      !this.decode.unchecked || isUtf8(raw)
        ? scanObject(raw, 0, raw.length, members, maxMembers)
        : ObjectScan.NotAnObject
    if (scan !== ObjectScan.NotAnObject) {
      this.memberSlots = members.length
      const at: JsonRecordAt = [line, byte, nextByte, nextLine, raw]
      out.push(
        new JsonRecord(
          at,
          members,
          scan === ObjectScan.ObjectWithRefusedEscape,
          this.text,
          this.decode.unchecked !== undefined,
        ),
      )
      return
    }
    const common = { line, byte, nextByte, nextLine, raw }
    if (members.length > maxMembers) {
      // (JSON.parse would build all of them; a copy: a view would keep the buffer alive)
      out.push({ ...common, raw: Buffer.from(raw), kind: 'problem', problem: tooManyFields(this.limits) })
      return
    }
    const text = this.decode(b, start, end)
    if (text === null) {
      out.push({
        ...common,
        kind: 'problem',
        problem: { code: 'ENCODING_INVALID', message: 'invalid byte sequence for the input encoding (see --encoding)' },
      })
      return
    }
    if (text.trim() === '') return
    out.push({ ...common, ...parseObjectLine(text) })
  }

  /** Bytes known to be valid (UTF-8 checked per line; Latin-1 and windows-1252 always are) as text. */
  private readonly text = (b: Buffer, s: number, e: number): string =>
    this.decode.unchecked ? this.decode.unchecked(b, s, e) : (this.decode(b, s, e) ?? '')
}

const KIND_NAMES: JsonField['kind'][] = ['string', 'number', 'boolean', 'null', 'object', 'array']

const hexValue = (c: number) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57)

/**
 * A JSON string's content (b[s..e), between its quotes) as COPY text: its escapes decoded and
 * COPY's own applied (a backslash, tab, newline, carriage return escaped), byte for byte what
 * escapeCopyText makes of the decoded string. Writes at `at` when `out` is given; returns the end,
 * or the length without `out`, or -1 for a lone surrogate (never written: the validator rejects
 * such a row, see ObjectScan).
 */
function copyJsonString(b: Buffer, s: number, e: number, out: Buffer | undefined, at: number): number {
  const put = (c: number) => {
    if (out) out[at] = c
    at++
  }
  for (let i = s; i < e; i++) {
    const c = b[i]!
    if (c !== 0x5c) {
      put(c)
      continue
    }
    const x = b[++i]!
    if (x !== 0x75) {
      // \" and \/ stand for themselves, \b and \f for their control characters (as the text path
      // writes them); \\ \n \r \t mean the same in COPY text.
      if (x === 0x62 || x === 0x66) put(x === 0x62 ? 0x08 : 0x0c)
      else {
        if (x !== 0x22 && x !== 0x2f) put(0x5c)
        put(x)
      }
      continue
    }
    let cp = (hexValue(b[i + 1]!) << 12) | (hexValue(b[i + 2]!) << 8) | (hexValue(b[i + 3]!) << 4) | hexValue(b[i + 4]!)
    i += 4
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const lo =
        b[i + 1] === 0x5c && b[i + 2] === 0x75
          ? (hexValue(b[i + 3]!) << 12) | (hexValue(b[i + 4]!) << 8) | (hexValue(b[i + 5]!) << 4) | hexValue(b[i + 6]!)
          : -1
      if (cp > 0xdbff || lo < 0xdc00 || lo > 0xdfff) return -1
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00)
      i += 6
    }
    if (cp === 0x5c || cp === 0x09 || cp === 0x0a || cp === 0x0d) {
      put(0x5c)
      put(cp === 0x5c ? 0x5c : cp === 0x09 ? 0x74 : cp === 0x0a ? 0x6e : 0x72)
    } else if (cp < 0x80) put(cp)
    else if (cp < 0x800) {
      put(0xc0 | (cp >> 6))
      put(0x80 | (cp & 0x3f))
    } else if (cp < 0x10000) {
      put(0xe0 | (cp >> 12))
      put(0x80 | ((cp >> 6) & 0x3f))
      put(0x80 | (cp & 0x3f))
    } else {
      put(0xf0 | (cp >> 18))
      put(0x80 | ((cp >> 12) & 0x3f))
      put(0x80 | ((cp >> 6) & 0x3f))
      put(0x80 | (cp & 0x3f))
    }
  }
  return at
}

/**
 * Bytes a JSON text takes in COPY text format:
 * backslashes doubled, the line breaks and tabs between its tokens escaped.
 */
function copyEscapedLength(b: Buffer, s: number, e: number): number {
  let n = e - s
  for (let i = s; i < e; i++) {
    const c = b[i]!
    if (c === 0x5c || c === 0x0a || c === 0x0d || c === 0x09) n++
  }
  return n
}

/**
 * Copy b[s..e) to out at `at`; returns the end.
 * Short values in a loop: Buffer.copy costs more than it moves for a few bytes.
 */
function copyBytes(b: Buffer, s: number, e: number, out: Buffer, at: number): number {
  if (e - s > 64) return at + b.copy(out, at, s, e)
  for (let i = s; i < e; i++) out[at++] = b[i]!
  return at
}

function copyEscaped(b: Buffer, s: number, e: number, out: Buffer, at: number): number {
  for (let i = s; i < e; i++) {
    const c = b[i]!
    if (c === 0x5c || c === 0x0a || c === 0x0d || c === 0x09) {
      out[at++] = 0x5c
      out[at++] = c === 0x5c ? 0x5c : c === 0x0a ? 0x6e : c === 0x0d ? 0x72 : 0x74
    } else out[at++] = c
  }
  return at
}

type JsonRecordAt = [line: number, byte: number, nextByte: number, nextLine: number, raw: Buffer]

/**
 * An NDJSON line scanned as bytes: its members are spans of `raw`. The Map of fields is made only
 * when asked for (the slow path, INSERT); once valid the record is its own row, and COPY takes its
 * values' bytes as they are where they need no unescaping (most do).
 */
class JsonRecord extends RecordAt implements ObjectRecord, ScannedObject, ValidRow {
  readonly kind = 'object' as const
  private map: Map<string, JsonField> | undefined
  private mapped: (string | null | undefined)[] | undefined
  shape = ''
  private columnMembers: readonly number[] = []
  private layout: ObjectRowLayout | undefined
  copyLine?: string

  constructor(
    at: JsonRecordAt,
    readonly members: number[],
    readonly refusedEscape: boolean,
    private readonly decode: (b: Buffer, s: number, e: number) => string,
    private readonly utf8: boolean,
  ) {
    super(...at)
  }

  get scanned(): ScannedObject {
    return this
  }

  text(start: number, end: number, escaped: boolean): string {
    const t = this.decode(this.raw, start, end)
    return escaped ? (JSON.parse(`"${t}"`) as string) : t
  }

  get fields(): Map<string, JsonField> {
    if (this.map) return this.map
    const map = new Map<string, JsonField>()
    const m = this.members
    for (let k = 0; k < m.length; k += MEMBER_SIZE) {
      const kind = (m[k + 4]! >> 1) as JsonKind
      const escaped = (m[k + 4]! & 1) === 1
      const key = this.text(m[k]!, m[k + 1]!, escaped)
      const text =
        kind === JsonKind.String
          ? this.text(m[k + 2]! + 1, m[k + 3]! - 1, escaped)
          : this.decode(this.raw, m[k + 2]!, m[k + 3]!)
      map.set(key, { kind: KIND_NAMES[kind]!, text })
    }
    return (this.map = map)
  }

  asRow(shape: string, columnMembers: readonly number[], layout: ObjectRowLayout): ValidRow {
    this.shape = shape
    this.columnMembers = columnMembers
    this.layout = layout
    return this
  }

  get values(): (string | null | undefined)[] {
    return (this.mapped ??= this.layout!.values(this))
  }

  /** The member (its offset in members) that holds a table column, or -1. */
  private memberOf(column: number): number {
    return this.columnMembers[column] ?? -1
  }

  copyTextSize(columns: readonly number[]): number {
    const L = this.layout!
    if (!this.utf8 || !L.utf8) return -1
    const m = this.members
    let n = columns.length // tabs and the newline
    for (const c of columns) {
      const k = this.memberOf(c)
      if (k < 0) return -1
      const vs = m[k + 2]!
      const ve = m[k + 3]!
      const kind = (m[k + 4]! >> 1) as JsonKind
      const escaped = (m[k + 4]! & 1) === 1
      if (kind === JsonKind.Null) n += 2
      else if (kind === JsonKind.String && escaped) {
        // (a JSON column gets the string re-serialised, as JSON.stringify writes it: the text path)
        const len = L.isJson[c] ? -1 : copyJsonString(this.raw, vs + 1, ve - 1, undefined, 0)
        if (len < 0) return -1
        n += len
      } else if (L.isJson[c] || kind === JsonKind.Object) n += copyEscapedLength(this.raw, vs, ve)
      else if (kind === JsonKind.Array) {
        if (L.isArray[c]) return -1
        n += copyEscapedLength(this.raw, vs, ve)
      } else if (kind === JsonKind.String) n += ve - vs - 2
      else n += ve - vs
    }
    return n
  }

  writeCopyText(columns: readonly number[], out: Buffer, at: number): number {
    const L = this.layout!
    const m = this.members
    for (let j = 0; j < columns.length; j++) {
      const c = columns[j]!
      if (j > 0) out[at++] = 0x09
      const k = this.memberOf(c)
      const vs = m[k + 2]!
      const ve = m[k + 3]!
      const kind = (m[k + 4]! >> 1) as JsonKind
      if (kind === JsonKind.Null) {
        out[at++] = 0x5c
        out[at++] = 0x4e
      } else if (kind === JsonKind.String && (m[k + 4]! & 1) === 1)
        at = copyJsonString(this.raw, vs + 1, ve - 1, out, at)
      else if (L.isJson[c] || kind === JsonKind.Object || kind === JsonKind.Array)
        at = copyEscaped(this.raw, vs, ve, out, at)
      else if (kind === JsonKind.String) at = copyBytes(this.raw, vs + 1, ve - 1, out, at)
      else at = copyBytes(this.raw, vs, ve, out, at)
    }
    out[at++] = 0x0a
    return at
  }
}

type LineResult =
  | { kind: 'object'; fields: Map<string, JsonField>; refusedEscape: boolean }
  | { kind: 'problem'; problem: ParseProblem }

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
      problem: {
        code: 'NDJSON_INVALID_JSON',
        message: `invalid JSON: ${reason}`,
        ...(column === undefined ? {} : { column }),
      },
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const found = `expected a JSON object, found ${jsonValueKind(value)}`
    return { kind: 'problem', problem: { code: 'NDJSON_NOT_OBJECT', message: found } }
  }
  return { kind: 'object', fields: topLevelFields(text), refusedEscape: refusedJsonEscape(text) !== undefined }
}

/** What a parsed JSON value is, for a message: "null", "an array", "a string", "a number"… */
function jsonValueKind(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return `a ${typeof value}`
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
      while (
        i < n &&
        text[i] !== ',' &&
        text[i] !== '}' &&
        text[i] !== ' ' &&
        text[i] !== '\t' &&
        text[i] !== '\r' &&
        text[i] !== '\n'
      )
        i++
      kind = c === 't' || c === 'f' ? 'boolean' : c === 'n' ? 'null' : 'number'
    }
    const slice = text.slice(vStart, i)
    fields.set(key, { kind, text: kind === 'string' ? (JSON.parse(slice) as string) : slice })
    skipWs()
    if (text[i] === ',') i++
  }
  return fields
}
