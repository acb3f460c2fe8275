import { isUtf8 } from 'node:buffer'
import { ByteBuffer } from './byte-buffer.js'
import type { Decode } from './decode.js'
import type { ValidRow } from '../validate/valid-row.js'
import type { FieldsRecord, ParsedRecord, ParseProblem, RowLayout } from './parsed-record.js'
import { FieldFlag, fieldStart, RecordAt } from './parsed-record.js'
import type { CsvDialect } from './dialect.js'
import type { RecordLimits } from './record-limits.js'
import { keptOfLongLine, lineTooLong, PARSE_SLICE_BYTES, recordLimits, tooManyFields } from './record-limits.js'

const LF = 0x0a
const CR = 0x0d

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote was just seen inside a quoted field: it closes the field or starts a doubled quote. */
  QuoteSeen,
  /** The record is already bad: skip to the end of the physical line. */
  Skip,
}

/** Where a record stands in the input: its line, byte offset, the next record's offset and line, and its bytes. */
type CsvRecordAt = [line: number, byte: number, nextByte: number, nextLine: number, raw: Buffer]

/** How a record's fields become text: shared by all records of one parser. */
interface FieldText {
  /** Decode bytes known to be valid in the input encoding. */
  decode: (b: Buffer, start: number, end: number) => string
  unescape: ((s: string) => string) | undefined
}

/**
 * A parsed CSV record: byte ranges, texts made on demand (most rows are checked and sent without
 * them). Once valid it is its own ValidRow (the validator gives it the input's RowLayout): a row
 * in a batch is one object, not three.
 */
class CsvRecord extends RecordAt implements FieldsRecord, ValidRow {
  readonly kind = 'fields' as const
  private decoded: (string | null)[] | undefined
  private mapped: (string | null | undefined)[] | undefined
  layout: RowLayout | undefined
  copyLine?: string

  constructor(
    line: number,
    byte: number,
    nextByte: number,
    nextLine: number,
    raw: Buffer,
    readonly ends: number[],
    private readonly how: FieldText,
  ) {
    super(line, byte, nextByte, nextLine, raw)
  }

  get texts(): (string | null)[] {
    if (this.decoded) return this.decoded
    const out: (string | null)[] = []
    let prev = -1
    for (const end of this.ends) {
      out.push(this.decodeField(prev, end))
      prev = end
    }
    return (this.decoded = out)
  }

  text(k: number): string | null {
    return this.decodeField(k === 0 ? -1 : this.ends[k - 1]!, this.ends[k]!)
  }

  private decodeField(prevEnd: number, end: number): string | null {
    const flags = end & (FieldFlag.Bits - 1)
    if (flags & FieldFlag.Null) return null
    const t = this.how.decode(this.raw, fieldStart(prevEnd, flags), Math.floor(end / FieldFlag.Bits))
    return flags & FieldFlag.Escaped && this.how.unescape ? this.how.unescape(t) : t
  }

  /** The row's values by table column (ValidRow.values), from the texts. */
  get values(): (string | null | undefined)[] {
    if (this.mapped) return this.mapped
    const layout = this.layout!
    const out = new Array<string | null | undefined>(layout.width)
    const texts = this.texts
    for (let k = 0; k < layout.fieldToColumn.length; k++) {
      const idx = layout.fieldToColumn[k]!
      if (idx >= 0) out[idx] = texts[k]
    }
    return (this.mapped = out)
  }

  value(column: number): string | null | undefined {
    if (this.mapped) return this.mapped[column]
    const k = this.layout!.fieldToColumn.indexOf(column)
    return k < 0 ? undefined : this.decoded ? this.decoded[k] : this.text(k)
  }

  valueHash(column: number): number | undefined {
    const k = this.layout!.fieldToColumn.indexOf(column)
    if (k < 0) return undefined
    const end = this.ends[k]!
    const flags = end & (FieldFlag.Bits - 1)
    if (flags & FieldFlag.Null) return undefined
    // FNV-1a
    const raw = this.raw
    let h = 0x811c9dc5
    for (let i = fieldStart(k === 0 ? -1 : this.ends[k - 1]!, flags), e = Math.floor(end / FieldFlag.Bits); i < e; i++)
      h = Math.imul(h ^ raw[i]!, 0x01000193)
    // (30 bits: a small integer to V8, no heap number)
    return h & 0x3fffffff
  }

  get shape(): string {
    return this.layout!.shape
  }

  get csv(): CsvDialect | undefined {
    return this.layout!.csv
  }

