import { LoadError } from '../errors.js'
import type { CsvDialect } from '../parse/dialect.js'
import type { InputEncoding } from '../parse/decode.js'
import type { InputFormat } from '../parse/parse-input.js'
import { lossyText } from '../parse/decode.js'
import { parseObjectLine } from '../parse/ndjson.js'
import { JsonKind, MEMBER_SIZE } from '../parse/json-scan.js'
import { RAW_KEPT_OF_LONG_LINE, REJECT_RAW_WHOLE_BYTES } from '../parse/record-limits.js'
import type {
  FieldsRecord,
  JsonField,
  ObjectRecord,
  ObjectRowLayout,
  ParsedRecord,
  RowLayout,
  ScannedObject,
} from '../parse/parsed-record.js'
import { FieldFlag, fieldStart } from '../parse/parsed-record.js'
import type { Rejection, RejectSource } from '../reject/rejection.js'
import type { RejectCode } from '../errors.js'
import { snippet } from '../location.js'
import { plural, quotedList } from '../report/words.js'
import type { ColumnInfo, TableSchema } from '../schema/introspect.js'
import { ColumnMatcher, columnNames, looseName } from './column-match.js'
import type { Transform, ValueFormats } from './value-formats.js'
import { rewritesValues, transformFor } from './value-formats.js'
import type { ByteCheck } from './check-bytes.js'
import { byteCheckFor } from './check-bytes.js'
import type { ValueCheck } from './check-value.js'
import { checkFor, columnLabel } from './check-value.js'
import { refusedCharacter, refusedEscapeReason, refusedJsonEscape } from '../parse/refused-escape.js'
import type { ArrayRefused } from './populate-array.js'
import { populateArray } from './populate-array.js'
import type { ValidRow } from './valid-row.js'

/** Options of the validate stage. */
export interface ValidateOptions {
  /** Display name of the input, for rejections. */
  file: string
  /** The input's absolute path or "stdin", for rejections (see Rejection.input). */
  input?: string | undefined
  encoding: InputEncoding
  /** Drop input fields that match no column instead of failing. */
  ignoreExtra: boolean
  /** The input's format and dialect, kept in each rejection so that it can be read again. */
  format: InputFormat
  dialect: CsvDialect
  /** --map: input field (header name, NDJSON key) → table column, winning over every other match. */
  map?: Readonly<Record<string, string>> | undefined
  /** --date-order, --decimal-comma, --thousands, …: values rewritten into the form PostgreSQL reads. */
  formats?: ValueFormats | undefined
}

/** One problem of a row's value (a reject line lists them all in `errors` when there are several). */
type ColumnProblem = NonNullable<Rejection['errors']>[number]

const UNKNOWN = -1
const IGNORED = -2

/**
 * Maps input fields to table columns and checks every value against the live schema. Pure: a
 * record goes in, a ValidRow or a Rejection comes out. Run problems found while mapping (an
 * unknown column before any row was written) are thrown as LoadError.
 */
export class RowValidator {
  private readonly checks: (ValueCheck | undefined)[]
  private readonly byteChecks: ByteCheck[]
  /** CSV: table column index of each input field. */
  private fieldToColumn: number[] | undefined
  /** CSV: how a valid record becomes its row (see RowLayout). */
  private layout: RowLayout | undefined
  /** NDJSON: what rows scanned as bytes share. */
  private readonly objectLayout: ObjectRowLayout
  /**
   * NDJSON: the last object's keys (their bytes) and table columns, reused while the next objects have the same keys.
   */
  private objectKeys: ObjectKeys | undefined
  /** CSV: an escaped field's only escapes are doubled '"' (RFC 4180), which the byte checks can read through. */
  private readonly doubledQuotes: boolean
  /** NDJSON: table column index of each key seen so far. */
  private readonly keyToColumn = new Map<string, number>()
  /** Per table column: an array of json or jsonb, whose string elements go in as JSON strings. */
  private readonly elementIsJson: boolean[]
  /** Per table column: the delimiter of its array literals. */
  private readonly arrayDelimiter: string[]
  private seenObject = false
  private readonly matcher: ColumnMatcher
  /** NDJSON: --map fields that are paths into nested objects (user.id), split at their dots. */
  private readonly paths: { field: string; path: string[] }[]
  /** Per column, how its values are rewritten (ValueFormats); undefined when no format was asked for. */
  private readonly transforms: (Transform | undefined)[] | undefined
  /** CSV: the header's fields matched other than by their exact name (the summary lists them). */
  mapped: { field: string; column: string }[] = []

