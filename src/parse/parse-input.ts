import { basename } from 'node:path'
import type { CsvDialect } from './dialect.js'
import { CsvParser } from './csv.js'
import type { InputEncoding } from './decode.js'
import { decoderFor } from './decode.js'
import { NdjsonParser } from './ndjson.js'
import type { ParsedRecord } from './parsed-record.js'
import { recordLimits } from './record-limits.js'

/** Input formats pgbulk reads. */
export type InputFormat = 'csv' | 'tsv' | 'ndjson'

/** The format an input is in, from --format or its extension (also under .gz). */
export function formatOf(path: string, explicit: InputFormat | undefined): InputFormat {
  if (explicit) return explicit
  const name = basename(path).toLowerCase().replace(/\.gz$/, '')
  if (name.endsWith('.tsv') || name.endsWith('.tab')) return 'tsv'
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'ndjson'
  return 'csv'
}

/** What the parse stage needs to know about an input. */
export interface ParseOptions {
  format: InputFormat
  dialect: CsvDialect
  encoding: InputEncoding
  /** Longest record, in bytes (--max-record-bytes); default DEFAULT_MAX_RECORD_BYTES. */
  maxRecordBytes?: number
}

/** Where reading starts when it does not start at the beginning (a resumed load that seeked). */
export interface StartPoint {
  byte: number
  line: number
}

const BOM = [0xef, 0xbb, 0xbf]

/**
 * The parse stage's stream adapter: bytes in, arrays of records out (one array per chunk, so
 * the stages after it pay one await per chunk rather than per row).
 */
export async function* parseInput(
  chunks: AsyncIterable<Buffer>,
  opts: ParseOptions,
  start?: StartPoint,
): AsyncGenerator<ParsedRecord[]> {
  const decode = decoderFor(opts.encoding)
  const limits = recordLimits(opts.maxRecordBytes)
  const parser =
    opts.format === 'ndjson' ? new NdjsonParser(decode, limits) : new CsvParser(opts.dialect, decode, limits)
  // Mid-file there is no byte-order mark to look for.
  let head: Buffer | undefined = start ? undefined : Buffer.alloc(0)
  if (start) {
    parser.skipBytes(start.byte)
    parser.startAtLine(start.line)
  }
  for await (const chunk of chunks) {
    let data = chunk
    if (head !== undefined) {
      // Hold bytes back until we know whether the input starts with a UTF-8 byte-order mark.
      head = Buffer.concat([head, chunk])
      if (head.length < BOM.length && BOM.slice(0, head.length).every((v, k) => head![k] === v)) continue
      data = head
      head = undefined
      if (opts.encoding === 'utf8' && BOM.every((v, k) => data[k] === v)) {
        parser.skipBytes(BOM.length)
        data = data.subarray(BOM.length)
      }
    }
    const records = parser.push(data)
    if (records.length > 0) yield records
  }
  if (head !== undefined && head.length > 0) {
    const records = parser.push(head)
    if (records.length > 0) yield records
  }
  const last = parser.end()
  if (last.length > 0) yield last
}