  asRow(layout: RowLayout): ValidRow {
    this.layout = layout
    return this
  }
}

/**
 * An incremental CSV parser over raw bytes: push chunks, get records with their start line and
 * byte offset. It does no I/O. pgbulk parses bytes rather than text so that byte offsets are exact
 * in every ASCII-compatible encoding, and so that one bad record costs that record only: after a
 * stray or unclosed quote it resumes at the next line, where csv-parse would swallow the rest.
 *
 * Memory is bounded whatever the input: a record longer than `limits.maxBytes` (quoted or not)
 * is rejected (RECORD_TOO_LONG) with its first physical line, and parsing resumes at the line
 * after it, as for a quote that never closes; a line past the limit is skipped without being kept
 * (its first bytes are, for the reject file). A record with more than `limits.maxFields` fields
 * is rejected whole. The limits are checked once per record and once per slice of input, never
 * per byte.
 */
export class CsvParser {
  /** Absolute input offset of buf[0]. */
  private base = 0
  private pos = 0
  /** Offset in buf where the current record starts. */
  private recStart = 0
  private state = State.FieldStart
  /** The current record's fields: start, end (offsets in buf) and FieldFlags, three numbers each. */
  private fieldPos: number[] = []
  /** How many entries of fieldPos are the current record's (the array is reused, never shrunk: one allocation per parser, not per record). */
  private nPos = 0
  private fieldStart = 0
  private escaped = false
  private line = 1
  private recordLine = 1
  private problem: { message: string; column: number } | undefined
  /** Fields of the current record no longer in fieldPos: past the field limit their places are not kept. */
  private droppedFields = 0
  /** Set while the rest of a line longer than the limit is skipped unread: where it started, and its first bytes. */
  private skipping: { line: number; byte: number; kept: Buffer } | undefined
  private readonly buf: ByteBuffer
  private readonly delim: number
  private readonly quote: number
  private readonly escape: number
  private readonly how: FieldText

  constructor(
    private readonly dialect: CsvDialect,
    private readonly decode: Decode,
    private readonly limits: RecordLimits = recordLimits(),
  ) {
    // A record at the limit, the slice that showed it, and a CR that may end its line.
    this.buf = new ByteBuffer(limits.maxBytes + PARSE_SLICE_BYTES + 2)
    this.delim = dialect.delimiter.charCodeAt(0)
    this.quote = dialect.quote === null ? -1 : dialect.quote.charCodeAt(0)
    this.escape = dialect.escape === null ? this.quote : dialect.escape.charCodeAt(0)
    const q = dialect.quote
    const e = dialect.escape ?? q
    let unescape: ((s: string) => string) | undefined
    if (q !== null && e === q) {
      const doubled = q + q
      unescape = (s) => s.replaceAll(doubled, q)
    } else if (q !== null && e !== null) {
      const re = new RegExp(`${escapeRe(e)}([${escapeRe(q)}${escapeRe(e)}])`, 'g')
      unescape = (s) => s.replace(re, '$1')
    }
    this.how = { decode: decode.unchecked ?? ((b, s, e) => decode(b, s, e) ?? ''), unescape }
  }

  /** Start counting at a later position of the input (after a BOM, or where a resumed load seeks to). */
  skipBytes(n: number): void {
    this.base += n
  }

  /** The line the first record starts on (a resumed load starts mid-file). */
  startAtLine(line: number): void {
    this.line = line
    this.recordLine = line
  }

  /** Bytes held for the record not yet ended: after each push, at most the limit and a CR (tests hold it to that). */
  get bufferedBytes(): number {
    return this.buf.length
  }

  /** Feed the next chunk; returns the records it completed. */
  push(chunk: Buffer): ParsedRecord[] {
    const out: ParsedRecord[] = []
    if (chunk.length <= PARSE_SLICE_BYTES) this.pushSlice(chunk, out)
    else
      for (let s = 0; s < chunk.length; s += PARSE_SLICE_BYTES)
        this.pushSlice(chunk.subarray(s, s + PARSE_SLICE_BYTES), out)
    return out
  }

  /** The input ended: returns the last records, including an unterminated one. */
  end(): ParsedRecord[] {
    const out: ParsedRecord[] = []
    if (this.skipping) this.endSkipping(this.base, false, out)
    else this.scan(true, out)
    return out
  }