  constructor(
    private readonly schema: TableSchema,
    private readonly opts: ValidateOptions,
  ) {
    this.matcher = new ColumnMatcher(
      schema.columns.map((c) => c.name),
      opts.map,
      schema.sqlName,
    )
    // (a date of numbers is checked in the order it is read: the user's, else the server's DateStyle)
    const dateOrder = opts.formats?.dateOrder ?? schema.dateOrder
    this.checks = schema.columns.map((c) => checkFor(c, dateOrder))
    this.paths = Object.keys(opts.map ?? {})
      .filter((f) => opts.format === 'ndjson' && f.includes('.'))
      .map((field) => ({ field, path: field.split('.') }))
    const formats = opts.formats
    this.transforms = rewritesValues(formats) ? schema.columns.map((c) => transformFor(c, formats!)) : undefined
    this.byteChecks = schema.columns.map((c) => byteCheckFor(c))
    this.doubledQuotes = opts.dialect.quote === '"' && (opts.dialect.escape ?? '"') === '"'
    this.elementIsJson = schema.columns.map(
      (c) => c.isArray && (c.elementIsJson ?? (c.type === '_json' || c.type === '_jsonb')),
    )
    this.arrayDelimiter = schema.columns.map((c) => c.arrayDelimiter ?? ',')
    this.objectLayout = {
      values: (rec) => {
        const values = new Array<string | null | undefined>(schema.columns.length)
        this.mapObject(rec.fields, values)
        return values
      },
      isJson: schema.columns.map((c) => c.type === 'json' || c.type === 'jsonb'),
      isArray: schema.columns.map((c) => c.isArray),
      utf8: opts.encoding === 'utf8',
    }
    const d = opts.dialect
    this.source =
      opts.format === 'ndjson'
        ? { format: 'ndjson' }
        : { format: opts.format, delimiter: d.delimiter, quote: d.quote, escape: d.escape, null: d.nullString }
    if (rewritesValues(opts.formats)) this.source = { ...this.source, formats: opts.formats! }
    this.source = { ...this.source, table: schema.sqlName, ...(opts.ignoreExtra ? { ignoreExtra: true as const } : {}) }
  }

  /** How to read a rejected record's raw text again (its column names once known). */
  private source: RejectSource

