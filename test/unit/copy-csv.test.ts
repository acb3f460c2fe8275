import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { parseInput } from '../../src/parse/parse-input.js'
import type { ValidRow } from '../../src/validate/valid-row.js'
import { encodeCopyCsv } from '../../src/write/copy-csv.js'
import { CSV } from '../helpers/parse.js'

/** The records of a CSV input fed in the given chunks, as rows (raw and values: what encodeCopyCsv reads). */
async function rowsOf(...chunks: string[]): Promise<ValidRow[]> {
  const out: ValidRow[] = []
  for await (const recs of parseInput(Readable.from(chunks.map((c) => Buffer.from(c))), {
    format: 'csv',
    dialect: CSV,
    encoding: 'utf8',
  })) {
    for (const r of recs) {
      if (r.kind !== 'fields') throw new Error(`not a record: ${r.raw.toString()}`)
      out.push({ line: r.line, byte: r.byte, nextByte: r.nextByte, raw: r.raw, values: r.texts, shape: '0,1' })
    }
  }
  return out
}

const text = (pieces: Buffer[]) => Buffer.concat(pieces).toString()

describe('COPY CSV data from the input’s own bytes', () => {
  it('sends rows that follow one another in the input, each ended by a newline, as one view of the parser’s bytes', async () => {
    const rows = await rowsOf('1,a\n2,"b\nc"\n3,x\n')
    const pieces = encodeCopyCsv(rows, [0, 1], CSV)
    expect(pieces).toHaveLength(1)
    expect(pieces[0]!.buffer).toBe(rows[0]!.raw.buffer)
    expect(text(pieces)).toBe('1,a\n2,"b\nc"\n3,x\n')
  })

  it('copies what cannot be a view: a row left out between, CRLF endings, a carriage return in a value, no newline at the end', async () => {
    const rows = await rowsOf('1,a\n2,b\n3,c\n')
    expect(encodeCopyCsv([rows[0]!, rows[2]!], [0, 1], CSV).map((p) => p.toString())).toEqual(['1,a\n', '3,c\n'])
    const crlf = await rowsOf('1,a\r\n2,b\r\n')
    expect(text(encodeCopyCsv(crlf, [0, 1], CSV))).toBe('1,a\n2,b\n')
    // (a carriage return in a quoted value: written anew, every value quoted)
    const cr = await rowsOf('1,a\n2,"b\rc"\n3,d\n')
    const pieces = encodeCopyCsv(cr, [0, 1], CSV)
    expect(pieces.map((p) => p.toString())).toEqual(['1,a\n', '"2","b\rc"\n', '3,d\n'])
    expect(text(encodeCopyCsv(await rowsOf('1,a\n2,b'), [0, 1], CSV))).toBe('1,a\n2,b\n')
  })

  it('keeps rows read in several chunks whole: the bytes of each piece are the rows, in order', async () => {
    const rows = await rowsOf('1,a\n2,', 'b\n3,c\n', '4,d\n')
    expect(text(encodeCopyCsv(rows, [0, 1], CSV))).toBe('1,a\n2,b\n3,c\n4,d\n')
  })
})
