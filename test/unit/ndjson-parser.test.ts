import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decoderFor } from '../../src/parse/decode.js'
import { NdjsonParser, parseObjectLine } from '../../src/parse/ndjson.js'
import { populateArray } from '../../src/validate/populate-array.js'
import { recordLimits } from '../../src/parse/record-limits.js'
import { parseChunks } from '../helpers/parse.js'

const input =
  '{"id": 1, "name": "ä\\"x", "n": 1.10, "big": 12345678901234567890}\r\n\n  \n{"nested": {"a": [1, "}"]}, "arr": [], "ok": true, "nil": null}\n[1]\n{"id": 2,\n42'

describe('ndjson parser', () => {
  it('keeps each top-level value as written: numbers exactly, nested values as JSON text', async () => {
    const recs = await parseChunks(Buffer.from(input), [], { format: 'ndjson' })
    expect(recs[0]).toMatchObject({
      line: 1,
      byte: 0,
      fields: {
        id: { kind: 'number', text: '1' },
        name: { kind: 'string', text: 'ä"x' },
        n: { kind: 'number', text: '1.10' },
        big: { kind: 'number', text: '12345678901234567890' },
      },
    })
    expect(recs[1]).toMatchObject({
      line: 4,
      fields: {
        nested: { kind: 'object', text: '{"a": [1, "}"]}' },
        arr: { kind: 'array', text: '[]' },
        ok: { kind: 'boolean', text: 'true' },
        nil: { kind: 'null', text: 'null' },
      },
    })
  })

  it('skips blank lines and turns lines that are not objects into problems, not crashes', async () => {
    const recs = await parseChunks(Buffer.from(input), [], { format: 'ndjson' })
    expect(recs.map((r) => [r['line'], (r['problem'] as { code: string } | undefined)?.code ?? 'object'])).toEqual([
      [1, 'object'],
      [4, 'object'],
      [5, 'NDJSON_NOT_OBJECT'],
      [6, 'NDJSON_INVALID_JSON'],
      [7, 'NDJSON_NOT_OBJECT'],
    ])
  })

  it('gives the same records and byte offsets wherever the input is split', async () => {
    const fixture = readFileSync(join(import.meta.dirname, '../../fixtures/events-ndjson/input.ndjson'))
    for (const buf of [Buffer.from(input), fixture]) {
      const whole = await parseChunks(buf, [], { format: 'ndjson' })
      for (let cut = 1; cut < buf.length; cut++)
        expect(await parseChunks(buf, [cut], { format: 'ndjson' }), `split at ${cut}`).toEqual(whole)
    }
  })

  it('rejects a line longer than the limit without keeping it, and goes on at the next line', () => {
    const p = new NdjsonParser(decoderFor('utf8'), recordLimits(100))
    const long = '{"a": "' + 'x'.repeat(300) + '"}'
    const chunks = ['{"id": 1}\n' + long.slice(0, 50), long.slice(50, 250), long.slice(250) + '\n{"id": 2}\n']
    const out = chunks.flatMap((c) => p.push(Buffer.from(c))).concat(p.end())
    expect(out.map((r) => [r.kind, r.line, r.byte, r.nextByte, r.nextLine])).toEqual([
      ['object', 1, 0, 10, 2],
      ['problem', 2, 10, 10 + long.length + 1, 3],
      ['object', 3, 10 + long.length + 1, 10 + long.length + 11, 4],
    ])
    const problem = out[1]?.kind === 'problem' ? out[1].problem : undefined
    expect(problem?.code).toBe('RECORD_TOO_LONG')
    expect(problem?.message).toMatch(/^line longer than 100 bytes/)
  })

  it('rejects a line past the limit however the input is split, a last line without a newline too (issue 10, item 19)', async () => {
    const long = '{"a": "' + 'x'.repeat(300) + '"}'
    const input = Buffer.from('{"id": 1}\r\n' + long + '\r\n{"id": 2}\n' + long)
    const at2 = 11
    const at3 = at2 + long.length + 2
    const at4 = at3 + 10
    const problem = {
      code: 'RECORD_TOO_LONG',
      message: 'line longer than 100 bytes (--max-record-bytes): only its first 100 bytes are kept',
      rawTruncated: true,
    }
    const expected = [
      { line: 1, byte: 0, nextByte: at2, nextLine: 2, raw: '{"id": 1}', fields: { id: { kind: 'number', text: '1' } } },
      { line: 2, byte: at2, nextByte: at3, nextLine: 3, raw: long.slice(0, 100), problem },
      {
        line: 3,
        byte: at3,
        nextByte: at4,
        nextLine: 4,
        raw: '{"id": 2}',
        fields: { id: { kind: 'number', text: '2' } },
      },
      { line: 4, byte: at4, nextByte: input.length, nextLine: 4, raw: long.slice(0, 100), problem },
    ]
    for (let cut = 1; cut < input.length; cut += 3) {
      expect(await parseChunks(input, [cut], { format: 'ndjson', maxRecordBytes: 100 }), `split at ${cut}`).toEqual(
        expected,
      )
    }
  })

  it('reads a line exactly at the limit, CRLF or not, and rejects one byte more', async () => {
    const at = '{"k": "' + 'k'.repeat(91) + '"}'
    const input = Buffer.from(`${at}\r\n${at} \r\n${at}\n${at}`)
    for (let cut = 0; cut <= input.length; cut++) {
      const recs = await parseChunks(input, cut === 0 ? [] : [cut], { format: 'ndjson', maxRecordBytes: 100 })
      expect(
        recs.map((r) => [r['line'], r['fields'] ? 'object' : (r['problem'] as { code: string }).code]),
        `split at ${cut}`,
      ).toEqual([
        [1, 'object'],
        [2, 'RECORD_TOO_LONG'],
        [3, 'object'],
        [4, 'object'],
      ])
    }
  })

  it('rejects an object with more members than the limit, without parsing it whole', () => {
    const p = new NdjsonParser(decoderFor('utf8'), recordLimits(1000, 3))
    const out = [
      ...p.push(Buffer.from('{"a":1,"b":2,"c":3}\n{"a":1,"b":2,"c":3,"d":4}\n{"a":1,"a":1,"a":1,"a":1,"a":1}\n')),
      ...p.end(),
    ]
    expect(out.map((r) => [r.line, r.kind === 'problem' ? r.problem.code : r.kind])).toEqual([
      [1, 'object'],
      [2, 'RECORD_TOO_LONG'],
      [3, 'RECORD_TOO_LONG'],
    ])
    expect(out[1]?.raw.toString()).toBe('{"a":1,"b":2,"c":3,"d":4}')
  })

  it('reports where the JSON broke', () => {
    const r = parseObjectLine('{"a": 1,, "b": 2}')
    expect(r).toMatchObject({ kind: 'problem', problem: { code: 'NDJSON_INVALID_JSON', column: 9 } })
  })

  it('keeps the last of duplicate keys, as JSON.parse and json_populate_record do', () => {
    const r = parseObjectLine('{"a": 1, "a": 2}')
    expect(r.kind === 'object' && r.fields.get('a')).toEqual({ kind: 'number', text: '2' })
  })

  it('turns JSON arrays into PostgreSQL array literals', () => {
    // (an array beside scalars is an element, as json_populate_record reads it: its JSON text)
    expect(populateArray('[1, null, "a,b", "q\\"\\\\", [2, 3], {"k": 1}]', false)).toBe(
      '{"1",NULL,"a,b","q\\"\\\\","[2, 3]","{\\"k\\": 1}"}',
    )
  })

  it('makes array elements from their JSON text, never from JS numbers (issue 10, item 2)', () => {
    expect(populateArray('[9007199254740993]', false)).toBe('{"9007199254740993"}')
    expect(populateArray('[12345678901234567890.12345, 1.10]', false)).toBe('{"12345678901234567890.12345","1.10"}')
    expect(populateArray('[9223372036854775807]', false)).toBe('{"9223372036854775807"}')
    expect(populateArray('[1e400]', false)).toBe('{"1e400"}')
    expect(populateArray('[1e2]', false)).toBe('{"1e2"}')
    expect(populateArray('[[1, 2], [3, 4]]', false)).toBe('{{"1","2"},{"3","4"}}')
    expect(populateArray('[{"b" : 1, "b": 2}]', false)).toBe('{"{\\"b\\" : 1, \\"b\\": 2}"}')
    expect(populateArray('["x\\u00e9\\/", "\\n"]', true)).toBe('{"\\"xé/\\"","\\"\\\\n\\""}')
  })

  it('gives arrays the shapes json_populate_record gives them, and refuses the ones it refuses', () => {
    for (const empty of ['[]', '[[]]', '[[], []]', '[[[]]]', '[[[]], [[]]]'])
      expect(populateArray(empty, false)).toBe('{}')
    expect(populateArray('[[1], []]', false)).toEqual({
      refused: expect.stringMatching(/^malformed JSON array/) as unknown,
    })
    expect(populateArray('[[1, 2], [3]]', false)).toEqual({
      refused: expect.stringMatching(/^malformed JSON array/) as unknown,
    })
    expect(populateArray('[[1], 2]', false)).toEqual({
      refused: expect.stringMatching(/^expected JSON array/) as unknown,
    })
    expect(populateArray('[[], 1]', false)).toEqual({
      refused: expect.stringMatching(/^expected JSON array/) as unknown,
    })
    expect(populateArray('[[1], {"a": 1}]', false)).toEqual({
      refused: expect.stringMatching(/^expected JSON array/) as unknown,
    })
    expect(populateArray('[[[[[[[1]]]]]]]', false)).toEqual({
      refused: 'number of array dimensions (7) exceeds the maximum allowed (6)',
    })
    expect(populateArray('[[[[[[1]]]]]]', false)).toBe('{{{{{{"1"}}}}}}')
    // Below the dimensions, an array is an element's text: [2] for an integer element (the server refuses it), or text.
    expect(populateArray('[1, [2]]', false)).toBe('{"1","[2]"}')
    expect(populateArray('[[], [[]]]', false)).toEqual({
      refused: expect.stringMatching(/^malformed JSON array/) as unknown,
    })
    expect(populateArray(`${'['.repeat(100000)}${']'.repeat(100000)}`, false)).toEqual({
      refused: 'number of array dimensions (100000) exceeds the maximum allowed (6)',
    })
  })
})