  /**
   * Set the CSV column names (from the header or --columns): each field's column (ColumnMatcher).
   * Refused (exit 1): no field that fills a column; a field that fills none, unless --ignore-extra;
   * two fields for one column; a --map field the header does not have.
   */
  setColumnNames(names: string[]): void {
    const inferred = columnNames(names)
    const found = names.map((name, k) => this.matcher.match(name, inferred[k]))
    // (a column --map fills is that field's: other fields that would match it are extra)
    const byMap = new Set(found.flatMap((m) => (m?.how === 'map' ? [m.index] : [])))
    const matches = found.map((m) => (m && m.how !== 'map' && byMap.has(m.index) ? undefined : m))
    const cols = this.schema.columns
    // (redrive reads a rejected line again by these names: the columns the fields filled, so that it needs no --map)
    this.source = { ...this.source, columns: names.map((n, k) => (matches[k] ? cols[matches[k].index]!.name : n)) }
    const unused = this.matcher.unusedMap(names)
    if (unused.length > 0)
      throw new LoadError(
        'COLUMN_UNKNOWN',
        `${this.opts.file}: --map names ${plural(unused.length, 'field', 'fields')} ${quotedList(unused)} ` +
          `that the header does not have (its fields: ${quotedList(names)})`,
      )
    const unknown = names.filter((_, k) => matches[k] === undefined)
    if (unknown.length > 0 && unknown.some((n) => n.includes('\r'))) {
      // A file whose lines end in CR alone reads as one line: its header runs into the first row.
      throw new LoadError(
        'HEADER_INVALID',
        `${this.opts.file}: the header holds a carriage return (${quotedList(unknown)}): ` +
          'the lines seem to end in CR alone (classic Mac OS), which pgbulk does not read as line endings',
        `convert the line endings first, e.g. tr '\\r' '\\n' < ${this.opts.file} > fixed.csv`,
      )
    }
    if (unknown.length === names.length) {
      // (--ignore-extra would load rows of nothing but NULLs and defaults)
      throw new LoadError(
        'COLUMN_UNKNOWN',
        `${this.opts.file}: no field of the header matches a column of ${this.schema.sqlName}: ` +
          `${quotedList(names)} ${this.columnsListed()}`,
        this.otherDelimiter(names) ?? "rename the fields, or map them with --map 'Field Name=column,…'",
      )
    }
    if (unknown.length > 0 && !this.opts.ignoreExtra) {
      const meant = names
        .flatMap((n, k) => {
          if (matches[k]) return []
          const taken = found[k] && `${cols[found[k].index]!.name} is filled by --map`
          return [`${JSON.stringify(n)}${taken ? ` (${taken})` : this.matcher.didYouMean(n)}`]
        })
        .join(', ')
      throw new LoadError(
        'COLUMN_UNKNOWN',
        `${this.opts.file}: ${meant} ${plural(unknown.length, 'matches no column', 'match no columns')} ` +
          `of ${this.schema.sqlName} ${this.columnsListed()}`,
        'rename the field, map it with --map, or pass --ignore-extra to drop fields that match no column',
      )
    }
    const fieldsOf = new Map<number, string[]>()
    for (const [k, m] of matches.entries()) if (m) fieldsOf.set(m.index, [...(fieldsOf.get(m.index) ?? []), names[k]!])
    for (const [idx, fields] of fieldsOf) {
      if (fields.length < 2) continue
      if (fields.every((f) => f === fields[0]))
        throw new LoadError(
          'HEADER_INVALID',
          `${this.opts.file}: column ${JSON.stringify(fields[0])} appears twice in the header`,
        )
      throw new LoadError(
        'COLUMN_AMBIGUOUS',
        `${this.opts.file}: fields ${quotedList(fields)} ${fields.length === 2 ? 'both' : 'all'} fill column ` +
          JSON.stringify(cols[idx]!.name),
        `say which one with --map ${JSON.stringify(`${fields[0]}=${cols[idx]!.name}`)}, ` +
          'and drop the other with --ignore-extra or map it elsewhere',
      )
    }
    this.fieldToColumn = matches.map((m) => (m ? m.index : IGNORED))
    this.mapped = matches.flatMap((m, k) =>
      m && names[k] !== cols[m.index]!.name ? [{ field: names[k]!, column: cols[m.index]!.name }] : [],
    )
    const seen = new Set(fieldsOf.keys())
    this.checkWritable([...seen])
    const missing = this.schema.columns.filter((c, i) => !seen.has(i) && c.notNull && !c.hasDefault && !c.generated)
    if (missing.length > 0) {
      const n = missing.length
      const names = quotedList(missing.map((c) => c.name))
      throw new LoadError(
        'COLUMN_REQUIRED',
        `${this.opts.file}: ${plural(n, 'column', 'columns')} ${names} of ${this.schema.sqlName} ` +
          `${plural(n, 'is', 'are')} NOT NULL without a default but not in the input`,
        'add the column to the input (or to --columns)',
      )
    }
    // Columns in field order: a record's own bytes can then be sent as its row (see ValidRow.csv),
    // when every field is a column and the bytes are UTF-8.
    this.layout = {
      fieldToColumn: this.fieldToColumn,
      width: this.schema.columns.length,
      shape: this.fieldToColumn.filter((i) => i >= 0).join(','),
      csv: this.opts.encoding === 'utf8' && this.fieldToColumn.every((i) => i >= 0) ? this.opts.dialect : undefined,
    }
  }

  /**
   * Whether a record of a file read without a header names the columns its fields fill, field for
   * field (loosely): a header row, which --no-header would load as data.
   */
  namesItsColumns(rec: ParsedRecord): boolean {
    const map = this.fieldToColumn
    if (rec.kind !== 'fields' || !map || rec.texts.length !== map.length) return false
    return map.every((idx, k) => idx < 0 || looseName(rec.texts[k] ?? '') === looseName(this.schema.columns[idx]!.name))
  }

