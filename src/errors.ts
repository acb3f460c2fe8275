/** Codes of problems that end a run (thrown as LoadError). */
export type LoadErrorCode =
  | 'USAGE'
  | 'INPUT_NOT_FOUND'
  | 'INPUT_UNREADABLE'
  | 'INPUT_CORRUPT'
  | 'REJECTS_FILE_EXISTS'
  | 'REJECTS_UNWRITABLE'
  | 'REJECTS_WRITE_FAILED'
  | 'DB_CONNECT'
  | 'TABLE_NOT_FOUND'
  | 'TARGET_NOT_TABLE'
  | 'PERMISSION_DENIED'
  | 'KEY_INVALID'
  | 'COLUMN_UNKNOWN'
  | 'COLUMN_AMBIGUOUS'
  | 'COLUMN_REQUIRED'
  | 'COLUMN_NOT_WRITABLE'
  | 'HEADER_INVALID'
  | 'CHECKPOINT_UNAVAILABLE'
  | 'CHECKPOINT_UNTRUSTED'
  | 'JOB_UNFINISHED'
  | 'JOB_DONE'
  | 'JOB_RUNNING'
  | 'INPUT_CHANGED'
  | 'DB_FATAL'
  | 'REJECT_LIMIT_EXCEEDED'
  | 'ABORTED'
  /** pgbulk trace: the input was never loaded (by that job), or no line of it holds the key. */
  | 'TRACE_UNKNOWN'

/** Codes of problems that cost one row (recorded as a Rejection, never thrown). */
export type RejectCode =
  | 'CSV_PARSE'
  | 'RECORD_TOO_LONG'
  | 'FIELD_COUNT'
  | 'ENCODING_INVALID'
  | 'NDJSON_INVALID_JSON'
  | 'NDJSON_NOT_OBJECT'
  | 'VALUE_INVALID'
  | 'VALUE_OUT_OF_RANGE'
  | 'VALUE_TOO_LONG'
  | 'VALUE_NULL_NOT_ALLOWED'
  | 'FIELD_UNKNOWN'
  | 'FIELD_AMBIGUOUS'

/** Process exit codes, listed in the README. */
export const EXIT = {
  OK: 0,
  SETUP: 1,
  REJECTS: 2,
  STOPPED: 3,
  INTERRUPTED: 130,
} as const

const EXIT_BY_CODE: Record<LoadErrorCode, number> = {
  USAGE: EXIT.SETUP,
  INPUT_NOT_FOUND: EXIT.SETUP,
  INPUT_UNREADABLE: EXIT.SETUP,
  INPUT_CORRUPT: EXIT.STOPPED,
  REJECTS_FILE_EXISTS: EXIT.SETUP,
  REJECTS_UNWRITABLE: EXIT.SETUP,
  REJECTS_WRITE_FAILED: EXIT.STOPPED,
  DB_CONNECT: EXIT.SETUP,
  TABLE_NOT_FOUND: EXIT.SETUP,
  TARGET_NOT_TABLE: EXIT.SETUP,
  PERMISSION_DENIED: EXIT.SETUP,
  KEY_INVALID: EXIT.SETUP,
  COLUMN_UNKNOWN: EXIT.SETUP,
  COLUMN_AMBIGUOUS: EXIT.SETUP,
  COLUMN_REQUIRED: EXIT.SETUP,
  COLUMN_NOT_WRITABLE: EXIT.SETUP,
  HEADER_INVALID: EXIT.SETUP,
  CHECKPOINT_UNAVAILABLE: EXIT.SETUP,
  CHECKPOINT_UNTRUSTED: EXIT.SETUP,
  JOB_UNFINISHED: EXIT.SETUP,
  JOB_DONE: EXIT.SETUP,
  JOB_RUNNING: EXIT.SETUP,
  INPUT_CHANGED: EXIT.SETUP,
  DB_FATAL: EXIT.STOPPED,
  REJECT_LIMIT_EXCEEDED: EXIT.STOPPED,
  ABORTED: EXIT.INTERRUPTED,
  TRACE_UNKNOWN: EXIT.SETUP,
}

/** The one error class of a run; the original error travels as `cause`. */
export class LoadError extends Error {
  override readonly name = 'LoadError'
  readonly exitCode: number
  constructor(
    readonly code: LoadErrorCode,
    message: string,
    readonly hint?: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.exitCode = EXIT_BY_CODE[code]
  }
}
