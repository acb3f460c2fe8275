// Shared by the benchmarks: a server to load into, and a way to time a command with its CPU and memory.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** DATABASE_URL when set, else an embedded PostgreSQL in a child process. */
export async function startServer() {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => {} }
  const child = spawn(process.execPath, [join(root, 'scripts/start-pg.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] })
  // start-pg prints the URL, or says on stderr why it could not start and exits.
  // (only a server that ends before it printed its URL ends the bench: stop() ending it later is not a failure)
  let stopping = false
  const url = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line').then(([l]) => l),
    once(child, 'exit').then(() => {
      if (!stopping) process.exit(1)
    }),
  ])
  return {
    url,
    stop: async () => {
      stopping = true
      const exited = child.exitCode === null ? once(child, 'exit') : Promise.resolve()
      child.stdin.end()
      await exited
    },
  }
}

const GNU_TIME = '/usr/bin/time'

/**
 * Run a command to the end; wall time, and with GNU time (Debian's `time` package) the client's
 * CPU seconds and peak RSS. Exit codes 0 and 2 (rows rejected) count as success. With `firstRow`
 * (an async check that a row is visible), also the time until the first committed row, polled
 * every 20 ms from another connection.
 */
export async function timed(cmd, args, env = {}, firstRow = undefined) {
  const useTime = existsSync(GNU_TIME)
  const t0 = performance.now()
  const child = useTime
    ? spawn(GNU_TIME, ['-f', '@@%U %S %M', cmd, ...args], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = once(child, 'exit')
  let firstRowMs
  let running = true
  exited.then(() => (running = false))
  if (firstRow) {
    while (running && firstRowMs === undefined) {
      if (await firstRow()) firstRowMs = performance.now() - t0
      else await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  const [status] = await exited
  const ms = performance.now() - t0
  if (status !== 0 && status !== 2) throw new Error(`${cmd} ${args.join(' ')} exited ${status}: ${stderr}`)
  const m = useTime ? /@@([\d.]+) ([\d.]+) (\d+)\s*$/.exec(stderr) : null
  return {
    ms,
    firstRowMs: firstRowMs ?? (firstRow ? ms : undefined),
    cpuS: m ? Number(m[1]) + Number(m[2]) : undefined,
    rssMb: m ? Number(m[3]) / 1024 : undefined,
  }
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

/** Whether a command is installed. */
export const installed = (cmd) => spawnSync(cmd, ['--version']).status === 0

/**
 * Time one pgbulk load of `file` into the table bench (no checkpoint: each run starts afresh);
 * `checkout`: another checkout's build instead of this one's (bench --baseline).
 */
export function timePgbulk(
  file,
  { url, method = 'copy', rejects, firstRow, extra = [], table = 'bench', checkout = root, job },
) {
  const args = [
    join(checkout, 'bin/pgbulk.js'),
    'load',
    file,
    '--table',
    table,
    '--method',
    method,
    '--quiet',
    '--force',
    // (with `job`: checkpoints under that job name, as --mode replace needs)
    ...(job ? ['--job', job] : ['--no-checkpoint']),
    '--rejects',
    rejects,
    ...extra,
  ]
  return timed(process.execPath, args, { DATABASE_URL: url }, firstRow)
}

/**
 * Debian's PostgreSQL 15 (`pg_ctlcluster 15 main`), when it is installed and this is root: started
 * if it is down, with a role and a database of the bench's own (pgbulk_bench, a new password each
 * time), so nothing of the cluster's users is touched. Undefined otherwise, with the reason.
 */
export function debianPg15() {
  if (spawnSync('pg_ctlcluster', ['--help']).error) return { why: 'pg_ctlcluster is not installed' }
  if (!existsSync('/etc/postgresql/15/main')) return { why: 'no cluster 15 main' }
  if (process.getuid?.() !== 0) return { why: 'not root (pass DATABASE_URL to bench a server of yours)' }
  const running = () => spawnSync('pg_ctlcluster', ['15', 'main', 'status']).status === 0
  if (!running()) spawnSync('pg_ctlcluster', ['15', 'main', 'start'])
  if (!running()) return { why: 'pg_ctlcluster 15 main would not start' }
  const password = randomBytes(12).toString('hex')
  const psql = (sql, db = 'postgres') =>
    spawnSync('runuser', ['-u', 'postgres', '--', 'psql', '-qXtA', '-d', db, '-c', sql], { encoding: 'utf8' })
  // The role and database are the bench's own, marked by a comment when made: ones of the same name
  // that someone else made are left alone (their password is not changed, no table is dropped in them).
  const MARK = 'made by pgbulk npm run bench'
  const mark = psql(
    `SELECT (SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'pgbulk_bench'),
            (SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'pgbulk_bench')`,
  )
  if (mark.status !== 0) return { why: `could not ask cluster 15 main: ${mark.stderr.trim()}` }
  const [roleMark, dbMark] = mark.stdout.trim().split('|')
  const exists = psql(
    `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgbulk_bench'), EXISTS (SELECT FROM pg_database WHERE datname = 'pgbulk_bench')`,
  ).stdout.trim()
  const [roleThere, dbThere] = exists.split('|').map((x) => x === 't')
  if ((roleThere && roleMark !== MARK) || (dbThere && dbMark !== MARK))
    return { why: 'a role or database pgbulk_bench that the bench did not make is there' }
  const role = psql(
    (roleThere ? '' : `CREATE ROLE pgbulk_bench LOGIN; COMMENT ON ROLE pgbulk_bench IS '${MARK}'; `) +
      `ALTER ROLE pgbulk_bench PASSWORD '${password}'`,
  )
  if (role.status !== 0) return { why: `could not make the role pgbulk_bench: ${role.stderr.trim()}` }
  if (!dbThere) {
    const made = psql('CREATE DATABASE pgbulk_bench OWNER pgbulk_bench')
    if (made.status !== 0) return { why: `could not make the database pgbulk_bench: ${made.stderr.trim()}` }
    psql(`COMMENT ON DATABASE pgbulk_bench IS '${MARK}'`)
  }
  return { url: `postgres://pgbulk_bench:${password}@127.0.0.1:5432/pgbulk_bench`, stop: async () => {} }
}