  private pushSlice(slice: Buffer, out: ParsedRecord[]): void {
    let data = slice
    if (this.skipping) {
      const nl = data.indexOf(LF)
      if (nl < 0) {
        this.base += data.length
        return
      }
      this.endSkipping(this.base + nl, true, out)
      this.base += nl + 1
      data = data.subarray(nl + 1)
    }
    this.buf.append(data)
    this.scan(false, out)
    // Once per slice: is the record still open here already past a limit?
    for (;;) {
      if (this.nPos > 3 * this.limits.maxFields) {
        // Too many fields whatever follows: their places are not kept (the record will be rejected).
        this.droppedFields += this.nPos / 3
        this.nPos = 0
      }
      // (a CR at the end may be the line ending, which is not part of the record)
      if (this.buf.length - this.recStart <= this.limits.maxBytes + 1) break
      if (this.line === this.recordLine) {
        this.startSkipping()
        break
      }
      // A quoted field spans lines: its first line is rejected and the lines after it read again.
      this.pos = this.rejectFirstLine(out, 'bytes')
      this.scan(false, out)
    }
    this.compact()
  }

  private scan(final: boolean, out: ParsedRecord[]): void {
    const b = this.buf.bytes
    const n = this.buf.length
    let i = this.pos
    const { delim, quote, escape } = this
    while (i < n) {
      const c = b[i]!
      switch (this.state) {
        case State.FieldStart:
          if (c === quote) {
            this.state = State.Quoted
            this.fieldStart = i + 1
            this.escaped = false
            i++
            continue
          }
          this.fieldStart = i
          this.state = State.Unquoted
        // falls through
        case State.Unquoted: {
          // Fast scan to the next byte that matters.
          while (i < n) {
            const d = b[i]!
            if (d === delim || d === LF || d === quote) break
            i++
          }
          if (i >= n) continue
          const d = b[i]!
          if (d === delim) {
            this.addField(this.fieldStart, i, 0)
            this.state = State.FieldStart
            i++
          } else if (d === LF) {
            const end = i > this.fieldStart && b[i - 1] === CR ? i - 1 : i
            this.addField(this.fieldStart, end, 0)
            i = this.emit(end, i + 1, out)
          } else {
            this.fail(`unexpected quote inside an unquoted field (quote the whole field, or set --quote)`)
            i++
          }
          continue
        }
        case State.Quoted:
          if (c === escape && escape !== quote) {
            if (i + 1 >= n && !final) break
            // (never past n: the buffer's spare capacity holds stale bytes)
            const next = i + 1 < n ? b[i + 1] : -1
            if (next === quote || next === escape) {
              this.escaped = true
              i += 2
              continue
            }
            i++
            continue
          }
          if (c === quote) {
            this.state = State.QuoteSeen
            i++
            continue
          }
          // Fast scan to the next byte that matters inside quotes.
          while (i < n) {
            const d = b[i]!
            if (d === quote || d === escape) break
            if (d === LF) this.line++
            i++
          }
          continue
        case State.QuoteSeen:
          if (c === quote && escape === quote) {
            this.escaped = true
            this.state = State.Quoted
            i++
            continue
          }
          if (c === delim) {
            this.addField(this.fieldStart, i - 1, this.quotedFlags())
            this.state = State.FieldStart
            i++
            continue
          }
          if (c === LF || (c === CR && i + 1 < n && b[i + 1] === LF)) {
            this.addField(this.fieldStart, i - 1, this.quotedFlags())
            const lf = c === LF ? i : i + 1
            i = this.emit(i, lf + 1, out)
            continue
          }
          if (c === CR && i + 1 >= n && !final) break
          this.fail(
            'expected a delimiter or the end of the line after a closing quote, ' +
              `found ${JSON.stringify(String.fromCharCode(c))}`,
          )
          continue
        case State.Skip: {
          const nl = b.indexOf(LF, i)
          if (nl < 0 || nl >= n) {
            i = n
            continue
          }
          const end = nl > 0 && b[nl - 1] === CR ? nl - 1 : nl
          i = this.emit(end, nl + 1, out)
          continue
        }
      }
      break // waiting for more input
    }
    this.pos = i
    if (!final) return
    // End of input: finish the last record, which may lack a line ending.
    let next: number
    switch (this.state) {
      case State.FieldStart:
        if (this.nPos === 0 && this.droppedFields === 0) return
        this.addField(n, n, 0)
        next = this.emit(n, n, out)
        break
      case State.Unquoted: {
        const end = n > this.fieldStart && b[n - 1] === CR ? n - 1 : n
        this.addField(this.fieldStart, end, 0)
        next = this.emit(end, n, out)
        break
      }
      case State.QuoteSeen:
        this.addField(this.fieldStart, n - 1, this.quotedFlags())
        next = this.emit(n, n, out)
        break
      case State.Skip:
        next = this.emit(n > 0 && b[n - 1] === CR ? n - 1 : n, n, out)
        break
      case State.Quoted:
        // A quote that never closes would swallow the rest of the file: only its first line is rejected.
        next = this.rejectFirstLine(out, n - this.recStart > this.limits.maxBytes ? 'bytes' : this.unclosedQuote())
        break
    }
    // Only a record's first line was rejected: the lines after it are read again.
    if (next < n) {
      this.pos = next
      this.scan(true, out)
    }
  }

