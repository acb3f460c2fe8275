import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as csvParse } from 'csv-parse/sync'
import { describe, expect, it, vi } from 'vitest'
import { CsvParser } from '../../src/parse/csv.js'
import { decoderFor } from '../../src/parse/decode.js'
import { recordLimits } from '../../src/parse/record-limits.js'
import type { ParsedRecord } from '../../src/parse/parsed-record.js'
import { CSV, parseChunks, plain } from '../helpers/parse.js'

const cases: Record<string, string> = {
  'CRLF line endings': 'a,b\r\n1,2\r\n3,4\r\n',
  'quoted newlines and doubled quotes': 'a,b\n"x\ny","say ""hi"""\n"2\r\n",z\n',
  'multi-byte UTF-8': 'a,b\ncafé,日本語\n"😀,😀",ü\n',
  'UTF-8 byte-order mark': '\uFEFFa,b\n1,2\n',
  'no newline at the end': 'a,b\n1,2',
  'blank lines are skipped': 'a,b\n\n1,2\r\n\r\n3,4\n',
  'NULL versus empty string': 'a,b,c\n,"",x\n"",,\n',
  'trailing delimiter': 'a,b\n1,\n',
}

describe('csv parser', () => {
  it('reads fields, start lines and byte offsets of each record', async () => {
    const recs = await parseChunks(Buffer.from('a,b\n"x\ny",2\n3,4\n'), [])
    expect(recs).toEqual([
      { line: 1, byte: 0, nextByte: 4, nextLine: 2, raw: 'a,b', values: ['a', 'b'] },
      { line: 2, byte: 4, nextByte: 12, nextLine: 4, raw: '"x\ny",2', values: ['x\ny', '2'] },
      { line: 4, byte: 12, nextByte: 16, nextLine: 5, raw: '3,4', values: ['3', '4'] },
    ])
  })

  it('treats an unquoted empty field as NULL and a quoted one as an empty string, like COPY CSV', async () => {
    const recs = await parseChunks(Buffer.from(cases['NULL versus empty string']!), [])
    expect(recs.map((r) => r['values'])).toEqual([
      ['a', 'b', 'c'],
      [null, '', 'x'],
      ['', null, null],
    ])
  })

  it('with --null, only that unquoted string is NULL', async () => {
    const recs = await parseChunks(Buffer.from('a,b,c\n\\N,,"\\N"\n'), [], { dialect: { ...CSV, nullString: '\\N' } })
    expect(recs[1]!['values']).toEqual([null, '', '\\N'])
  })

  it('skips the BOM but counts its bytes', async () => {
    const recs = await parseChunks(Buffer.from(cases['UTF-8 byte-order mark']!), [])
    expect(recs[0]).toMatchObject({ byte: 3, values: ['a', 'b'] })
    expect(recs[1]).toMatchObject({ byte: 7, line: 2 })
  })

  it('gives the same records and locations wherever the input is split', async () => {
    const inputs = { ...cases, ...fixtureInputs() }
    for (const [name, text] of Object.entries(inputs)) {
      const input = Buffer.from(text)
      const whole = await parseChunks(input, [])
      for (let cut = 1; cut < input.length; cut++) {
        expect(await parseChunks(input, [cut]), `${name}, split at byte ${cut}`).toEqual(whole)
      }
      const everyByte = Array.from({ length: input.length - 1 }, (_, k) => k + 1)
      expect(await parseChunks(input, everyByte), `${name}, one byte at a time`).toEqual(whole)
    }
  })

  it('gives the same rows as csv-parse on valid input', async () => {
    let compared = 0
    for (const [name, text] of Object.entries({ ...cases, ...fixtureInputs() })) {
      const recs = await parseChunks(Buffer.from(text), [])
      // Inputs with malformed records are where the two parsers differ by design (recovery).
      if (recs.some((r) => 'problem' in r)) continue
      compared++
      const ours = recs.map((r) => (r['values'] as (string | null)[]).map((v) => v ?? ''))
      const theirs: string[][] = csvParse(text, {
        bom: true,
        skip_empty_lines: true,
        relax_column_count: true,
        record_delimiter: ['\r\n', '\n'],
      })
      expect(ours, name).toEqual(theirs)
    }
    expect(compared).toBeGreaterThanOrEqual(Object.keys(cases).length)
  })

  it('rejects a stray quote in an unquoted field and goes on at the next line', async () => {
    const recs = await parseChunks(Buffer.from('a,b\n1,x"y\n2,3\n'), [])
    expect(recs[1]).toMatchObject({ line: 2, raw: '1,x"y', problem: { code: 'CSV_PARSE', column: 2 } })
    expect(recs[2]).toMatchObject({ line: 3, values: ['2', '3'] })
  })

  it('rejects text after a closing quote and goes on at the next line', async () => {
    const recs = await parseChunks(Buffer.from('a,b\n"bad"x,1\n2,3\n'), [])
    expect(recs[1]).toMatchObject({ line: 2, raw: '"bad"x,1', problem: { code: 'CSV_PARSE', column: 1 } })
    expect((recs[1]!['problem'] as { message: string }).message).toMatch(/after a closing quote, found "x"/)
    expect(recs[2]).toMatchObject({ line: 3, values: ['2', '3'] })
  })

  it('rejects only the first line of a quote that never closes, then reads the rest', async () => {
    const recs = await parseChunks(Buffer.from('a,b\n1,"open\n2,3\n4,5\n'), [])
    expect(recs[1]).toMatchObject({ line: 2, raw: '1,"open', problem: { code: 'CSV_PARSE', column: 2 } })
    expect(recs.slice(2)).toMatchObject([
      { line: 3, values: ['2', '3'] },
      { line: 4, values: ['4', '5'] },
    ])
  })

  it('rejects a quoted field larger than the record limit instead of buffering the file', () => {
    const p = new CsvParser(CSV, decoderFor('utf8'), recordLimits(100))
    const out = [...p.push(Buffer.from('a,"' + 'x'.repeat(60) + '\n' + 'y'.repeat(60) + '\n1,2\n')), ...p.end()]
    expect(out[0]).toMatchObject({ kind: 'problem', line: 1 })
    expect(plain(out[out.length - 1]!)).toMatchObject({ values: ['1', '2'], line: 3 })
  })

  it('rejects the whole line of a quoted field past the limit that never closes, and reads the next line as a record (issue 10, item 9)', async () => {
    // The resync after the first 100 bytes used to start mid-line: the tail ("xxx…", "tail") loaded as a row.
    const input = Buffer.from('a,b\n"' + 'x'.repeat(300) + ',tail\n1,2\n')
    const expected = [
      { line: 1, byte: 0, nextByte: 4, nextLine: 2, raw: 'a,b', values: ['a', 'b'] },
      {
        line: 2,
        byte: 4,
        nextByte: 311,
        nextLine: 3,
        raw: '"' + 'x'.repeat(99),
        problem: {
          code: 'RECORD_TOO_LONG',
          message: 'line longer than 100 bytes (--max-record-bytes): only its first 100 bytes are kept',
          rawTruncated: true,
        },
      },
      { line: 3, byte: 311, nextByte: 315, nextLine: 4, raw: '1,2', values: ['1', '2'] },
    ]
    for (const cuts of [[], [5], [50], [104], [105], [106], [200], [310], everyNth(input.length, 7)]) {
      expect(await parseChunks(input, cuts, { maxRecordBytes: 100 }), `split at ${cuts.join(',')}`).toEqual(expected)
    }
  })

  it('rejects an unquoted line past the limit without keeping it, in CSV and TSV, and reads the next line (issue 10, item 19)', async () => {
    const TSV = { delimiter: '\t', quote: null, escape: null, nullString: null }
    for (const dialect of [CSV, TSV]) {
      const d = dialect.delimiter
      const input = Buffer.from(`a${d}b\n` + `y${d}`.repeat(150) + '\r\n' + `1${d}2\n`)
      const long = { line: 2, byte: 4, nextByte: 306, nextLine: 3, raw: `y${d}`.repeat(50) }
      for (const cuts of [[], [50], [105], [304], [305], everyNth(input.length, 13)]) {
        const recs = await parseChunks(input, cuts, { dialect, maxRecordBytes: 100 })
        expect(recs.map((r) => r['values'] ?? r['problem'])).toEqual([
          ['a', 'b'],
          expect.objectContaining({ code: 'RECORD_TOO_LONG' }),
          ['1', '2'],
        ])
        expect(recs[1]).toMatchObject(long)
        expect(recs[2]).toMatchObject({ line: 3, byte: 306 })
      }
    }
  })

  it('rejects a line past the limit at the end of an input without a newline, at its line', async () => {
    const input = Buffer.from('a,b\n' + 'z'.repeat(1000))
    for (const cuts of [[], [3], [4], [500], everyNth(input.length, 97)]) {
      expect(await parseChunks(input, cuts, { maxRecordBytes: 100 })).toMatchObject([
        { line: 1, values: ['a', 'b'] },
        {
          line: 2,
          byte: 4,
          nextByte: 1004,
          nextLine: 2,
          raw: 'z'.repeat(100),
          problem: { code: 'RECORD_TOO_LONG', rawTruncated: true },
        },
      ])
    }
  })

  it('reads a record exactly at the limit, CRLF or not, and rejects one byte more', async () => {
    const at = 'k'.repeat(100)
    const input = Buffer.from(`${at}\r\n${at}k\r\n${at}\n${at}`)
    for (let cut = 0; cut <= input.length; cut++) {
      const recs = await parseChunks(input, cut === 0 ? [] : [cut], { maxRecordBytes: 100 })
      expect(
        recs.map((r) => [r['line'], r['values'] ? 'record' : (r['problem'] as { code: string }).code]),
        `split at ${cut}`,
      ).toEqual([
        [1, 'record'],
        [2, 'RECORD_TOO_LONG'],
        [3, 'record'],
        [4, 'record'],
      ])
    }
  })

  it('rejects a record with more fields than the limit, whole, and keeps no place of each field', () => {
    const input = Buffer.from('1,2,3\n1,2,3,4\n"a\nb",2,3,4,5\n5,6\n')
    const whole = split(new CsvParser(CSV, decoderFor('utf8'), recordLimits(1000, 3)), input, [])
    expect(
      whole.map((r) => [r['line'], (r['problem'] as { code: string } | undefined)?.code ?? 'fields', r['raw']]),
    ).toEqual([
      [1, 'fields', '1,2,3'],
      [2, 'RECORD_TOO_LONG', '1,2,3,4'],
      [3, 'RECORD_TOO_LONG', '"a\nb",2,3,4,5'],
      [5, 'fields', '5,6'],
    ])
    for (let cut = 1; cut < input.length; cut++)
      expect(split(new CsvParser(CSV, decoderFor('utf8'), recordLimits(1000, 3)), input, [cut])).toEqual(whole)
  })

  it('rejects only the first line of a quoted field whose lines run past the limit, and reads on from its second line', async () => {
    const input = Buffer.from('a,"' + 'x'.repeat(60) + '\n' + 'y'.repeat(60) + '\n1,2\n')
    for (const cuts of [[], [30], [63], [64], [100], [124], everyNth(input.length, 11)]) {
      expect(await parseChunks(input, cuts, { maxRecordBytes: 100 }), `split at ${cuts.join(',')}`).toEqual([
        {
          line: 1,
          byte: 0,
          nextByte: 64,
          nextLine: 2,
          raw: 'a,"' + 'x'.repeat(60),
          problem: {
            code: 'RECORD_TOO_LONG',
            message:
              'record longer than 100 bytes (--max-record-bytes): a quoted field does not close within it; only its first line is rejected',
          },
        },
        { line: 2, byte: 64, nextByte: 125, nextLine: 3, raw: 'y'.repeat(60), values: ['y'.repeat(60)] },
        { line: 3, byte: 125, nextByte: 129, nextLine: 4, raw: '1,2', values: ['1', '2'] },
      ])
    }
  })

  it('never reads its buffer past the end: a CR after a closing quote at the end of a chunk waits for the next, whatever stale bytes follow', () => {
    // The buffer's spare capacity holds whatever memory it was given (allocUnsafeSlow): a line
    // feed there was taken for the one after the CR, and the record ended past the input.
    const stale = vi.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation((size) => Buffer.alloc(size, '\n'))
    try {
      const p = new CsvParser(CSV, decoderFor('utf8'))
      const out = [...p.push(Buffer.from('a,b\n"x"\r')), ...p.push(Buffer.from('\n"y\\",2\n')), ...p.end()].map(plain)
      expect(out).toEqual([
        { line: 1, byte: 0, nextByte: 4, nextLine: 2, raw: 'a,b', values: ['a', 'b'] },
        { line: 2, byte: 4, nextByte: 9, nextLine: 3, raw: '"x"', values: ['x'] },
        { line: 3, byte: 9, nextByte: 16, nextLine: 4, raw: '"y\\",2', values: ['y\\', '2'] },
      ])
    } finally {
      stale.mockRestore()
    }
  })

  it('rejects bytes that are not valid UTF-8, naming the field', async () => {
    const input = Buffer.concat([Buffer.from('a,b\n1,caf'), Buffer.from([0xe9]), Buffer.from('\n2,ok\n')])
    const recs = await parseChunks(input, [])
    expect(recs[1]).toMatchObject({ line: 2, problem: { code: 'ENCODING_INVALID', column: 2 } })
    expect(recs[2]).toMatchObject({ values: ['2', 'ok'] })
  })

  it('decodes latin1 and windows-1252, keeping byte offsets of the original file', async () => {
    const input = Buffer.from([0x61, 0x0a, 0x63, 0x61, 0x66, 0xe9, 0x0a, 0x80, 0x0a])
    const latin1 = await parseChunks(input, [], { encoding: 'latin1' })
    expect(latin1.map((r) => r['values'])).toEqual([['a'], ['café'], ['\u0080']])
    const cp1252 = await parseChunks(input, [], { encoding: 'windows-1252' })
    expect(cp1252.map((r) => r['values'])).toEqual([['a'], ['café'], ['€']])
    expect(cp1252[2]).toMatchObject({ byte: 7, line: 3 })
  })

  it('honours --delimiter, --quote and --escape', async () => {
    const recs = await parseChunks(Buffer.from("a;b\n'x\\'y';'p;q'\n"), [], {
      dialect: { delimiter: ';', quote: "'", escape: '\\', nullString: null },
    })
    expect(recs[1]!['values']).toEqual(["x'y", 'p;q'])
  })

  it('reads TSV without quoting: quotes are data', async () => {
    const recs = await parseChunks(Buffer.from('a\tb\n5" screen\t"x"\n'), [], {
      dialect: { delimiter: '\t', quote: null, escape: null, nullString: null },
    })
    expect(recs[1]!['values']).toEqual(['5" screen', '"x"'])
  })
})

/** Cut points every `n` bytes. */
function everyNth(length: number, n: number): number[] {
  return Array.from({ length: Math.ceil(length / n) - 1 }, (_, k) => (k + 1) * n)
}

/** Feed a parser `input` split at `cuts`; its records as plain objects. */
function split(p: CsvParser, input: Buffer, cuts: number[]): Record<string, unknown>[] {
  const out: ParsedRecord[] = []
  let prev = 0
  for (const c of [...cuts, input.length]) {
    out.push(...p.push(input.subarray(prev, c)))
    prev = c
  }
  return [...out, ...p.end()].map(plain)
}

/** Every CSV input under fixtures/, so new fixtures get the split test for free. */
function fixtureInputs(): Record<string, string> {
  const root = join(import.meta.dirname, '../../fixtures')
  const out: Record<string, string> = {}
  for (const dir of readdirSync(root)) {
    for (const f of readdirSync(join(root, dir))) {
      if (f.endsWith('.csv')) out[`fixtures/${dir}/${f}`] = readFileSync(join(root, dir, f), 'utf8')
    }
  }
  return out
}
