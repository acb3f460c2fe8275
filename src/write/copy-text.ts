/** Escape one value for PostgreSQL's COPY text format: backslash, tab, newline and carriage return. */
export function escapeCopyText(value: string): string {
  if (!/[\\\t\n\r]/.test(value)) return value
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
}

/** One COPY text line with the values of the given columns; NULL is \N. */
export function encodeCopyLine(values: readonly (string | null | undefined)[], columns: readonly number[]): string {
  let out = ''
  for (let k = 0; k < columns.length; k++) {
    const v = values[columns[k]!]
    if (k > 0) out += '\t'
    out += v === null || v === undefined ? '\\N' : escapeCopyText(v)
  }
  return out + '\n'
}

/** COPY text lines for some rows, one per row; each row's line is made once and kept on the row. */
export function encodeCopyText(rows: readonly { values: readonly (string | null | undefined)[]; copyLine?: string }[], columns: readonly number[]): string {
  let out = ''
  for (const row of rows) out += row.copyLine ??= encodeCopyLine(row.values, columns)
  return out
}