  /** Validate one parsed record. */
  validate(rec: ParsedRecord): ValidRow | Rejection {
    // (values to rewrite are never sent as their bytes: the fast paths are for input as PostgreSQL reads it)
    if (rec.kind === 'fields' && !this.transforms && this.surelyValid(rec)) return rec.asRow(this.layout!)
    if (rec.kind === 'object' && rec.scanned && !this.transforms && this.paths.length === 0) {
      const row = this.surelyValidObject(rec, rec.scanned)
      if (row) return row
    }
    if (rec.kind === 'problem') {
      const { code, message, column, rawTruncated } = rec.problem
      return this.rejection(rec, {
        stage: 'parse',
        code,
        message,
        ...(column === undefined ? {} : { column }),
        ...(rawTruncated ? { rawTruncated } : {}),
      })
    }
    const values = new Array<string | null | undefined>(this.schema.columns.length)
    if (rec.kind === 'fields') {
      const map = this.fieldToColumn
      if (!map) throw new Error('setColumnNames() must be called before validate()')
      if (rec.ends.length !== map.length) {
        return this.reject(
          rec,
          'parse',
          'FIELD_COUNT',
          `expected ${map.length} fields, found ${rec.ends.length}`,
          Math.min(rec.ends.length, map.length) + 1,
        )
      }
      for (let k = 0; k < map.length; k++) {
        const idx = map[k]!
        if (idx >= 0) values[idx] = rec.texts[k]
      }
    } else {
      const problem = this.mapObject(rec.fields, values)
      // (mapObject first: the first object's keys are registered there)
      const refused = rec.refusedEscape ? this.refusedEscapeIn(rec.fields) : problem
      if (refused) return this.reject(rec, 'validate', refused.code, refused.message, undefined, refused.columnName)
    }
    let shape = rec.kind === 'fields' ? this.layout!.shape : ''
    const cols = this.schema.columns
    // Every problem of the row, so that it is fixed in one go: the first one's fields are the line's
    // (code, message, column), and `errors` lists them all when there are more.
    let problems: ColumnProblem[] | undefined
    const problem = (i: number, code: string, message: string, field = this.fieldOf(i)) =>
      (problems ??= []).push({
        ...(field === undefined ? {} : { column: field }),
        columnName: cols[i]!.name,
        code,
        message,
      })
    for (let i = 0; i < cols.length; i++) {
      let v = values[i]
      const col = cols[i]!
      const rewrite = this.transforms?.[i]
      if (rewrite && typeof v === 'string') {
        const out = rewrite(v)
        if (out !== null && typeof out === 'object') {
          problem(i, out.code, out.message)
          continue
        }
        values[i] = v = out
      }
      if (v === undefined) {
        if (rec.kind === 'object' && col.notNull && !col.hasDefault) {
          const why = `column ${JSON.stringify(col.name)} is NOT NULL without a default, and the key is missing`
          problem(i, 'VALUE_NULL_NOT_ALLOWED', why, undefined)
        }
        continue
      }
      if (rec.kind === 'object') shape += shape === '' ? `${i}` : `,${i}`
      if (v === null) {
        if (col.notNull) problem(i, 'VALUE_NULL_NOT_ALLOWED', `${columnLabel(col)} is NOT NULL, found NULL`)
        continue
      }
      if (v.includes('\0')) {
        const why = `column ${JSON.stringify(col.name)}: contains a NUL character (0x00), which PostgreSQL cannot store`
        problem(i, 'VALUE_INVALID', why)
        continue
      }
      const refused = this.checks[i]?.(v)
      if (refused) problem(i, refused.code, refused.message)
    }
    if (problems) {
      const first = problems[0]!
      return this.rejection(rec, {
        stage: 'validate',
        code: first.code,
        message: first.message,
        ...(first.column === undefined ? {} : { column: first.column }),
        columnName: first.columnName,
        ...(problems.length > 1 ? { errors: problems } : {}),
      })
    }
    const row: ValidRow = { line: rec.line, byte: rec.byte, nextByte: rec.nextByte, raw: rec.raw, values, shape }
    if (rec.kind === 'fields' && !this.transforms) row.csv = this.layout!.csv
    return row
  }

