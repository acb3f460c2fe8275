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

const lines = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, k) => `${from + k},v${from + k}\n`).join('')

describe('COPY CSV data from the input’s own bytes', () => {
  it('sends a run of rows that follow one another in the input, each ended by a newline, as one view of the parser’s bytes', async () => {
    const rows = await rowsOf(`0,"a\nb"\n${lines(1, 100)}`)
    const pieces = encodeCopyCsv(rows, [0, 1], CSV)
    expect(pieces).toHaveLength(1)
    expect(pieces[0]!.buffer).toBe(rows[0]!.raw.buffer)
    expect(text(pieces)).toBe(`0,"a\nb"\n${lines(1, 100)}`)
  })

  it('copies rows left out between (one view per long run, one copy for the rest), not a write per row', async () => {
    const rows = await rowsOf(lines(0, 300))
    const gap = rows.filter((_, i) => i !== 100)
    const pieces = encodeCopyCsv(gap, [0, 1], CSV)
    expect(pieces.map((p) => p.buffer === rows[0]!.raw.buffer)).toEqual([true, true])
    expect(text(pieces)).toBe(lines(0, 100) + lines(101, 300))
    // (every other row left out, as when half the rows break a CHECK: one copy)
    const odd = rows.filter((_, i) => i % 2 === 1)
    const copied = encodeCopyCsv(odd, [0, 1], CSV)
    expect(copied).toHaveLength(1)
    expect(text(copied)).toBe(odd.map((r) => `${r.raw.toString()}\n`).join(''))
  })

  it('copies what cannot be a view: CRLF endings, a carriage return in a value, no newline at the end', async () => {
    const crlf = await rowsOf(lines(0, 100).replaceAll('\n', '\r\n'))
    expect(text(encodeCopyCsv(crlf, [0, 1], CSV))).toBe(lines(0, 100))
    // (a carriage return in a quoted value: written anew, every value quoted)
    const cr = await rowsOf(`${lines(0, 70)}70,"b\rc"\n${lines(71, 150)}`)
    expect(text(encodeCopyCsv(cr, [0, 1], CSV))).toBe(`${lines(0, 70)}"70","b\rc"\n${lines(71, 150)}`)
    expect(text(encodeCopyCsv(await rowsOf(lines(0, 100).slice(0, -1)), [0, 1], CSV))).toBe(lines(0, 100))
  })

  it('keeps rows read in several chunks whole: the bytes of the pieces are the rows, in order', async () => {
    const all = lines(0, 500)
    const rows = await rowsOf(all.slice(0, 1000), all.slice(1000, 3001), all.slice(3001))
    expect(text(encodeCopyCsv(rows, [0, 1], CSV))).toBe(all)
  })
})
