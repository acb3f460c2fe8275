import type { RejectCode } from '../errors.js'

/** One value of an NDJSON object's top level, kept as the text it had in the line. */
export interface JsonField {
  kind: 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array'
  /** For strings the decoded string; for everything else the JSON text exactly as written. */
  text: string
}

/** A problem with one record found while parsing; the record becomes a rejection. */
export interface ParseProblem {
  code: RejectCode
  message: string
  /** 1-based field position (CSV) or character position (NDJSON), when known. */
  column?: number
}

interface RecordBase {
  /** Line where the record starts, 1-based. */
  line: number
  /** Byte offset of the record's first byte in the (decompressed) input. */
  byte: number
  /** Byte offset just past the record and its line ending: where the next record starts. */
  nextByte: number
  /** The line where the next record starts. */
  nextLine: number
  /** The record's bytes without its line ending, exactly as they stood in the input. */
  raw: Buffer
}

/** What a parser yields for each record: fields, an object, or the problem that made it unreadable. */
export type ParsedRecord =
  | (RecordBase & { kind: 'fields'; values: (string | null)[] })
  | (RecordBase & { kind: 'object'; fields: Map<string, JsonField> })
  | (RecordBase & { kind: 'problem'; problem: ParseProblem })
