import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import type pg from 'pg'
import type { Checkpoint, CheckpointProgress } from './checkpoint/checkpoint-store.js'
import type { BatchFacts } from './checkpoint/batch-ledger.js'
import { CheckpointStore } from './checkpoint/checkpoint-store.js'
import type { InputPlan } from './checkpoint/resume-plan.js'
import { defaultJobName, generationKey, inputKey, planFollow, planInputs } from './checkpoint/resume-plan.js'
import { expectedPrefix, prefixIdentity } from './checkpoint/stream-identity.js'
import { LoadError } from './errors.js'
import type { LoadOptions, ResolvedLoadOptions } from './options.js'
import { keyedMode, resolveLoadOptions } from './options.js'
import type { ParseOptions } from './parse/parse-input.js'
import { formatOf, parseInput } from './parse/parse-input.js'
import { preflightInput } from './pipeline/header.js'
import { runInput } from './pipeline/run-input.js'
import { RejectSink } from './reject/reject-sink.js'
import type { Rejection } from './reject/rejection.js'
import { rejectInput } from './reject/rejection.js'
import type { LoadReport } from './report/load-report.js'
import { rowSampler } from './observe/sample.js'
import { buildReport, reportableOptions } from './report/load-report.js'
import type { FileReport, RunTotals, StopReason } from './report/run-figures.js'
import { newTotals } from './report/run-figures.js'
import { quotedList } from './report/words.js'
import type { FollowedInput } from './source/follow-file.js'
import { followFile } from './source/follow-file.js'
import type { InputFile } from './source/open-input.js'
import { checkInputs, openInput } from './source/open-input.js'
import { StreamPrefix } from './source/stream-prefix.js'
import type { Target } from './target.js'
import { openTarget } from './target.js'
import type { Stage } from './write/replace-stage.js'
import { fatalDatabaseError } from './write/writer.js'
import { batchComment } from './observe/run-id.js'
import { openStage, switchStage } from './write/replace-stage.js'
import type { Created } from './infer/create-missing.js'
import { createIfMissing } from './infer/create-missing.js'
import type { InferReading } from './infer/infer.js'

/** What every input of a load shares. */
interface LoadRun {
  opts: ResolvedLoadOptions
  target: Target
  totals: RunTotals
  /** The job's checkpoints; none in a dry run or with --no-checkpoint. */
  store: CheckpointStore | undefined
  job: string
  /** Reject files by path (inputs may share one). */
  sinks: Map<string, RejectSink>
  startedAt: Date
  /** Input bytes of the inputs before this one, for the progress line. */
  bytesBefore: number
  /** --mode truncate: the table is still to be emptied (by the run's first transaction). */
  emptyPending: boolean
  /** --mode replace: the staging table the rows go to, switched in at the end. */
  stage: Stage | undefined
  /** --log-sample-rows: looks at the rows of each committed batch. */
  sampleRows?: ReturnType<typeof rowSampler> | undefined
  /** What the report warns of (the ledger off; lines of a followed file lost while nothing followed). */
  warnings: string[]
}

/** How an input is read: its parse options, and whether it has a header row (or the column names it stands for). */
interface InputReading {
  parse: ParseOptions
  header: boolean
  columnNames: string[] | undefined
  /** The header row's names, read by the preflight (a plain file resumed mid-way is read from there, past it). */
  headerNames: string[] | undefined
}

/**
 * Load every input into the table: the library API behind `pgbulk load`. Setup problems (bad
 * options, no connection, no table, unreadable input, existing reject file) throw a LoadError
 * before anything is written; once loading has begun, the result is a report, whose exitCode and
 * `stopped` say whether the run finished.
 */
