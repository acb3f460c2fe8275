import type { RejectCode } from '../errors.js'
import { snippet } from '../location.js'
import { refusedEscapeReason, refusedJsonEscape } from '../parse/refused-escape.js'
import type { ColumnInfo, DateOrder } from '../schema/introspect.js'

/** Why a value cannot go into its column. */
export interface ValueProblem {
  code: RejectCode
  message: string
}

/**
 * Client-side checks of a text value against a column's type. The value itself is never changed:
 * PostgreSQL parses the same text. The rule is one-sided: a check may only say "invalid" when
 * PostgreSQL (any supported version) would refuse the value too. Where the check cannot be exact
 * (dates in non-ISO styles, hex integers that only PostgreSQL 16+ reads), it says nothing and the
 * database decides.
 */
export type ValueCheck = (value: string) => ValueProblem | undefined

const WS = '[ \\t\\n\\r\\v\\f]*'
const DECIMAL_INT = new RegExp(`^${WS}([+-]?)0*(\\d+)${WS}$`)
/** Forms only PostgreSQL 16+ reads (0x1F, 0o17, 0b101, 1_000): left to the database. */
const NON_DECIMAL_INT = new RegExp(`^${WS}[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|\\d[\\d_]*)${WS}$`)
const DECIMAL_NUM = new RegExp(`^${WS}([+-]?)(\\d*)(?:\\.(\\d*))?(?:[eE]([+-]?\\d+))?${WS}$`)
/** numeric_in before PostgreSQL 16 read the exponent with strtol, which skips spaces: "1e 5" is a number there. */
const NUMERIC_NUM = new RegExp(`^${WS}([+-]?)(\\d*)(?:\\.(\\d*))?(?:[eE]${WS}([+-]?\\d+))?${WS}$`)
const SPECIAL_FLOAT = new RegExp(`^${WS}[+-]?(nan|inf|infinity)${WS}$`, 'i')

const INT_LIMITS: Record<string, [bigint, bigint]> = {
  int2: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int8: [-9223372036854775808n, 9223372036854775807n],
}

/** A column as rejection messages name it: its name and its type as declared, `column "price" (numeric(10,2))`. */
export function columnLabel(col: ColumnInfo): string {
  return `column ${JSON.stringify(col.name)} (${col.displayType})`
}

function invalid(col: ColumnInfo, value: string, what = 'invalid value'): ValueProblem {
  return {
    code: 'VALUE_INVALID',
    message: `${columnLabel(col)}: ${what} ${snippet(value)}`,
  }
}

function outOfRange(col: ColumnInfo, value: string, why: string): ValueProblem {
  return {
    code: 'VALUE_OUT_OF_RANGE',
    message: `${columnLabel(col)}: ${snippet(value)} ${why}`,
  }
}

function checkInteger(col: ColumnInfo, limits: [bigint, bigint]): ValueCheck {
  return (v) => {
    const m = DECIMAL_INT.exec(v)
    if (!m) return NON_DECIMAL_INT.test(v) ? undefined : invalid(col, v, 'expected an integer, found')
    const digits = m[2]!
    if (digits.length > 20) return outOfRange(col, v, `is out of range for ${col.type}`)
    const n = BigInt(m[1] + digits)
    return n < limits[0] || n > limits[1] ? outOfRange(col, v, `is out of range for ${col.type}`) : undefined
  }
}

/** numeric(p,s) as PostgreSQL decodes its typmod; scale may be negative since PostgreSQL 15. */
export function numericTypmod(typmod: number): { precision: number; scale: number } | undefined {
  if (typmod < 4) return undefined
  const t = typmod - 4
  return { precision: (t >> 16) & 0xffff, scale: ((t & 0x7ff) ^ 1024) - 1024 }
}

function checkNumeric(col: ColumnInfo): ValueCheck {
  const mod = numericTypmod(col.typmod)
  return (v) => {
    const m = NUMERIC_NUM.exec(v)
    if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
      if (SPECIAL_FLOAT.test(v) || NON_DECIMAL_INT.test(v) || v.includes('_')) return undefined
      return invalid(col, v, 'expected a number, found')
    }
    if (!mod) return undefined
    // value = digits × 10^exp; it must round (half away from zero) to scale s with |N| < 10^p.
    const intPart = m[2]!
    const frac = m[3] ?? ''
    const digits = (intPart + frac).replace(/^0+/, '')
    if (digits === '') return undefined
    const exp = Number(m[4] ?? 0) - frac.length
    const shift = exp + mod.scale
    const p = mod.precision
    let n: bigint
    if (shift >= 0) {
      if (digits.length + shift > p) return numericOverflow(col, v, mod)
      n = BigInt(digits) * 10n ** BigInt(shift)
    } else {
      const drop = -shift
      if (drop > digits.length) return undefined // rounds to zero
      const kept = digits.slice(0, digits.length - drop)
      const roundUp = digits.charCodeAt(digits.length - drop) >= 0x35
      n = BigInt(kept === '' ? '0' : kept) + (roundUp ? 1n : 0n)
    }
    return n >= 10n ** BigInt(p) ? numericOverflow(col, v, mod) : undefined
  }
}

