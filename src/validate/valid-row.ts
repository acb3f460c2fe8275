import type { CsvDialect } from '../parse/dialect.js'

/** A row that passed the client-side checks, ready to be batched and written. */
export interface ValidRow {
  line: number
  byte: number
  nextByte: number
  raw: Buffer
  /** One entry per table column: text, null for NULL, undefined for "absent: use the default". */
  values: (string | null | undefined)[]
  /** One column's entry of `values`, without making the others (a key check reads one column of every row). */
  value?(column: number): string | null | undefined
  /**
   * A number for one column's input bytes, made without decoding them (the same bytes, the same
   * number; other bytes mostly another), or undefined for NULL and absent: for spotting repeated
   * keys cheaply, where a false match costs nothing but a row sent later.
   */
  valueHash?(column: number): number | undefined
  /** Which columns are present (their indexes joined): rows of one shape share one COPY or INSERT column list. */
  shape: string
  /**
   * Set when `raw` is the row itself as a CSV record in this dialect and in UTF-8, its fields in
   * the order of `shape`: COPY … (FORMAT csv) can then take the input's own bytes.
   */
  csv?: CsvDialect | undefined
  /** The row as a COPY text line, kept once made: a row sent again while bad rows are isolated is not encoded twice. */
  copyLine?: string
  /**
   * Bytes of the row as a COPY text line of `columns` written from its input bytes,
   * or -1 when it must be written from its values.
   */
  copyTextSize?(columns: readonly number[]): number
  /** Write that line at `at` (after copyTextSize said its size); returns where it ends. */
  writeCopyText?(columns: readonly number[], out: Buffer, at: number): number
}

/** A row's value for one column, made alone when the row can. */
export function valueOf(row: Pick<ValidRow, 'values' | 'value'>, column: number): string | null | undefined {
  return row.value ? row.value(column) : row.values[column]
}

/** The table columns a row of this shape holds (ValidRow.shape: their indexes joined by commas). */
export function shapeColumns(shape: string): number[] {
  return shape === '' ? [] : shape.split(',').map(Number)
}
