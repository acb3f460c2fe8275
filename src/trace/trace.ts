import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import type pg from 'pg'
import type { LedgerRow } from '../checkpoint/batch-ledger.js'
import type { Checkpoint } from '../checkpoint/checkpoint-store.js'
import { CheckpointStore } from '../checkpoint/checkpoint-store.js'
import { inputKey } from '../checkpoint/resume-plan.js'
import type { InputRecord, RunRecord } from '../checkpoint/run-log.js'
import { connect, connectionConfig } from '../db/connect.js'
import { LoadError } from '../errors.js'
import { DEFAULT_CHECKPOINT_SCHEMA } from '../options.js'
import type { StartPoint } from '../parse/parse-input.js'
import { parseInput } from '../parse/parse-input.js'
import type { ParsedRecord } from '../parse/parsed-record.js'
import { readRejectFile } from '../redrive/redrive.js'
import type { Rejection } from '../reject/rejection.js'
import { rejectInput } from '../reject/rejection.js'
import { counted } from '../report/words.js'
import type { TableSchema } from '../schema/introspect.js'
import { introspectTable } from '../schema/introspect.js'
import { rowWithKey, uniqueKeys } from '../schema/keys.js'
import { identifyInput, identityChange } from '../source/input-identity.js'
import { openInput } from '../source/open-input.js'
import type { LineFacts, TraceAnswer } from './decide-line.js'
import { decideLine } from './decide-line.js'

/** What `pgbulk trace` is asked: one line of an input, or the lines that hold a key. */
export interface TraceOptions {
  /** The input as it was loaded: a path (resolved against the current directory), or "-" for stdin. */
  input: string
  /** A line of the input (1-based). */
  line?: number
  /** A key's values, comma-separated in key order (the load's --key, else the table's primary key). */
  key?: string
  /** The target table: needed with `key`; with `line` the run log's is used. */
  table?: string
  /** The job (default: the latest job that loaded the input). */
  job?: string
  db?: string
  checkpointSchema?: string
}

/** One record of the input as trace reads it again: where it stands and its key's texts. */
interface RecordKey {
  line: number
  nextLine: number
  /** The key columns' texts (null for NULL); undefined when the record has no readable key. */
  key: (string | null)[] | undefined
}

/** The job a trace looks at: its runs (newest first), how its latest run read the input, and the table. */
interface TracedJob {
  input: string
  job: string
  runs: RunRecord[]
  reading: InputRecord
  table: TableSchema | undefined
  /** The key inTable is asked by (the load's --key, else the primary key); undefined when none. */
  key: string[] | undefined
  /**
   * When the job's latest run that read the input from its start began (server time): batches that
   * committed before were of the input as it was then (another file at the path, or before --restart).
   */
  passStart: Date | undefined
}

/**
 * Where a line of an input went, or which lines hold a key and where each went: loaded (by which
 * run and batch, and whether its key is in the table now), rejected (why), or not loaded (why).
 * Answers from the batch ledger, the run log, the checkpoints and the reject file: nothing is loaded.
 * Throws TRACE_UNKNOWN when no run of the job read the input, or no line holds the key.
 */
export async function trace(opts: TraceOptions): Promise<TraceAnswer[]> {
  if ((opts.line === undefined) === (opts.key === undefined))
    throw new LoadError('USAGE', 'pgbulk trace: give either --line <n> or --key <value> (with --table)')
  if (opts.key !== undefined && opts.table === undefined)
    throw new LoadError('USAGE', 'pgbulk trace: --key needs --table (the table whose key it is)')
  if (opts.line !== undefined && !(Number.isInteger(opts.line) && opts.line > 0))
    throw new LoadError('USAGE', `pgbulk trace: --line must be a line number from 1, not ${String(opts.line)}`)
  const store = new CheckpointStore(opts.checkpointSchema ?? DEFAULT_CHECKPOINT_SCHEMA)
  const client = await connect(connectionConfig(opts.db))
  try {
    const job = await tracedJob(client, store, opts)
    const line = opts.line
    const start =
      line === undefined
        ? undefined
        : await startFor(client, store, job, line, await store.get(client, job.job, job.input))
    const records = await recordsToTrace(job, opts, start)
    // Read in this order while a run may be committing: the ledger, then the reject file (a batch's
    // reject lines are on disk before it commits), then the checkpoint (only the reject lines of the
    // batches committed by then count). A batch seen in the ledger then has its reject lines seen too.
    const batches: LedgerRow[][] = []
    for (const rec of records) batches.push(await batchesOf(client, store, job, rec.line))
    const rejections = await rejectionsOf(job)
    const checkpoint = await store.get(client, job.job, job.input)
    const changed = await inputChange(job, checkpoint)
    const answers: TraceAnswer[] = []
    for (const [k, rec] of records.entries()) {
      const facts = { input: job.input, line: rec.line, rejections, checkpoint, inputLines: rec.inputLines }
      const answer = await answerFor(client, job, rec, { ...facts, batches: batches[k]! })
      const batch = batches[k]!.find((b) => b.lines === undefined)
      if (answer.status === 'loaded' && !answer.redrive && !answer.why && batch) {
        const why = await rejectsMissing(client, store, job, batch, rejections)
        if (why) answer.why = why
      }
      answers.push(changed ? { ...answer, inputChanged: changed } : answer)
    }
    return answers
  } catch (err) {
    // (a role that may not read pgbulk's tables: not an internal error)
    if ((err as { code?: string }).code !== '42501') throw err
    const schema = JSON.stringify(opts.checkpointSchema ?? DEFAULT_CHECKPOINT_SCHEMA)
    throw new LoadError(
      'CHECKPOINT_UNAVAILABLE',
      `trace may not read what it answers from: ${(err as Error).message}`,
      `trace as a role that may read pgbulk's tables (USAGE on schema ${schema}, SELECT on its tables) and the target table`,
    )
  } finally {
    await client.end().catch(() => {})
  }
}

