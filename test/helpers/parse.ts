import { Readable } from 'node:stream'
import type { CsvDialect } from '../../src/parse/dialect.js'
import type { InputEncoding } from '../../src/parse/decode.js'
import { parseInput, type InputFormat } from '../../src/parse/parse-input.js'
import type { ParsedRecord } from '../../src/parse/parsed-record.js'

export const CSV: CsvDialect = { delimiter: ',', quote: '"', escape: null, nullString: null }

/** A record in a form easy to compare: raw as text, Maps as plain objects. */
export function plain(r: ParsedRecord): Record<string, unknown> {
  const base = { line: r.line, byte: r.byte, nextByte: r.nextByte, nextLine: r.nextLine, raw: r.raw.toString('latin1') }
  if (r.kind === 'fields') return { ...base, values: r.texts }
  if (r.kind === 'object') return { ...base, fields: Object.fromEntries(r.fields) }
  return { ...base, problem: r.problem }
}

/** Parse `input` fed as the given chunks (split at `cuts`, byte offsets). */
export async function parseChunks(
  input: Buffer,
  cuts: number[],
  opts: { format?: InputFormat; dialect?: CsvDialect; encoding?: InputEncoding; maxRecordBytes?: number } = {},
): Promise<Record<string, unknown>[]> {
  const chunks: Buffer[] = []
  let prev = 0
  for (const c of [...cuts, input.length]) {
    chunks.push(input.subarray(prev, c))
    prev = c
  }
  const out: Record<string, unknown>[] = []
  for await (const batch of parseInput(Readable.from(chunks), {
    format: opts.format ?? 'csv',
    dialect: opts.dialect ?? CSV,
    encoding: opts.encoding ?? 'utf8',
    ...(opts.maxRecordBytes === undefined ? {} : { maxRecordBytes: opts.maxRecordBytes }),
  })) {
    for (const r of batch) out.push(plain(r))
  }
  return out
}
