/**
 * Random NDJSON lines for the differential tests of NDJSON values (json_populate_record is the
 * reference): written as text, never through JSON.stringify of JS numbers, so that big integers,
 * long numerics, exponents, nested and empty arrays, duplicate and case-variant keys, \u0000 and
 * lone surrogates reach the parser exactly as written.
 */

/** The table the lines are made for: each column's name and SQL type (k: the line number). */
export const NDJSON_COLUMNS: readonly (readonly [name: string, type: string])[] = [
  ['k', 'int4'],
  ['i2', 'int2'],
  ['i4', 'int4'],
  ['i8', 'int8'],
  ['n', 'numeric'],
  ['n52', 'numeric(5,2)'],
  ['f8', 'float8'],
  ['t', 'text'],
  ['b', 'bool'],
  ['j', 'json'],
  ['jb', 'jsonb'],
  ['i2a', 'int2[]'],
  ['i4a', 'int4[]'],
  ['i8a', 'int8[]'],
  ['na', 'numeric[]'],
  ['f8a', 'float8[]'],
  ['ta', 'text[]'],
  ['ba', 'bool[]'],
  ['ja', 'json[]'],
  ['jba', 'jsonb[]'],
  ['Mixed', 'text'],
]

/** The column list for CREATE TABLE. */
export const NDJSON_TABLE_COLUMNS = NDJSON_COLUMNS.map(([n, t]) => `"${n}" ${t}`).join(', ')

const INTS = [
  '0',
  '1',
  '-1',
  '42',
  '32767',
  '32768',
  '-32768',
  '-32769',
  '2147483647',
  '2147483648',
  '-2147483649',
  '9007199254740993',
]
const BIG_INTS = [
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '-9223372036854775809',
  '12345678901234567890',
]
const DECIMALS = [
  '1.10',
  '1.5',
  '-2.25',
  '12345678901234567890.12345',
  '0.1',
  '3.14159265358979323846264338327950288',
  '999.995',
  '1.0',
  '100.00',
  '0.005',
]
/** Spellings jsonb would write differently (an exponent, a negative zero). */
const EXPONENTS = [
  '1e2',
  '1E+2',
  '1.5e1',
  '2e-5',
  '1e400',
  '-1e-400',
  '1e308',
  '1e309',
  '-0',
  '-0.0',
  '5E-324',
  '1.0e0',
  '1e-2',
]

const STRINGS = [
  '""',
  '"a"',
  '"plain text"',
  '"q\\"uote"',
  '"back\\\\slash"',
  '"\\u00e9t\\u00e9"',
  '"日本"',
  '"\\ud83d\\ude00"',
  '"😀"',
  '"tab\\there"',
  '"nl\\nx"',
  '"NULL"',
  '"null"',
  '"{1,2}"',
  '"{}"',
  '"{{1,2},{3,4}}"',
  '"{a,\\"b c\\"}"',
  '"t"',
  '"yes"',
  '"off"',
  '" 42 "',
  '"42"',
  '"1e2"',
  '"12345678901234567890.5"',
  '"{\\"a\\":1}"',
  '"[1,2]"',
  '"\\/"',
  '"\\b\\f"',
  '"a,b"',
  '"\\\\ud800"',
  '"\\\\u0000"',
  '"\\u0001"',
]
/** Escapes PostgreSQL's JSON reader refuses in json_populate_record: \u0000 and lone surrogates. */
export const REFUSED_STRINGS = [
  '"\\ud800"',
  '"x\\udc00"',
  '"\\ud800\\u0041"',
  '"a\\u0000b"',
  '"\\udbff\\udbff"',
  '"\\uDC00\\uD800"',
  '"\\u0000"',
]

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

/** One line's writer: `canonical` writes what jsonb_populate_record reads the same way (no exponents, jsonb's spacing and key order). */
class LineWriter {
  constructor(
    private readonly r: () => number,
    readonly canonical: boolean,
  ) {}

  /** Whitespace between tokens, as a person or a tool might write it. */
  private sp(): string {
    return this.canonical ? '' : pick(this.r, ['', '', '', ' ', '  ', '\t'])
  }

  refused(): string {
    return pick(this.r, REFUSED_STRINGS)
  }