export async function load(given: LoadOptions): Promise<LoadReport> {
  const started = performance.now()
  const opts = resolveLoadOptions(given)
  const files = opts.follow ? await checkFollowed(opts.inputs) : await checkInputs(opts.inputs)
  if (opts.startJitterMs > 0) await startJitter(opts.startJitterMs * (opts.random ?? Math.random)(), opts.signal)
  let created: Created | undefined
  const target = await openTarget(
    opts,
    opts.create
      ? async (client) => void (created = await createIfMissing(client, opts.table, files, inferReading(opts)))
      : undefined,
  )
  const run: LoadRun = {
    opts,
    target,
    totals: newTotals(target.autoTune ? opts.autoTune : undefined, keyedMode(opts.mode)),
    store: undefined,
    job: '',
    sinks: new Map(),
    startedAt: new Date(),
    bytesBefore: 0,
    emptyPending: false,
    stage: undefined,
    warnings:
      created && 'existed' in created ? [`--create: ${opts.table} exists already; loaded into it as it is`] : [],
  }
  const fileReports: FileReport[] = []
  let stop: StopReason | undefined
  let report: LoadReport
  try {
    // (an --id-column the table does not have is refused before anything is written)
    if (opts.rowSample) run.sampleRows = rowSampler(opts.rowSample, target.schema.columns)
    const plans = await claimJob(run, files)
    // (a followed path that names nothing is waited for only when an earlier run followed it: a
    // rotation's rename, its new file not there yet; a path never followed is more likely a typo)
    if (opts.follow && !plans.some((p) => p.kind === 'resume' || laterGeneration(p))) await checkInputs(opts.inputs)
    // (a dry run of replace checks the rows as if the table were empty, as truncate does)
    const emptying = opts.mode === 'truncate' || (opts.mode === 'replace' && opts.dryRun === 'db')
    run.emptyPending = emptying && target.writers !== undefined && plans.every(notStarted)
    await openRejectFiles(run, files, plans)
    const readings = await preflight(run, files)
    await run.store?.startRun(target.connection(), runRecord(run, files, readings, plans), opts.ledgerDays)
    // (made once nothing can refuse the run any more: a refused run leaves no staging table behind)
    if (opts.mode === 'replace' && opts.dryRun === false) await stageReplace(run, plans)
    opts.onStart?.(files.every((f) => f.size !== undefined) ? files.reduce((s, f) => s + (f.size ?? 0), 0) : undefined)
    run.startedAt = new Date()
    for (const [k, f] of files.entries()) {
      const plan = plans[k]!
      if (plan.kind === 'finished') {
        fileReports.push(finishedInput(f, plan.from))
        continue
      }
      if (opts.follow) {
        stop = await followInput(run, f, plan, readings[k]!, fileReports)
        break
      }
      const result = await loadInput(run, f, plan, readings[k]!)
      fileReports.push(result.file)
      if (result.stop) {
        stop = result.stop
        break
      }
    }
    if (run.stage && !stop) stop = await switchToStage(run)
    // A run that sent no transaction (nothing to load, and no checkpoint to keep) still empties the
    // table: a transaction of no rows, with the lock budget and the retries of any batch.
    if (run.emptyPending && !stop && opts.dryRun === false) stop = await emptyTable(run)
    stop ??= await closeRejectFiles(run.sinks)
    report = buildReport({
      totals: run.totals,
      bytesRead: run.bytesBefore,
      started,
      dryRun: opts.dryRun,
      mode: opts.mode,
      files: fileReports,
      stop,
      options: reportableOptions(given),
      runId: opts.runId,
      job: run.job,
      ...(created && 'sql' in created ? { created: created.sql } : {}),
      ...(run.store?.ledgerOff || run.warnings.length > 0
        ? { warnings: [...(run.store?.ledgerOff ? [run.store.ledgerOff] : []), ...run.warnings] }
        : {}),
    })
    await run.store?.endRun(target.connection(), report.exitCode)
  } finally {
    // After a failure, closing is best effort, and the connections are always closed (a run that
    // left one open would never exit, and would keep its job locked).
    for (const s of run.sinks.values()) await s.close().catch(() => {})
    await target.close()
  }
  return report
}

/** --create reads the inputs as the load will: its format, dialect, header, encoding and value formats, nothing sniffed. */
function inferReading(opts: ResolvedLoadOptions): (f: InputFile) => InferReading {
  return (f) => {
    const format = formatOf(f.path, opts.format)
    return {
      format,
      encoding: opts.encoding,
      dialect: opts.dialectFor(format),
      delimiterGiven: true,
      header: format === 'ndjson' ? undefined : opts.header,
      columns: opts.columns,
      maxRecordBytes: opts.maxRecordBytes,
      formats: opts.formats,
    }
  }
}

/**
 * --start-jitter: wait this long before connecting (loads started by the same clock spread out);
 * an abort ends the wait, and the load, before it connects.
 */
