/**
 * A JSON scanner over bytes (RFC 8259, the grammar JSON.parse reads): it checks JSON text
 * without making strings, for JSON columns (validate/check-bytes.ts) and NDJSON lines (the
 * top-level members of an object, parse/ndjson.ts). Bytes past the end of the value are never
 * read as part of it: the buffer goes on with the rest of the record.
 */

export const isDigit = (c: number) => c >= 0x30 && c <= 0x39

export function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)
}

/** The JSON scanner's state: module-level, so that checking a value allocates nothing (calls never nest). */
let jb: Uint8Array = new Uint8Array(0)
let je = 0
let ji = 0
let jDoubled = false
/** Set by jString: the string had a backslash escape. */
let jEscaped = false
/** Set by jString: a \u escape PostgreSQL's JSON reader refuses (\u0000, a lone surrogate), see ObjectScan. */
let jRefused = false
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
      jEscaped = true
      if (x === 0x75) {
        const cp = jHex4(ji + 2)
        if (cp < 0) return false
        ji += 6
        if (cp === 0 || (cp >= 0xdc00 && cp <= 0xdfff)) jRefused = true
        else if (cp >= 0xd800 && cp <= 0xdbff) {
          // A high surrogate counts only with the low one after it (as UTF-16 pairs them).
          const lo = jAt(ji) === 0x5c && jAt(ji + 1) === 0x75 ? jHex4(ji + 2) : -1
          if (lo >= 0xdc00 && lo <= 0xdfff) ji += 6
          else jRefused = true
        }
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

const hexValue = (c: number) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57)

/** The four hex digits at j as a number, or -1. */
function jHex4(j: number): number {
  let v = 0
  for (let k = j; k < j + 4; k++) {
    const c = jAt(k)
    if (!isHex(c)) return -1
    v = (v << 4) | hexValue(c)
  }
  return v
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
  jRefused = false
  const ok = jValue(0) && (jSpace(), ji === e)
  jb = EMPTY
  return ok
}

/**
 * JSON text that jsonb reads: jsonBytes, without \u0000 or a lone surrogate, which jsonb refuses
 * ("unsupported Unicode escape sequence", "invalid input syntax for type json") and json keeps.
 */
export function jsonbBytes(b: Uint8Array, s: number, e: number, doubled = false): boolean {
  return jsonBytes(b, s, e, doubled) && !jRefused
}

const EMPTY = new Uint8Array(0)

/** What a top-level member's value is, in scanObject's output. */
export const enum JsonKind {
  String = 0,
  Number = 1,
  Boolean = 2,
  Null = 3,
  Object = 4,
  Array = 5,
}

/** What scanObject found in a line. */
export const enum ObjectScan {
  /** Not a JSON object (or nested deeper than 64): the text path decides. */
  NotAnObject = 0,
  Object = 1,
  /**
   * A JSON object holding a \u escape PostgreSQL's JSON reader refuses, \u0000 or a surrogate
   * without its pair, anywhere (a key, a nested value): json_populate_record refuses the line.
   */
  ObjectWithRefusedEscape = 2,
}

/** Numbers per member in scanObject's output. */
export const MEMBER_SIZE = 5

/**
 * A JSON object in b[s..e), checked as JSON.parse would, with the spans of its top-level members:
 * per member, five numbers in `out`: key start and end (inside its quotes), value start and end,
 * and kind × 2 + 1 when a string key or value holds a backslash escape (its bytes are not its
 * text). NotAnObject when the text is not a JSON object (or nests deeper than 64), and as soon as
 * `out` holds more than `maxOut` numbers (a line of a million members is not a row).
 */
export function scanObject(b: Uint8Array, s: number, e: number, out: number[], maxOut = Infinity): ObjectScan {
  jb = b
  je = e
  ji = s
  jDoubled = false
  jRefused = false
  try {
    return scanMembers(out, maxOut)
      ? jRefused
        ? ObjectScan.ObjectWithRefusedEscape
        : ObjectScan.Object
      : ObjectScan.NotAnObject
  } finally {
    jb = EMPTY
  }
}

/** scanObject's work, on the scanner's state. */
function scanMembers(out: number[], maxOut: number): boolean {
  // Written by index, not pushed: `out` may come at the size the caller expects (no array grown per line).
  let n = 0
  jSpace()
  if (jAt(ji) !== 0x7b) return false
  ji++
  jSpace()
  if (jAt(ji) === 0x7d) {
    ji++
  } else {
    for (;;) {
      jSpace()
      jEscaped = false
      const ks = ji + 1
      if (!jString()) return false
      const ke = ji - 1
      const keyEscaped = jEscaped
      jSpace()
      if (jAt(ji) !== 0x3a) return false
      ji++
      jSpace()
      const vs = ji
      const c = jAt(ji)
      jEscaped = false
      if (!jValue(1)) return false
      const kind =
        c === 0x22
          ? JsonKind.String
          : c === 0x7b
            ? JsonKind.Object
            : c === 0x5b
              ? JsonKind.Array
              : c === 0x6e
                ? JsonKind.Null
                : c === 0x74 || c === 0x66
                  ? JsonKind.Boolean
                  : JsonKind.Number
      out[n] = ks
      out[n + 1] = ke
      out[n + 2] = vs
      out[n + 3] = ji
      out[n + 4] = kind * 2 + (keyEscaped || (kind === JsonKind.String && jEscaped) ? 1 : 0)
      n += MEMBER_SIZE
      if (n > maxOut) {
        out.length = n
        return false
      }
      jSpace()
      const d = jAt(ji++)
      if (d === 0x7d) break
      if (d !== 0x2c) return false
    }
  }
  out.length = n
  jSpace()
  return ji === je
}
