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

/** Flags of a CSV field in FieldsRecord.pos. */
export const enum FieldFlag {
  Quoted = 1,
  /** Quoted, with escaped or doubled quotes inside: its bytes are not its text. */
  Escaped = 2,
  /** Unquoted and equal to the null string: NULL. */
  Null = 4,
}

/** A CSV/TSV record. Its fields are kept as byte ranges of `raw`; their texts are decoded only when asked for. */
export interface FieldsRecord extends RecordBase {
  kind: 'fields'
  /** Field k is raw[pos[3k], pos[3k+1]), quotes excluded; pos[3k+2] holds its FieldFlags. */
  readonly pos: readonly number[]
  /** All field texts, null for NULL (decoded on first use, then kept). */
  readonly values: (string | null)[]
  /** One field's text, null for NULL. */
  text(k: number): string | null
}

/** What a parser yields for each record: fields, an object, or the problem that made it unreadable. */
export type ParsedRecord =
  FieldsRecord | (RecordBase & { kind: 'object'; fields: Map<string, JsonField> }) | (RecordBase & { kind: 'problem'; problem: ParseProblem })
