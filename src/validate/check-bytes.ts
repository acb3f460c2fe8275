import type { ColumnInfo } from '../schema/introspect.js'
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

const isDigit = (c: number) => c >= 0x30 && c <= 0x39

/** Optional sign, then 1 to maxDigits digits. */
function integerBytes(maxDigits: number): ByteCheck {
  return (b, s, e) => {
    if (s < e && (b[s] === 0x2d || b[s] === 0x2b)) s++
    if (e - s < 1 || e - s > maxDigits) return false
    for (let i = s; i < e; i++) if (!isDigit(b[i]!)) return false
    return true
  }
}

/** Optional sign, digits, optional "." and digits (one digit at least); at most maxInt significant integer digits and maxFrac fraction digits. */
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
  if (e - i < 5 || two(b, i) < 0 || two(b, i) > 23 || b[i + 2] !== 0x3a || two(b, i + 3) < 0 || two(b, i + 3) > 59) return false
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

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)
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

/** The JSON scanner's state: module-level, so that checking a value allocates nothing (calls never nest). */
let jb: Uint8Array = new Uint8Array(0)
let je = 0
let ji = 0
let jDoubled = false
const JSON_MAX_DEPTH = 64

/** The byte at j, or -1 past the end of the value (the buffer goes on with the rest of the record). */
const jAt = (j: number) => (j < je ? jb[j]! : -1)
const isJsonSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/** Whether a '"' as the field writes it ('""' when doubled) is at j; returns its width, or 0. */
function jQuote(j: number): number {
  if (jAt(j) !== 0x22) return 0
  if (!jDoubled) return 1
  return jAt(j + 1) === 0x22 ? 2 : 0
}

function jSpace(): void {
  while (isJsonSpace(jAt(ji))) ji++
}

function jString(): boolean {
  const open = jQuote(ji)
  if (open === 0) return false
  ji += open
  while (ji < je) {
    const c = jb[ji]!
    if (c === 0x22) {
      const w = jQuote(ji)
      ji += w
      return w > 0
    }
    if (c < 0x20) return false
    if (c === 0x5c) {
      const x = jAt(ji + 1)
      if (x === 0x75) {
        for (let k = ji + 2; k < ji + 6; k++) if (!isHex(jAt(k))) return false
        ji += 6
      } else if (x === 0x22) {
        const w = jQuote(ji + 1)
        if (w === 0) return false
        ji += 1 + w
      } else if (x === 0x5c || x === 0x2f || x === 0x62 || x === 0x66 || x === 0x6e || x === 0x72 || x === 0x74) ji += 2
      else return false
      continue
    }
    ji++
  }
  return false
}

function jDigits(): boolean {
  const from = ji
  while (isDigit(jAt(ji))) ji++
  return ji > from
}

function jNumber(): boolean {
  if (jAt(ji) === 0x2d) ji++
  if (jAt(ji) === 0x30) ji++
  else if (!jDigits()) return false
  if (jAt(ji) === 0x2e) {
    ji++
    if (!jDigits()) return false
  }
  const x = jAt(ji)
  if (x === 0x65 || x === 0x45) {
    ji++
    if (jAt(ji) === 0x2b || jAt(ji) === 0x2d) ji++
    if (!jDigits()) return false
  }
  return true
}

function jWord(w: string): boolean {
  for (let k = 0; k < w.length; k++) if (jAt(ji + k) !== w.charCodeAt(k)) return false
  ji += w.length
  return true
}

function jValue(depth: number): boolean {
  jSpace()
  const c = jAt(ji)
  if (c === 0x22) return jString()
  if (c === 0x74) return jWord('true')
  if (c === 0x66) return jWord('false')
  if (c === 0x6e) return jWord('null')
  if (c === 0x2d || isDigit(c)) return jNumber()
  if (c !== 0x7b && c !== 0x5b) return false
  if (depth >= JSON_MAX_DEPTH) return false
  const object = c === 0x7b
  const close = object ? 0x7d : 0x5d
  ji++
  jSpace()
  if (jAt(ji) === close) {
    ji++
    return true
  }
  for (;;) {
    if (object) {
      jSpace()
      if (!jString()) return false
      jSpace()
      if (jAt(ji) !== 0x3a) return false
      ji++
    }
    if (!jValue(depth + 1)) return false
    jSpace()
    const d = jAt(ji++)
    if (d === close) return true
    if (d !== 0x2c) return false
  }
}

/**
 * JSON text (RFC 8259, the grammar JSON.parse reads) in b[s..e). With `doubled`, every '"' of the
 * JSON is written '""', as in a quoted CSV field whose quotes are doubled: a JSON column is then
 * checked without unescaping the field first. Nesting deeper than 64 is left to the text check.
 */
export function jsonBytes(b: Uint8Array, s: number, e: number, doubled = false): boolean {
  jb = b
  je = e
  ji = s
  jDoubled = doubled
  const ok = jValue(0) && (jSpace(), ji === e)
  jb = EMPTY
  return ok
}

const EMPTY = new Uint8Array(0)

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
    case 'jsonb':
      return jsonBytes
    default:
      return never
  }
}
