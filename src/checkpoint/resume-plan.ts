import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import type pg from 'pg'
import { LoadError } from '../errors.js'
import type { InputIdentity } from '../source/input-identity.js'
import type { InputFile } from '../source/open-input.js'
import { locateFollowed } from '../source/follow-file.js'
import { identifyInput, identityChange } from '../source/input-identity.js'
import type { Checkpoint, CheckpointStore } from './checkpoint-store.js'

/** What a run does with one input, given its checkpoint. */
export type InputPlan =
  | {
      kind: 'fresh'
      input: string
      identity: InputIdentity | undefined
      /** --resume of an unfinished input that changed since, in a mode that makes a reload safe: how it changed. */
      startedOver?: string
      follow?: FollowGeneration
    }
  | { kind: 'resume'; input: string; identity: InputIdentity | undefined; from: Checkpoint; follow?: FollowGeneration }
  /** --resume of an input an earlier run finished: nothing left to do. */
  | { kind: 'finished'; input: string; identity: InputIdentity | undefined; from: Checkpoint }

/**
 * --follow: which file of the followed path a plan is (each file that takes the path after a
 * rotation or a truncation is a generation, with its own checkpoint), and where that file is now.
 */
export interface FollowGeneration {
  /** 1 for the first file followed at the path. */
  generation: number
  /** Where the file is now (the path, or the name it was rotated to); undefined when it is lost. */
  at: string | undefined
  /** Why the rest of a resumed generation cannot be read (rotated away or truncated while nothing followed). */
  lost?: string
  /** Files that look rotated after it while nothing followed: not loaded (the report warns of them). */
  between?: string[]
}

/** How the user asked to treat an existing checkpoint. */
export interface ResumeChoice {
  resume: boolean
  restart: boolean
  /** Resume although the input changed. */
  force: boolean
  /** The mode makes loading rows again harmless (ignore, upsert): a changed input is loaded anew. */
  idempotent: boolean
}

/** The checkpoint key of an input: its absolute path, or "stdin". */
export function inputKey(path: string): string {
  return path === '-' ? 'stdin' : resolve(path)
}

function unfinished(job: string, where: string): LoadError {
  return new LoadError(
    'JOB_UNFINISHED',
    `job ${JSON.stringify(job)} has an unfinished checkpoint at ${where}`,
    'pass --resume to continue where it stopped, ' +
      'or --restart to load from the start (rows already committed stay in the table)',
  )
}

/** The checkpoint key of a followed path's n-th file (generation). */
export function generationKey(input: string, n: number): string {
  return n === 1 ? input : `${input}#${n}`
}

/**
 * --follow: plan the followed path from its generations' checkpoints. The last generation, when
 * unfinished, is resumed (--resume) where its file is now, found by locateFollowed(); a finished
 * one (its file was rotated or truncated and done with), or --restart, starts the next generation
 * at the path, from its first byte.
 */
export async function planFollow(
  client: pg.Client,
  store: CheckpointStore,
  job: string,
  file: InputFile,
  choice: ResumeChoice,
): Promise<InputPlan> {
  const input = inputKey(file.path)
  let last: { cp: Checkpoint; n: number } | undefined
  for (const cp of await store.generations(client, job, input)) {
    const n = cp.input === input ? 1 : Number(cp.input.slice(input.length + 1))
    if (Number.isInteger(n) && n > (last?.n ?? 0)) last = { cp, n }
  }
  const fresh = (n: number): InputPlan => ({
    kind: 'fresh',
    input: generationKey(input, n),
    identity: undefined,
    follow: { generation: n, at: file.path },
  })
  if (!last) return fresh(1)
  const { cp, n } = last
  if (cp.done || choice.restart) return fresh(n + 1)
  if (!choice.resume) throw unfinished(job, `${cp.input}:${cp.nextLine} (${cp.rowsLoaded} rows loaded)`)
  const where = await locateFollowed(file.path, cp.identity, cp.nextByte)
  const follow =
    'at' in where
      ? { generation: n, at: where.at, ...(where.between ? { between: where.between } : {}) }
      : { generation: n, at: undefined, lost: where.lost }
  return { kind: 'resume', input: cp.input, identity: undefined, from: cp, follow }
}

/** The default job name: the target table and the inputs, as a cron line would name them. */
export function defaultJobName(target: string, paths: readonly string[]): string {
  const name = `${target}:${paths.map(inputKey).join('+')}`
  return name.length <= 200
    ? name
    : `${name.slice(0, 180)}…${createHash('sha1').update(name).digest('hex').slice(0, 12)}`
}

/**
 * Decide, for each input, whether to load it from the start, resume it from its checkpoint, or
 * leave it (finished). A cron rerun must not load the same rows twice by accident: an unfinished
 * checkpoint without --resume or --restart is an error, and so is a finished one whose input is
 * unchanged; a finished checkpoint whose input has changed (a new nightly file), or stdin, is a new run.
 */
export async function planInputs(
  client: pg.Client,
  store: CheckpointStore,
  job: string,
  files: readonly InputFile[],
  choice: ResumeChoice,
): Promise<InputPlan[]> {
  const plans: InputPlan[] = []
  for (const file of files) {
    const input = inputKey(file.path)
    // A stream has no identity to compare: reading it to find one would consume it.
    const identity = file.stream ? undefined : await identifyInput(file.path)
    const cp = choice.restart ? undefined : await store.get(client, job, input)
    if (!cp) {
      plans.push({ kind: 'fresh', input, identity })
      continue
    }
    const changed = cp.identity && identity ? identityChange(cp.identity, identity) : undefined
    const detail = `${cp.rowsLoaded} rows loaded, ${cp.rowsRejected} rejected, ${cp.updatedAt.toISOString()}`
    const where = `${input}:${cp.nextLine} (${detail})`
    if (choice.resume) {
      // A finished job whose file changed since is a new file at the same path (tonight's export):
      // a new run; so is a stream, which cannot be compared before it is read.
      if (cp.done && (changed || file.stream)) {
        plans.push({ kind: 'fresh', input, identity })
        continue
      }
      if (changed && !choice.force && choice.idempotent) {
        plans.push({ kind: 'fresh', input, identity, startedOver: changed })
        continue
      }
      if (changed && !choice.force) {
        throw new LoadError(
          'INPUT_CHANGED',
          `job ${JSON.stringify(job)}: ${input} changed since its checkpoint at ${where}: ${changed}`,
          `the ${cp.rowsLoaded} rows the unfinished run committed from the old file stay in the table: ` +
            'delete them, then pass --restart to load the new file; or, when the table has a key, ' +
            'pass --restart --mode ignore, which leaves out the rows already there',
        )
      }
      plans.push({ kind: cp.done ? 'finished' : 'resume', input, identity, from: cp })
      continue
    }
    if (!cp.done) throw unfinished(job, where)
    // A stream cannot be compared with what was loaded before: a finished job reads it as new data.
    if (!changed && identity !== undefined) {
      throw new LoadError(
        'JOB_DONE',
        `job ${JSON.stringify(job)} already loaded ${input} as it is now ` +
          `(finished ${cp.updatedAt.toISOString()}, ${cp.rowsLoaded} rows)`,
        'pass --restart to load it again, or --job to name another job',
      )
    }
    plans.push({ kind: 'fresh', input, identity })
  }
  return plans
}