  /**
   * The common case of a CSV record, checked on its bytes without making a string per field
   * (strings only for the values a byte check is unsure of). false: not sure; validate() then
   * checks the record the full way, which also finds the message for a bad one.
   */
  private surelyValid(rec: FieldsRecord): boolean {
    const map = this.fieldToColumn
    const ends = rec.ends
    if (!map || ends.length !== map.length || rec.raw.indexOf(0) >= 0) return false
    const cols = this.schema.columns
    let prev = -1
    for (let k = 0; k < map.length; k++) {
      const end = ends[k]!
      const start = fieldStart(prev, end)
      prev = end
      const idx = map[k]!
      if (idx < 0) continue
      if (end & FieldFlag.Null) {
        if (cols[idx]!.notNull) return false
        continue
      }
      const escaped = (end & FieldFlag.Escaped) !== 0
      if (
        (!escaped || this.doubledQuotes) &&
        this.byteChecks[idx]!(rec.raw, start, Math.floor(end / FieldFlag.Bits), escaped)
      )
        continue
      const check = this.checks[idx]
      if (check && check(rec.text(k)!)) return false
    }
    return true
  }

  /**
   * The common case of an NDJSON object scanned as bytes: its keys are the last object's (same
   * bytes) or known, and its values pass the byte checks (strings only for what they are unsure
   * of). Undefined: not sure; validate() then checks the record the full way.
   */
  private surelyValidObject(rec: ObjectRecord, s: ScannedObject): ValidRow | undefined {
    // The first object registers its keys the full way (an unknown one fails the run there).
    // A line with an escape PostgreSQL refuses is rejected the full way.
    if (!this.seenObject || rec.refusedEscape) return undefined
    const m = s.members
    let keys = this.objectKeys
    if (!keys || !sameKeys(rec.raw, m, keys.keys)) {
      keys = this.mapKeys(rec.raw, s)
      if (!keys) return undefined
      this.objectKeys = keys
    }
    const cols = this.schema.columns
    for (let j = 0; j < keys.memberColumns.length; j++) {
      const idx = keys.memberColumns[j]!
      if (idx < 0) continue
      const k = j * MEMBER_SIZE
      const vs = m[k + 2]!
      const ve = m[k + 3]!
      const kind = (m[k + 4]! >> 1) as JsonKind
      const escaped = (m[k + 4]! & 1) === 1
      if (kind === JsonKind.Null) {
        if (cols[idx]!.notNull) return undefined
        continue
      }
      if (this.objectLayout.isArray[idx]) {
        // A string is an array literal, read by the server; an array must have a shape PostgreSQL
        // takes; anything else is refused the full way.
        if (kind === JsonKind.String) continue
        if (
          kind !== JsonKind.Array ||
          typeof populateArray(s.text(vs, ve, false), this.elementIsJson[idx]!, this.arrayDelimiter[idx]) !== 'string'
        )
          return undefined
        continue
      }
      const check = this.checks[idx]
      if (kind === JsonKind.String && escaped) {
        // (\u0000, the only way to a NUL character, made the line's refusedEscape)
        if (check && !this.objectLayout.isJson[idx] && check(s.text(vs + 1, ve - 1, true))) return undefined
        continue
      }
      // Any JSON value is good JSON text for a json column; unchecked types take any text.
      if (!check || this.objectLayout.isJson[idx]) continue
      if (kind === JsonKind.String) {
        if (this.byteChecks[idx]!(rec.raw, vs + 1, ve - 1, false) || !check(s.text(vs + 1, ve - 1, false))) continue
        return undefined
      }
      if (kind === JsonKind.Number || kind === JsonKind.Boolean) {
        if (this.byteChecks[idx]!(rec.raw, vs, ve, false) || !check(s.text(vs, ve, false))) continue
        return undefined
      }
      // An object or an array for a checked column that is not JSON: the full way decides.
      return undefined
    }
    return s.asRow(keys.shape, keys.columnMembers, this.objectLayout)
  }

  /**
   * The table column of each member, when every key is known and no column is given twice or missing while required.
   */
  private mapKeys(raw: Buffer, s: ScannedObject): ObjectKeys | undefined {
    const m = s.members
    const keys: Buffer[] = []
    const memberColumns: number[] = []
    const present = new Set<number>()
    for (let k = 0; k < m.length; k += MEMBER_SIZE) {
      const idx = this.keyToColumn.get(s.text(m[k]!, m[k + 1]!, (m[k + 4]! & 1) === 1))
      if (idx === undefined) return undefined
      if (idx >= 0) {
        if (present.has(idx)) return undefined
        present.add(idx)
      }
      memberColumns.push(idx)
      keys.push(Buffer.from(raw.subarray(m[k], m[k + 1])))
    }
    if (this.schema.columns.some((c, i) => !present.has(i) && c.notNull && !c.hasDefault)) return undefined
    const columnMembers = this.schema.columns
      .map((_, i) => memberColumns.indexOf(i) * MEMBER_SIZE)
      .map((x) => (x < 0 ? -1 : x))
    return { keys, memberColumns, columnMembers, shape: [...present].sort((a, b) => a - b).join(',') }
  }

