import { isUtf8 } from 'node:buffer'
import { ByteBuffer } from './byte-buffer.js'
import type { Decode } from './decode.js'
import type { ParsedRecord } from './parsed-record.js'

/** How a CSV or TSV file is written. Characters are single bytes (ASCII). */
export interface CsvDialect {
  delimiter: string
  /** Quote character, or null for no quoting (plain TSV). */
  quote: string | null
  /** Escape character inside quoted fields; the quote itself means "double the quote", as in RFC 4180. */
  escape: string | null
  /** The string that means NULL when unquoted; null means "an unquoted empty field is NULL", as PostgreSQL's COPY CSV. */
  nullString: string | null
}

/** A format's dialect: what is given, the format's defaults for the rest (CSV: "," and '"'; TSV: tab and no quoting). */
export function dialectOf(
  format: 'csv' | 'tsv' | 'ndjson',
  given: { delimiter?: string | undefined; quote?: string | null | undefined; escape?: string | null | undefined; nullString?: string | null | undefined },
): CsvDialect {
  const tsv = format === 'tsv'
  return {
    delimiter: given.delimiter ?? (tsv ? '\t' : ','),
    quote: given.quote === undefined ? (tsv ? null : '"') : given.quote,
    escape: given.escape ?? null,
    nullString: given.nullString ?? null,
  }
}

/** Largest record kept in memory while looking for a closing quote before the record is rejected. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024

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

interface Field {
  start: number
  end: number
  quoted: boolean
  escaped: boolean
}

/**
 * An incremental CSV parser over raw bytes: push chunks, get records with their start line and
 * byte offset. It does no I/O. pgbulk parses bytes rather than text so that byte offsets are exact
 * in every ASCII-compatible encoding, and so that one bad record costs that record only: after a
 * stray or unclosed quote it resumes at the next line, where csv-parse would swallow the rest.
 */
export class CsvParser {
  private readonly buf = new ByteBuffer()
  /** Absolute input offset of buf[0]. */
  private base = 0
  private pos = 0
  /** Offset in buf where the current record starts. */
  private recStart = 0
  private state = State.FieldStart
  private fields: Field[] = []
  private fieldStart = 0
  private escaped = false
  private line = 1
  private recordLine = 1
  private problem: { message: string; column: number } | undefined
  private readonly delim: number
  private readonly quote: number
  private readonly escape: number
  private readonly unescape: ((s: string) => string) | undefined

  constructor(
    private readonly dialect: CsvDialect,
    private readonly decode: Decode,
    private readonly maxRecordBytes = MAX_RECORD_BYTES,
  ) {
    this.delim = dialect.delimiter.charCodeAt(0)
    this.quote = dialect.quote === null ? -1 : dialect.quote.charCodeAt(0)
    this.escape = dialect.escape === null ? this.quote : dialect.escape.charCodeAt(0)
    const q = dialect.quote
    const e = dialect.escape ?? q
    if (q !== null && e === q) {
      const doubled = q + q
      this.unescape = (s) => s.replaceAll(doubled, q)
    } else if (q !== null && e !== null) {
      const re = new RegExp(`${escapeRe(e)}([${escapeRe(q)}${escapeRe(e)}])`, 'g')
      this.unescape = (s) => s.replace(re, '$1')
    }
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

  /** Feed the next chunk; returns the records it completed. */
  push(chunk: Buffer): ParsedRecord[] {
    this.buf.append(chunk)
    const out: ParsedRecord[] = []
    this.scan(false, out)
    this.compact()
    return out
  }

  /** The input ended: returns the last records, including an unterminated one. */
  end(): ParsedRecord[] {
    const out: ParsedRecord[] = []
    this.scan(true, out)
    return out
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
            this.fields.push({ start: this.fieldStart, end: i, quoted: false, escaped: false })
            this.state = State.FieldStart
            i++
          } else if (d === LF) {
            const end = i > this.fieldStart && b[i - 1] === CR ? i - 1 : i
            this.fields.push({ start: this.fieldStart, end, quoted: false, escaped: false })
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
            const next = b[i + 1]
            if (next === quote || next === escape) {
              this.escaped = true
              i += 2
              continue
            }
            i++
            continue
          }
          if (c === quote) this.state = State.QuoteSeen
          else if (c === LF) this.line++
          i++
          if (i - this.recStart > this.maxRecordBytes && this.state === State.Quoted) {
            i = this.resyncAfterFirstLine(out)
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
            this.fields.push({ start: this.fieldStart, end: i - 1, quoted: true, escaped: this.escaped })
            this.state = State.FieldStart
            i++
            continue
          }
          if (c === LF || (c === CR && b[i + 1] === LF)) {
            this.fields.push({ start: this.fieldStart, end: i - 1, quoted: true, escaped: this.escaped })
            const lf = c === LF ? i : i + 1
            i = this.emit(i, lf + 1, out)
            continue
          }
          if (c === CR && i + 1 >= n && !final) break
          this.fail(`expected a delimiter or the end of the line after a closing quote, found ${JSON.stringify(String.fromCharCode(c))}`)
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
    switch (this.state) {
      case State.FieldStart:
        if (this.fields.length === 0) return
        this.fields.push({ start: n, end: n, quoted: false, escaped: false })
        this.emit(n, n, out)
        return
      case State.Unquoted: {
        const end = n > this.fieldStart && b[n - 1] === CR ? n - 1 : n
        this.fields.push({ start: this.fieldStart, end, quoted: false, escaped: false })
        this.emit(end, n, out)
        return
      }
      case State.QuoteSeen: {
        this.fields.push({ start: this.fieldStart, end: n - 1, quoted: true, escaped: this.escaped })
        this.emit(n, n, out)
        return
      }
      case State.Skip:
        this.emit(n > 0 && b[n - 1] === CR ? n - 1 : n, n, out)
        return
      case State.Quoted:
        this.pos = this.resyncAfterFirstLine(out)
        this.scan(true, out)
        return
    }
  }

