import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, inject } from 'vitest'

/** A database of its own for one test file, dropped by cleanup(). */
export interface TestDb {
  url: string
  client: pg.Client
  /** Number of rows in a table. */
  count(table: string): Promise<number>
  cleanup(): Promise<void>
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

export async function createTestDb(): Promise<TestDb> {
  const base = inject('pgUrl')
  const name = `t_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = withDatabase(base, name)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return {
    url,
    client,
    async count(table) {
      const r = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)
      return r.rows[0]!.n
    },
    async cleanup() {
      await client.end()
      const a = new pg.Client({ connectionString: base })
      await a.connect()
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await a.end()
    },
  }
}

/** Give a test file a database of its own and a temporary folder: `set` receives them before the tests run. */
export function withTestDb(set: (db: TestDb, dir: string) => void): void {
  let db: TestDb | undefined
  beforeAll(async () => {
    db = await createTestDb()
    set(db, await mkdtemp(join(tmpdir(), 'pgbulk-test-')))
  })
  afterAll(async () => {
    await db?.cleanup()
  })
}
