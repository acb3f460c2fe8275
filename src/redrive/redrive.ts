import { createReadStream } from 'node:fs'
import { readFile, rename, rm, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import type pg from 'pg'
import { createInterface } from 'node:readline'
import { LoadError } from '../errors.js'
import { CsvParser } from '../parse/csv.js'
import { dialectOf } from '../parse/dialect.js'
import { decoderFor } from '../parse/decode.js'
import { parseObjectLine } from '../parse/ndjson.js'
import type { ParseOptions } from '../parse/parse-input.js'
import type { ParsedRecord } from '../parse/parsed-record.js'
import { MAX_RECORD_BYTES_LIMIT, recordLimits } from '../parse/record-limits.js'
import type { RejectCode } from '../errors.js'
import type { RedriveOptions } from '../options.js'
import { keyedMode, resolveRedriveOptions } from '../options.js'
import { runInput } from '../pipeline/run-input.js'
import type { StopReason } from '../report/run-figures.js'
import { newTotals } from '../report/run-figures.js'
import { RejectSink, tempPathFor } from '../reject/reject-sink.js'
import { isRejectsCsv, mergeCsv } from '../reject/rejects-csv.js'
import type { Rejection, RejectSource } from '../reject/rejection.js'
import { rejectInput } from '../reject/rejection.js'
import type { LoadReport } from '../report/load-report.js'
import type { FileReport } from '../report/run-figures.js'
import { rowSampler } from '../observe/sample.js'
import { buildReport, reportableOptions } from '../report/load-report.js'
import { openTarget } from '../target.js'
import { entryKeyOf, RedriveLedger } from './redrive-ledger.js'
import type { BatchFacts } from '../checkpoint/batch-ledger.js'
import { BatchLedger } from '../checkpoint/batch-ledger.js'

/** One line of a reject file as read back: the parsed rejection (undefined when the line is not one) and its text. */
export interface RejectEntry {
  text: string
  rejection: Rejection | undefined
}

/** The smallest and largest of a redrive batch's lines (at least one). */
export function lineRange(lines: readonly number[]): [number, number] {
  let [lo, hi] = [Infinity, -Infinity]
  for (const l of lines) {
    if (l < lo) lo = l
    if (l > hi) hi = l
  }
  return [lo, hi]
}

/** Read a reject file's lines. */
export async function readRejectFile(path: string): Promise<RejectEntry[]> {
  const st = await stat(path).catch(() => undefined)
  if (!st?.isFile()) throw new LoadError('INPUT_NOT_FOUND', `${path}: no such reject file`)
  const entries: RejectEntry[] = []
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity })
  for await (const text of lines) {
    if (text.trim() === '') continue
    let rejection: Rejection | undefined
    try {
      const v = JSON.parse(text) as Rejection
      if (typeof v === 'object' && v !== null && typeof v.raw === 'string' && typeof v.line === 'number') rejection = v
    } catch {
      rejection = undefined
    }
    entries.push({ text, rejection })
  }
  return entries
}

/**
 * When `path` is a CSV of rejects (pgbulk rejects --format csv), edited: write its rows into the
 * reject file it came from (each the `raw` of the line of its input and line number; the file is
 * replaced whole, mode 0600) and return that file's path; undefined for a reject file itself.
 */
