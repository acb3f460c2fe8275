/** How a CSV or TSV file is written. Characters are single bytes (ASCII). */
export interface CsvDialect {
  delimiter: string
  /** Quote character, or null for no quoting (plain TSV). */
  quote: string | null
  /** Escape character inside quoted fields; the quote itself means "double the quote", as in RFC 4180. */
  escape: string | null
  /**
   * The string that means NULL when unquoted; null means "an unquoted empty field is NULL", as PostgreSQL's COPY CSV.
   */
  nullString: string | null
}

/**
 * A format's dialect: what is given, the format's defaults for the rest (CSV: "," and '"'; TSV: tab and no quoting).
 */
export function dialectOf(
  format: 'csv' | 'tsv' | 'ndjson',
  given: {
    delimiter?: string | undefined
    quote?: string | null | undefined
    escape?: string | null | undefined
    nullString?: string | null | undefined
  },
): CsvDialect {
  const tsv = format === 'tsv'
  return {
    delimiter: given.delimiter ?? (tsv ? '\t' : ','),
    quote: given.quote === undefined ? (tsv ? null : '"') : given.quote,
    escape: given.escape ?? null,
    nullString: given.nullString ?? null,
  }
}