/** The job that loaded the input (the latest, or --job), and what is known of its table and key. */
async function tracedJob(client: pg.Client, store: CheckpointStore, opts: TraceOptions): Promise<TracedJob> {
  const input = inputKey(opts.input)
  const given = opts.table === undefined ? undefined : await introspectTable(client, opts.table)
  const all = await store.ledger.runs.runsOf(client, input, opts.job)
  const runs = all.filter((r) => !given || r.target === given.sqlName)
  const last = runs[0]
  if (!last) {
    const by = opts.job === undefined ? 'no run' : `no run of job ${JSON.stringify(opts.job)}`
    const into = given ? ` into ${given.sqlName}` : ''
    throw new LoadError(
      'TRACE_UNKNOWN',
      `${input} was never loaded${into}: ${by} in the run log read it`,
      all.length > 0
        ? `it was loaded into ${[...new Set(all.map((r) => r.target))].join(', ')}: check --table`
        : 'check the path (as it was given to pgbulk load), --job and --checkpoint-schema',
    )
  }
  const jobRuns = runs.filter((r) => r.job === last.job)
  const reading = last.inputs.find((i) => i.input === input)!
  const table = given ?? (await introspectTable(client, last.target).catch(() => undefined))
  const key = table ? (last.key ?? (await primaryKey(client, table))) : undefined
  const passStart = jobRuns.find((r) => r.inputs.some((i) => i.input === input && i.fresh))?.startedAt
  return { input, job: last.job, runs: jobRuns, reading, table, key, passStart }
}

/** The ledger rows of this pass over the input (see TracedJob.passStart). */
function ofThisPass(job: TracedJob, rows: LedgerRow[]): LedgerRow[] {
  const from = job.passStart
  return from === undefined ? rows : rows.filter((b) => b.committedAt >= from)
}

async function primaryKey(client: pg.Client, table: TableSchema): Promise<string[] | undefined> {
  const keys = await uniqueKeys(client, table)
  const primary = keys.find((k) => k.primary && k.columns.length > 0)
  return primary?.columns
}

/** The records asked about: the one where --line stands (read again when the input is there), or those holding --key. */
async function recordsToTrace(
  job: TracedJob,
  opts: TraceOptions,
  start: StartPoint | undefined,
): Promise<(RecordKey & { inputLines?: number })[]> {
  const readable = job.input !== 'stdin' && (await isFile(job.input))
  if (opts.line !== undefined) {
    const line = opts.line
    if (!readable) return [{ line, nextLine: line + 1, key: undefined }]
    let lines = start ? start.line - 1 : 0 // (the lines before where reading starts)
    for await (const rec of keyedRecords(job, start)) {
      if (rec.line <= line && line < rec.nextLine) return [rec]
      lines = rec.nextLine - 1
    }
    return [{ line, nextLine: line + 1, key: undefined, inputLines: lines }]
  }
  const want = splitKey(opts.key!, job)
  if (!readable)
    throw new LoadError(
      job.input === 'stdin' ? 'USAGE' : 'INPUT_NOT_FOUND',
      job.input === 'stdin'
        ? 'stdin cannot be read again to find the key: trace its lines with --line'
        : `${job.input}: no such file (trace reads the input again to find the key's lines; --line needs no file)`,
    )
  const found: RecordKey[] = []
  for await (const rec of keyedRecords(job)) {
    if (rec.key?.every((v, k) => v === want[k])) found.push(rec)
  }
  if (found.length === 0)
    throw new LoadError(
      'TRACE_UNKNOWN',
      `no line of ${job.input} holds ${describeKey(job.key!, want)}`,
      'values are compared as text, as they stand in the input (after unquoting)',
    )
  return found
}

