import { LoadError } from '../errors.js'
import type { ParsedRecord } from '../parse/parsed-record.js'
import { RowValidator } from '../validate/validate-row.js'
import type { InputPipeline } from './types.js'

export type HeaderOptions = Pick<
  InputPipeline,
  'name' | 'input' | 'records' | 'schema' | 'parse' | 'columnNames' | 'header' | 'ignoreExtra'
>

export function newValidator(p: HeaderOptions): RowValidator {
  const v = new RowValidator(p.schema, {
    file: p.name,
    input: p.input,
    encoding: p.parse.encoding,
    ignoreExtra: p.ignoreExtra,
    format: p.parse.format,
    dialect: p.parse.dialect,
  })
  if (p.parse.format !== 'ndjson' && !p.header) v.setColumnNames(p.columnNames ?? p.schema.columns.map((c) => c.name))
  return v
}

export function applyHeader(rec: ParsedRecord, validator: RowValidator, name: string): void {
  if (rec.kind !== 'fields') {
    const why = rec.kind === 'problem' ? rec.problem.message : 'not CSV fields'
    throw new LoadError(
      'HEADER_INVALID',
      `${name}:${rec.line}: the header row cannot be read: ${why}`,
      'check --format, --delimiter and --encoding, or pass --no-header with --columns',
    )
  }
  validator.setColumnNames(rec.texts.map((v) => v ?? ''))
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
      applyHeader(head, validator, p.name)
      return head.kind === 'fields' ? head.texts.map((v) => v ?? '') : undefined
    }
    const first = records.find((r) => r.kind === 'object')
    if (first) {
      validator.validate(first) // throws on a key that matches no column
      return undefined
    }
  }
  return undefined
}
