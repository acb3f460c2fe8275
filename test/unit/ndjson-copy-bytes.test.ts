import { describe, expect, it } from 'vitest'
import { dialectOf } from '../../src/parse/dialect.js'
import { decoderFor } from '../../src/parse/decode.js'
import { NdjsonParser, parseObjectLine } from '../../src/parse/ndjson.js'
import type { ParsedRecord } from '../../src/parse/parsed-record.js'
import type { ColumnInfo, TableSchema } from '../../src/schema/introspect.js'
import { RowValidator } from '../../src/validate/validate-row.js'
import { encodeCopyLine } from '../../src/write/copy-text.js'
import { NDJSON_COLUMNS, ndjsonLines } from '../helpers/ndjson-lines.js'
import { rng } from '../helpers/random.js'

// NDJSON rows scanned as bytes are written to COPY from their bytes (escapes translated, not
// decoded to strings). That must give exactly the line the values would give, for every value.

function col(name: string, type: string, extra: Partial<ColumnInfo> = {}): ColumnInfo {
  return {
    name,
    type,
    typmod: -1,
    displayType: type,
    notNull: false,
    hasDefault: false,
    generated: false,
    identityAlways: false,
    isArray: false,
    ...extra,
  }
}

const schema: TableSchema = {
  schema: 'public',
  name: 't',
  sqlName: '"public"."t"',
  serverVersionNum: 180000,
  beforeRowTriggers: false,
  columns: [
    col('id', 'int8'),
    col('s', 'text'),
    col('j', 'jsonb'),
    col('js', 'json'),
    col('tags', 'text', { isArray: true }),
    col('n', 'numeric'),
    col('b', 'bool'),
  ],
}

const STRINGS = [
  '',
  'plain',
  'q"uote',
  'back\\slash',
  'tab\there',
  'nl\nx',
  'cr\rx',
  '\u0001ctl',
  'é',
  '日本',
  '😀',
  '\\.',
  '\\N',
  '/slash',
  '\b\f',
]

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 1 ? 4 : 6))
  if (k === 0) return null
  if (k === 1)
    return STRINGS[Math.floor(r() * STRINGS.length)]! + (r() < 0.3 ? STRINGS[Math.floor(r() * STRINGS.length)]! : '')
  if (k === 2) return Math.round(r() * 1e6) / 100
  if (k === 3) return r() < 0.5
  if (k === 4) return Array.from({ length: Math.floor(r() * 3) }, () => randomValue(r, depth + 1))
  return { a: randomValue(r, depth + 1), 'b"': randomValue(r, depth + 1) }
}

/** A JSON line with escapes written in several ways (\u00e9 for é, \/ for /, pretty spaces). */
function line(r: () => number, id: number): string {
  const obj: Record<string, unknown> = { id }
  for (const c of ['s', 'j', 'js', 'tags']) if (r() < 0.8) obj[c] = randomValue(r)
  if (r() < 0.5) obj['n'] = Math.round(r() * 1e4) / 100
  if (r() < 0.5) obj['b'] = r() < 0.5
  let text = JSON.stringify(obj, null, r() < 0.2 ? '\t' : undefined).replaceAll('\n', ' ')
  if (r() < 0.3) text = text.replaceAll('é', '\\u00e9').replaceAll('/', '\\/')
  if (r() < 0.2) text = text.replaceAll('😀', '\\ud83d\\ude00')
  if (r() < 0.3) text = text.replaceAll('\\t', '\\u0009').replaceAll('\\n', '\\u000A').replaceAll('\\\\', '\\u005c')
  return text
}