async function mergeFixedCsv(path: string): Promise<string | undefined> {
  const first = await firstLine(path)
  if (!isRejectsCsv(first)) return undefined
  const text = await readFile(path, 'utf8')
  const targets = new Set(rejectsFilesOf(text))
  if (targets.size !== 1)
    throw new LoadError(
      'INPUT_UNREADABLE',
      `${path}: its rows name ${targets.size === 0 ? 'no reject file' : `${targets.size} reject files`} (column _rejects)`,
      'export one reject file with pgbulk rejects --format csv, fix it, and redrive that CSV',
    )
  const rejects = [...targets][0]!
  const merged = mergeCsv(text, await readRejectFile(rejects))
  const tmp = tempPathFor(rejects, 'merge')
  const sink = await RejectSink.prepare(tmp, false)
  try {
    for (const line of merged.lines) await sink.writeLine(line)
    await sink.close()
    await rename(tmp, rejects)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  return rejects
}

async function firstLine(path: string): Promise<string> {
  const lines = createInterface({ input: createReadStream(path, { end: 64 * 1024 }), crlfDelay: Infinity })
  for await (const line of lines) {
    lines.close()
    return line
  }
  return ''
}

/** The reject files a CSV of rejects names (its _rejects column), read with pgbulk's CSV parser. */
function rejectsFilesOf(csvText: string): string[] {
  const recs = new CsvParser(dialectOf('csv', {}), decoderFor('utf8'), recordLimits(MAX_RECORD_BYTES_LIMIT))
  const rows = [...recs.push(Buffer.from(csvText, 'utf8')), ...recs.end()].flatMap((r) =>
    r.kind === 'fields' ? [r.texts] : [],
  )
  const at = rows[0]?.indexOf('_rejects') ?? -1
  return at < 0 ? [] : rows.slice(1).flatMap((r) => (r[at] ? [r[at]] : []))
}

/**
 * The table a reject file's lines were rejected by (each line's source names it): redrive's
 * default --table. A file whose lines name none (an older pgbulk's) or several needs --table.
 */
async function tableOf(path: string): Promise<string> {
  const tables = new Set<string>()
  for (const e of await readRejectFile(path)) if (e.rejection?.source?.table) tables.add(e.rejection.source.table)
  if (tables.size === 1) return [...tables][0]!
  throw new LoadError(
    'USAGE',
    tables.size === 0
      ? `${path} does not say which table its rows were rejected by: pass --table`
      : `${path} holds rows rejected by ${tables.size} tables (${[...tables].join(', ')}): pass --table`,
  )
}

/** Entries of one input and one dialect: they go through one pipeline. */
export interface RedriveGroup {
  file: string
  /** Its input's checkpoint key (absolute path, or "stdin"). */
  input: string
  source: RejectSource
  entries: RejectEntry[]
}

/**
 * Group the entries that can be reloaded by input and dialect, in file order.
 * Lines without a source (or not rejections at all) are left out.
 */
export function groupEntries(entries: readonly RejectEntry[]): RedriveGroup[] {
  const groups = new Map<string, RedriveGroup>()
  for (const e of entries) {
    const r = e.rejection
    if (!r?.source) continue
    const key = JSON.stringify([r.file, r.source])
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { file: r.file, input: rejectInput(r), source: r.source, entries: [] }))
    g.entries.push(e)
  }
  return [...groups.values()]
}

/** The parse options a group's raw text is read with (raw is UTF-8 text, whatever the input's encoding was). */
export function parseOptionsOf(source: RejectSource): ParseOptions {
  return {
    format: source.format,
    encoding: 'utf8',
    dialect: dialectOf(source.format, { ...source, nullString: source.null }),
  }
}

/**
 * The records of a group, parsed again from each entry's raw text with the original dialect,
 * keeping the original line and byte offset so that the reject file still points into the input.
 */
export function* redriveRecords(group: RedriveGroup): Generator<ParsedRecord[]> {
  const opts = parseOptionsOf(group.source)
  const out: ParsedRecord[] = []
  for (const e of group.entries) {
    const r = e.rejection!
    const raw = Buffer.from(r.raw, 'utf8')
    const at = { line: r.line, byte: r.byte, nextByte: r.byte + raw.length, nextLine: r.line + 1, raw }
    if (r.rawTruncated) {
      // Only the record's first bytes are here: loading them would load part of a row.
      const problem = { code: r.code as RejectCode, message: r.message, rawTruncated: true as const }
      out.push({
        ...at,
        raw: r.rawBase64 === undefined ? raw : Buffer.from(r.rawBase64, 'base64'),
        kind: 'problem',
        problem,
      })
      continue
    }
    if (r.rawBase64 !== undefined && r.raw.includes('\uFFFD')) {
      // The bytes were not valid text and the line was not fixed: it stays rejected as it was.
      out.push({
        ...at,
        raw: Buffer.from(r.rawBase64, 'base64'),
        kind: 'problem',
        problem: { code: 'ENCODING_INVALID', message: r.message },
      })
      continue
    }
    if (opts.format === 'ndjson') {
      out.push({ ...at, ...parseObjectLine(r.raw) })
      continue
    }
    // Parsed where it stood in the input, so that the record keeps its line and byte offset.
    // (the text is in memory already: any record the load could have read is read)
    const parser = new CsvParser(opts.dialect, decoderFor('utf8'), recordLimits(MAX_RECORD_BYTES_LIMIT))
    parser.skipBytes(r.byte)
    parser.startAtLine(r.line)
    const recs = [...parser.push(raw), ...parser.end()]
    const rec = recs[0]
    if (recs.length !== 1 || !rec) {
      out.push({
        ...at,
        kind: 'problem',
        problem: { code: 'CSV_PARSE', message: `the raw text holds ${recs.length} records, not one` },
      })
    } else {
      out.push(rec)
    }
    if (out.length >= 1000) yield out.splice(0)
  }
  if (out.length > 0) yield out
}

