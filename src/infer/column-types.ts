import { plainColumn } from '../schema/introspect.js'
import { checkFor, isPgBoolean } from '../validate/check-value.js'
import type { ValueFormats } from '../validate/value-formats.js'
import { transformFor } from '../validate/value-formats.js'

/**
 * The types `pgbulk infer` chooses from, narrowest first: a column gets the first one that every
 * non-empty value of it passes (else text). Numbers and booleans are checked by pgbulk's own value
 * checks (the ones a load runs); dates and times must be in ISO form (other spellings are left to
 * text: their meaning depends on a date order the file does not say) and are range-checked by the
 * same checks.
 */
export const INFERRED_TYPES = [
  'boolean',
  'smallint',
  'integer',
  'bigint',
  'numeric',
  'double precision',
  'date',
  'time',
  'timestamp',
  'timestamptz',
  'uuid',
  'jsonb',
] as const

export type InferredType = (typeof INFERRED_TYPES)[number] | 'text'

/** What one value can be: how it is spelt, and, for NDJSON, its JSON kind. */
export interface InferValue {
  text: string
  /** NDJSON: the value's kind (an object or array can only be jsonb; a JSON string never a number). */
  json?: 'string' | 'number' | 'boolean' | 'object' | 'array'
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/
const ISO_TIME = /^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$/
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$/
const ISO_TIMESTAMPTZ = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s?(Z|[+-]\d{2}(:?\d{2})?)$/i

const passes = (type: string) => {
  const check = checkFor(plainColumn('v', type))!
  return (v: string) => check(v) === undefined
}
const int2 = passes('int2')
const int4 = passes('int4')
const int8 = passes('int8')
const numeric = passes('numeric')
const float8 = passes('float8')
const date = passes('date')
const time = passes('time')
const timestamp = passes('timestamp')
const timestamptz = passes('timestamptz')
const uuid = passes('uuid')
const DIGITS = /^\s*[+-]?\d+\s*$/
// (numbers as every PostgreSQL reads them: the value checks leave 0x1F and 1_000 to the server,
// which reads them from version 16 only)
const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/
const FLOAT = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/

/** Whether a value can be of a type (an empty value is NULL, and fits every type: it is never asked). */
function fits(type: (typeof INFERRED_TYPES)[number], v: InferValue): boolean {
  const s = v.text
  if (v.json === 'object' || v.json === 'array') return type === 'jsonb'
  // (any NDJSON value is JSON; a column is jsonb only once it held an object or array, see ColumnGuess.type)
  if (type === 'jsonb') return v.json !== undefined
  if (v.json === 'boolean') return type === 'boolean'
  if (v.json === 'string' && type !== 'date' && type !== 'time' && type !== 'timestamp' && type !== 'timestamptz')
    return type === 'uuid' && uuid(s)
  switch (type) {
    case 'boolean':
      // (a column of 0 and 1 is a number)
      return isPgBoolean(s) && !DIGITS.test(s)
    case 'smallint':
      return DIGITS.test(s) && int2(s)
    case 'integer':
      return DIGITS.test(s) && int4(s)
    case 'bigint':
      return DIGITS.test(s) && int8(s)
    case 'numeric':
      return DECIMAL.test(s) && numeric(s)
    case 'double precision':
      return FLOAT.test(s) && float8(s)
    case 'date':
      return ISO_DATE.test(s.trim()) && date(s)
    case 'time':
      return ISO_TIME.test(s.trim()) && time(s)
    case 'timestamp':
      return ISO_TIMESTAMP.test(s.trim()) && timestamp(s)
    case 'timestamptz':
      return (ISO_TIMESTAMPTZ.test(s.trim()) || ISO_TIMESTAMP.test(s.trim())) && timestamptz(s)
    case 'uuid':
      return uuid(s) && /-/.test(s)
  }
}

/** PostgreSQL's name of the inferred types that value formats rewrite (numbers, dates). */
const FORMATTED: Partial<Record<InferredType, string>> = {
  smallint: 'int2',
  integer: 'int4',
  bigint: 'int8',
  numeric: 'numeric',
  'double precision': 'float8',
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
}

/** The value formats' rewrite of a type's values (made once per type and formats, not per value). */
const rewrites = new WeakMap<ValueFormats, Map<string, ReturnType<typeof transformFor>>>()
function rewriteFor(type: (typeof INFERRED_TYPES)[number], formats: ValueFormats): ReturnType<typeof transformFor> {
  let byType = rewrites.get(formats)
  if (!byType) rewrites.set(formats, (byType = new Map<string, ReturnType<typeof transformFor>>()))
  if (!byType.has(type)) {
    const pgType = FORMATTED[type]
    byType.set(type, pgType ? transformFor(plainColumn('v', pgType), formats) : undefined)
  }
  return byType.get(type)
}

/**
 * Whether a value can be of a type once the load's value formats (--decimal-comma, --date-order, …)
 * rewrite it as they would in a column of that type: 1,5 is numeric with --decimal-comma.
 */
function fitsFormatted(
  type: (typeof INFERRED_TYPES)[number],
  v: InferValue,
  formats: ValueFormats | undefined,
): boolean {
  const rewrite = formats && v.json === undefined ? rewriteFor(type, formats) : undefined
  if (!rewrite) return fits(type, v)
  const out = rewrite(v.text)
  if (out === null) return true
  return typeof out === 'string' && fits(type, { text: out })
}

/** One column's values as they are read: the types all of them still fit, NULLs, and a first example. */
export class ColumnGuess {
  /** `formats`: the load's value formats (--create), applied to a value before it is tried on a type. */
  constructor(private readonly formats?: ValueFormats) {}

  private alive = new Set<(typeof INFERRED_TYPES)[number]>(INFERRED_TYPES)
  values = 0
  nulls = 0
  example: string | undefined
  /** An NDJSON object or array was among the values. */
  private structured = false

  add(v: InferValue | null): void {
    if (v === null || (v.json === undefined && v.text === '')) {
      this.nulls++
      return
    }
    this.values++
    this.example ??= v.text
    if (v.json === 'object' || v.json === 'array') this.structured = true
    for (const t of this.alive) if (!fitsFormatted(t, v, this.formats)) this.alive.delete(t)
  }

  /** Take in another input's guess of the same column: the types both fit, the counts summed. */
  absorb(other: ColumnGuess): ColumnGuess {
    for (const t of this.alive) if (!other.alive.has(t)) this.alive.delete(t)
    this.values += other.values
    this.nulls += other.nulls
    this.example ??= other.example
    this.structured ||= other.structured
    return this
  }

  /** Whether a value fits the column's type as it stands now (a header row's names do not, for a typed column). */
  fitsNow(v: InferValue): boolean {
    const t = this.type
    return t === 'text' || fitsFormatted(t, v, this.formats)
  }

  /** The narrowest type every value fits; text when none, or when there was no value. */
  get type(): InferredType {
    if (this.values === 0) return 'text'
    return INFERRED_TYPES.find((t) => this.alive.has(t) && (t !== 'jsonb' || this.structured)) ?? 'text'
  }
}