  /**
   * Put an NDJSON object's fields into their columns. A key goes to the column of that name, or
   * else to the one column whose name it matches case-insensitively. Where several keys go to one
   * column, the key that names it exactly wins (json_populate_record reads only that one; when it
   * is repeated, the last counts, as in JSON), and two different case variants without it are
   * ambiguous. Returns the row's problem: a key that matches no column, ambiguous keys, an array
   * PostgreSQL refuses for its column.
   */
  private mapObject(given: Map<string, JsonField>, values: (string | null | undefined)[]): RowProblem | undefined {
    const { fields, consumed } = this.withPaths(given)
    const first = !this.seenObject
    this.seenObject = true
    const cols = this.schema.columns
    /** Per column, the key whose value it gets. */
    const keyOf = new Array<string | undefined>(cols.length)
    /** Columns given by two case variants (and the second variant), decided once every key is read. */
    let clash: Map<number, string> | undefined
    let firstFills = false
    for (const key of fields.keys()) {
      let idx = this.keyToColumn.get(key)
      if (idx === undefined) {
        idx = this.columnIndex(key)
        // (an object a --map path reads from is not an extra field)
        if (idx === UNKNOWN && (this.opts.ignoreExtra || consumed.has(key))) idx = IGNORED
        if (idx === UNKNOWN && first) {
          throw new LoadError(
            'COLUMN_UNKNOWN',
            `${this.opts.file}: key ${JSON.stringify(key)} of the first object ` +
              `matches no column of ${this.schema.sqlName} ${this.columnsListed()}`,
            'rename the key, or pass --ignore-extra to drop keys that match no column',
          )
        }
        if (idx !== UNKNOWN) {
          if (idx >= 0) this.checkWritable([idx])
          this.keyToColumn.set(key, idx)
        }
      }
      if (first && idx >= 0) firstFills = true
      if (idx === UNKNOWN)
        return {
          code: 'FIELD_UNKNOWN',
          message: `key ${JSON.stringify(key)} matches no column of ${this.schema.sqlName}`,
          columnName: key,
        }
      if (idx < 0) continue
      const name = cols[idx]!.name
      const prev = keyOf[idx]
      if (prev === undefined || key === name) keyOf[idx] = key
      else if (prev !== name) (clash ??= new Map()).set(idx, key)
    }
    // (with --ignore-extra, a first object none of whose keys fills a column would start rows of NULLs and defaults)
    if (first && !firstFills && fields.size > 0)
      throw new LoadError(
        'COLUMN_UNKNOWN',
        `${this.opts.file}: no key of the first object matches a column of ${this.schema.sqlName}: ` +
          `${quotedList([...fields.keys()])} ${this.columnsListed()}`,
        "rename the keys, or map them with --map 'key=column,…'",
      )
    if (clash) {
      for (const [idx, other] of clash) {
        const col = cols[idx]!
        if (keyOf[idx] === col.name) continue
        return {
          code: 'FIELD_AMBIGUOUS',
          message:
            `keys ${JSON.stringify(keyOf[idx])} and ${JSON.stringify(other)} ` +
            `both name column ${JSON.stringify(col.name)} (case-insensitively): keep one, or name the column exactly`,
          columnName: col.name,
        }
      }
    }
    for (let idx = 0; idx < cols.length; idx++) {
      const key = keyOf[idx]
      if (key === undefined) continue
      const col = cols[idx]!
      const v = jsonToText(fields.get(key)!, col, this.elementIsJson[idx]!, this.arrayDelimiter[idx]!)
      if (v !== null && typeof v === 'object') {
        return {
          code: 'VALUE_INVALID',
          message: `${columnLabel(col)}: ${v.refused}: ${snippet(fields.get(key)!.text)}`,
          columnName: col.name,
        }
      }
      values[idx] = v
    }
    return undefined
  }

