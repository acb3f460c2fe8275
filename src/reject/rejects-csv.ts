import { LoadError } from '../errors.js'
import { CsvParser } from '../parse/csv.js'
import { decoderFor } from '../parse/decode.js'
import type { CsvDialect } from '../parse/dialect.js'
import { dialectOf } from '../parse/dialect.js'
import { MAX_RECORD_BYTES_LIMIT, recordLimits } from '../parse/record-limits.js'
import type { Rejection, RejectSource } from './rejection.js'
import { rejectInput } from './rejection.js'

/**
 * A reject file as a CSV to fix in a spreadsheet (`pgbulk rejects <file> --format csv`), and the
 * fixed CSV merged back into the reject file (`pgbulk redrive fixed.csv`). Pure: text in, text out.
 * The CSV has the input's header, then pgbulk's columns: the reason, the line, the input and the
 * reject file the row comes from (what the merge matches rows by).
 */
export const CSV_COLUMNS = ['_reason', '_line', '_input', '_rejects'] as const

/** A reject line that can be exported: a CSV row of known columns, kept whole. */
function exportable(r: Rejection): r is Rejection & { source: RejectSource & { columns: string[] } } {
  return r.source?.format === 'csv' && Array.isArray(r.source.columns) && !r.rawTruncated && r.rawBase64 === undefined
}

/** The reject lines as one CSV (comma, double quotes; an unquoted empty field is NULL, "" an empty string). */
export function rejectsToCsv(rejections: readonly Rejection[], rejectsPath: string): { csv: string; left: number } {
  const rows = rejections.filter(exportable)
  const first = rows[0]
  if (!first) return { csv: '', left: rejections.length }
  const columns = first.source.columns
  const other = rows.find((r) => r.source.columns.join('\u0000') !== columns.join('\u0000'))
  if (other)
    throw new LoadError(
      'USAGE',
      `the reject file holds rows of more than one header (${quote(columns)}, and ${quote(other.source.columns)} ` +
        `at line ${other.line} of ${other.file}): one CSV has one header`,
      'export the reject file of one input at a time (--rejects per input when loading)',
    )
  const lines = [toCsvLine([...columns, ...CSV_COLUMNS])]
  for (const r of rows) {
    const fields = parseRaw(r.raw, r.source)
    const reason = `${r.code}: ${r.message}${r.errors ? ` (+${r.errors.length - 1} more)` : ''}`
    lines.push(toCsvLine([...fields, reason, String(r.line), rejectInput(r), rejectsPath]))
  }
  return { csv: lines.join('\r\n') + '\r\n', left: rejections.length - rows.length }
}

/**
 * Merge a fixed CSV (rejectsToCsv's, edited) into the reject file's lines: each row's fields,
 * written again in its input's dialect, become the `raw` of the reject line of the same input and
 * line. Returns the lines (as text) and how many changed.
 */
export function mergeCsv(
  csvText: string,
  lines: readonly { text: string; rejection: Rejection | undefined }[],
): { lines: string[]; changed: number; rows: number } {
  const records = parseCsv(csvText)
  const header = records.shift()
  if (!header || CSV_COLUMNS.some((c) => !header.includes(c)))
    throw new LoadError('INPUT_UNREADABLE', `not a CSV of rejects: its header lacks ${CSV_COLUMNS.join(', ')}`)
  const at = (name: string) => header.indexOf(name)
  const dataColumns = header.slice(0, at('_reason'))
  const byKey = new Map<string, (string | null)[]>()
  for (const rec of records) {
    if (rec.length !== header.length) continue
    byKey.set(`${rec[at('_input')]}\u0000${rec[at('_line')]}`, rec.slice(0, dataColumns.length))
  }
  let changed = 0
  const out = lines.map(({ text, rejection: r }) => {
    if (!r || !exportable(r)) return text
    const fields = byKey.get(`${rejectInput(r)}\u0000${r.line}`)
    if (!fields) return text
    const raw = toRawLine(fields, dialectOf('csv', { ...r.source, nullString: r.source.null }))
    if (raw === r.raw) return text
    changed++
    return JSON.stringify({ ...r, raw })
  })
  return { lines: out, changed, rows: records.length }
}

/** Whether a file's first line is the header of rejectsToCsv's CSV. */
export function isRejectsCsv(firstLine: string): boolean {
  return CSV_COLUMNS.every((c) => firstLine.includes(c)) && !firstLine.trimStart().startsWith('{')
}

function parseRaw(raw: string, source: RejectSource): (string | null)[] {
  const dialect = dialectOf('csv', { ...source, nullString: source.null })
  return parseCsv(raw, dialect)[0] ?? []
}

function parseCsv(text: string, dialect: CsvDialect = dialectOf('csv', {})): (string | null)[][] {
  const parser = new CsvParser(dialect, decoderFor('utf8'), recordLimits(MAX_RECORD_BYTES_LIMIT))
  const recs = [...parser.push(Buffer.from(text, 'utf8')), ...parser.end()]
  return recs.flatMap((r) => (r.kind === 'fields' ? [r.texts.slice()] : []))
}

/** A CSV line of the export: every text quoted but NULL (an unquoted empty field). */
function toCsvLine(fields: readonly (string | null)[]): string {
  return fields.map((f) => (f === null ? '' : `"${f.replace(/"/g, '""')}"`)).join(',')
}

/** A row written again in its input's dialect (quoted where it must be), for the reject line's raw. */
function toRawLine(fields: readonly (string | null)[], d: CsvDialect): string {
  const q = d.quote ?? '"'
  return fields
    .map((f) => {
      if (f === null) return d.nullString ?? ''
      const must =
        f.includes(d.delimiter) || f.includes(q) || /[\r\n]/.test(f) || f === (d.nullString ?? '') || f.trim() !== f
      if (!must) return f
      const esc =
        d.escape && d.escape !== q
          ? f.replaceAll(d.escape, d.escape + d.escape).replaceAll(q, d.escape + q)
          : f.replaceAll(q, q + q)
      return `${q}${esc}${q}`
    })
    .join(d.delimiter)
}

function quote(names: readonly string[]): string {
  return names.map((n) => JSON.stringify(n)).join(', ')
}