/** Where a row or rejection of a redrive starts: its input, line and byte. */
function placeKey(file: string, line: number, byte: number): string {
  return `${file}\u0000${line}\u0000${byte}`
}

/** A redrive's job: "redrive:" and the reject file's absolute path. */
export function redriveJobName(rejectsFile: string): string {
  return `redrive:${resolve(rejectsFile)}`
}

/**
 * Load the rows of a reject file again, after the data or the schema was fixed. Each row is read
 * from its `raw` text with its input's dialect and goes through the same checks and writer as a
 * load. The rows that now load leave the file; the ones that fail again stay, with their new
 * reason; rows the run did not get to (a stop) stay as they were. In a dry run the file is left alone.
 *
 * It is exactly once as a load is: one redrive of a file at a time (a job lock), and each batch
 * records the lines it loaded in its own transaction (RedriveLedger), so a redrive killed before
 * it rewrote the file, run again, skips them.
 */
export async function redrive(asked: RedriveOptions): Promise<LoadReport> {
  const started = performance.now()
  // (options first: what cannot run is refused before any file is read; the table may come from the file)
  const checked = resolveRedriveOptions({ ...asked, table: asked.table ?? '' })
  if (!(await stat(asked.rejectsFile).catch(() => undefined))?.isFile())
    throw new LoadError('INPUT_NOT_FOUND', `${asked.rejectsFile}: no such reject file`)
  // (a CSV of rejects fixed in a spreadsheet: its rows go back into its reject file, which is then redriven)
  const fixed = await mergeFixedCsv(asked.rejectsFile)
  const given = fixed ? { ...asked, rejectsFile: fixed } : asked
  const path = given.rejectsFile
  const opts = Object.freeze({ ...checked, rejectsFile: path, table: given.table ?? (await tableOf(path)) })
  const target = await openTarget(opts)
  const totals = newTotals(target.autoTune ? opts.autoTune : undefined, keyedMode(opts.mode))
  const files: FileReport[] = []
  /** Entry keys of the lines decided: loaded, or rejected again (their new line replaces them). */
  const decided = new Set<string>()
  let stop: StopReason | undefined
  let sink: RejectSink | undefined
  const job = redriveJobName(path)
  const ledger = target.writers && opts.dryRun !== 'db' ? new RedriveLedger(opts.checkpointSchema, job) : undefined
  /** The batch ledger, where `pgbulk trace` finds the lines a redrive loaded. */
  let batches: BatchLedger | undefined
  const warnings: string[] = []
  try {
    // (an --id-column the table does not have is refused before anything is written)
    const sampleRows = opts.rowSample && rowSampler(opts.rowSample, target.schema.columns)
    opts.onJob?.(job)
    if (ledger) {
      await target.lockJob(job)
      await ledger.ensure(target.connection())
      batches = new BatchLedger(opts.checkpointSchema)
      const off = await batches.ensure(target.connection())
      if (off) {
        warnings.push(off)
        batches = undefined
      }
    }
    // Read once the job is ours: a redrive that ran meanwhile has rewritten the file by then.
    const entries = await readRejectFile(path)
    if (entries.length > 0 && entries.every((e) => e.rejection === undefined)) {
      throw new LoadError(
        'INPUT_UNREADABLE',
        `${path} is not a reject file: none of its lines is a rejected row as pgbulk load writes them`,
        'give pgbulk redrive the <input>.rejects.ndjson file a load wrote (pgbulk load reads data files)',
      )
    }
    // Lines an earlier redrive of this file loaded before it was stopped: done, not sent again.
    const already = ledger ? await ledger.loaded(target.connection()) : new Set<string>()
    for (const e of entries)
      if (e.rejection && already.has(entryKeyOf(e.rejection))) decided.add(entryKeyOf(e.rejection))
    // An unpredictable name, created with O_EXCL: nothing another user put at a name known in
    // advance (a symbolic link to a file of ours) is followed or removed. A redrive killed midway
    // leaves its temporary file behind.
    const tmpPath = tempPathFor(path, 'redrive')
    sink = await RejectSink.prepare(tmpPath, false)
    for (const group of groupEntries(entries.filter((e) => !e.rejection || !decided.has(entryKeyOf(e.rejection))))) {
      const parse = parseOptionsOf(group.source)
      const keyAt = new Map(
        group.entries.map((e) => [
          placeKey(group.file, e.rejection!.line, e.rejection!.byte),
          entryKeyOf(e.rejection!),
        ]),
      )
      const keysOf = (rows: readonly { line: number; byte: number }[]) =>
        rows.map((r) => keyAt.get(placeKey(group.file, r.line, r.byte))!)
      const result = await runInput({
        name: group.file,
        records: redriveRecords(group),
        bytesConsumed: () => 0,
        schema: target.schema,
        parse,
        ...(group.source.columns ? { columnNames: group.source.columns } : {}),
        // (read as the load read it: its value formats are in each line's source)
        formats: group.source.formats,
        header: false,
        // (the load's --ignore-extra, kept in each line's source)
        ignoreExtra: opts.ignoreExtra || group.source.ignoreExtra === true,
        writers: target.writers,
        runId: opts.runId,
        onBatch: opts.onBatch,
        sampleRows,
        batcher: target.batcher,
        autoTune: target.autoTune,
        sink,
        totals,
        rejectLimit: opts.maxRejects,
        signal: opts.signal,
        onProgress: () =>
          opts.onProgress?.({
            bytesRead: 0,
            rowsRead: totals.rowsRead,
            rowsLoaded: totals.rowsLoaded,
            rowsRejected: totals.rowsRejected,
            ...(target.autoTune ? { batchRows: target.batcher.limits.maxRows } : {}),
          }),
        onReject: (r) => {
          const key = keyAt.get(placeKey(r.file, r.line, r.byte))
          if (key) decided.add(key)
          opts.onReject?.(r)
        },
        onLoaded: (rows) => keysOf(rows).forEach((k) => decided.add(k)),
        ...(ledger
          ? {
              checkpoint: async (
                client: pg.Client,
                _progress: unknown,
                stored: readonly { line: number; byte: number }[],
                batch: BatchFacts | undefined,
              ) => {
                await ledger.record(client, keysOf(stored))
                if (batch && batches && stored.length > 0) {
                  const lines = stored.map((r) => r.line)
                  const entry = { ...batch, job, runId: opts.runId, input: group.input, lines }
                  // (not Math.min(...lines): a batch of some 120,000 rows overflowed the call stack)
                  const [firstLine, lastLine] = lineRange(lines)
                  await batches.record(client, { ...entry, firstLine, lastLine })
                }
              },
            }
          : {}),
      })
      files.push({ ...result.file, rejectsFile: path })
      if (result.stop) {
        stop = result.stop
        break
      }
    }
    // What the run did not decide stays in the file as it was: lines it could not read, rows after a stop.
    for (const e of entries) {
      if (!e.rejection || !decided.has(entryKeyOf(e.rejection))) await sink.writeLine(e.text)
    }
    await sink.close()
    if (opts.dryRun) await rm(tmpPath, { force: true })
    else {
      if (sink.count > 0) await rename(tmpPath, path)
      else {
        await rm(tmpPath, { force: true })
        await rm(path, { force: true })
      }
      // The file no longer holds the lines the ledger lists (a crash before this line leaves a
      // ledger whose lines are gone: nothing in a later file matches them).
      await ledger?.forget(target.connection())
    }
  } finally {
    await sink?.close().catch(() => {})
    await target.close()
  }
  return buildReport({
    totals,
    bytesRead: 0,
    started,
    dryRun: opts.dryRun,
    mode: opts.mode,
    files,
    stop,
    options: reportableOptions(given),
    runId: opts.runId,
    job,
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(fixed ? { redriven: fixed } : {}),
  })
}