  /** Mark the current record bad; the rest of its physical line is skipped. */
  private fail(message: string): void {
    this.problem = { message, column: this.fields.length + 1 }
    this.state = State.Skip
  }

  /**
   * A quote that never closes (at the end of input, or beyond the record size limit) would
   * swallow the rest of the file: reject the record's first physical line only and parse again
   * from the line after it.
   */
  private resyncAfterFirstLine(out: ParsedRecord[]): number {
    const b = this.buf.bytes
    const n = this.buf.length
    const nl = b.indexOf(LF, this.recStart)
    const lf = nl < 0 || nl >= n ? n : nl
    const end = lf > this.recStart && b[lf - 1] === CR ? lf - 1 : lf
    this.problem = {
      message: `quoted field opened in field ${this.fields.length + 1} is never closed${n - this.recStart > this.maxRecordBytes ? ` within ${this.maxRecordBytes} bytes` : ''}`,
      column: this.fields.length + 1,
    }
    this.line = this.recordLine
    return this.emit(end, Math.min(lf + 1, n), out)
  }

  /** Close the current record: its text ends at `end`, the next one starts at `next`. Returns `next`. */
  private emit(end: number, next: number, out: ParsedRecord[]): number {
    const b = this.buf.bytes
    const start = this.recStart
    const raw = Buffer.allocUnsafe(end - start)
    b.copy(raw, 0, start, end)
    const terminated = next > start && b[next - 1] === LF
    const common = { line: this.recordLine, byte: this.base + start, nextByte: this.base + next, nextLine: this.line + (terminated ? 1 : 0), raw }
    if (this.problem) {
      out.push({ ...common, kind: 'problem', problem: { code: 'CSV_PARSE', ...this.problem } })
    } else if (!(this.fields.length === 1 && end === start)) {
      // (a blank line is not a record)
      const values: (string | null)[] = []
      let bad = 0
      // Validate the record's bytes once, then decode its fields without checking each again.
      const fast = this.decode.unchecked && isUtf8(raw) ? this.decode.unchecked : undefined
      for (let k = 0; k < this.fields.length; k++) {
        const f = this.fields[k]!
        const text = fast ? fast(b, f.start, f.end) : this.decode(b, f.start, f.end)
        if (text === null) {
          bad = k + 1
          break
        }
        values.push(this.toValue(f, text))
      }
      if (bad > 0) {
        out.push({
          ...common,
          kind: 'problem',
          problem: { code: 'ENCODING_INVALID', message: 'invalid byte sequence for the input encoding (see --encoding)', column: bad },
        })
      } else {
        out.push({ ...common, kind: 'fields', values })
      }
    }
    if (terminated) this.line++
    this.recordLine = this.line
    this.recStart = next
    this.fields = []
    this.problem = undefined
    this.state = State.FieldStart
    return next
  }

  private toValue(f: Field, text: string): string | null {
    if (f.quoted) return f.escaped && this.unescape ? this.unescape(text) : text
    const ns = this.dialect.nullString
    if (ns === null ? text === '' : text === ns) return null
    return text
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
    for (const f of this.fields) {
      f.start -= drop
      f.end -= drop
    }
  }
}

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&')
}