  /** Mark the current record bad; the rest of its physical line is skipped. */
  private fail(message: string): void {
    this.problem = { message, column: this.nPos / 3 + 1 }
    this.state = State.Skip
  }

  /** The problem of a quote still open at the end of the input. */
  private unclosedQuote(): ParseProblem {
    const field = this.droppedFields + this.nPos / 3 + 1
    return { code: 'CSV_PARSE', message: `quoted field opened in field ${field} is never closed`, column: field }
  }

  /**
   * Reject the current record's first physical line, and go on with the line after it; returns
   * where scanning resumes. For a quote that never closes, which would otherwise swallow the rest
   * of the file (`why` is its problem), and for a record known to be longer than the byte limit
   * ('bytes'), whose end may never be found. What the problem says depends only on the input,
   * never on how it was split into chunks.
   */
  private rejectFirstLine(out: ParsedRecord[], why: ParseProblem | 'bytes'): number {
    const b = this.buf.bytes
    const n = this.buf.length
    const start = this.recStart
    const nl = b.indexOf(LF, start)
    const lf = nl < 0 || nl >= n ? n : nl
    const end = lf > start && b[lf - 1] === CR ? lf - 1 : lf
    const next = Math.min(lf + 1, n)
    const terminated = lf < n
    const long = end - start > this.limits.maxBytes
    const kept = keptOfLongLine(this.limits)
    const problem = long ? lineTooLong(this.limits, kept) : why === 'bytes' ? quotedPastLimit(this.limits) : why
    // (a copy: a view would keep the whole buffer alive as long as the rejection)
    const raw = Buffer.from(b.subarray(start, long ? start + kept : end))
    const line = this.recordLine
    out.push({
      line,
      byte: this.base + start,
      nextByte: this.base + next,
      nextLine: line + (terminated ? 1 : 0),
      raw,
      kind: 'problem',
      problem,
    })
    this.startRecord(line + (terminated ? 1 : 0), next)
    return next
  }

  /** A line longer than the limit and still open: skip the rest of it unread, keeping its first bytes. */
  private startSkipping(): void {
    const start = this.recStart
    const kept = Buffer.from(this.buf.bytes.subarray(start, start + keptOfLongLine(this.limits)))
    this.skipping = { line: this.recordLine, byte: this.base + start, kept }
    this.base += this.buf.length
    this.buf.release()
    this.pos = 0
    this.startRecord(this.recordLine, 0)
  }

  /** The skipped line ends at `lf` (an absolute offset), or the input ends there (`terminated` false). */
  private endSkipping(lf: number, terminated: boolean, out: ParsedRecord[]): void {
    const s = this.skipping!
    this.skipping = undefined
    const problem = lineTooLong(this.limits, s.kept.length)
    const nextByte = terminated ? lf + 1 : lf
    out.push({
      line: s.line,
      byte: s.byte,
      nextByte,
      nextLine: s.line + (terminated ? 1 : 0),
      raw: s.kept,
      kind: 'problem',
      problem,
    })
    this.line = s.line + (terminated ? 1 : 0)
    this.recordLine = this.line
  }

  /** The current record's next field: from `start` to `end` (offsets in buf), with its FieldFlags. */
  private addField(start: number, end: number, flags: number): void {
    const pos = this.fieldPos
    const n = this.nPos
    pos[n] = start
    pos[n + 1] = end
    pos[n + 2] = flags
    this.nPos = n + 3
  }

  /** A new record starts at buf offset `at`, on line `line`. */
  private startRecord(line: number, at: number): void {
    this.line = line
    this.recordLine = line
    this.recStart = at
    this.nPos = 0
    this.droppedFields = 0
    this.problem = undefined
    this.state = State.FieldStart
  }

