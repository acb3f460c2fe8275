// Start an embedded PostgreSQL on a free port and print its URL as the first line of stdout.
// It runs until SIGINT/SIGTERM/SIGHUP or until its stdin closes (so it dies with the process
// that started it), then stops the server and removes its folder. A line "restart <ms>" on stdin
// stops the server (fast shutdown: every session is cut), waits that long and starts it again,
// then prints "restarted": the fault tests use it. When the server cannot start, one line on
// stderr says why and the exit code is 1.
import { createInterface } from 'node:readline'
import { EmbeddedPgError, startEmbeddedPg } from './embedded-pg.mjs'
import { freePort } from './free-port.mjs'

// --tls <cert.pem> <key.pem>: the server also accepts TLS with that certificate.
const tlsAt = process.argv.indexOf('--tls')
const tls = tlsAt > 0 ? { certFile: process.argv[tlsAt + 1], keyFile: process.argv[tlsAt + 2] } : undefined
// freePort is passed, not a port: a port found free may be taken before the server binds it, and
// startEmbeddedPg then asks for another.
const starting = startEmbeddedPg({ port: freePort, tls })
let stopping = false
/** Stop the server (once it has started, if it is starting), remove its folder, exit. */
async function stop(code) {
  if (stopping) return
  stopping = true
  await starting.then((server) => server.stop()).catch(() => {})
  process.exit(code)
}
function fail(err) {
  process.stderr.write(
    `pgbulk: ${err instanceof EmbeddedPgError ? err.message : `embedded PostgreSQL failed: ${err?.message ?? err}`}\n`,
  )
  void stop(1)
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stop(0))

const lines = createInterface({ input: process.stdin })
lines.on('close', () => void stop(0))
starting.then((server) => {
  if (stopping) return
  process.stdout.write(`${server.url}\n`)
  lines.on('line', (line) => {
    const m = /^restart (\d+)$/.exec(line.trim())
    if (m) server.restart(Number(m[1])).then(() => process.stdout.write('restarted\n'), fail)
  })
}, fail)
