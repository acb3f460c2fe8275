import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { ServerStartError, startOwnServer } from './own-server.js'

/**
 * One PostgreSQL for the integration tests: DATABASE_URL when it is set, else an embedded
 * PostgreSQL 18 on a free port, started in a child process (scripts/start-pg.mjs says why).
 * And one temporary folder for the run: TMPDIR points into it for the test files and every
 * process they start, and it is removed when the run ends, whether or not the tests passed.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env['DATABASE_URL']
  let stopServer = async (): Promise<void> => {}
  if (given) {
    project.provide('pgUrl', given)
  } else {
    try {
      const server = await startOwnServer()
      project.provide('pgUrl', server.url)
      stopServer = () => server.stop()
    } catch (err) {
      // The reason alone: where it failed is start-pg's business, not a stack through vitest.
      if (err instanceof ServerStartError) err.stack = err.message
      throw err
    }
  }
  // Each project with a database runs this setup (the `integration-serial` project has a server
  // of its own); the first one makes the run's folder and removes it, the others use it.
  const shared = process.env[RUN_DIR]
  const runDir = shared ?? (await mkdtemp(join(tmpdir(), 'pgbulk-run-')))
  const tmpBefore = process.env['TMPDIR']
  if (!shared) {
    process.env[RUN_DIR] = runDir
    process.env['TMPDIR'] = runDir
  }
  return async () => {
    await stopServer()
    if (shared) return
    if (tmpBefore === undefined) delete process.env['TMPDIR']
    else process.env['TMPDIR'] = tmpBefore
    delete process.env[RUN_DIR]
    await rm(runDir, { recursive: true, force: true })
  }
}

const RUN_DIR = 'PGBULK_TEST_RUN_DIR'

declare module 'vitest' {
  interface ProvidedContext {
    pgUrl: string
  }
}
