import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { TestProject } from 'vitest/node'

/**
 * One PostgreSQL for the integration tests: DATABASE_URL when it is set, else an embedded
 * PostgreSQL 18 on a free port, started in a child process (scripts/start-pg.mjs says why).
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env['DATABASE_URL']
  if (given) {
    project.provide('pgUrl', given)
    return undefined
  }
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../scripts/start-pg.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const first = await Promise.race([
    once(lines, 'line').then(([l]) => l as string),
    once(child, 'exit').then(([code]) => {
      throw new Error(`embedded PostgreSQL did not start (exit ${String(code)})`)
    }),
  ])
  project.provide('pgUrl', first)
  return async () => {
    const exited = once(child, 'exit')
    child.stdin.end()
    await exited
  }
}

declare module 'vitest' {
  interface ProvidedContext {
    pgUrl: string
  }
}
