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