  /**
   * The problem of a line that holds an escape PostgreSQL's JSON reader refuses: in a column's
   * value, the column's; else (in a key, a dropped key's value, a repeated key's first value) the line's.
   */
  private refusedEscapeIn(fields: Map<string, JsonField>): RowProblem {
    for (const [key, field] of fields) {
      if (refusedCharacter(key) !== undefined) break
      const found =
        field.kind === 'string'
          ? refusedCharacter(field.text)
          : field.kind === 'object' || field.kind === 'array'
            ? refusedJsonEscape(field.text)
            : undefined
      if (found === undefined) continue
      const idx = this.keyToColumn.get(key) ?? UNKNOWN
      if (idx < 0) continue
      const col = this.schema.columns[idx]!
      return {
        code: 'VALUE_INVALID',
        message: `${columnLabel(col)}: ${refusedEscapeReason(found)}`,
        columnName: col.name,
      }
    }
    return {
      code: 'NDJSON_INVALID_JSON',
      message: "the line holds \\u0000 or a UTF-16 surrogate without its pair, which PostgreSQL's JSON reader refuses",
    }
  }

  private checkWritable(indexes: number[]): void {
    const cols = indexes.map((i) => this.schema.columns[i]!)
    const generated = cols.filter((c) => c.generated)
    if (generated.length > 0) {
      throw new LoadError(
        'COLUMN_NOT_WRITABLE',
        `${this.opts.file}: ${quotedList(generated.map((c) => c.name))} of ${this.schema.sqlName} ` +
          `${plural(generated.length, 'is a generated column', 'are generated columns')} and cannot be written`,
        'drop the field from the input, or pass --ignore-extra after renaming it',
      )
    }
    // INSERT's rule, for COPY too (which would store the value): both methods load the same.
    const identity = cols.filter((c) => c.identityAlways)
    if (identity.length > 0) {
      throw new LoadError(
        'COLUMN_NOT_WRITABLE',
        `${this.opts.file}: ${quotedList(identity.map((c) => c.name))} of ${this.schema.sqlName} ` +
          `${plural(identity.length, 'is an identity column', 'are identity columns')} GENERATED ALWAYS`,
        'pass --overriding-system-value to store the values of the input, ' +
          'or drop the field to let the table number the rows',
      )
    }
  }

  /** The table's columns, for a message about a name that matches none: "(columns: id, name)". */
  private columnsListed(): string {
    return `(columns: ${this.schema.columns.map((c) => c.name).join(', ')})`
  }

  /**
   * NDJSON: the fields of an object with the values --map paths reach into nested objects added
   * (`user.id` from {"user": {"id": 7}}), their texts exactly as written; and the keys they start at.
   */
  private withPaths(fields: Map<string, JsonField>): { fields: Map<string, JsonField>; consumed: Set<string> } {
    const consumed = new Set<string>()
    if (this.paths.length === 0) return { fields, consumed }
    const out = new Map(fields)
    for (const { field, path } of this.paths) {
      if (fields.has(field)) continue // (a key with dots in its name, named by --map: it is that key)
      let at = fields.get(path[0]!)
      if (at !== undefined) consumed.add(path[0]!)
      for (const key of path.slice(1)) {
        if (at?.kind !== 'object') {
          at = undefined
          break
        }
        const inner = parseObjectLine(at.text)
        at = inner.kind === 'object' ? inner.fields.get(key) : undefined
      }
      if (at !== undefined) out.set(field, at)
    }
    return { fields: out, consumed }
  }

  /** An NDJSON key's column (ColumnMatcher: --map, exact, case-insensitive, loose), or UNKNOWN. */
  private columnIndex(name: string): number {
    return this.matcher.match(name)?.index ?? UNKNOWN
  }

  /**
   * A hint when a header read as one field (or several) would split into fields that fill columns
   * on another delimiter: the delimiter is probably that one.
   */
  private otherDelimiter(names: readonly string[]): string | undefined {
    const d = this.opts.dialect.delimiter
    const line = names.join(d)
    for (const other of [',', ';', '\t', '|'].filter((x) => x !== d)) {
      const parts = line.split(other)
      if (parts.length < 2) continue
      const filled = parts.filter((p) => this.matcher.match(p.replace(/^"|"$/g, '')) !== undefined).length
      if (filled > 0) {
        const shown = other === '\t' ? 'tab' : JSON.stringify(other)
        return `the header splits on ${shown} into ${parts.length} fields, ${filled} of them columns: pass --delimiter ${JSON.stringify(other)}${other === '\t' ? ' (or --format tsv)' : ''}`
      }
    }
    return undefined
  }

