import type { Command } from 'commander'
import { DEFAULTS } from '../options.js'
import { EXIT, LoadError } from '../errors.js'
import { printable } from '../report/printable.js'
import type { TraceAnswer } from '../trace/decide-line.js'
import type { TraceOptions } from '../trace/trace.js'
import { trace } from '../trace/trace.js'
import { parsePositiveInt } from './options.js'
import { describeError } from './log.js'

/** What `pgbulk trace` was asked, as the CLI hands it to its runner. */
export type TraceJob = TraceOptions & { json: boolean }

/** Where the runner writes (main()'s CliIo has these). */
interface TraceIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

interface TraceFlags {
  line?: number
  key?: string
  table?: string
  job?: string
  db?: string
  checkpointSchema?: string
  json?: true
}

const DB_HELP =
  'connection string: postgres:// URL or libpq keyword=value ' +
  '(default: DATABASE_URL; then PG* variables, ~/.pgpass, local socket as the OS user)'

/** Add `pgbulk trace` to the program; `run` receives what it was asked. */
export function registerTrace(program: Command, run: (job: TraceJob) => Promise<void>): void {
  program
    .command('trace')
    .description(
      'say what became of a line of an input, or of the lines holding a key: loaded (by which run and batch, ' +
        'and whether the row is in the table now), rejected (why), or not loaded (why); loads nothing',
    )
    .argument('<input>', 'the input as it was given to pgbulk load (a path, or - for stdin)')
    .option('--line <n>', 'the line to trace (1-based)', parsePositiveInt)
    .option(
      '--key <value>',
      "the key of the rows to trace (the load's --key, else the table's primary key); " +
        'a composite key as comma-separated values in key order. Needs --table',
    )
    .option('-t, --table <[schema.]table>', 'the target table (needed with --key; else the run log names it)')
    .option('--job <name>', 'the job that loaded the input (default: the latest job that read it)')
    .option('--db <url>', DB_HELP)
    .option('--checkpoint-schema <schema>', `schema of the checkpoint table (default: ${DEFAULTS.checkpointSchema})`)
    .option('--json', 'one JSON object per answer line')
    .action(async (input: string, o: TraceFlags) => {
      const given = Object.fromEntries(
        Object.entries({
          line: o.line,
          key: o.key,
          table: o.table,
          job: o.job,
          db: o.db,
          checkpointSchema: o.checkpointSchema,
        }).filter(([, v]) => v !== undefined),
      ) as Omit<TraceOptions, 'input'>
      await run({ ...given, input, json: Boolean(o.json) })
    })
}

/** pgbulk trace: one block (or JSON line) per answer; exit 0 when answered, 1 when the input, job or key is unknown. */
export async function runTraceCommand(job: TraceJob, io: TraceIo): Promise<number> {
  const { json, ...opts } = job
  try {
    const answers = await trace(opts)
    const file = job.input === '-' ? 'stdin' : job.input
    for (const a of answers) io.stdout.write(json ? JSON.stringify(a) + '\n' : formatAnswer(a, file) + '\n')
    return EXIT.OK
  } catch (err) {
    io.stderr.write(describeError(err))
    return err instanceof LoadError ? err.exitCode : EXIT.SETUP
  }
}

/** A commit time as people read it: to the second, in UTC. */
function when(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z')
}

/** "id 48213", "a = 1, b = "x"". */
function keyWords(key: Record<string, string | null>): string {
  const parts = Object.entries(key).map(([c, v]) => `${c} ${v === null ? 'NULL' : v}`)
  return parts.join(', ')
}

/** Where the batch was: "run 01… batch 5 (lines 40001–50002), committed … as transaction 181531". */
function batchWords(a: TraceAnswer): string {
  const lines =
    a.firstLine === undefined
      ? ''
      : a.firstLine === a.lastLine
        ? ` (line ${a.firstLine})`
        : ` (lines ${a.firstLine}–${a.lastLine})`
  const committed = a.committedAt ? `, committed ${when(a.committedAt)}` : ''
  const tx = a.txid ? ` as transaction ${a.txid}` : ''
  return `${a.redrive ? 'redrive ' : ''}run ${a.runId ?? '?'} batch ${a.batch ?? '?'}${lines}${committed}${tx}`
}

/** One answer for people, e.g. `orders.csv:48213: loaded by run … batch 5 (…); a row with id 48213 is in "public"."orders" now`. */
export function formatAnswer(a: TraceAnswer, file: string): string {
  const text = answerText(a, file)
  if (!a.inputChanged) return text
  const note = `  warning: the input changed since it was loaded (${a.inputChanged}): the line read now may not be the one loaded`
  return `${text}\n${printable(note)}`
}

function answerText(a: TraceAnswer, file: string): string {
  const at = `${file}:${a.line}`
  let text: string
  if (a.status === 'loaded') {
    text = `${at}: loaded by ${batchWords(a)}`
    if (a.inTable !== undefined && a.key && a.target) {
      const row = `a row with ${keyWords(a.key)}`
      text += a.inTable ? `; ${row} is in ${a.target} now` : `; no row with ${keyWords(a.key)} is in ${a.target} now`
    }
    // (what the answer cannot be sure of: the load's rejects went to stdout)
    if (a.why) return [text, `  but ${a.why}`].map((l) => printable(l)).join('\n')
  } else if (a.status === 'rejected') {
    const column =
      a.column === undefined && a.columnName === undefined
        ? ''
        : `, column ${[a.column, a.columnName === undefined ? undefined : JSON.stringify(a.columnName)].filter((x) => x !== undefined).join(' ')}`
    const stage = a.stage ? `${a.stage} stage, ` : ''
    text = `${at}: rejected (${stage}code ${a.code ?? '?'}${column}): ${a.message ?? ''}`
    if (a.runId) return [text, `  in ${batchWords(a)}`].map((l) => printable(l)).join('\n')
  } else {
    text = `${at}: not loaded: ${a.why ?? ''}`
    if (a.runId) return [text, `  run ${a.runId} of job ${a.job ?? '?'}`].map((l) => printable(l)).join('\n')
  }
  // (each line escaped whole: a message from the reject file may hold line breaks of its own)
  return printable(text)
}
