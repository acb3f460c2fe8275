import type { ValidRow } from '../validate/valid-row.js'

/** Escape one value for PostgreSQL's COPY text format: backslash, tab, newline and carriage return. */
export function escapeCopyText(value: string): string {
  if (!/[\\\t\n\r]/.test(value)) return value
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
}

/**
 * What COPY … (DEFAULT '\D') reads as the column's default: compared with the field before its
 * backslashes are undone, so a value "\D" (written "\\D") is never taken for it. Measured on 18.
 */
export const DEFAULT_MARKER = '\\D'

/**
 * One COPY text line with the values of the given columns; NULL is \N. An absent value
 * (undefined) is DEFAULT_MARKER where `hasDefault` says the column has a default (COPY refuses
 * the marker for a column without one), else NULL.
 */
export function encodeCopyLine(
  values: readonly (string | null | undefined)[],
  columns: readonly number[],
  hasDefault?: readonly boolean[],
): string {
  let out = ''
  for (let k = 0; k < columns.length; k++) {
    const v = values[columns[k]!]
    if (k > 0) out += '\t'
    out += v === null ? '\\N' : v === undefined ? (hasDefault?.[k] ? DEFAULT_MARKER : '\\N') : escapeCopyText(v)
  }
  return out + '\n'
}

/**
 * COPY text lines for some rows, one per row: written from the input's bytes where the row can
 * (NDJSON scanned as bytes), else from its values (the line is made once and kept on the row).
 */
export function encodeCopyText(
  rows: readonly Pick<ValidRow, 'values' | 'copyLine' | 'copyTextSize' | 'writeCopyText'>[],
  columns: readonly number[],
  hasDefault?: readonly boolean[],
): Buffer {
  const sizes = new Array<number>(rows.length)
  let fromValues: Map<number, Buffer> | undefined
  let total = 0
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!
    const n = row.copyTextSize?.(columns) ?? -1
    if (n >= 0) sizes[i] = n
    else {
      const line = Buffer.from((row.copyLine ??= encodeCopyLine(row.values, columns, hasDefault)))
      ;(fromValues ??= new Map()).set(i, line)
      sizes[i] = line.length
    }
    total += sizes[i]!
  }
  const out = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < rows.length; i++) {
    const line = fromValues?.get(i)
    at = line ? at + line.copy(out, at) : rows[i]!.writeCopyText!(columns, out, at)
  }
  return out
}