function numericOverflow(col: ColumnInfo, v: string, mod: { precision: number; scale: number }): ValueProblem {
  const limit = `10^${mod.precision - mod.scale}`
  return outOfRange(
    col,
    v,
    `does not fit: precision ${mod.precision}, scale ${mod.scale} must round to an absolute value less than ${limit}`,
  )
}

function checkFloat(col: ColumnInfo): ValueCheck {
  const single = col.type === 'float4'
  return (v) => {
    const m = DECIMAL_NUM.exec(v)
    if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
      if (SPECIAL_FLOAT.test(v) || /0[xX]/.test(v) || v.includes('_')) return undefined
      return invalid(col, v, 'expected a floating-point number, found')
    }
    const x = Number(v.trim())
    const nonZero = /[1-9]/.test((m[2] ?? '') + (m[3] ?? ''))
    if (!Number.isFinite(x) || (x === 0 && nonZero)) return outOfRange(col, v, `is out of range for ${col.type}`)
    if (single && (Math.abs(x) > 3.5e38 || (nonZero && Math.abs(x) < 1e-46)))
      return outOfRange(col, v, 'is out of range for float4')
    return undefined
  }
}

/**
 * PostgreSQL's boolin: any unique prefix of true/false/yes/no, on/off (two letters at least), 1/0;
 * case and surrounding spaces ignored.
 */
export function isPgBoolean(v: string): boolean {
  const s = v.trim().toLowerCase()
  if (s === '') return false
  if (s === '1' || s === '0') return true
  if ('true'.startsWith(s) || 'false'.startsWith(s) || 'yes'.startsWith(s) || 'no'.startsWith(s)) return true
  return s.length >= 2 && ('on'.startsWith(s) || 'off'.startsWith(s))
}

function checkText(col: ColumnInfo): ValueCheck | undefined {
  if (col.typmod < 5) return undefined
  const max = col.typmod - 4
  return (v) => {
    if (v.length <= max) return undefined
    const chars = [...v]
    if (chars.length <= max) return undefined
    // PostgreSQL silently truncates when only spaces are cut off.
    if (chars.slice(max).every((c) => c === ' ')) return undefined
    return {
      code: 'VALUE_TOO_LONG',
      message: `${columnLabel(col)}: value is ${chars.length} characters long, the limit is ${max}`,
    }
  }
}

/** PostgreSQL's special date/time words; it accepts them mixed with other tokens too ("epoch BC", "infinity am"). */
const DATE_WORDS = /epoch|infinity|now|today|tomorrow|yesterday|allballs/i
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const ISO_TIME = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/
const ISO_ZONE = /^(?:Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)$/i
const ISO_TIMESTAMP =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$/i

export function daysInMonth(y: number, m: number): number {
  return m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31
}

/** "bad" when an ISO date is out of range, "ok" when it is fine, undefined when it is not plain ISO. */
function isoDate(s: string): 'ok' | 'bad' | undefined {
  const m = ISO_DATE.exec(s)
  if (!m) return undefined
  const y = Number(m[1])
  const mo = Number(m[2])
  const d = Number(m[3])
  if (y === 0) return undefined // PostgreSQL's handling of year 0 depends on the style: let it decide
  return mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo) ? 'ok' : 'bad'
}

function isoTime(s: string): 'ok' | 'bad' | undefined {
  const m = ISO_TIME.exec(s)
  if (!m) return undefined
  const h = Number(m[1])
  const mi = Number(m[2])
  const sec = Number(m[3] ?? 0)
  if (h === 24) return mi === 0 && sec === 0 && !/\.\d*[1-9]/.test(s) ? 'ok' : 'bad'
  return h <= 23 && mi <= 59 && sec <= 60 ? 'ok' : 'bad'
}

/** A date of numbers only, separated by . / or -, with an optional time after it. */
export const NUMBER_DATE = /^(\d{1,4})([./-])(\d{1,2})\2(\d{1,4})((?:[ T]).*)?$/

/**
 * The day, month and year of a date of numbers, in `order`; a year of one or two digits as PostgreSQL
 * reads it (24 → 2024, 99 → 1999); undefined for a year of three digits (left to the server).
 */
export function orderedParts(
  a: string,
  b: string,
  c: string,
  order: DateOrder,
): { y: number; mo: number; d: number } | undefined {
  // (a year of four digits first is read as year-month-day whatever the order, as PostgreSQL reads it)
  const [y, mo, d] = order === 'YMD' || a.length === 4 ? [a, b, c] : order === 'DMY' ? [c, b, a] : [c, a, b]
  if (y.length === 3 || y.length > 4 || mo.length > 2 || d.length > 2) return undefined
  // (a year of one or two digits is PostgreSQL's: 70-99 → 1970-1999, 0-69 → 2000-2069)
  const year = y.length <= 2 ? (Number(y) < 70 ? 2000 : 1900) + Number(y) : Number(y)
  return { y: year, mo: Number(mo), d: Number(d) }
}

