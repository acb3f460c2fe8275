// npm run demo: start an embedded PostgreSQL, create the demo table, load fixtures/demo/people.csv
// (it has a few bad rows) with the real CLI, then show what landed and where the rejects went.
// With DATABASE_URL set, the demo uses that server instead, in a schema of its own that it drops
// at the end: it never touches a table it did not create.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { EmbeddedPgError, startEmbeddedPg } from './embedded-pg.mjs'
import { freePort } from './free-port.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The demo's server: DATABASE_URL with a new schema, else an embedded one. */
async function openServer() {
  if (process.env.DATABASE_URL) {
    const schema = `pgbulk_demo_${randomBytes(4).toString('hex')}`
    console.log(`Using DATABASE_URL, in a new schema ${schema} (dropped at the end)…`)
    return { url: process.env.DATABASE_URL, schema, stop: async () => {} }
  }
  console.log('Starting an embedded PostgreSQL…')
  const server = await startEmbeddedPg({ port: await freePort() })
  return { url: server.url, schema: undefined, stop: () => server.stop() }
}

async function demo(url, schema) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    if (schema) await client.query(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`)
    await client.query(await readFile(join(root, 'fixtures/demo/schema.sql'), 'utf8'))
    const outDir = join(root, '.demo-data')
    await mkdir(outDir, { recursive: true })
    const rejects = join(outDir, 'people.rejects.ndjson')
    const table = schema ? `${schema}.people` : 'people'
    const args = ['load', 'fixtures/demo/people.csv', '--table', table, '--rejects', relative(root, rejects), '--force']
    console.log(`\n$ pgbulk ${args.join(' ')}\n`)
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, [join(root, 'bin/pgbulk.js'), ...args], {
        cwd: root,
        stdio: 'inherit',
        env: { ...process.env, DATABASE_URL: url },
      })
      child.on('close', (c) => resolve(c ?? 1))
    })
    console.log(`\npgbulk exited with ${code} (2 = finished, some rows rejected).\n\nWhat landed in table "${table}":`)
    const rows = await client.query(
      'SELECT id, name, email, born::text AS born, score, active, tags::text AS tags FROM people ORDER BY id',
    )
    console.table(rows.rows)
    const first = (await readFile(rejects, 'utf8')).split('\n')[0]
    console.log(
      `\nThe rejected rows, with their reasons and original text, are in ${relative(root, rejects)}; the first one:\n${first}`,
    )
    return code
  } finally {
    if (schema) await client.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {})
    await client.end()
  }
}

let server
let code = 1
try {
  server = await openServer()
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
    process.on(signal, () => void server.stop().finally(() => process.exit(1)))
  code = await demo(server.url, server.schema)
} catch (err) {
  console.error(`demo: ${err instanceof EmbeddedPgError ? err.message : `failed: ${err?.message ?? err}`}`)
} finally {
  await server?.stop()
}
process.exit(code === 2 ? 0 : code)