describe('NDJSON rows written to COPY from their bytes', () => {
  it('give exactly the COPY line their values give', () => {
    const r = rng(99)
    const text = Array.from({ length: 3000 }, (_, k) => line(r, k + 1)).join('\n') + '\n'
    const parser = new NdjsonParser(decoderFor('utf8'))
    const records = [...parser.push(Buffer.from(text)), ...parser.end()]
    const v = new RowValidator(schema, {
      file: 'x',
      encoding: 'utf8',
      ignoreExtra: false,
      format: 'ndjson',
      dialect: dialectOf('ndjson', {}),
    })
    let fromBytes = 0
    const wrong: string[] = []
    for (const rec of records) {
      const row = v.validate(rec)
      if ('stage' in row) continue
      const columns = row.shape.split(',').map(Number)
      const expected = encodeCopyLine(row.values, columns)
      const size = row.copyTextSize?.(columns) ?? -1
      if (size < 0) continue
      fromBytes++
      const out = Buffer.alloc(size)
      expect(row.writeCopyText!(columns, out, 0)).toBe(size)
      if (out.toString() !== expected)
        wrong.push(
          `${rec.raw.toString()}\n  bytes:  ${JSON.stringify(out.toString())}\n  values: ${JSON.stringify(expected)}`,
        )
    }
    expect(wrong.slice(0, 5)).toEqual([])
    // Most rows take the byte path (the others: JSON strings with escapes bound for a json column, arrays for an array column).
    expect(fromBytes).toBeGreaterThan(1000)
  })

  it('rejects a NUL character written as \\u0000, whichever way the line is read', () => {
    const parser = new NdjsonParser(decoderFor('utf8'))
    const lines = ['{"id": 1, "s": "ok"}', '{"id": 2, "s": "a\\u0000b"}', '{"id": 3, "s": "a\\\\u0000b"}']
    const records = [...parser.push(Buffer.from(lines.join('\n') + '\n')), ...parser.end()]
    const v = new RowValidator(schema, {
      file: 'x',
      encoding: 'utf8',
      ignoreExtra: false,
      format: 'ndjson',
      dialect: dialectOf('ndjson', {}),
    })
    const verdicts = records.map((r) => {
      const row = v.validate(r)
      return 'stage' in row ? row.code : 'ok'
    })
    // The third holds an escaped backslash followed by "u0000": text, not a NUL.
    expect(verdicts).toEqual(['ok', 'VALUE_INVALID', 'ok'])
  })

  it('give every line the verdict and the values the text path gives it: arrays, repeated and case-variant keys, refused escapes', () => {
    // The generated lines' table, as introspectTable describes it.
    const wide: TableSchema = {
      ...schema,
      columns: NDJSON_COLUMNS.map(([name, type]) => {
        const base = type.replace(/\(.*\)/, '')
        const array = base.endsWith('[]')
        return col(name, array ? `_${base.slice(0, -2)}` : base, {
          isArray: array,
          typmod: type === 'numeric(5,2)' ? ((5 << 16) | 2) + 4 : -1,
          displayType: type,
        })
      }),
    }
    const lines = ndjsonLines(rng(5), 3000)
    const parser = new NdjsonParser(decoderFor('utf8'))
    const records = [...parser.push(Buffer.from(lines.map((l) => l.text).join('\n') + '\n')), ...parser.end()]
    const opts = {
      file: 'x',
      encoding: 'utf8',
      ignoreExtra: true,
      format: 'ndjson',
      dialect: dialectOf('ndjson', {}),
    } as const
    const bytePath = new RowValidator(wide, opts)
    const textPath = new RowValidator(wide, opts)
    const wrong: string[] = []
    const seen = { byteRows: 0, rejected: 0, refusedEscape: 0 }
    for (const rec of records) {
      expect(rec.kind === 'object' && rec.scanned !== undefined).toBe(true)
      const text = rec.raw.toString()
      const slow = parseObjectLine(text)
      // The same line as the text path reads it: fields made by JSON.parse, no bytes to go by.
      const plain: ParsedRecord = {
        line: rec.line,
        byte: rec.byte,
        nextByte: rec.nextByte,
        nextLine: rec.nextLine,
        raw: rec.raw,
        ...slow,
      }
      const a = bytePath.validate(rec)
      const b = textPath.validate(plain)
      const verdict = (x: typeof a) =>
        'stage' in x
          ? { code: x.code, message: x.message, columnName: x.columnName }
          : { values: x.values, shape: x.shape }
      if (JSON.stringify(verdict(a)) !== JSON.stringify(verdict(b)))
        wrong.push(`${text}\n  bytes: ${JSON.stringify(verdict(a))}\n  text:  ${JSON.stringify(verdict(b))}`)
      if ('stage' in a) {
        seen.rejected++
        if (lines[rec.line - 1]!.refusedEscape) seen.refusedEscape++
        continue
      }
      expect(lines[rec.line - 1]!.refusedEscape).toBe(false)
      const columns = a.shape.split(',').map(Number)
      const size = a.copyTextSize?.(columns) ?? -1
      if (size < 0) continue
      seen.byteRows++
      const out = Buffer.alloc(size)
      a.writeCopyText!(columns, out, 0)
      if (out.toString() !== encodeCopyLine(a.values, columns))
        wrong.push(`${text}\n  COPY from bytes: ${JSON.stringify(out.toString())}`)
    }
    expect(wrong.slice(0, 5)).toEqual([])
    expect(seen.refusedEscape).toBe(lines.filter((l) => l.refusedEscape).length)
    expect(seen.byteRows).toBeGreaterThan(200)
    expect(seen.rejected).toBeGreaterThan(300)
  })

  it('rejects a lone surrogate, in a text or json value, a key or a repeated key, whichever way the line is read (issue 10, item 14)', () => {
    const lines = [
      '{"id": 1, "s": "ok"}',
      '{"id": 2, "s": "\\ud800"}',
      '{"id": 3, "j": "\\udc00"}',
      '{"id": 4, "j": {"a": ["x\\ud800y"]}}',
      '{"id": 5, "js": ["\\ud800\\u0041"]}',
      '{"id": 6, "s": "\\ud800", "s": "ok"}',
      '{"id": 7, "\\ud800": 1}',
      '{"id": 8, "s": "\\ud83d\\ude00 \\\\ud800"}',
      '{"id": 9, "tags": ["\\udbff"]}',
      '{"id": 10, "j": {"a": "\\u0000"}}',
    ]
    const verdicts = (read: (text: string, line: number) => ParsedRecord) => {
      const v = new RowValidator(schema, {
        file: 'x',
        encoding: 'utf8',
        ignoreExtra: true,
        format: 'ndjson',
        dialect: dialectOf('ndjson', {}),
      })
      return lines.map((l, k) => {
        const row = v.validate(read(l, k + 1))
        return 'stage' in row ? `${row.code}${row.columnName ? ` ${row.columnName}` : ''}` : 'ok'
      })
    }
    const byBytes = verdicts((l) => {
      const p = new NdjsonParser(decoderFor('utf8'))
      return [...p.push(Buffer.from(l + '\n')), ...p.end()][0]!
    })
    const byText = verdicts((l, line) => ({
      line,
      byte: 0,
      nextByte: 0,
      nextLine: line + 1,
      raw: Buffer.from(l),
      ...parseObjectLine(l),
    }))
    const expected = [
      'ok',
      'VALUE_INVALID s',
      'VALUE_INVALID j',
      'VALUE_INVALID j',
      'VALUE_INVALID js',
      'NDJSON_INVALID_JSON',
      'NDJSON_INVALID_JSON',
      'ok',
      'VALUE_INVALID tags',
      'VALUE_INVALID j',
    ]
    expect(byBytes).toEqual(expected)
    expect(byText).toEqual(expected)
  })
})
