import type { ColumnInfo } from '../schema/introspect.js'
import { isDigit, isHex, jsonbBytes, jsonBytes } from '../parse/json-scan.js'
import { checkFor, daysInMonth, numericTypmod } from './check-value.js'

/**
 * A fast check of a field's bytes, for the spellings of a type that almost every file uses
 * ("42", "2024-01-05 10:00:00+00", a plain UUID). true: PostgreSQL takes these bytes as they are.
 * false: not sure, the text check of check-value.ts decides (it has the exact rules and messages).
 * So a byte check may only say true where the text check would pass too; the unit tests hold
 * them to that on every value the text checks are tested with. It never makes a string.
 * `doubledQuotes`: the field was quoted and holds '""' for each '"' of its text (only JSON reads
 * through that; every other check sees the quote bytes and says false, or only counts bytes).
 */
export type ByteCheck = (b: Uint8Array, start: number, end: number, doubledQuotes: boolean) => boolean

const always: ByteCheck = () => true
const never: ByteCheck = () => false

/** Optional sign, then 1 to maxDigits digits. */
function integerBytes(maxDigits: number): ByteCheck {
  return (b, s, e) => {
    if (s < e && (b[s] === 0x2d || b[s] === 0x2b)) s++
    if (e - s < 1 || e - s > maxDigits) return false
    for (let i = s; i < e; i++) if (!isDigit(b[i]!)) return false
    return true
  }
}

/**
 * Optional sign, digits, optional "." and digits (one digit at least);
 * at most maxInt significant integer digits and maxFrac fraction digits.
 */
function decimalBytes(maxInt: number, maxFrac: number): ByteCheck {
  return (b, s, e) => {
    if (e - s > 1000) return false
    let i = s
    if (i < e && (b[i] === 0x2d || b[i] === 0x2b)) i++
    const digitsFrom = i
    while (i < e && b[i] === 0x30) i++
    const intFrom = i
    while (i < e && isDigit(b[i]!)) i++
    if (i - intFrom > maxInt) return false
    let any = i > digitsFrom
    if (i < e && b[i] === 0x2e) {
      const fracFrom = ++i
      while (i < e && isDigit(b[i]!)) i++
      if (i - fracFrom > maxFrac) return false
      any ||= i > fracFrom
    }
    return any && i === e
  }
}

/** The two-digit number at b[i], or -1. */
function two(b: Uint8Array, i: number): number {
  const x = b[i]! - 0x30
  const y = b[i + 1]! - 0x30
  return x >= 0 && x <= 9 && y >= 0 && y <= 9 ? x * 10 + y : -1
}

/** YYYY-MM-DD at b[s..s+10), a real day of a year other than 0. */
function isoDateAt(b: Uint8Array, s: number): boolean {
  const hi = two(b, s)
  const lo = two(b, s + 2)
  if (hi < 0 || lo < 0 || b[s + 4] !== 0x2d || b[s + 7] !== 0x2d) return false
  const y = hi * 100 + lo
  const m = two(b, s + 5)
  const d = two(b, s + 8)
  return y > 0 && m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m)
}

const dateBytes: ByteCheck = (b, s, e) => e - s === 10 && isoDateAt(b, s)

/**
 * YYYY-MM-DD, optionally followed by "T" or " ", HH:MM, optional :SS and fraction, and an
 * optional zone: Z, ±HH, ±HHMM or ±HH:MM (hours up to 15, as the text check knows them).
 */
const timestampBytes: ByteCheck = (b, s, e) => {
  if (e - s < 10 || !isoDateAt(b, s)) return false
  let i = s + 10
  if (i === e) return true
  if (b[i] !== 0x54 && b[i] !== 0x20) return false
  i++
  if (e - i < 5 || two(b, i) < 0 || two(b, i) > 23 || b[i + 2] !== 0x3a || two(b, i + 3) < 0 || two(b, i + 3) > 59)
    return false
  i += 5
  if (i < e && b[i] === 0x3a) {
    if (e - i < 3 || two(b, i + 1) < 0 || two(b, i + 1) > 59) return false
    i += 3
    if (i < e && b[i] === 0x2e) {
      const from = ++i
      while (i < e && isDigit(b[i]!)) i++
      if (i === from) return false
    }
  }
  if (i === e) return true
  if (b[i] === 0x5a || b[i] === 0x7a) return i + 1 === e
  if (b[i] !== 0x2b && b[i] !== 0x2d) return false
  const h = e - i >= 3 ? two(b, i + 1) : -1
  if (h < 0 || h > 15) return false
  i += 3
  if (i === e) return true
  if (b[i] === 0x3a) i++
  const m = e - i === 2 ? two(b, i) : -1
  return m >= 0 && m <= 59
}

/** 8-4-4-4-12 hex digits, or 32 hex digits. */
const uuidBytes: ByteCheck = (b, s, e) => {
  if (e - s === 36) {
    for (let i = 0; i < 36; i++) {
      const c = b[s + i]!
      if (i === 8 || i === 13 || i === 18 || i === 23 ? c !== 0x2d : !isHex(c)) return false
    }
    return true
  }
  if (e - s !== 32) return false
  for (let i = s; i < e; i++) if (!isHex(b[i]!)) return false
  return true
}

/** Whether b[s..e) spells `word` (lower-case ASCII), in any case. */
function spells(b: Uint8Array, s: number, e: number, word: string): boolean {
  if (e - s !== word.length) return false
  for (let k = 0; k < word.length; k++) if ((b[s + k]! | 0x20) !== word.charCodeAt(k)) return false
  return true
}

const BOOL_WORDS = ['t', 'f', 'true', 'false', 'y', 'n', 'yes', 'no', 'on', 'off']

const boolBytes: ByteCheck = (b, s, e) => {
  if (e - s === 1 && (b[s] === 0x30 || b[s] === 0x31)) return true
  for (const w of BOOL_WORDS) if (spells(b, s, e, w)) return true
  return false
}

/**
 * The byte check for a column: `always` for types without a text check, `never` for types whose
 * every value goes to the text check (enums, JSON, times of day, arrays of checked types).
 */
export function byteCheckFor(col: ColumnInfo): ByteCheck {
  if (!checkFor(col)) return always
  if (col.enumLabels) return never
  switch (col.type) {
    case 'int2':
      return integerBytes(4)
    case 'int4':
      return integerBytes(9)
    case 'int8':
      return integerBytes(18)
    case 'numeric': {
      const mod = numericTypmod(col.typmod)
      if (!mod) return decimalBytes(1000, 1000)
      return mod.scale >= 0 && mod.precision > mod.scale ? decimalBytes(mod.precision - mod.scale, mod.scale) : never
    }
    case 'float4':
    case 'float8':
      return decimalBytes(30, 30)
    case 'bool':
      return boolBytes
    case 'varchar':
    case 'bpchar': {
      // A character is one byte at least: a field no longer in bytes than the limit fits.
      const max = col.typmod - 4
      return (_b, s, e) => e - s <= max
    }
    case 'date':
      return dateBytes
    case 'timestamp':
    case 'timestamptz':
      return timestampBytes
    case 'uuid':
      return uuidBytes
    case 'json':
      return jsonBytes
    case 'jsonb':
      return jsonbBytes
    default:
      return never
  }
}
