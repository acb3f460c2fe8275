import { randomUUID } from 'node:crypto'
import { basename } from 'node:path'
import { LoadError } from './errors.js'
import type { InputFormat } from './parse/parse-input.js'
import { parseInput } from './parse/parse-input.js'
import type { LoadOptions } from './options.js'
import { resolveLoadOptions } from './options.js'
import { preflightInput } from './pipeline/header.js'
import { runInput } from './pipeline/run-input.js'
import type { StopReason } from './report/run-figures.js'
import { newTotals } from './report/run-figures.js'
import { RejectSink } from './reject/reject-sink.js'
import type { Rejection } from './reject/rejection.js'
import type { LoadReport } from './report/load-report.js'
import type { FileReport } from './report/run-figures.js'
import { buildReport, reportableOptions } from './report/load-report.js'
import { checkInputs, openInput } from './source/open-input.js'
import type { InputIdentity } from './source/input-identity.js'
import type { PrefixIdentity } from './source/stream-prefix.js'
import { StreamPrefix } from './source/stream-prefix.js'
import type pg from 'pg'
import type { Checkpoint, CheckpointProgress } from './checkpoint/checkpoint-store.js'
import { CheckpointStore } from './checkpoint/checkpoint-store.js'
import { defaultJobName, inputKey, planInputs } from './checkpoint/resume-plan.js'
import { openTarget } from './target.js'

/** The format an input is in, from --format or its extension (also under .gz). */
export function formatOf(path: string, explicit: InputFormat | undefined): InputFormat {
  if (explicit) return explicit
  const name = basename(path).toLowerCase().replace(/\.gz$/, '')
  if (name.endsWith('.tsv') || name.endsWith('.tab')) return 'tsv'
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'ndjson'
  return 'csv'
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
  const { encoding, maxRecordBytes } = opts
  const files = await checkInputs(opts.inputs)
  const formats = files.map((f) => formatOf(f.path, opts.format))

  const target = await openTarget(opts)
  const { schema, writers, batcher } = target
  const totals = newTotals(target.autoTune ? opts.autoTune : undefined)
  const fileReports: FileReport[] = []
  const sinks = new Map<string, RejectSink>()
  let stop: StopReason | undefined
  let bytesBefore = 0
  try {
    // Checkpoints: kept for every real load unless --no-checkpoint (a dry run writes nothing).
    const keepCheckpoints = writers !== undefined && opts.dryRun !== 'db' && opts.checkpoint
    const store = keepCheckpoints ? new CheckpointStore(opts.checkpointSchema, randomUUID()) : undefined
    if (store) await store.ensure(target.connection())
    // (the default name needs the table's name as the database spells it: known only now)
    const job = opts.job ?? defaultJobName(schema.sqlName, opts.inputs)
    if (store) {
      await target.lockJob(job)
      await store.claim(target.connection(), job)
    }
    const plans = store
      ? await planInputs(target.connection(), store, job, files, {
          resume: opts.resume,
          restart: opts.restart,
          force: opts.force,
        })
      : files.map((f) => ({ kind: 'fresh' as const, input: inputKey(f.path), identity: undefined }))

    // Reject files: a resumed input's file continues (its lines from the checkpoint on are dropped:
    // they will be found again); any other existing file is refused unless --force.
    for (const f of files) {
      const path = opts.rejectsFor(f)
      if (sinks.has(path)) continue
      const resumed = plans.flatMap((p, j) => (p.kind !== 'fresh' && opts.rejectsFor(files[j]!) === path ? [p] : []))
      if (resumed.length === 0) {
        sinks.set(path, await RejectSink.prepare(path, opts.force, opts.stdout))
        continue
      }
      sinks.set(
        path,
        await RejectSink.resume(
          path,
          (r) => !resumed.some((p) => p.kind === 'resume' && rejectInput(r) === p.input && r.byte >= p.from.nextByte),
          opts.stdout,
        ),
      )
    }

    const pipelines = files.map((f, k) => ({
      input: inputKey(f.path),
      schema,
      parse: { format: formats[k]!, encoding, dialect: opts.dialectFor(formats[k]!), maxRecordBytes },
      ...(opts.columns ? { columnNames: opts.columns } : {}),
      header: opts.header,
      ignoreExtra: opts.ignoreExtra,
    }))
    const headers: (string[] | undefined)[] = []
    for (const [k, f] of files.entries()) {
      if (f.stream) continue // read once, by the load itself, which checks its header first
      const input = await openInput(f, process.stdin)
      headers[k] = await preflightInput({
        ...pipelines[k]!,
        name: input.name,
        records: parseInput(input.chunks, pipelines[k]!.parse),
      })
    }
    const totalBytes = files.every((f) => f.size !== undefined)
      ? files.reduce((s, f) => s + (f.size ?? 0), 0)
      : undefined
    opts.onStart?.(totalBytes)
    const startedAt = new Date()
    for (const [k, f] of files.entries()) {
      const plan = plans[k]!
      const from = plan.kind === 'fresh' ? undefined : plan.from
      if (plan.kind === 'finished') {
        fileReports.push({
          file: f.path === '-' ? 'stdin' : f.path,
          rowsRead: 0,
          rowsLoaded: 0,
          rowsRejected: 0,
          rowsSkipped: 0,
          bytesRead: 0,
          resumed: {
            byte: plan.from.nextByte,
            line: plan.from.nextLine,
            rowsLoaded: plan.from.rowsLoaded,
            rowsRejected: plan.from.rowsRejected,
          },
        })
        continue
      }
      // A stream's checkpoints record the hash of the prefix they cover, and its resume checks it (StreamPrefix).
      const prefix = store && f.stream ? new StreamPrefix() : undefined
      const identityAt = (nextByte: number) => (prefix ? prefixIdentity(nextByte, prefix) : plan.identity)
      const saveCheckpoint = store
        ? (client: pg.Client, state: CheckpointProgress) =>
            store.save(client, {
              job,
              input: plan.input,
              target: schema.sqlName,
              identity: identityAt(state.nextByte),
              startedAt: from?.startedAt ?? startedAt,
              ...state,
            })
        : undefined
      // A fresh input's checkpoint exists before its first reject is written, so that a crash
      // before the first batch commits is resumed (and its reject lines dropped), not refused.
      if (!from && saveCheckpoint)
        await saveCheckpoint(target.connection(), {
          nextByte: 0,
          nextLine: 1,
          rowsRead: 0,
          rowsLoaded: 0,
          rowsRejected: 0,
          batches: 0,
          done: false,
        })
      const opened = await openInput(f, opts.stdin, opts.signal, from?.nextByte ?? 0)
      const input = prefix
        ? {
            ...opened,
            chunks: prefix.tap(opened.chunks, from && !opts.force ? expectedPrefix(from, opened.name) : undefined),
          }
        : opened
      const progress = () =>
        opts.onProgress?.({
          bytesRead: bytesBefore + input.bytesConsumed(),
          rowsRead: totals.rowsRead,
          rowsLoaded: totals.rowsLoaded,
          rowsRejected: totals.rowsRejected,
          ...(target.autoTune ? { batchRows: batcher.limits.maxRows } : {}),
        })
      const startAt = from ? { byte: from.nextByte, line: from.nextLine } : undefined
      // A plain file is read from the checkpoint on (its header, if any, was read by the preflight);
      // gzip and stdin are read from the start and the committed records skipped.
      const seeked = input.seeked && startAt !== undefined
      const header = seeked ? false : pipelines[k]!.header
      const columnNames =
        seeked && pipelines[k]!.parse.format !== 'ndjson'
          ? (headers[k] ?? pipelines[k]!.columnNames)
          : pipelines[k]!.columnNames
      const result = await runInput({
        ...pipelines[k]!,
        header,
        ...(columnNames ? { columnNames } : {}),
        name: input.name,
        records: parseInput(input.chunks, pipelines[k]!.parse, seeked ? startAt : undefined),
        bytesConsumed: input.bytesConsumed,
        writers,
        batcher,
        autoTune: target.autoTune,
        sink: sinks.get(opts.rejectsFor(f))!,
        totals,
        rejectLimit: opts.maxRejects,
        signal: opts.signal,
        onProgress: progress,
        onReject: opts.onReject,
        ...(startAt ? { startAt } : {}),
        ...(startAt && !seeked ? { skipBefore: startAt.byte } : {}),
        resumedFrom: from,
        checkpoint: saveCheckpoint,
      })
      if (from)
        result.file.resumed = {
          byte: from.nextByte,
          line: from.nextLine,
          rowsLoaded: from.rowsLoaded,
          rowsRejected: from.rowsRejected,
        }
      progress()
      bytesBefore += result.file.bytesRead
      fileReports.push(result.file)
      if (result.stop) {
        stop = result.stop
        break
      }
    }
    // Closing writes the last rejects: a failure here stops the run, whose report says what committed.
    if (!stop) {
      for (const s of sinks.values()) {
        try {
          await s.close()
        } catch (err) {
          if (!(err instanceof LoadError)) throw err
          stop = { error: err, file: s.path }
          break
        }
      }
    }
  } finally {
    // After a failure, closing is best effort, and the connections are always closed (a run that
    // left one open would never exit, and would keep its job locked).
    for (const s of sinks.values()) await s.close().catch(() => {})
    await target.close()
  }

  return buildReport({
    totals,
    bytesRead: bytesBefore,
    started,
    dryRun: opts.dryRun,
    files: fileReports,
    stop,
    options: reportableOptions(given),
  })
}

