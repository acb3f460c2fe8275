import { LoadError } from '../errors.js'
import { quotedList } from '../report/words.js'
import type { ParsedRecord } from '../parse/parsed-record.js'
import { RowValidator } from '../validate/validate-row.js'
import type { InputPipeline } from './types.js'

export type HeaderOptions = Pick<
  InputPipeline,
  'name' | 'input' | 'records' | 'schema' | 'parse' | 'columnNames' | 'header' | 'ignoreExtra' | 'map' | 'formats'
>

export function newValidator(p: HeaderOptions): RowValidator {
  const v = new RowValidator(p.schema, {
    file: p.name,
    input: p.input,
    encoding: p.parse.encoding,
    ignoreExtra: p.ignoreExtra,
    format: p.parse.format,
    dialect: p.parse.dialect,
    map: p.map,
    formats: p.formats,
  })
  if (p.parse.format !== 'ndjson' && !p.header) v.setColumnNames(p.columnNames ?? p.schema.columns.map((c) => c.name))
  return v
}

/**
 * Read the header row: its fields' names, or --columns in their place (which must name as many).
 * Returns the names the fields go by.
 */
export function applyHeader(
  rec: ParsedRecord,
  validator: RowValidator,
  name: string,
  renamed: readonly string[] | undefined,
): string[] {
  if (rec.kind !== 'fields') {
    const why = rec.kind === 'problem' ? rec.problem.message : 'not CSV fields'
    throw new LoadError(
      'HEADER_INVALID',
      `${name}:${rec.line}: the header row cannot be read: ${why}`,
      'check --format, --delimiter and --encoding, or pass --no-header with --columns',
    )
  }
  const names = rec.texts.map((v) => v ?? '')
  if (renamed && renamed.length !== names.length)
    throw new LoadError(
      'HEADER_INVALID',
      `${name}:${rec.line}: --columns names ${renamed.length} columns, but the header has ${names.length} fields ` +
        `(${quotedList(names)})`,
      "--columns renames the header's fields one for one; with --no-header it names the fields of a file without one",
    )
  validator.setColumnNames(renamed ? [...renamed] : names)
  return renamed ? [...renamed] : names
}

/**
 * Check an input's header (CSV/TSV) or first object (NDJSON) against the table, reading no
 * further, so that a column name that matches nothing fails before any row of any input is written.
 */
export async function preflightInput(p: HeaderOptions): Promise<string[] | undefined> {
  const validator = newValidator(p)
  if (p.parse.format !== 'ndjson' && !p.header) return undefined
  for await (const records of p.records) {
    if (p.parse.format !== 'ndjson') {
      const head = records[0]
      if (!head) continue
      return applyHeader(head, validator, p.name, p.columnNames)
    }
    const first = records.find((r) => r.kind === 'object')
    if (first) {
      validator.validate(first) // throws on a key that matches no column
      return undefined
    }
  }
  return undefined
}
