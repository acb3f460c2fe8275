import type { CsvDialect } from '../parse/dialect.js'
import type { ValidRow } from '../validate/valid-row.js'

const LF = 0x0a
const CR = 0x0d

/** A string as an SQL literal, whatever standard_conforming_strings says. */
function literal(s: string): string {
  const q = `'${s.replaceAll("'", "''")}'`
  return s.includes('\\') ? `E${q.replaceAll('\\', '\\\\')}` : q
}

const isOneAscii = (s: string) => s.length === 1 && s.charCodeAt(0) < 0x80

/**
 * The options of COPY … (FORMAT csv) that read a CSV dialect exactly as pgbulk's parser does, or
 * undefined when PostgreSQL would refuse them or read the records differently (no quote character,
 * a null string that holds the delimiter or the quote, or is "\." which PostgreSQL 15 takes for
 * the end of the data).
 */
export function copyCsvOptions(d: CsvDialect): string | undefined {
  const { delimiter, quote } = d
  const escape = d.escape ?? quote
  if (quote === null || escape === null || !isOneAscii(delimiter) || !isOneAscii(quote) || !isOneAscii(escape))
    return undefined
  if (delimiter === quote || delimiter === '\r' || delimiter === '\n' || quote === '\r' || quote === '\n')
    return undefined
  const ns = d.nullString
  if (ns !== null && (ns.includes(delimiter) || ns.includes(quote) || /[\r\n]/.test(ns) || ns === '\\.'))
    return undefined
  const nullOption = ns === null ? '' : `, NULL ${literal(ns)}`
  return `FORMAT csv, DELIMITER ${literal(delimiter)}, QUOTE ${literal(quote)}, ESCAPE ${literal(escape)}${nullOption}`
}

/**
 * Whether a record's own bytes are a line COPY reads as the same row: not when a carriage return
 * is in it (unquoted, COPY refuses it), nor when it is "\." alone (PostgreSQL 15 ends the data there).
 */
function sendsAsIs(raw: Buffer): boolean {
  return raw.indexOf(CR) < 0 && !(raw.length === 2 && raw[0] === 0x5c && raw[1] === 0x2e)
}

/** One row as a CSV line in the dialect: every value quoted, NULL as the null string. */
function csvLine(values: readonly (string | null | undefined)[], columns: readonly number[], d: CsvDialect): string {
  const q = d.quote!
  const e = d.escape ?? q
  const nullText = d.nullString ?? ''
  let out = ''
  for (let k = 0; k < columns.length; k++) {
    const v = values[columns[k]!]
    if (k > 0) out += d.delimiter
    if (v === null || v === undefined) out += nullText
    else {
      let inner = ''
      for (const ch of v) inner += ch === q || ch === e ? e + ch : ch
      out += q + inner + q
    }
  }
  return out + '\n'
}

/** Fewer rows in a run than this are copied: a write per row or two would cost more than the copy. */
const MIN_VIEW_ROWS = 64

/**
 * Rows as COPY CSV data, in pieces to write in order: each row's own input bytes and a newline
 * where they can be sent as they are (nearly always), else the row written anew from its values.
 * A run of rows that follow one another in the parser's buffer, each ended by a newline there,
 * goes as one view of that buffer (nothing copied; the parser never writes over bytes it has given
 * out); the others, and short runs (rows left out between, as bad rows are), are copied. No
 * string is made per row.
 */
export function encodeCopyCsv(rows: readonly ValidRow[], columns: readonly number[], d: CsvDialect): Buffer[] {
  const pieces: Buffer[] = []
  const input = new InputLines()
  /** The first row not yet in a piece: rows from there to the run being looked at are copied. */
  let copyFrom = 0
  for (let k = 0; k < rows.length;) {
    let end = k + 1
    if (input.isLine(rows[k]!.raw))
      while (end < rows.length && input.isLine(rows[end]!.raw) && follows(rows[end - 1]!.raw, rows[end]!.raw)) end++
    if (end - k >= MIN_VIEW_ROWS) {
      if (copyFrom < k) pieces.push(copiedLines(rows, copyFrom, k, columns, d))
      const first = rows[k]!.raw
      const last = rows[end - 1]!.raw
      pieces.push(Buffer.from(first.buffer, first.byteOffset, last.byteOffset + last.length + 1 - first.byteOffset))
      copyFrom = end
    }
    k = end
  }
  if (copyFrom < rows.length) pieces.push(copiedLines(rows, copyFrom, rows.length, columns, d))
  return pieces
}

/** Whether `b` starts one byte (its line's newline) after `a` ends, in the same buffer. */
function follows(a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && b.byteOffset === a.byteOffset + a.length + 1
}

/** Whether a record's bytes are a line COPY reads as they are, a newline after them in their buffer. */
class InputLines {
  private of: ArrayBufferLike | undefined
  private bytes: Uint8Array | undefined

  isLine(raw: Buffer): boolean {
    const after = raw.byteOffset + raw.length
    if (raw.buffer !== this.of) {
      this.of = raw.buffer
      this.bytes = new Uint8Array(raw.buffer)
    }
    return after < this.bytes!.length && this.bytes![after] === LF && sendsAsIs(raw)
  }
}

/** Rows [from, to) copied into one buffer: each row's bytes and a newline, or the row written anew. */
function copiedLines(
  rows: readonly ValidRow[],
  from: number,
  to: number,
  columns: readonly number[],
  d: CsvDialect,
): Buffer {
  let total = 0
  let rewritten: Map<number, Buffer> | undefined
  for (let i = from; i < to; i++) {
    const raw = rows[i]!.raw
    if (sendsAsIs(raw)) total += raw.length + 1
    else {
      const line = Buffer.from(csvLine(rows[i]!.values, columns, d))
      ;(rewritten ??= new Map()).set(i, line)
      total += line.length
    }
  }
  const out = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = from; i < to; i++) {
    const line = rewritten?.get(i)
    if (line) at += line.copy(out, at)
    else {
      at += rows[i]!.raw.copy(out, at)
      out[at++] = LF
    }
  }
  return out
}