  /** A number, usually one that fits `type` (int2, int4, int8, numeric, float8; any: no preference). */
  number(type = 'any'): string {
    const r = this.r
    if (r() < 0.75) {
      if (type === 'int2' || type === 'int4') return String(Math.floor(r() * 2000) - 1000)
      if (type === 'int8')
        return pick(r, ['9007199254740993', '9223372036854775807', '-9223372036854775808', '42', '-7'])
      if (type === 'numeric' || type === 'float8')
        return pick(r, [...DECIMALS, ...(this.canonical ? [] : EXPONENTS.filter((x) => !x.includes('400')))])
    }
    const k = r()
    if (k < 0.35) return pick(r, INTS)
    if (k < 0.55) return pick(r, BIG_INTS)
    if (k < 0.8 || this.canonical) return pick(r, DECIMALS)
    return pick(r, EXPONENTS)
  }

  string(): string {
    return this.r() < 0.015 ? this.refused() : pick(this.r, STRINGS)
  }

  scalar(kind: 'number' | 'string' | 'bool' | 'any', type = 'any'): string {
    const r = this.r
    if (r() < 0.08) return 'null'
    const k = kind === 'any' ? pick(r, ['number', 'string', 'bool'] as const) : kind
    if (k === 'number') return this.number(type)
    if (k === 'bool') return pick(r, ['true', 'false'])
    return this.string()
  }

  object(depth: number): string {
    const r = this.r
    const n = Math.floor(r() * 3)
    const members: [string, string][] = []
    for (let i = 0; i < n; i++) {
      const key = pick(r, ['a', 'b', 'a', 'cc', 'k'])
      members.push([key, depth < 2 && r() < 0.3 ? this.any(depth + 1) : this.scalar('any')])
    }
    if (this.canonical) {
      // jsonb keeps the last of duplicate keys and orders keys by length, then bytes.
      const last = new Map(members)
      const keys = [...last.keys()].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0))
      return `{${keys.map((key) => `"${key}": ${last.get(key)!}`).join(', ')}}`
    }
    return `{${members.map(([key, v]) => `${this.sp()}"${key}"${this.sp()}:${this.sp()}${v}`).join(',')}${this.sp()}}`
  }

  list(items: string[]): string {
    if (this.canonical) return `[${items.join(', ')}]`
    return `[${items.map((x) => this.sp() + x + this.sp()).join(',')}]`
  }

  any(depth: number): string {
    const k = this.r()
    if (depth < 3 && k < 0.15) return this.object(depth)
    if (depth < 3 && k < 0.3) return this.array(pick(this.r, ['number', 'string', 'bool', 'any'] as const), depth + 1)
    return this.scalar('any')
  }

  /** An array of elements of a kind, in one of the shapes json_populate_record takes or refuses. */
  array(kind: 'number' | 'string' | 'bool' | 'any' | 'json', depth = 0, type = 'any'): string {
    const r = this.r
    const el = () =>
      kind === 'json' ? this.any(depth + 1) : r() < 0.03 ? this.any(depth + 1) : this.scalar(kind, type)
    const els = (n: number) => Array.from({ length: n }, el)
    const shape = r()
    if (shape < 0.5 || depth > 1) return this.list(els(Math.floor(r() * 4)))
    if (shape < 0.55) {
      // regular two or three dimensions
      const a = 1 + Math.floor(r() * 3)
      const b = 1 + Math.floor(r() * 3)
      if (r() < 0.7) return this.list(Array.from({ length: a }, () => this.list(els(b))))
      return this.list(Array.from({ length: a }, () => this.list(Array.from({ length: b }, () => this.list(els(2))))))
    }
    if (shape < 0.65) {
      // ragged
      return this.list(Array.from({ length: 2 + Math.floor(r() * 2) }, () => this.list(els(Math.floor(r() * 3)))))
    }
    if (shape < 0.8)
      return pick(r, ['[]', '[[]]', '[[],[]]', '[[[]]]', '[[], []]', '[[[]], [[]]]', '[[], [[]]]', '[[[]],[]]'])
    if (shape < 0.9) {
      // a scalar beside an array, an object beside an array, either way round
      const x = el()
      const arr = this.list(els(1 + Math.floor(r() * 2)))
      const obj = this.object(depth + 1)
      return pick(r, [
        this.list([x, arr]),
        this.list([arr, x]),
        this.list([arr, obj]),
        this.list([obj, arr]),
        this.list([obj, obj]),
      ])
    }
    if (shape < 0.95) {
      // deeper than PostgreSQL's six dimensions, or just six
      let a = this.list(els(1))
      const levels = r() < 0.5 ? 5 : 6
      for (let i = 0; i < levels; i++) a = this.list([a])
      return r() < 0.3 ? this.list([el(), a]) : a
    }
    return this.list(Array.from({ length: 1 + Math.floor(r() * 2) }, () => this.object(depth + 1)))
  }
}

