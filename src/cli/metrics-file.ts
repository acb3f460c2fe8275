// --metrics-file: write the run's figures where node_exporter's textfile collector reads them, the
// way its documentation asks: a temporary file in the same folder, renamed over the old one, so the
// collector never reads half a file.
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { lstat, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { setTimeout } from 'node:timers/promises'
import type { RunMetrics } from '../observe/metrics.js'
import { mergeRunMetrics } from '../observe/metrics.js'

/**
 * Merge the run's figures into the file at `path` (keeping other jobs' lines, and this job's last
 * success when this run failed) and replace it. The old file is read without following a symbolic
 * link and only when it is a regular file; anything else at the path is refused, not replaced. The
 * temporary file has an unpredictable name and is created with O_EXCL (nothing planted in the
 * folder is followed); its mode is 0644 (the figures hold no secret). Runs sharing the file take
 * turns (a lock file beside it). Throws on failure.
 */
export async function writeMetricsFile(path: string, run: RunMetrics): Promise<void> {
  await withLock(path, () => replaceMetricsFile(path, run))
}

/** How long a lock may be held before it is taken for one left by a killed run, and how long to wait for one. */
const STALE_LOCK_MS = 30_000
const LOCK_WAIT_MS = 10_000

/**
 * Run `fn` holding the file's lock: `.<name>.lock` beside it, created with O_EXCL. Two jobs that
 * share the file and end together would otherwise both read the old file and the second rename
 * would drop the first job's lines.
 */
async function withLock(path: string, fn: () => Promise<void>): Promise<void> {
  const lock = join(dirname(path), `.${basename(path)}.lock`)
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      await (await open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)).close()
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const held = await lstat(lock).catch(() => undefined)
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) await rm(lock, { force: true })
      else if (Date.now() > deadline) throw new Error(`${lock} is held by another run: not written`, { cause: err })
      else await setTimeout(10 + Math.random() * 40)
    }
  }
  try {
    await fn()
  } finally {
    await rm(lock, { force: true })
  }
}

async function replaceMetricsFile(path: string, run: RunMetrics): Promise<void> {
  const existing = await readRegularFile(path)
  const text = mergeRunMetrics(existing, run)
  // (a leading dot: the collector reads only *.prom files, and so skips the temporary one)
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`)
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => {})
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

/** The file's text; undefined when there is none; an error when the path holds something else (a link, a folder). */
async function readRegularFile(path: string): Promise<string | undefined> {
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'ELOOP')
      throw new Error(`${path} is a symbolic link, not a metrics file: not replaced`, { cause: err })
    throw err
  }
  try {
    if (!(await fh.stat()).isFile()) throw new Error(`${path} is not a regular file: not replaced`)
    return await fh.readFile('utf8')
  } finally {
    await fh.close()
  }
}