/** --key's values, one per key column. */
function splitKey(text: string, job: TracedJob): string[] {
  if (!job.key)
    throw new LoadError(
      'KEY_INVALID',
      `${job.table?.sqlName ?? 'the table'} has no primary key, and the load was given no --key: ` +
        'trace cannot tell which lines hold a key',
      'trace the line with --line',
    )
  const values = job.key.length === 1 ? [text] : text.split(',')
  if (values.length !== job.key.length)
    throw new LoadError(
      'USAGE',
      `the key (${job.key.join(', ')}) has ${job.key.length} columns: give --key as ${job.key.length} ` +
        `comma-separated values, not ${JSON.stringify(text)}`,
    )
  return values
}

function describeKey(columns: readonly string[], values: readonly string[]): string {
  return columns.map((c, k) => `${c} = ${JSON.stringify(values[k])}`).join(', ')
}

/** The ledger rows that hold a line: the job's batches, and those of the redrives of its reject files; newest first. */
async function batchesOf(
  client: pg.Client,
  store: CheckpointStore,
  job: TracedJob,
  line: number,
): Promise<LedgerRow[]> {
  return ofThisPass(job, await store.ledger.batchesOf(client, job.input, line, [job.job, ...redriveJobs(job)]))
}

/** The jobs of the redrives of the job's reject files (a redrive's job is named after the reject file it reloaded). */
function redriveJobs(job: TracedJob): string[] {
  const rejectFiles = job.runs.flatMap((r) => r.inputs.filter((i) => i.input === job.input && i.rejects !== '-'))
  return [...new Set(rejectFiles.map((i) => `redrive:${i.rejects}`))]
}

/**
 * For a line answered loaded by a load batch that rejected rows: why the answer may be wrong, when
 * fewer of the batch's lines are in the reject file (or were loaded by a redrive from it) than it
 * rejected (the file was removed, replaced or edited since).
 */
async function rejectsMissing(
  client: pg.Client,
  store: CheckpointStore,
  job: TracedJob,
  batch: LedgerRow,
  rejections: readonly Rejection[],
): Promise<string | undefined> {
  if (batch.rowsRejected === 0 || job.reading.rejects === '-') return undefined
  const { firstLine: first, lastLine: last } = batch
  const known = new Set(rejections.filter((r) => r.line >= first && r.line <= last).map((r) => r.line))
  for (const l of await store.ledger.redrivenLines(client, job.input, first, last, redriveJobs(job))) known.add(l)
  if (known.size >= batch.rowsRejected) return undefined
  const rejected = counted(batch.rowsRejected, 'row', 'rows')
  return (
    `its batch rejected ${rejected}, of which the reject file ${job.reading.rejects} holds ${known.size} ` +
    `(removed, replaced or edited since?): this line may be one it rejected`
  )
}

/** One line's answer: decided from what the files and tables say, with inTable for a loaded line. */
async function answerFor(
  client: pg.Client,
  job: TracedJob,
  rec: RecordKey,
  facts: Omit<LineFacts, 'header' | 'lastRun'>,
): Promise<TraceAnswer> {
  const answer = decideLine({
    ...facts,
    header: job.reading.header && job.reading.parse.format !== 'ndjson',
    lastRun: job.runs[0],
  })
  if (answer.status === 'loaded' && !answer.redrive && job.reading.rejects === '-')
    answer.why =
      'the load wrote its reject lines to stdout (--rejects -), where trace cannot read them: ' +
      'a line it rejected lies inside a batch all the same (inTable, when given, says whether its row is there)'
  if (answer.status === 'loaded' && job.table && job.key && rec.key) {
    const inTable = await rowWithKey(client, job.table, job.key, rec.key)
    if (inTable !== undefined) {
      answer.inTable = inTable
      answer.key = Object.fromEntries(job.key.map((c, k) => [c, rec.key![k] ?? null]))
      answer.target = job.table.sqlName
    }
  }
  return answer
}