/**
 * The checkpoint key of a reject line's input: recorded in the line; for lines written before it was,
 * its path as given then, resolved here.
 */
function rejectInput(r: Rejection): string {
  return r.input ?? (r.file === 'stdin' ? 'stdin' : inputKey(r.file))
}

/**
 * A stream's checkpoint identity: its position, and the hash of its first bytes with how many it covers
 * (marked, so that it is never taken for a file's).
 */
function prefixIdentity(bytes: number, prefix: StreamPrefix): InputIdentity {
  const { covered, hash } = prefix.identityAt(bytes)
  return { size: bytes, mtimeMs: 0, hash: `${PREFIX_HASH}${covered}:${hash}` }
}

const PREFIX_HASH = 'prefix-sha256:'

/**
 * What a resumed stream must start with, from its checkpoint; a checkpoint without it cannot be checked,
 * and is refused (--force resumes anyway).
 */
function expectedPrefix(from: Checkpoint, name: string): PrefixIdentity & { name: string } {
  const m = /^prefix-sha256:(\d+):([0-9a-f]{64})$/.exec(from.identity?.hash ?? '')
  if (m && from.identity?.size === from.nextByte)
    return { bytes: from.nextByte, covered: Number(m[1]), hash: m[2]!, name }
  throw new LoadError(
    'INPUT_CHANGED',
    `cannot tell whether ${name} is the stream its checkpoint was taken from (the checkpoint holds no hash of it)`,
    'pass --restart to load it from the start, or --force to resume anyway',
  )
}
