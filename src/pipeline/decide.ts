import { LoadError } from '../errors.js'
import type { ParsedRecord } from '../parse/parsed-record.js'
import { quotedList } from '../report/words.js'
import type { Rejection } from '../reject/rejection.js'
import type { Tally } from '../report/tally.js'
import type { RowValidator } from '../validate/validate-row.js'
import type { ValidRow } from '../validate/valid-row.js'
import { applyHeader } from './header.js'
import type { InputPipeline } from './types.js'

/** Records of a chunk and what validation made of each (two arrays, not an object per row). */
export interface Decided {
  recs: ParsedRecord[]
  results: (ValidRow | Rejection)[]
}

/**
 * The parse and validate stages of one input: each chunk of records with what validation made of
 * each, after the header (CSV/TSV) and, resuming a stream, the records committed before.
 */
export async function* decide(
  p: Pick<InputPipeline, 'records' | 'parse' | 'header' | 'name' | 'skipBefore' | 'columnNames'>,
  validator: RowValidator,
  tally: Tally,
): AsyncGenerator<Decided> {
  let needHeader = p.parse.format !== 'ndjson' && p.header
  for await (const records of p.records) {
    // (made at the chunk's size and cut to what was decided: no array grown record by record)
    const out: Decided = {
      recs: new Array<ParsedRecord>(records.length),
      results: new Array<ValidRow | Rejection>(records.length),
    }
    let kept = 0
    try {
      for (const rec of records) {
        if (needHeader) {
          needHeader = false
          applyHeader(rec, validator, p.name, p.columnNames)
        } else if (rec.line === 1 && !p.header && validator.namesItsColumns(rec)) {
          throw new LoadError(
            'HEADER_INVALID',
            `${p.name}:1: the first line names the columns (${formatFields(rec)}): it is a header row, ` +
              'which --no-header would load as data',
            "drop --no-header (with --columns, the names replace the header's)",
          )
        } else if (p.skipBefore !== undefined && rec.byte < p.skipBefore) {
          tally.skippedCommitted()
        } else {
          // (a record and its result are added together: a validator that throws must not leave a record without one)
          const result = validator.validate(rec)
          out.recs[kept] = rec
          out.results[kept++] = result
        }
      }
    } finally {
      // (the header, records committed before, and after a throw the records not reached, are left out)
      out.recs.length = kept
      out.results.length = kept
      // (what was decided before a run problem still comes first; an empty chunk still reports progress)
      yield out
    }
  }
}

function formatFields(rec: ParsedRecord): string {
  return rec.kind === 'fields' ? quotedList(rec.texts.map((t) => t ?? '')) : ''
}

/** Input bytes of the records (to read ahead by about one batch of the size batches have now). */
export function rawBytes(recs: readonly ParsedRecord[]): number {
  let n = 0
  for (const r of recs) n += r.raw.length
  return n
}
