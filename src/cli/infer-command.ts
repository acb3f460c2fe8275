import type { Command } from 'commander'
import { Option } from 'commander'
import { EXIT, LoadError } from '../errors.js'
import type { Inference, InferOptions } from '../infer/infer.js'
import { infer } from '../infer/infer.js'
import { DEFAULTS } from '../options.js'
import type { InputFormat } from '../parse/parse-input.js'
import { printable } from '../report/printable.js'
import { describeError } from './log.js'
import { parseChar, parseColumns, parsePositiveInt, parseQuote } from './options.js'

/** What `pgbulk infer` was asked, as the CLI hands it to its runner. */
export type InferJob = InferOptions & { json: boolean }

interface InferIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

interface InferFlags {
  table?: string
  format?: InputFormat
  delimiter?: string
  quote?: string | null
  escape?: string
  null?: string
  encoding: string
  header?: boolean
  columns?: string[]
  sampleRows?: number
  json?: true
  dateOrder?: 'DMY' | 'MDY' | 'YMD'
  decimalComma?: true
  thousands?: string
  currency?: true
}

/** Add `pgbulk infer` to the program; `run` receives what it was asked. */
export function registerInfer(program: Command, run: (job: InferJob) => Promise<void>): void {
  program
    .command('infer')
    .description(
      'print a CREATE TABLE statement for the inputs: per column the narrowest type all its values fit ' +
        '(boolean, smallint, integer, bigint, numeric, double precision, date, time, timestamp, timestamptz, uuid, ' +
        'jsonb, else text), names from the header as lower_snake_case; sniffs the delimiter and the header ' +
        'when not given. Needs no database',
    )
    .argument('<input...>', 'CSV, TSV or NDJSON files (plain or gzip), or - for stdin (sampled)')
    .option('-t, --table <[schema.]table>', 'the table to create (default: from the first file name)')
    .option('--format <format>', 'csv, tsv or ndjson (default: from the file extension, else csv)')
    .option('--delimiter <char>', 'field delimiter (default: sniffed among , ; tab |)', parseChar)
    .option('--quote <char>', 'quote character, or "none" (default: ")', parseQuote)
    .option('--escape <char>', 'escape character inside quoted fields (default: the quote, doubled)', parseChar)
    .option('--null <string>', 'the unquoted string that means NULL (default: an unquoted empty field)')
    .option('--encoding <name>', 'input encoding: utf8, latin1, windows-1252', DEFAULTS.encoding)
    .option('--header', 'the first row is a header (default: decided from the rows below it)')
    .option('--no-header', 'the first row is data')
    .option('--columns <a,b,c>', 'column names (of a file without a header, or renaming its fields)', parseColumns)
    .option(
      '--sample-rows <n>',
      'read only the first n rows of each input (default: all of a file; 10000 of stdin)',
      parsePositiveInt,
    )
    .addOption(
      new Option('--date-order <order>', 'dates of numbers only (03.01.2020) are in this order, as for load').choices([
        'DMY',
        'MDY',
        'YMD',
      ]),
    )
    .option('--decimal-comma', 'numbers write their decimal point as a comma, as for load')
    .option('--thousands <char>', 'numbers group their digits with this character, as for load')
    .option('--currency', 'a currency symbol before or after a number is dropped, as for load')
    .option('--json', 'print the inference as JSON (columns, types, null counts, an example value each)')
    .action(async (inputs: string[], o: InferFlags) => {
      const given = Object.fromEntries(
        Object.entries({
          table: o.table,
          format: o.format,
          delimiter: o.delimiter,
          quote: o.quote,
          escape: o.escape,
          nullString: o.null,
          encoding: o.encoding,
          header: o.header,
          columns: o.columns,
          sampleRows: o.sampleRows,
        }).filter(([, v]) => v !== undefined),
      ) as Omit<InferOptions, 'inputs'>
      const formats = Object.fromEntries(
        Object.entries({
          dateOrder: o.dateOrder,
          decimalComma: o.decimalComma,
          thousands: o.thousands,
          currency: o.currency,
        }).filter(([, v]) => v !== undefined),
      )
      const withFormats = Object.keys(formats).length > 0 ? { formats } : {}
      await run({ ...given, ...withFormats, inputs, json: Boolean(o.json) })
    })
}

/** pgbulk infer: the statement on stdout (or the inference as JSON), how each input was read on stderr. */
export async function runInferCommand(job: InferJob, io: InferIo): Promise<number> {
  const { json, ...opts } = job
  try {
    const inference = await infer(opts)
    if (json) io.stdout.write(JSON.stringify(inference, null, 2) + '\n')
    else {
      io.stdout.write(inference.sql)
      io.stderr.write(readingLines(inference))
    }
    return EXIT.OK
  } catch (err) {
    io.stderr.write(describeError(err))
    return err instanceof LoadError ? err.exitCode : EXIT.SETUP
  }
}

/** "pgbulk: read customers.csv (5000 rows): delimiter ";" …" for each input. */
function readingLines(inf: Inference): string {
  const lines = inf.inputs.map((i) => {
    const found = i.found.length > 0 ? `: found ${i.found.join(', ')}` : ''
    return printable(`pgbulk: read ${i.name} as ${i.format}${found}`)
  })
  lines.push(`pgbulk: ${inf.rows} rows read${inf.unreadable > 0 ? `, ${inf.unreadable} unreadable (left out)` : ''}`)
  // (a wrong encoding reads as invalid text, a wrong format as records that cannot be parsed)
  if (inf.unreadable > 0)
    lines.push('pgbulk: hint: check --encoding (latin1, windows-1252) and --format (csv, tsv, ndjson)')
  return lines.join('\n') + '\n'
}
