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

/**
 * Rows as COPY CSV data: each row's own input bytes and a newline where they can be sent as they
 * are (nearly always), else the row written anew from its values. No string is made per row.
 */
export function encodeCopyCsv(rows: readonly ValidRow[], columns: readonly number[], d: CsvDialect): Buffer {
  let total = 0
  let rewritten: Map<number, Buffer> | undefined
  for (let i = 0; i < rows.length; i++) {
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
  for (let i = 0; i < rows.length; i++) {
    const line = rewritten?.get(i)
    if (line) at += line.copy(out, at)
    else {
      at += rows[i]!.raw.copy(out, at)
      out[at++] = LF
    }
  }
  return out
}