  /** The 1-based CSV field position of a table column. */
  private fieldOf(columnIndex: number): number | undefined {
    const k = this.fieldToColumn?.indexOf(columnIndex)
    return k === undefined || k < 0 ? undefined : k + 1
  }

  /** A reject-file line for a record, with what is needed to read it again. */
  rejection(
    rec: { line: number; byte: number; raw: Buffer },
    what: Pick<Rejection, 'stage' | 'code' | 'message'> & Partial<Rejection>,
  ): Rejection {
    return { ...makeRejection(this.opts, rec, what), source: this.source }
  }

  private reject(
    rec: ParsedRecord,
    stage: Rejection['stage'],
    code: string,
    message: string,
    column?: number,
    columnName?: string,
  ): Rejection {
    return this.rejection(rec, {
      stage,
      code,
      message,
      ...(column === undefined ? {} : { column }),
      ...(columnName === undefined ? {} : { columnName }),
    })
  }
}

/**
 * Build a reject-file line for a record; the raw bytes are kept exactly, as base64 too when they are not valid text.
 */
function makeRejection(
  opts: { file: string; input?: string | undefined; encoding: InputEncoding },
  rec: { line: number; byte: number; raw: Buffer },
  what: Pick<Rejection, 'stage' | 'code' | 'message'> & Partial<Rejection>,
): Rejection {
  const whole = rec.raw.length <= REJECT_RAW_WHOLE_BYTES
  const bytes = whole ? rec.raw : rec.raw.subarray(0, RAW_KEPT_OF_LONG_LINE)
  const raw = lossyText(bytes, opts.encoding)
  const exact = opts.encoding !== 'utf8' || Buffer.from(raw, 'utf8').equals(bytes)
  return {
    file: opts.file,
    ...(opts.input === undefined ? {} : { input: opts.input }),
    line: rec.line,
    byte: rec.byte,
    ...what,
    raw,
    ...(exact ? {} : { rawBase64: bytes.toString('base64') }),
    ...(whole ? {} : { rawTruncated: true as const }),
  }
}

/**
 * The text PostgreSQL's json_populate_record would put in a column: json/jsonb columns get the
 * JSON value itself, other columns get strings unquoted, numbers and booleans as written,
 * objects and arrays as their JSON text; JSON null is SQL NULL. An array column gets a JSON array
 * as an array literal (populateArray), and a string as it is (an array literal for the server to
 * read); any other value is refused there.
 */
function jsonToText(
  field: JsonField,
  col: ColumnInfo,
  elementIsJson: boolean,
  delimiter: string,
): string | null | ArrayRefused {
  if (field.kind === 'null') return null
  if (col.type === 'json' || col.type === 'jsonb')
    return field.kind === 'string' ? JSON.stringify(field.text) : field.text
  if (col.isArray && field.kind === 'array') return populateArray(field.text, elementIsJson, delimiter)
  if (col.isArray && field.kind !== 'string') return { refused: 'expected JSON array' }
  return field.text
}

/** A row problem found while an NDJSON object's fields are put into columns. */
interface RowProblem {
  code: RejectCode
  message: string
  columnName?: string
}

/** Whether the members' keys are these bytes, in this order. */
function sameKeys(raw: Buffer, m: readonly number[], keys: readonly Buffer[]): boolean {
  if (m.length !== keys.length * MEMBER_SIZE) return false
  for (let j = 0; j < keys.length; j++) {
    const key = keys[j]!
    const s = m[j * MEMBER_SIZE]!
    if (m[j * MEMBER_SIZE + 1]! - s !== key.length) return false
    for (let i = 0; i < key.length; i++) if (raw[s + i] !== key[i]) return false
  }
  return true
}

/** The keys of the last NDJSON object and where they go: reused while the next objects have the same keys. */
interface ObjectKeys {
  /** Each member's key, as bytes. */
  keys: Buffer[]
  /** Each member's table column (-2: a dropped key). */
  memberColumns: number[]
  /** Each table column's member, as its offset in the members array (-1: none). */
  columnMembers: number[]
  shape: string
}
