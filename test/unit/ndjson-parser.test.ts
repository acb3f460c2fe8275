import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decoderFor } from '../../src/parse/decode.js'
import { NdjsonParser, parseObjectLine } from '../../src/parse/ndjson.js'
import { populateArray } from '../../src/validate/populate-array.js'
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
      for (let cut = 1; cut < buf.length; cut++) expect(await parseChunks(buf, [cut], { format: 'ndjson' }), `split at ${cut}`).toEqual(whole)
    }
  })

  it('rejects a line longer than the limit without keeping it, and goes on at the next line', () => {
    const p = new NdjsonParser(decoderFor('utf8'), 100)
    const long = '{"a": "' + 'x'.repeat(300) + '"}'
    const chunks = ['{"id": 1}\n' + long.slice(0, 50), long.slice(50, 250), long.slice(250) + '\n{"id": 2}\n']
    const out = chunks.flatMap((c) => p.push(Buffer.from(c))).concat(p.end())
    expect(out.map((r) => [r.kind, r.line, r.byte, r.nextByte, r.nextLine])).toEqual([
      ['object', 1, 0, 10, 2],
      ['problem', 2, 10, 10 + long.length + 1, 3],
      ['object', 3, 10 + long.length + 1, 10 + long.length + 11, 4],
    ])
    const problem = out[1]?.kind === 'problem' ? out[1].problem : undefined
    expect(problem?.code).toBe('NDJSON_INVALID_JSON')
    expect(problem?.message).toMatch(/^line longer than 100 bytes/)
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
    expect(populateArray('[1, null, "a,b", "q\\"\\\\", [2, 3], {"k": 1}]', false)).toBe('{"1",NULL,"a,b","q\\"\\\\","[2, 3]","{\\"k\\": 1}"}')
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
    for (const empty of ['[]', '[[]]', '[[], []]', '[[[]]]', '[[[]], [[]]]']) expect(populateArray(empty, false)).toBe('{}')
    expect(populateArray('[[1], []]', false)).toEqual({ refused: expect.stringMatching(/^malformed JSON array/) as unknown })
    expect(populateArray('[[1, 2], [3]]', false)).toEqual({ refused: expect.stringMatching(/^malformed JSON array/) as unknown })
    expect(populateArray('[[1], 2]', false)).toEqual({ refused: expect.stringMatching(/^expected JSON array/) as unknown })
    expect(populateArray('[[], 1]', false)).toEqual({ refused: expect.stringMatching(/^expected JSON array/) as unknown })
    expect(populateArray('[[1], {"a": 1}]', false)).toEqual({ refused: expect.stringMatching(/^expected JSON array/) as unknown })
    expect(populateArray('[[[[[[[1]]]]]]]', false)).toEqual({ refused: 'number of array dimensions (7) exceeds the maximum allowed (6)' })
    expect(populateArray('[[[[[[1]]]]]]', false)).toBe('{{{{{{"1"}}}}}}')
    // Below the dimensions, an array is an element's text: [2] for an integer element (the server refuses it), or text.
    expect(populateArray('[1, [2]]', false)).toBe('{"1","[2]"}')
    expect(populateArray('[[], [[]]]', false)).toEqual({ refused: expect.stringMatching(/^malformed JSON array/) as unknown })
    expect(populateArray(`${'['.repeat(100000)}${']'.repeat(100000)}`, false)).toEqual({
      refused: 'number of array dimensions (100000) exceeds the maximum allowed (6)',
    })
  })
})
