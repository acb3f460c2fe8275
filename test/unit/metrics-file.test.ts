import { mkdtemp, readFile, readdir, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { writeMetricsFile } from '../../src/cli/metrics-file.js'
import type { RunMetrics } from '../../src/observe/metrics.js'

const run = (job: string): RunMetrics => ({ job, retries: 0, durationSeconds: 1, exitCode: 0, endedAt: 1 })

describe('writeMetricsFile: jobs sharing one file', () => {
  // (two jobs ending together both read the old file, and the second rename dropped the first
  // job's lines: every time, when written at once in one process)
  it('keeps the lines of jobs that write it at the same time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgbulk-metrics-'))
    const path = join(dir, 'pgbulk.prom')
    const jobs = ['a', 'b', 'c', 'd']
    await Promise.all(jobs.map((job) => writeMetricsFile(path, run(job))))
    const text = await readFile(path, 'utf8')
    for (const job of jobs) expect(text).toContain(`pgbulk_last_run_exit_code{job="${job}"} 0`)
    // (no lock or temporary file left beside it)
    expect(await readdir(dir)).toEqual(['pgbulk.prom'])
  })

  it('takes over a lock left by a run killed while writing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgbulk-metrics-'))
    const path = join(dir, 'pgbulk.prom')
    const lock = join(dir, '.pgbulk.prom.lock')
    await writeFile(lock, '')
    const old = new Date(Date.now() - 60_000)
    await utimes(lock, old, old)
    await writeMetricsFile(path, run('a'))
    expect(await readFile(path, 'utf8')).toContain('job="a"')
  })
})
