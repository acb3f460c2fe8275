/** Default --max-record-bytes: the largest record the parsers hold in memory; a longer one is rejected. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024

/**
 * The largest --max-record-bytes: a record's field becomes one JavaScript string, and its COPY
 * text another, escaped (up to twice as long); V8 strings hold at most 2^29 - 24 characters.
 */
export const MAX_RECORD_BYTES_LIMIT = 256 * 1024 * 1024

/**
 * Most fields (CSV/TSV) or top-level members (NDJSON) a record may have: far more than a table
 * holds (1,600 columns) or a spreadsheet (16,384), and few enough that the list of where each
 * field ends stays a few MB. A line of a million delimiters is 1 MB, and would otherwise cost
 * the parser 24 bytes a field.
 */
export const MAX_RECORD_FIELDS = 100_000

/** What the reject file keeps of a line longer than the limit: its first 64 KB (fewer when the limit is smaller). */
export const RAW_KEPT_OF_LONG_LINE = 64 * 1024

/**
 * The longest record the reject file keeps whole (longer ones, under a larger --max-record-bytes,
 * keep their first RAW_KEPT_OF_LONG_LINE bytes): JSON escapes a control character in 6, and the
 * line must fit in one string.
 */
export const REJECT_RAW_WHOLE_BYTES = DEFAULT_MAX_RECORD_BYTES

/**
 * Input is parsed in slices of at most this many bytes, so that a record's size is checked at
 * least this often whatever the size of the chunks a source delivers (a library caller's
 * stream may hand over hundreds of MB at once).
 */
export const PARSE_SLICE_BYTES = 256 * 1024

/** The limits one parser applies. */
export interface RecordLimits {
  /** Longest record, in bytes without its line ending. */
  maxBytes: number
  /** Most fields or members. */
  maxFields: number
}

/** The default limits, with --max-record-bytes when given. */
export function recordLimits(maxBytes = DEFAULT_MAX_RECORD_BYTES, maxFields = MAX_RECORD_FIELDS): RecordLimits {
  return { maxBytes, maxFields }
}

/**
 * How many bytes the reject file keeps of a line longer than the limit. Never more than the
 * limit, so that the same bytes are at hand however the input was split into chunks: that many
 * are always buffered before a line is known to be too long.
 */
export function keptOfLongLine(limits: RecordLimits): number {
  return Math.min(RAW_KEPT_OF_LONG_LINE, limits.maxBytes)
}

/** A record over a limit: what becomes its ParseProblem (a leaf type, so that this module imports no parser). */
export interface RecordTooLong {
  code: 'RECORD_TOO_LONG'
  message: string
  rawTruncated?: true
}

/** The problem of a line longer than the limit, whose first `kept` bytes are the rejection's raw. */
export function lineTooLong(limits: RecordLimits, kept: number): RecordTooLong {
  return {
    code: 'RECORD_TOO_LONG',
    message: `line longer than ${limits.maxBytes} bytes (--max-record-bytes): only its first ${kept} bytes are kept`,
    rawTruncated: true,
  }
}

/** The problem of a record with more fields (or NDJSON members) than the limit. */
export function tooManyFields(limits: RecordLimits): RecordTooLong {
  return { code: 'RECORD_TOO_LONG', message: `more than ${limits.maxFields} fields in one record` }
}