async function startJitter(ms: number, signal: AbortSignal | undefined): Promise<void> {
  const aborted = () => new LoadError('ABORTED', 'interrupted before connecting (during --start-jitter)')
  if (signal?.aborted) throw aborted()
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(aborted())
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** A reject file's absolute path ("-" is stdout). */
function rejectsPath(path: string): string {
  return path === '-' ? path : resolve(path)
}

/** What the run log keeps of a load: its job and table, and how it reads each input (`pgbulk trace` reads them so). */
function runRecord(
  run: LoadRun,
  files: readonly InputFile[],
  readings: readonly InputReading[],
  plans: readonly InputPlan[],
) {
  return {
    job: run.job,
    target: run.target.schema.sqlName,
    key: run.opts.key,
    inputs: files.map((f, k) => ({
      input: inputKey(f.path),
      rejects: rejectsPath(run.opts.rejectsFor(f)),
      parse: readings[k]!.parse,
      header: readings[k]!.header,
      columnNames: readings[k]!.columnNames,
      ...(plans[k]?.kind === 'fresh' ? { fresh: true as const } : {}),
    })),
  }
}

/**
 * Take the job (its lock, and its checkpoints' ownership) and plan each input from its checkpoint:
 * fresh, resumed, or finished. Checkpoints are kept for every real load unless --no-checkpoint (a
 * dry run writes nothing).
 */
async function claimJob(run: LoadRun, files: readonly InputFile[]): Promise<InputPlan[]> {
  const { opts, target } = run
  // (the default name needs the table's name as the database spells it: known only now)
  run.job = opts.job ?? defaultJobName(target.schema.sqlName, opts.inputs)
  opts.onJob?.(run.job)
  if (target.writers === undefined || opts.dryRun === 'db' || !opts.checkpoint)
    return files.map((f) => ({ kind: 'fresh' as const, input: inputKey(f.path), identity: undefined }))
  const store = new CheckpointStore(opts.checkpointSchema, opts.runId)
  run.store = store
  await store.ensure(target.connection())
  await target.lockJob(run.job)
  await store.claim(target.connection(), run.job)
  const choice = { resume: opts.resume, restart: opts.restart, force: opts.force, idempotent: opts.mode !== 'append' }
  const plans = opts.follow
    ? [await planFollow(target.connection(), store, run.job, files[0]!, choice)]
    : await planInputs(target.connection(), store, run.job, files, choice)
  // --mode truncate and replace start the whole job over when one of its inputs changed.
  if ((opts.mode === 'truncate' || opts.mode === 'replace') && plans.some((p) => p.kind === 'fresh' && p.startedOver))
    return plans.map((p) => ({ kind: 'fresh', input: p.input, identity: p.identity, startedOver: startedOverWhy(p) }))
  return plans
}

/** --mode replace: the job's staging table, which the writers write into from now on. */
async function stageReplace(run: LoadRun, plans: readonly InputPlan[]): Promise<void> {
  const { target, opts } = run
  const state = { fresh: plans.every(notStarted), loadingLeft: plans.some((p) => p.kind !== 'finished') }
  run.stage = await openStage(target.connection(), target.schema, opts.checkpointSchema, run.job, state, opts.key)
  if (run.stage) for (const w of target.writers?.writers ?? []) w.retarget(run.stage.table)
}

/** --mode replace, once every input is loaded: the table's rows become the staging table's; a failure stops the run. */
async function switchToStage(run: LoadRun): Promise<StopReason | undefined> {
  const { target, opts } = run
  const policy = {
    lockBudgetMs: opts.lockBudgetMs,
    attempts: opts.retries,
    baseDelayMs: opts.retryBaseDelayMs,
    maxDelayMs: opts.retryMaxDelayMs,
    random: Math.random,
    sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  }
  try {
    const loaded = await run.store!.rowsLoaded(target.connection(), run.job)
    await switchStage(target.connection(), target.schema, run.stage!, policy, loaded)
    return undefined
  } catch (err) {
    if (!(err instanceof LoadError)) throw err
    return { error: err, file: target.schema.sqlName }
  }
}

/** --mode truncate with nothing sent: empty the table in a transaction of its own; a failure stops the run. */
async function emptyTable(run: LoadRun): Promise<StopReason | undefined> {
  const { target, totals } = run
  try {
    await target.writers!.first.write([], { emptyFirst: true, comment: batchComment(run.opts.runId, 0) })
    return undefined
  } catch (err) {
    const error = fatalDatabaseError(err, { batches: totals.batches, rows: totals.rowsLoaded }, undefined)
    return { error, file: target.schema.sqlName }
  }
}

/** Why an input is loaded anew: it changed, or (--mode truncate) another input of the job did. */
function startedOverWhy(p: InputPlan): string {
  return p.kind === 'fresh' && p.startedOver ? p.startedOver : 'another input of the job changed'
}

/**
 * Whether nothing of an input was committed yet: every batch's transaction saves a checkpoint past
 * its start, so a job whose inputs are all fresh or at their start has not emptied the table yet
 * (--mode truncate empties it in the first batch's transaction).
 */
function notStarted(p: InputPlan): boolean {
  return p.kind === 'fresh' || (p.kind === 'resume' && p.from.nextByte === 0)
}

/**
 * Reject files: a resumed input's file continues (its lines from the checkpoint on are dropped:
 * they will be found again), and so does that of an input started over (a changed file in --mode
 * ignore or upsert: all its lines are dropped); any other existing file is refused unless --force.
 */
async function openRejectFiles(run: LoadRun, files: readonly InputFile[], plans: readonly InputPlan[]): Promise<void> {
  const { opts, sinks } = run
  for (const f of files) {
    const path = opts.rejectsFor(f)
    if (sinks.has(path)) continue
    const continued = plans.filter(
      (p, j) =>
        (p.kind !== 'fresh' || p.startedOver !== undefined || laterGeneration(p)) &&
        opts.rejectsFor(files[j]!) === path,
    )
    if (continued.length === 0) {
      sinks.set(path, await RejectSink.prepare(path, opts.force, opts.stdout, opts.dryRun !== false))
      continue
    }
    const foundAgain = (r: Rejection) =>
      continued.some(
        (p) => rejectInput(r) === p.input && (p.kind === 'fresh' || (p.kind === 'resume' && r.byte >= p.from.nextByte)),
      )
    sinks.set(path, await RejectSink.resume(path, (r) => !foundAgain(r), opts.stdout))
  }
}

/** --follow: a generation after the first (the rejects of the earlier ones are in the reject file, and stay). */
function laterGeneration(p: InputPlan): boolean {
  return p.kind === 'fresh' && (p.follow?.generation ?? 1) > 1
}

/**
 * How each input is read, and its header (CSV/TSV) or first object (NDJSON) checked against the
 * table, so that a column name that matches nothing fails before any row of any input is written.
 * A stream is read once, by the load itself, which checks its header first.
 */
async function preflight(run: LoadRun, files: readonly InputFile[], formatFrom?: string): Promise<InputReading[]> {
  const { opts } = run
  const readings: InputReading[] = []
  for (const f of files) {
    // (a followed file rotated to app.ndjson.1 is read in the format of the path followed)
    const format = formatOf(formatFrom ?? f.path, opts.format)
    const parse = {
      format,
      encoding: opts.encoding,
      dialect: opts.dialectFor(format),
      maxRecordBytes: opts.maxRecordBytes,
    }
    const reading: InputReading = { parse, header: opts.header, columnNames: opts.columns, headerNames: undefined }
    // (a followed path that names nothing now, between a rotation's rename and its new file: read when it comes)
    if (!f.stream && !(opts.follow && (await stat(f.path).catch(() => undefined)) === undefined)) {
      // (its first line only is needed: a small read, not a chunk's worth of records parsed for nothing)
      const input = await openInput(f, process.stdin, undefined, 0, PREFLIGHT_READ_BYTES)
      reading.headerNames = await preflightInput({
        ...pipelineOf(run, f, reading),
        name: input.name,
        records: parseInput(input.chunks, parse),
      })
    }
    readings.push(reading)
  }
  return readings
}

/** What the pipeline of an input is told about its table and columns. */
function pipelineOf(run: LoadRun, f: InputFile, reading: InputReading) {
  return {
    input: inputKey(f.path),
    schema: run.target.schema,
    parse: reading.parse,
    header: reading.header,
    ...(reading.columnNames ? { columnNames: reading.columnNames } : {}),
    ignoreExtra: run.opts.ignoreExtra,
    map: run.opts.map,
    formats: run.opts.formats,
    sampleRows: run.sampleRows,
  }
}

/**
 * One input, fresh or resumed: its checkpoints, its reading from where the last run stopped, and
 * the pipeline. A plain file is read from the checkpoint on (its header, if any, was read by the
 * preflight); gzip and stdin are read from the start and the committed records skipped.
 */
async function loadInput(
  run: LoadRun,
  f: InputFile,
  plan: Exclude<InputPlan, { kind: 'finished' }>,
  reading: InputReading,
  followed?: FollowedInput,
): Promise<{ file: FileReport; stop?: StopReason }> {
  const { opts, target, totals } = run
  const from = plan.kind === 'resume' ? plan.from : undefined
  // A stream's checkpoints record the hash of the prefix they cover, and its resume checks it (StreamPrefix).
  const prefix = run.store && f.stream ? new StreamPrefix() : undefined
  const checkpoint = checkpointOf(run, plan, prefix, followed)
  // A fresh input's checkpoint exists before its first reject is written, so that a crash
  // before the first batch commits is resumed (and its reject lines dropped), not refused.
  if (!from && checkpoint) await checkpoint(target.connection(), START, [], undefined)
  const opened = followed ?? (await openInput(f, opts.stdin, opts.signal, from?.nextByte ?? 0))
  const expected = () => (from && !opts.force ? expectedPrefix(from, opened.name) : undefined)
  const input = prefix ? { ...opened, chunks: prefix.tap(opened.chunks, expected()) } : opened
  const progress = () =>
    opts.onProgress?.({
      bytesRead: run.bytesBefore + input.bytesConsumed(),
      rowsRead: totals.rowsRead,
      rowsLoaded: totals.rowsLoaded,
      rowsRejected: totals.rowsRejected,
      ...(target.autoTune ? { batchRows: target.batcher.limits.maxRows } : {}),
    })
  const startAt = from ? { byte: from.nextByte, line: from.nextLine } : undefined
  const seeked = input.seeked && startAt !== undefined
  const columnNames =
    seeked && reading.parse.format !== 'ndjson' ? (reading.headerNames ?? reading.columnNames) : reading.columnNames
  const result = await runInput({
    ...pipelineOf(run, f, { ...reading, header: seeked ? false : reading.header, columnNames }),
    input: plan.input,
    name: input.name,
    records: parseInput(input.chunks, reading.parse, seeked ? startAt : undefined),
    bytesConsumed: input.bytesConsumed,
    writers: target.writers,
    batcher: target.batcher,
    autoTune: target.autoTune,
    sink: run.sinks.get(opts.rejectsFor(f))!,
    totals,
    rejectLimit: opts.maxRejects,
    signal: opts.signal,
    onProgress: progress,
    onReject: opts.onReject,
    ...(startAt ? { startAt } : {}),
    ...(startAt && !seeked ? { skipBefore: startAt.byte } : {}),
    resumedFrom: from,
    checkpoint,
    runId: opts.runId,
    onBatch: opts.onBatch,
    emptyTable: () => {
      const first = run.emptyPending
      run.emptyPending = false
      return first
    },
  })
  if (from) result.file.resumed = resumedFigures(from)
  if (plan.kind === 'fresh' && plan.startedOver) result.file.startedOver = plan.startedOver
  progress()
  run.bytesBefore += result.file.bytesRead
  return result
}

/**
 * --follow: the followed path's files one after another until the run stops (an interrupt is the
 * usual stop): a resumed one where its file is now (a file rotated meanwhile is read to its end),
 * then each file that takes the path after a rotation or truncation, from its first byte, each
 * with its own checkpoint (generationKey) and its own entry in the report. Returns the stop.
 */
async function followInput(
  run: LoadRun,
  f: InputFile,
  first: Exclude<InputPlan, { kind: 'finished' }>,
  reading: InputReading,
  reports: FileReport[],
): Promise<StopReason> {
  const { opts, store, target } = run
  let plan = first
  const between = first.follow?.between
  if (between)
    run.warnings.push(
      `${quotedList(between)} ${between.length === 1 ? 'looks' : 'look'} rotated while nothing followed ${f.path}, ` +
        `after the file its checkpoint names: not loaded (pgbulk load ${between.length === 1 ? 'it' : 'them'} by hand)`,
    )
  for (let generation = first.follow?.generation ?? 1; ; generation++) {
    const at = plan.follow ? plan.follow.at : f.path
    if (plan.kind === 'resume' && at === undefined) {
      // (its checkpoint is finished, so that the next run does not look for the file again)
      const last = plan.from.nextLine - 1
      run.warnings.push(
        `the file followed at ${f.path} before, up to its line ${last}: ${plan.follow?.lost ?? ''}; ` +
          'lines appended to it after that were not loaded',
      )
      await store?.save(target.connection(), { ...plan.from, done: true })
    } else {
      const file = at ?? f.path
      const source = await waitForFile(file, f.path, plan.kind === 'resume' ? plan.from.nextByte : 0, opts)
      if (!source) return { error: new LoadError('ABORTED', 'interrupted'), file: f.path }
      // (a rotated file resumed mid-way has its own header, read before)
      const own =
        file === f.path || plan.kind === 'fresh' ? reading : (await preflight(run, [fileAt(file)], f.path))[0]!
      const result = await loadInput(run, f, plan, own, source)
      reports.push(result.file)
      if (result.stop) return result.stop
    }
    const next = { generation: generation + 1, at: f.path }
    plan = { kind: 'fresh', input: generationKey(inputKey(f.path), next.generation), identity: undefined, follow: next }
  }
}

/** Open a followed file, waiting while its path names nothing (between a rotation's rename and the new file); undefined when interrupted. */
async function waitForFile(
  path: string,
  followed: string,
  startByte: number,
  opts: ResolvedLoadOptions,
): Promise<FollowedInput | undefined> {
  for (;;) {
    if (opts.signal?.aborted) return undefined
    try {
      return await followFile(path, startByte, { signal: opts.signal, pollMs: opts.followPollMs, followed })
    } catch (err) {
      if (!(err instanceof LoadError && err.code === 'INPUT_NOT_FOUND')) throw err
    }
    await new Promise((resolve) => setTimeout(resolve, opts.followPollMs))
  }
}

/** --follow's one input: as checkInputs() has it, or, when its path names nothing now, with no size. */
async function checkFollowed(paths: readonly string[]): Promise<InputFile[]> {
  try {
    return await checkInputs(paths)
  } catch (err) {
    if (!(err instanceof LoadError && err.code === 'INPUT_NOT_FOUND' && paths.length === 1)) throw err
    return [fileAt(paths[0]!)]
  }
}

function fileAt(path: string): InputFile {
  return { path, size: undefined, stream: false }
}

/** The preflight's reads: a header line longer than this is read on in further reads. */
const PREFLIGHT_READ_BYTES = 16 * 1024

/** A checkpoint before anything of the input was read. */
const START: CheckpointProgress = {
  nextByte: 0,
  nextLine: 1,
  rowsRead: 0,
  rowsLoaded: 0,
  rowsRejected: 0,
  batches: 0,
  done: false,
}

/** Saves where an input stands (in a batch's transaction, on `client`); none when the run keeps no checkpoint. */
function checkpointOf(
  run: LoadRun,
  plan: InputPlan,
  prefix: StreamPrefix | undefined,
  followed: FollowedInput | undefined,
) {
  const store = run.store
  if (!store) return undefined
  const startedAt = plan.kind === 'fresh' ? run.startedAt : plan.from.startedAt
  return (client: pg.Client, state: CheckpointProgress, _stored: unknown, batch?: BatchFacts) =>
    store.save(
      client,
      {
        job: run.job,
        input: plan.input,
        target: run.target.schema.sqlName,
        identity: followed
          ? followed.identityAt(state.nextByte)
          : prefix
            ? prefixIdentity(state.nextByte, prefix)
            : plan.identity,
        startedAt,
        ...state,
      },
      batch && { ...batch, job: run.job, runId: run.opts.runId, input: plan.input },
    )
}

/** The report of an input an earlier run finished (--resume): nothing read now, what it had committed. */
function finishedInput(f: InputFile, from: Checkpoint): FileReport {
  const file = f.path === '-' ? 'stdin' : f.path
  return {
    file,
    rowsRead: 0,
    rowsLoaded: 0,
    rowsRejected: 0,
    rowsSkipped: 0,
    bytesRead: 0,
    resumed: resumedFigures(from),
  }
}

/** Where a resumed input started, and what earlier runs had committed of it. */
function resumedFigures(from: Checkpoint): NonNullable<FileReport['resumed']> {
  return { byte: from.nextByte, line: from.nextLine, rowsLoaded: from.rowsLoaded, rowsRejected: from.rowsRejected }
}

/**
 * Close the reject files, which writes their last lines: a failure here stops the run, whose report
 * says what committed.
 */
async function closeRejectFiles(sinks: Map<string, RejectSink>): Promise<StopReason | undefined> {
  for (const s of sinks.values()) {
    try {
      await s.close()
    } catch (err) {
      if (!(err instanceof LoadError)) throw err
      return { error: err, file: s.path }
    }
  }
  return undefined
}