/** Whether a value is a date of numbers only whose day or month is out of range in `order` (PostgreSQL refuses it). */
export function badNumberDate(v: string, order: DateOrder): boolean {
  const m = NUMBER_DATE.exec(v.trim())
  if (!m) return false
  const parts = orderedParts(m[1]!, m[3]!, m[4]!, order)
  if (!parts) return false
  const { y, mo, d } = parts
  // (there is no year 0: 0000 is refused, 1 BC is written 0001 BC)
  return y === 0 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)
}

/**
 * Dates and times. PostgreSQL's date/time reader accepts a great many forms ("Jan 5 2024",
 * "20240105", "J2451187", "allballs", time zone names), and some depend on DateStyle. So only
 * two things are checked: plain ISO forms are range-checked exactly, and a value with no digit
 * at all that is not one of the special words is refused. Everything else goes to the server.
 */
function checkDateTime(col: ColumnInfo, order: DateOrder | undefined): ValueCheck {
  const kind = col.type
  return (v) => {
    const s = v.trim()
    if (!/\d/.test(s)) {
      return DATE_WORDS.test(s)
        ? undefined
        : invalid(col, v, `expected a ${kind === 'date' ? 'date' : 'date/time'}, found`)
    }
    let verdict: 'ok' | 'bad' | undefined
    if (kind === 'date') verdict = isoDate(s)
    else if (kind === 'time' || kind === 'timetz') {
      const z = /^(\S+?)([+-].*|Z)?$/i.exec(s)
      verdict = z && (z[2] === undefined || ISO_ZONE.test(z[2])) ? isoTime(z[1]!) : undefined
    } else {
      const m = ISO_TIMESTAMP.exec(s)
      if (m) {
        verdict = isoDate(m[1]!)
        if (verdict === 'ok' && m[2]) verdict = isoTime(m[2])
        if (verdict === 'ok' && m[3] && /^[+-](\d{2})/.exec(m[3]) && Number(m[3].slice(1, 3)) > 15) verdict = undefined
      }
    }
    // (a date of numbers in the server's order, e.g. 26.05.2015 under MDY: month 26, refused by the server)
    if (verdict === undefined && kind !== 'time' && kind !== 'timetz' && order && badNumberDate(s, order))
      verdict = 'bad'
    return verdict === 'bad' ? outOfRange(col, v, 'is not a valid date/time (field value out of range)') : undefined
  }
}

const UUID = /^[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}$/

function checkUuid(col: ColumnInfo): ValueCheck {
  return (v) => {
    const inner = v.startsWith('{') && v.endsWith('}') ? v.slice(1, -1) : v
    if (UUID.test(inner)) return undefined
    if (v.trim() !== v) return undefined // leave surrounding spaces to the server
    return invalid(col, v, 'expected a UUID, found')
  }
}

function checkJson(col: ColumnInfo): ValueCheck {
  const jsonb = col.type === 'jsonb'
  return (v) => {
    try {
      JSON.parse(v)
    } catch (err) {
      return invalid(col, v, `invalid JSON (${(err as Error).message.replace(/, ".*" is not valid JSON$/s, '')}):`)
    }
    // json keeps its text as written; jsonb decodes every escape, and refuses these two.
    const refused = jsonb ? refusedJsonEscape(v) : undefined
    return refused ? invalid(col, v, `${refusedEscapeReason(refused)}:`) : undefined
  }
}

/** The check for a column, or undefined when its type is passed through unchecked. */
export function checkFor(col: ColumnInfo, dateOrder?: DateOrder): ValueCheck | undefined {
  if (col.isArray) return undefined
  if (col.enumLabels) {
    const labels = col.enumLabels
    return (v) =>
      labels.has(v)
        ? undefined
        : invalid(
            col,
            v,
            `expected one of ${[...labels]
              .slice(0, 8)
              .map((l) => JSON.stringify(l))
              .join(', ')}${labels.size > 8 ? ', …' : ''}; found`,
          )
  }
  const limits = INT_LIMITS[col.type]
  if (limits) return checkInteger(col, limits)
  switch (col.type) {
    case 'numeric':
      return checkNumeric(col)
    case 'float4':
    case 'float8':
      return checkFloat(col)
    case 'bool':
      return (v) =>
        isPgBoolean(v) ? undefined : invalid(col, v, 'expected a boolean (true/false, yes/no, on/off, 1/0), found')
    case 'varchar':
    case 'bpchar':
      return checkText(col)
    case 'date':
    case 'time':
    case 'timetz':
    case 'timestamp':
    case 'timestamptz':
      return checkDateTime(col, dateOrder)
    case 'uuid':
      return checkUuid(col)
    case 'json':
    case 'jsonb':
      return checkJson(col)
    default:
      return undefined
  }
}
