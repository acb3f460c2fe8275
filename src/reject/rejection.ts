import type { ValueFormats } from '../validate/value-formats.js'
import { resolve } from 'node:path'
import type { InputFormat } from '../parse/parse-input.js'

/** How to read `raw` again (pgbulk redrive): the input's format, its CSV dialect and its column names. */
export interface RejectSource {
  format: InputFormat
  delimiter?: string
  quote?: string | null
  escape?: string | null
  null?: string | null
  columns?: string[]
  /** The value formats the load read the input with (--date-order, --decimal-comma, …): redrive reads it so too. */
  formats?: ValueFormats
  /** The table that refused the row (redrive's default --table). */
  table?: string
  /** The load dropped fields that matched no column (--ignore-extra): redrive does too. */
  ignoreExtra?: true
}

/** Where in the pipeline a row was refused. */
export type RejectStage = 'parse' | 'validate' | 'database'

/** One line of the reject file. */
export interface Rejection {
  /** The input as it was named (for people). */
  file: string
  /** The input's absolute path, or "stdin": what a resumed run, run from any directory, matches lines with. */
  input?: string
  /** Line where the record starts, 1-based. */
  line: number
  /** Byte offset of the record in the (decompressed) input. */
  byte: number
  stage: RejectStage
  /** pgbulk's code, or the SQLSTATE for rows the database refused. */
  code: string
  /** 1-based field position (CSV) or character position (NDJSON), when known. */
  column?: number
  /** The table column concerned, when known. */
  columnName?: string
  message: string
  /** The record's text exactly as it stood in the input (invalid bytes shown as U+FFFD). */
  raw: string
  /** The record's exact bytes, present only when `raw` could not hold them (invalid encoding). */
  rawBase64?: string
  /**
   * `raw` holds only the record's first bytes: a line longer than --max-record-bytes is not kept
   * whole, nor is a record longer than the reject file keeps (REJECT_RAW_WHOLE_BYTES). Such a
   * row cannot be loaded from the reject file (pgbulk redrive leaves it there).
   */
  rawTruncated?: true
  /** What PostgreSQL said, for database rejections. */
  pg?: { code: string; constraint?: string; detail?: string; table?: string; column?: string }
  /** The batch the row was part of, for database rejections. */
  batch?: number
  /** For database rejections: how many times the row's batch was sent (more than 1 after passing faults). */
  attempts?: number
  /** How to read `raw` again: what `pgbulk redrive` needs. */
  source?: RejectSource
  /**
   * Every problem of the row's values, when it has more than one (the first is also the line's
   * code, message and column): fix them all before a redrive.
   */
  errors?: { column?: number; columnName: string; code: string; message: string }[]
}

/**
 * The checkpoint key of a rejection's input (its absolute path, or "stdin"): recorded in the line;
 * for lines written before it was, its path as given then, resolved here.
 */
export function rejectInput(r: Pick<Rejection, 'input' | 'file'>): string {
  return r.input ?? (r.file === 'stdin' ? 'stdin' : resolve(r.file))
}
