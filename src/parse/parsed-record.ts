import type { RejectCode } from '../errors.js'
import type { ValidRow } from '../validate/valid-row.js'
import type { CsvDialect } from './dialect.js'

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
  /** The record's raw holds only its first bytes (a line longer than --max-record-bytes is not kept whole). */
  rawTruncated?: true
}

/** Where a record stands in the input (RecordBase as a class, for the records that are classes). */
export abstract class RecordAt {
  constructor(
    readonly line: number,
    readonly byte: number,
    readonly nextByte: number,
    readonly nextLine: number,
    readonly raw: Buffer,
  ) {}
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

/** Flags of a CSV field, in the low bits of its FieldsRecord.ends entry. */
export const enum FieldFlag {
  Quoted = 1,
  /** Quoted, with escaped or doubled quotes inside: its bytes are not its text. */
  Escaped = 2,
  /** Unquoted and equal to the null string: NULL. */
  Null = 4,
  /** ends[k] = end offset × Bits + flags. */
  Bits = 8,
}

/**
 * A CSV/TSV record. Its fields are kept as byte ranges of `raw` (one number each: most rows are
 * checked and sent without a string per field); their texts are decoded only when asked for.
 */
export interface FieldsRecord extends RecordBase {
  kind: 'fields'
  /**
   * Field k ends at raw offset ends[k] / FieldFlag.Bits (quotes excluded), with its FieldFlags in
   * the low bits; it starts after the previous field's end, its closing quote and the delimiter,
   * and its own opening quote (see fieldStart).
   */
  readonly ends: readonly number[]
  /** All field texts, null for NULL (decoded on first use, then kept). */
  readonly texts: (string | null)[]
  /** One field's text, null for NULL. */
  text(k: number): string | null
  /** The record as its table row, once the validator found it valid. */
  asRow(layout: RowLayout): ValidRow
}

/**
 * How the validator turns a valid record into a table row: the table column of each field (-1
 * for a field that is dropped), and what the row's ValidRow fields say. One per input, shared.
 */
export interface RowLayout {
  fieldToColumn: readonly number[]
  /** Number of table columns. */
  width: number
  shape: string
  csv: CsvDialect | undefined
}

/** Where field k of a record starts, given where the previous one ended (its ends entry; -1 for the first field). */
export function fieldStart(prevEnd: number, flags: number): number {
  const afterPrev = prevEnd < 0 ? 0 : Math.floor(prevEnd / FieldFlag.Bits) + (prevEnd & FieldFlag.Quoted) + 1
  return afterPrev + (flags & FieldFlag.Quoted)
}

/** An NDJSON record: its top-level fields. */
export interface ObjectRecord extends RecordBase {
  kind: 'object'
  /** Each top-level key with its value (made on first use when the line was scanned as bytes). */
  readonly fields: Map<string, JsonField>
  /**
   * The line holds \u0000 or a UTF-16 surrogate without its pair somewhere (a key, a nested
   * value, a repeated key's first value): PostgreSQL's JSON reader refuses the line (refused-escape.ts).
   */
  readonly refusedEscape: boolean
  /**
   * Set when the line was scanned as bytes: the members' spans in raw (see scanObject), for the validator's fast path.
   */
  readonly scanned?: ScannedObject
}

/** An NDJSON line scanned as bytes: what the validator's fast path reads, and how the record becomes its row. */
export interface ScannedObject {
  /** MEMBER_SIZE numbers per member: key start and end, value start and end, kind × 2 + escaped. */
  readonly members: readonly number[]
  /** A key's or a value's text, from its span (a JSON string's content unescaped). */
  text(start: number, end: number, escaped: boolean): string
  /**
   * The record as its table row: `columnMembers` gives, per table column, the offset in members
   * of the member that holds it (-1: none); `layout` what all rows of the input share.
   */
  asRow(shape: string, columnMembers: readonly number[], layout: ObjectRowLayout): ValidRow
}

/** What all rows of one NDJSON input share: see ScannedObject.asRow. */
export interface ObjectRowLayout {
  /** The row's values by table column, made the slow way (json_populate_record's rules). */
  values(rec: ObjectRecord): (string | null | undefined)[]
  /** Per table column: json or jsonb (a value goes in as its JSON text). */
  isJson: readonly boolean[]
  /** Per table column: an array type (a JSON array becomes an array literal). */
  isArray: readonly boolean[]
  /** The bytes are UTF-8 and may be copied to COPY as they are. */
  utf8: boolean
}

/** What a parser yields for each record: fields, an object, or the problem that made it unreadable. */
export type ParsedRecord = FieldsRecord | ObjectRecord | (RecordBase & { kind: 'problem'; problem: ParseProblem })