  /** Close the current record: its text ends at `end`, the next one starts at `next`. Returns `next`. */
  private emit(end: number, next: number, out: ParsedRecord[]): number {
    const b = this.buf.bytes
    const start = this.recStart
    // One comparison per record: past the byte limit, the record is treated as it was when its
    // size first showed, possibly chunks before its end (see pushSlice).
    if (end - start > this.limits.maxBytes) return this.rejectFirstLine(out, 'bytes')
    // A view: the buffer never overwrites bytes it has handed out.
    const raw = b.subarray(start, end)
    const terminated = next > start && b[next - 1] === LF
    const line = this.recordLine
    const byte = this.base + start
    const nextByte = this.base + next
    const nextLine = this.line + (terminated ? 1 : 0)
    const at = (bytes: Buffer): CsvRecordAt => [line, byte, nextByte, nextLine, bytes]
    if (this.droppedFields + this.nPos / 3 > this.limits.maxFields) {
      // (a copy: a view would keep the whole buffer alive as long as the rejection)
      out.push(problemRecord(at(Buffer.from(raw)), tooManyFields(this.limits)))
    } else if (this.problem) {
      out.push(problemRecord(at(raw), { code: 'CSV_PARSE', ...this.problem }))
    } else if (!(this.nPos === 3 && end === start)) {
      // (a blank line is not a record)
      const pos = this.fieldPos
      const ends = new Array<number>(this.nPos / 3)
      for (let k = 0; k < this.nPos; k += 3) {
        const s = pos[k]! - start
        const e = pos[k + 1]! - start
        const flags = pos[k + 2] === 0 && this.isNull(raw, s, e) ? FieldFlag.Null : pos[k + 2]!
        ends[k / 3] = e * FieldFlag.Bits + flags
      }
      // The record's bytes are checked once; its fields are then decoded without checking each again.
      const bad = this.decode.unchecked && !isUtf8(raw) ? this.firstUndecodable(raw, pos, start) : 0
      if (bad > 0)
        out.push(
          problemRecord(at(raw), {
            code: 'ENCODING_INVALID',
            message: 'invalid byte sequence for the input encoding (see --encoding)',
            column: bad,
          }),
        )
      else out.push(new CsvRecord(line, byte, nextByte, nextLine, raw, ends, this.how))
    }
    this.startRecord(terminated ? this.line + 1 : this.line, next)
    return next
  }

  private quotedFlags(): number {
    return this.escaped ? FieldFlag.Quoted | FieldFlag.Escaped : FieldFlag.Quoted
  }

  /** Whether an unquoted field is the null string (by default: empty). */
  private isNull(raw: Buffer, s: number, e: number): boolean {
    const ns = this.dialect.nullString
    if (ns === null) return s === e
    // Only a field of about the null string's length can be it: decode those to compare.
    if (e - s < ns.length || e - s > 4 * ns.length) return false
    return this.decode(raw, s, e) === ns
  }

  /** The 1-based position of the first field whose bytes are invalid in the input encoding. */
  private firstUndecodable(raw: Buffer, pos: readonly number[], start: number): number {
    for (let k = 0; k < this.nPos; k += 3)
      if (this.decode(raw, pos[k]! - start, pos[k + 1]! - start) === null) return k / 3 + 1
    // The bytes between fields are ASCII, so the bad bytes are in some field.
    return 1
  }

  /** Forget the bytes of finished records. */
  private compact(): void {
    const drop = this.recStart
    if (drop === 0) return
    this.buf.discard(drop)
    this.base += drop
    this.pos -= drop
    this.recStart = 0
    this.fieldStart -= drop
    for (let k = 0; k < this.nPos; k += 3) {
      this.fieldPos[k]! -= drop
      this.fieldPos[k + 1]! -= drop
    }
  }
}

/**
 * The problem of a record longer than the limit whose first line is not:
 * a quoted field on that line does not close within the limit.
 */
function quotedPastLimit(limits: RecordLimits): ParseProblem {
  return {
    code: 'RECORD_TOO_LONG',
    message:
      `record longer than ${limits.maxBytes} bytes (--max-record-bytes): ` +
      'a quoted field does not close within it; only its first line is rejected',
  }
}

/** A record that could not be read, at its place in the input. */
function problemRecord(at: CsvRecordAt, problem: ParseProblem): ParsedRecord {
  const [line, byte, nextByte, nextLine, raw] = at
  return { line, byte, nextByte, nextLine, raw, kind: 'problem', problem }
}

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&')
}