/** The reject file's entries for the input (none when there is no file: a redrive that loaded every row removes it). */
async function rejectionsOf(job: TracedJob): Promise<Rejection[]> {
  const path = job.reading.rejects
  if (path === '-') return []
  const entries = await readRejectFile(path).catch((err: unknown) => {
    if (err instanceof LoadError && err.code === 'INPUT_NOT_FOUND') return []
    throw err
  })
  return entries.flatMap((e) => (e.rejection && rejectInput(e.rejection) === job.input ? [e.rejection] : []))
}

/**
 * How the file changed since the job's checkpoint was taken (then the line read now, and its key,
 * may not be the one loaded); undefined when it did not, or cannot be told (stdin, a stream, no file).
 */
async function inputChange(job: TracedJob, cp: Checkpoint | undefined): Promise<string | undefined> {
  const before = cp?.identity
  if (job.input === 'stdin' || !before || before.hash.startsWith('prefix-sha256:')) return undefined
  if (!(await isFile(job.input))) return undefined
  const now = await identifyInput(job.input).catch(() => undefined)
  return now && identityChange(before, now)
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() === true
}

/**
 * Where to start reading the input to find `line`: where the load batch that holds it starts, or the
 * checkpoint it lies past (a plain file is read from there, not from its start); undefined for the start.
 */
async function startFor(
  client: pg.Client,
  store: CheckpointStore,
  job: TracedJob,
  line: number,
  cp: Checkpoint | undefined,
): Promise<StartPoint | undefined> {
  const rows = ofThisPass(job, await store.ledger.batchesOf(client, job.input, line, [job.job]))
  const batch = rows.find((b) => b.lines === undefined)
  const from = batch
    ? { byte: batch.firstByte, line: batch.firstLine }
    : cp && line >= cp.nextLine
      ? { byte: cp.nextByte, line: cp.nextLine }
      : undefined
  return from && from.byte > 0 ? from : undefined
}

/** The names of the input's header row (CSV/TSV with a header), read from its start. */
async function headerNames(job: TracedJob): Promise<string[]> {
  const opened = await openInput({ path: job.input, size: undefined, stream: false }, Readable.from([]))
  for await (const records of parseInput(opened.chunks, job.reading.parse)) {
    const head = records[0]
    if (head) return head.kind === 'fields' ? head.texts.map((v) => v ?? '') : []
  }
  return []
}

/**
 * The input's records read again as the load read them (its run's parse options), each with its
 * key's texts; from `start` when given (a plain file is seeked to it, gzip read from its start).
 */
async function* keyedRecords(job: TracedJob, start?: StartPoint): AsyncGenerator<RecordKey> {
  const { reading } = job
  const file = { path: job.input, size: undefined, stream: false }
  const opened = await openInput(file, Readable.from([]), undefined, start?.byte ?? 0)
  const seeked = start !== undefined && opened.seeked
  const csvHeader = reading.header && reading.parse.format !== 'ndjson'
  // The fields' names: the header's (read first when reading starts past it), the load's --columns, or the table's.
  let names: string[] | undefined
  if (csvHeader && seeked) names = await headerNames(job)
  else if (!csvHeader && reading.parse.format !== 'ndjson')
    names = reading.columnNames ?? job.table?.columns.map((c) => c.name)
  let first = !seeked
  for await (const records of parseInput(opened.chunks, reading.parse, seeked ? start : undefined)) {
    for (const rec of records) {
      if (first && csvHeader) {
        first = false
        names = rec.kind === 'fields' ? rec.texts.map((v) => v ?? '') : []
        continue
      }
      first = false
      yield { line: rec.line, nextLine: rec.nextLine, key: keyOf(rec, job.key, names) }
    }
  }
}

/** The key's texts in a record, as the load would read them: by header name (exact, else ignoring case), or by JSON key. */
export function keyOf(
  rec: ParsedRecord,
  key: readonly string[] | undefined,
  names: readonly string[] | undefined,
): (string | null)[] | undefined {
  if (!key) return undefined
  const out: (string | null)[] = []
  for (const col of key) {
    if (rec.kind === 'fields') {
      const k = names ? findName(names, col) : -1
      if (k < 0 || k >= rec.ends.length) return undefined
      out.push(rec.text(k))
    } else if (rec.kind === 'object') {
      const name = findName([...rec.fields.keys()], col)
      const field = name < 0 ? undefined : [...rec.fields.values()][name]
      if (!field) return undefined
      out.push(field.kind === 'null' ? null : field.text)
    } else return undefined
  }
  return out
}

function findName(names: readonly string[], col: string): number {
  const exact = names.indexOf(col)
  if (exact >= 0) return exact
  const lower = col.toLowerCase()
  const loose = names.flatMap((n, k) => (n.toLowerCase() === lower ? [k] : []))
  return loose.length === 1 ? loose[0]! : -1
}