/** A value for a column of this type: usually one that fits, sometimes any JSON value. */
function valueFor(w: LineWriter, r: () => number, type: string): string {
  if (r() < 0.06) return w.any(0)
  const array = type.endsWith('[]')
  const base = type.replace(/\[\]$/, '').replace(/\(.*\)$/, '')
  const kind = ['int2', 'int4', 'int8', 'numeric', 'float8'].includes(base)
    ? 'number'
    : base === 'bool'
      ? 'bool'
      : base === 'text'
        ? 'string'
        : 'json'
  if (array) {
    if (r() < 0.05) return pick(r, ['"{1,2}"', '"{}"', '"{{1},{2}}"', '"x"', '{}', '{"a":1}', '5', 'true'])
    return w.array(kind, 0, base)
  }
  if (kind === 'json') return w.any(0)
  return kind === 'bool' && r() < 0.3 ? w.string() : w.scalar(kind, base)
}

/** A case variant of a column name that is not the name itself. */
function variant(name: string): string {
  const up = name.toUpperCase()
  if (up !== name) return up
  return name.toLowerCase()
}

export interface GeneratedLine {
  text: string
  /** Holds an escape PostgreSQL's JSON reader refuses (the line must be rejected client-side). */
  refusedEscape: boolean
}

/**
 * `count` NDJSON lines for NDJSON_COLUMNS, line n with "k": n. The first line is {"k": 1} (the
 * first object registers its keys). Keys are exact column names, duplicated now and then (the last
 * counts), with a case variant of a column beside its exact name now and then, and an unknown key
 * "zz" (load with ignoreExtra) whose value PostgreSQL still reads.
 */
export function ndjsonLines(r: () => number, count: number): GeneratedLine[] {
  const out: GeneratedLine[] = [{ text: '{"k": 1}', refusedEscape: false }]
  for (let k = 2; k <= count; k++) {
    const w = new LineWriter(r, r() < 0.4)
    const members: string[] = []
    const cols = NDJSON_COLUMNS.slice(1).filter(() => r() < 0.2)
    for (const [name, type] of cols) {
      members.push(`"${name}": ${valueFor(w, r, type)}`)
      if (w.canonical) continue
      if (r() < 0.12) {
        // the same key again (the last counts), or a case variant beside the exact name (the exact name counts)
        const key = r() < 0.5 ? name : variant(name)
        const extra = `"${key}": ${valueFor(w, r, type)}`
        if (r() < 0.5) members.push(extra)
        else members.splice(members.length - 1, 0, extra)
      }
    }
    if (r() < 0.05) members.push(`"zz": ${r() < 0.5 ? w.any(0) : w.refused()}`)
    if (r() < 0.02) members.push(`"\\ud800": 1`)
    // A shuffle: the line number first, the rest in any order.
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1))
      ;[members[i], members[j]] = [members[j]!, members[i]!]
    }
    const text = `{"k": ${k}${members.map((m) => `, ${m}`).join('')}}`
    out.push({ text, refusedEscape: hasRefusedEscape(text) })
  }
  return out
}

/** Whether a JSON text holds \u0000 or a \u escape of a surrogate not paired as UTF-16 pairs them. */
export function hasRefusedEscape(json: string): boolean {
  for (let i = 0; i < json.length; i++) {
    if (json[i] !== '\\') continue
    if (json[i + 1] !== 'u') {
      i++
      continue
    }
    const cp = parseInt(json.slice(i + 2, i + 6), 16)
    i += 5
    if (cp === 0) return true
    if (cp >= 0xdc00 && cp <= 0xdfff) return true
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const lo = json.slice(i + 1, i + 3) === '\\u' ? parseInt(json.slice(i + 3, i + 7), 16) : -1
      if (!(lo >= 0xdc00 && lo <= 0xdfff)) return true
      i += 6
    }
  }
  return false
}
