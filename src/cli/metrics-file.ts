// --metrics-file: write the run's figures where node_exporter's textfile collector reads them, the
// way its documentation asks: a temporary file in the same folder, renamed over the old one, so the
// collector never reads half a file.
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { RunMetrics } from '../observe/metrics.js'
import { mergeRunMetrics } from '../observe/metrics.js'

/**
 * Merge the run's figures into the file at `path` (keeping other jobs' lines, and this job's last
 * success when this run failed) and replace it. The old file is read without following a symbolic
 * link and only when it is a regular file; anything else at the path is refused, not replaced. The
 * temporary file has an unpredictable name and is created with O_EXCL (nothing planted in the
 * folder is followed); its mode is 0644 (the figures hold no secret). Throws on failure.
 */
export async function writeMetricsFile(path: string, run: RunMetrics): Promise<void> {
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
