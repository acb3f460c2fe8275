import type { ColumnInfo, DateOrder } from '../schema/introspect.js'
import type { ValueProblem } from './check-value.js'
import { columnLabel, daysInMonth, NUMBER_DATE, orderedParts } from './check-value.js'

/**
 * How the input writes values that PostgreSQL would not read as they are, each rewritten
 * client-side into the form it reads (so that --dry-run finds exactly what the load rejects).
 */
export interface ValueFormats {
  /** Dates written with numbers only (03.01.2020, 3/1/2020, 2020.01.03): the order of their parts. */
  dateOrder?: DateOrder
  /** Numbers write their decimal point as a comma (1.234,56 with --thousands .). */
  decimalComma?: boolean
  /** Numbers group their digits with this character (57,190.56; 1 234,5). */
  thousands?: string
  /** Numeric columns: a currency symbol before or after the number is dropped ($58,044.03, 12,50 €). */
  currency?: boolean
  /** Timestamp columns: a plain number is seconds (or milliseconds) since 1970-01-01 UTC. */
  epoch?: 's' | 'ms'
  /** Values that mean NULL besides --null's (matched in any field, quoted or not). */
  nulls?: readonly string[]
}

/** What a value becomes: its new text, NULL, or the problem that refuses it. */
export type Transform = (v: string) => string | null | ValueProblem

const NUMERIC_TYPES = new Set(['int2', 'int4', 'int8', 'numeric', 'float4', 'float8'])
const DATE_TYPES = new Set(['date', 'timestamp', 'timestamptz'])
const CURRENCY = /^[\s$€£¥₹₽₩₪฿]+|[\s$€£¥₹₽₩₪฿]+$/gu

/** Whether any format asks for values to be rewritten. */
export function rewritesValues(f: ValueFormats | undefined): boolean {
  return (
    f !== undefined &&
    (f.dateOrder !== undefined ||
      f.decimalComma === true ||
      f.thousands !== undefined ||
      f.currency === true ||
      f.epoch !== undefined ||
      (f.nulls?.length ?? 0) > 0)
  )
}

/** A column's rewrite, or undefined when nothing of `f` applies to its type. */
export function transformFor(col: ColumnInfo, f: ValueFormats): Transform | undefined {
  const steps: Transform[] = []
  if (f.nulls?.length) {
    const nulls = new Set(f.nulls)
    steps.push((v) => (nulls.has(v) ? null : v))
  }
  if (!col.isArray && NUMERIC_TYPES.has(col.type) && (f.decimalComma || f.thousands !== undefined || f.currency))
    steps.push(numberRewrite(col, f))
  if (!col.isArray && DATE_TYPES.has(col.type)) {
    if (f.epoch && col.type !== 'date') steps.push(epochRewrite(col.type === 'timestamptz', f.epoch))
    if (f.dateOrder) steps.push(dateRewrite(col, f.dateOrder))
  }
  if (steps.length === 0) return undefined
  return (v) => {
    let out: string | null | ValueProblem = v
    for (const step of steps) {
      if (typeof out !== 'string') return out
      out = step(out)
    }
    return out
  }
}

/** 57,190.56 → 57190.56; with a decimal comma 1.234,56 → 1234.56; $58,044.03 → 58044.03 with currency. */
function numberRewrite(col: ColumnInfo, f: ValueFormats): Transform {
  const point = f.decimalComma ? ',' : '.'
  const group = f.thousands
  const groups =
    group === undefined ? undefined : new RegExp(`^[+-]?\\d{1,3}(${escape(group)}\\d{3})+(${escape(point)}\\d*)?$`)
  return (v) => {
    let s = v.trim()
    if (f.currency) s = s.replace(CURRENCY, '')
    if (groups && s.includes(group!)) {
      if (!groups.test(s))
        return {
          code: 'VALUE_INVALID',
          message: `${columnLabel(col)}: ${JSON.stringify(group)} does not group the digits of ${JSON.stringify(v)} in threes`,
        }
      s = s.split(group!).join('')
    }
    if (f.decimalComma) {
      if (s.includes('.') && group !== '.')
        return {
          code: 'VALUE_INVALID',
          message: `${columnLabel(col)}: a "." in ${JSON.stringify(v)}, whose decimal point is ","`,
        }
      s = s.replace(',', '.')
    }
    return s
  }
}

/** 03.01.2020 (DMY) → 2020-01-03; a time after the date is kept; a day or month out of range is refused here. */
function dateRewrite(col: ColumnInfo, order: DateOrder): Transform {
  return (v) => {
    const m = NUMBER_DATE.exec(v.trim())
    if (!m) return v
    const parts = orderedParts(m[1]!, m[3]!, m[4]!, order)
    if (!parts) return v // (a year of three digits: PostgreSQL's own rules decide)
    const { y, mo, d } = parts
    if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo))
      return {
        code: 'VALUE_OUT_OF_RANGE',
        message: `${columnLabel(col)}: ${JSON.stringify(v)} is not a date in ${order} order (day ${d}, month ${mo})`,
      }
    if (y === 0)
      return { code: 'VALUE_OUT_OF_RANGE', message: `${columnLabel(col)}: ${JSON.stringify(v)}: there is no year 0` }
    const iso = `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`
    return m[5] === undefined ? iso : `${iso}${m[5]}`
  }
}

/** 1704164645 → 2024-01-02T03:04:05Z (a timestamptz column; a timestamp gets the UTC wall clock). */
function epochRewrite(zoned: boolean, unit: 's' | 'ms'): Transform {
  return (v) => {
    const s = v.trim()
    if (!/^-?\d+(\.\d+)?$/.test(s)) return v
    const ms = unit === 's' ? Number(s) * 1000 : Number(s)
    const d = new Date(ms)
    if (Number.isNaN(d.getTime())) return v
    const iso = d.toISOString()
    return zoned ? iso : iso.slice(0, -1)
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
