import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { BIN, type CliRun, outputOf, runPgbulk } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { type OwnServer, startOwnServer } from '../helpers/own-server.js'
import pg from 'pg'

// Issue 11: connections that behave like psql's, and no password anywhere in what pgbulk prints
// or stores, whatever form it was given in.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

const SUFFIX = randomBytes(4).toString('hex')
const ROLE = `pgbulk_conn_${SUFFIX}`
const PASSWORD = `Zq9-distinctive-${SUFFIX}`
let roleMissing: string | undefined
let host: string
let port: string
let dbname: string

beforeAll(async () => {
  const u = new URL(db.url)
  host = u.hostname
  port = u.port || '5432'
  dbname = u.pathname.slice(1)
  try {
    await db.client.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`)
  } catch (err) {
    roleMissing = `cannot create a role here: ${(err as Error).message}`
    return
  }
  await db.client.query(`GRANT CREATE ON DATABASE ${dbname} TO ${ROLE}; GRANT ALL ON SCHEMA public TO ${ROLE}`)
})

afterAll(async () => {
  if (roleMissing) return
  await db.client.query(`DROP OWNED BY ${ROLE} CASCADE; DROP ROLE ${ROLE}`).catch(() => {})
})

let seq = 0
async function table(): Promise<string> {
  const name = `conn${++seq}`
  await db.client.query(`CREATE TABLE ${name} (id int); ALTER TABLE ${name} OWNER TO ${ROLE}`)
  return name
}

interface Form {
  name: string
  /** --db argument, if any */
  db?: string
  env: Record<string, string>
  /** The same settings with a port where nothing listens. */
  unreachable: { db?: string; env: Record<string, string> }
}

const FORM_NAMES = [
  'URL in --db',
  'URL in DATABASE_URL',
  'keyword/value in --db',
  'keyword/value in DATABASE_URL',
  '?password= URL parameter',
  'PGPASSWORD',
  'PG* variables only',
  '.pgpass in HOME',
  'PGPASSFILE',
]

async function forms(): Promise<Form[]> {
  const home = await mkdtemp(join(dir, 'home-'))
  await writeFile(
    join(home, '.pgpass'),
    `# scratch\n${host}:${port}:${dbname}:${ROLE}:${PASSWORD}\n${host}:1:*:${ROLE}:${PASSWORD}\n`,
    { mode: 0o600 },
  )
  const passfile = join(home, 'other-pass')
  await writeFile(passfile, `*:*:*:${ROLE}:${PASSWORD}\n`, { mode: 0o600 })
  const url = (p: string, pw = `:${PASSWORD}`) => `postgres://${ROLE}${pw}@${host}:${p}/${dbname}`
  const kv = (p: string) => `host=${host} port = ${p} user=${ROLE} password='${PASSWORD}' dbname=${dbname}`
  return [
    { name: 'URL in --db', db: url(port), env: {}, unreachable: { db: url('1'), env: {} } },
    { name: 'URL in DATABASE_URL', env: { DATABASE_URL: url(port) }, unreachable: { env: { DATABASE_URL: url('1') } } },
    { name: 'keyword/value in --db', db: kv(port), env: {}, unreachable: { db: kv('1'), env: {} } },
    {
      name: 'keyword/value in DATABASE_URL',
      env: { DATABASE_URL: kv(port) },
      unreachable: { env: { DATABASE_URL: kv('1') } },
    },
    {
      name: '?password= URL parameter',
      db: `${url(port, '')}?password=${PASSWORD}`,
      env: {},
      unreachable: { db: `${url('1', '')}?password=${PASSWORD}`, env: {} },
    },
    {
      name: 'PGPASSWORD',
      db: url(port, ''),
      env: { PGPASSWORD: PASSWORD },
      unreachable: { db: url('1', ''), env: { PGPASSWORD: PASSWORD } },
    },
    {
      name: 'PG* variables only',
      env: { PGHOST: host, PGPORT: port, PGUSER: ROLE, PGPASSWORD: PASSWORD, PGDATABASE: dbname },
      unreachable: { env: { PGHOST: host, PGPORT: '1', PGUSER: ROLE, PGPASSWORD: PASSWORD, PGDATABASE: dbname } },
    },
    {
      name: '.pgpass in HOME',
      db: url(port, ''),
      env: { HOME: home },
      unreachable: { db: url('1', ''), env: { HOME: home } },
    },
    {
      name: 'PGPASSFILE',
      db: url(port, ''),
      env: { PGPASSFILE: passfile },
      unreachable: { db: url('1', ''), env: { PGPASSFILE: passfile } },
    },
  ]
}

function expectNoPassword(where: string, text: string): void {
  expect(text, where).not.toContain(PASSWORD)
  expect(text, where).not.toContain(PASSWORD.slice(4))
}

async function run(
  args: string[],
  form: { db?: string; env: Record<string, string> },
  stdin?: string,
): Promise<CliRun> {
  const r = await runPgbulk([...args, ...(form.db === undefined ? [] : ['--db', form.db])], {
    cwd: dir,
    env: form.env,
    ...(stdin === undefined ? {} : { stdin }),
  })
  expectNoPassword(`stdout of ${args.join(' ')}`, r.stdout)
  expectNoPassword(`stderr of ${args.join(' ')}`, r.stderr)
  return r
}

describe('connections (issue 11)', () => {
  it.for(FORM_NAMES)('connects with %s and never prints or stores the password', async (name, ctx) => {
    if (roleMissing) ctx.skip(roleMissing)
    const form = (await forms()).find((f) => f.name === name)!
    {
      const t = await table()
      const report = join(dir, `report-${seq}.json`)
      const ok = await run(
        ['load', '-', '--table', t, '--report', report, '--quiet', '--job', `job-${seq}`],
        form,
        'id\n1\n2\n',
      )
      expect({ form: form.name, code: ok.code, stderr: ok.stderr }).toEqual({ form: form.name, code: 0, stderr: '' })
      expectNoPassword(`${form.name}: report after success`, await readFile(report, 'utf8'))
      expect(await db.count(t)).toBe(2)

      const jobs = await run(['jobs'], form)
      expect({ form: form.name, code: jobs.code }).toEqual({ form: form.name, code: 0 })
      expect(jobs.stdout).toContain(`job-${seq}`)

      const missing = await run(['load', '-', '--table', 'no_such_table', '--report', report], form, 'id\n1\n')
      expect({ form: form.name, code: missing.code }).toEqual({ form: form.name, code: 1 })
      expect(missing.stderr).toContain('TABLE_NOT_FOUND')
      expectNoPassword(`${form.name}: report after a setup failure`, await readFile(report, 'utf8'))

      const fatal = await table()
      await db.client.query(`CREATE FUNCTION f_${fatal}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          IF NEW.id = 15 THEN RAISE EXCEPTION 'config broke' USING ERRCODE = 'F0000'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER t BEFORE INSERT ON ${fatal} FOR EACH ROW EXECUTE FUNCTION f_${fatal}()`)
      const rows = 'id\n' + Array.from({ length: 30 }, (_, k) => k + 1).join('\n') + '\n'
      const mid = await run(
        ['load', '-', '--table', fatal, '--report', report, '--batch-size', '10', '--no-checkpoint'],
        form,
        rows,
      )
      expect({ form: form.name, code: mid.code }).toEqual({ form: form.name, code: 3 })
      expectNoPassword(`${form.name}: report after a mid-load failure`, await readFile(report, 'utf8'))

      const down = await run(['load', '-', '--table', t, '--report', report], form.unreachable, 'id\n1\n')
      expect({ form: form.name, code: down.code }).toEqual({ form: form.name, code: 1 })
      expect(down.stderr).toContain(`cannot connect to ${ROLE}@${host}:1/${dbname}`)
      expectNoPassword(`${form.name}: report after a connection failure`, await readFile(report, 'utf8'))
      const jobsDown = await run(['jobs'], form.unreachable)
      expect(jobsDown.code).toBe(1)
    }
  })

  it('keeps the password of a connection string that does not parse out of messages and reports', async () => {
    const report = join(dir, 'bad-report.json')
    for (const bad of [
      `postgres//${ROLE}:${PASSWORD}@${host}:${port}/${dbname}`,
      `postgres://${ROLE}:p@ss:w/rd${PASSWORD}@${host}:${port}/${dbname}`,
      `host=${host} user=${ROLE} password='${PASSWORD}`,
      `host=${host} user=${ROLE} ${PASSWORD}`,
    ]) {
      for (const form of [{ db: bad, env: {} }, { env: { DATABASE_URL: bad } }]) {
        const r = await run(['load', '-', '--table', 't', '--report', report], form, 'id\n1\n')
        expect(r.code).toBe(1)
        expect(r.stderr).toMatch(/^pgbulk: error: invalid connection string: .*\(DB_CONNECT\)/)
        const text = await readFile(report, 'utf8')
        expectNoPassword(`report for ${bad}`, text)
        expect(text).not.toContain('ss:w/rd')
        expect((await run(['jobs'], form)).code).toBe(1)
      }
    }
  })

  it('masks the password where a server message quotes it (the password typed as the database name too)', async (ctx) => {
    if (roleMissing) ctx.skip(roleMissing)
    const report = join(dir, 'quoted-report.json')
    const form = {
      env: { DATABASE_URL: `postgres://${ROLE}:${encodeURIComponent(PASSWORD)}@${host}:${port}/${PASSWORD}` },
    }
    const r = await run(['load', '-', '--table', 't', '--report', report], form, 'id\n1\n')
    expect(r.code).toBe(1)
    // The server's own words, the password in them masked: PostgreSQL said 'database "<password>" does not exist'.
    expect(r.stderr).toContain('database "***" does not exist')
    expectNoPassword('report for a message that quotes the password', await readFile(report, 'utf8'))
  })

  // Connected as the server's superuser, whom the checkpoint schema an earlier test's role made does not concern.
  const OWN_SCHEMA = ['--checkpoint-schema', 'pgbulk_sslmode']
  it('takes sslmode as libpq does: prefer and allow connect to a server without TLS, require and verify-full do not', async () => {
    const u = new URL(db.url)
    const kv = (mode: string) =>
      `host=${host} port=${port} user=${u.username} password=${u.password} dbname=${dbname} sslmode=${mode}`
    for (const mode of ['disable', 'allow', 'prefer']) {
      const r = await runPgbulk(['jobs', '--db', kv(mode), ...OWN_SCHEMA], { cwd: dir })
      expect({ mode, code: r.code, stderr: r.stderr }).toEqual({ mode, code: 0, stderr: '' })
    }
    const preferByDefault = await runPgbulk(['jobs', ...OWN_SCHEMA], { cwd: dir, env: { DATABASE_URL: db.url } })
    expect(preferByDefault.code).toBe(0)
    const preferInUrl = await runPgbulk(['jobs', ...OWN_SCHEMA], {
      cwd: dir,
      env: { DATABASE_URL: `${db.url}?sslmode=prefer` },
    })
    expect({ code: preferInUrl.code, stderr: preferInUrl.stderr }).toEqual({ code: 0, stderr: '' })
    for (const mode of ['require', 'verify-ca', 'verify-full']) {
      const r = await runPgbulk(['jobs', '--db', kv(mode), ...OWN_SCHEMA], { cwd: dir, env: { HOME: dir } })
      expect(r.code, mode).toBe(1)
      expect(r.stderr, mode).not.toMatch(/SECURITY WARNING|Warning/)
    }
  })

  it('ignores a password file that others can read, with a warning, and prints no DeprecationWarning', async (ctx) => {
    if (roleMissing) ctx.skip(roleMissing)
    const home = await mkdtemp(join(dir, 'open-home-'))
    const file = join(home, '.pgpass')
    await writeFile(file, `*:*:*:${ROLE}:${PASSWORD}\n`)
    await chmod(file, 0o644)
    const form = { db: `postgres://${ROLE}@${host}:${port}/${dbname}`, env: { HOME: home } }
    const r = await run(['jobs'], form)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      `pgbulk: warning: password file "${file}" has group or world access; permissions should be u=rw (0600) or less`,
    )
    await chmod(file, 0o600)
    const ok = await run(['jobs'], form)
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' })
  })
})

/** The machine's own PostgreSQL (Debian's, socket in /var/run/postgresql, peer auth), when it runs and we may act as its OS user. */
function socketServerMissing(): string | undefined {
  if (!existsSync('/var/run/postgresql/.s.PGSQL.5432'))
    return 'no PostgreSQL listens on /var/run/postgresql (start it with pg_ctlcluster 15 main start)'
  if (process.getuid?.() !== 0)
    return 'not root: cannot run pgbulk as the postgres OS user that peer authentication needs'
  try {
    execFileSync('id', ['-u', 'postgres'])
  } catch {
    return 'no postgres OS user'
  }
  try {
    execFileSync('runuser', ['-u', 'postgres', '--', 'test', '-r', BIN], { stdio: 'ignore' })
  } catch {
    return `the postgres OS user cannot read ${BIN} (a clone inside a folder only its owner may enter)`
  }
  return undefined
}

function runAsPostgres(args: string[]): Promise<CliRun> {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  return outputOf(
    spawn(process.execPath, [BIN, ...args], {
      cwd: '/',
      uid,
      gid,
      env: { PATH: process.env['PATH'] ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
}

describe('defaults like psql (issue 11, item 10)', () => {
  it('with nothing configured, connects as the OS user over the default Unix socket to the database named after the user', async (ctx) => {
    const why = socketServerMissing()
    if (why) ctx.skip(why)
    const jobs = await runAsPostgres(['jobs'])
    expect({ code: jobs.code, stderr: jobs.stderr }).toEqual({ code: 0, stderr: '' })
    // In /tmp, which the postgres OS user may enter (the run's own temporary folder is 0700); removed at the end.
    const scratch = await mkdtemp('/tmp/pgbulk-sock-')
    onTestFinished(() => rm(scratch, { recursive: true, force: true }))
    await chmod(scratch, 0o755)
    await mkdir(join(scratch, 'in'), { mode: 0o755 })
    const input = join(scratch, 'in', 'x.csv')
    await writeFile(input, 'id\n1\n', { mode: 0o644 })
    const load = await runAsPostgres([
      'load',
      input,
      '--table',
      `no_such_table_${SUFFIX}`,
      '--no-checkpoint',
      '--rejects',
      '/dev/null',
      '--force',
    ])
    // It connected (as postgres to the database postgres): the table is what is missing.
    expect(load.stderr).toContain('TABLE_NOT_FOUND')
  })
})

describe('sslmode as in libpq, against a server with TLS (issue 11, item 8)', () => {
  let server: OwnServer | undefined
  let admin: pg.Client
  let certs: string
  let base: string

  beforeAll(async () => {
    certs = await mkdtemp(join(dir, 'certs-'))
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'ignore' })
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=pgbulk-test-ca',
    )
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'other.key',
      '-out',
      'other.crt',
      '-days',
      '2',
      '-subj',
      '/CN=other-ca',
    )
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
    await writeFile(join(certs, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
    ssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '2',
      '-extfile',
      'ext',
    )
    server = await startOwnServer({ tls: { certFile: join(certs, 'server.crt'), keyFile: join(certs, 'server.key') } })
    const u = new URL(server.url)
    base = `port=${u.port} user=${u.username} password=${u.password} dbname=postgres`
    admin = new pg.Client({ connectionString: server.url })
    await admin.connect()
    await admin.query(`CREATE FUNCTION over_tls() RETURNS boolean LANGUAGE sql AS 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';
      CREATE TABLE tls_seen (mode text, tls boolean DEFAULT over_tls())`)
  }, 120_000)

  afterAll(async () => {
    await admin?.end()
    await server?.stop()
  })

  async function jobs(settings: string): Promise<CliRun> {
    return runPgbulk(['jobs', '--db', `${base} ${settings}`], { cwd: dir, env: { HOME: certs } })
  }

  it('disable, allow, prefer and require connect; prefer and require encrypt; no warnings on stderr', async () => {
    for (const mode of ['disable', 'allow', 'prefer', 'require']) {
      const r = await runPgbulk(
        [
          'load',
          '-',
          '--table',
          'tls_seen',
          '--no-checkpoint',
          '--quiet',
          '--db',
          `${base} host=127.0.0.1 sslmode=${mode}`,
        ],
        {
          cwd: dir,
          env: { HOME: certs },
          stdin: `mode\n${mode}\n`,
        },
      )
      expect({ mode, code: r.code, stderr: r.stderr }).toEqual({ mode, code: 0, stderr: '' })
    }
    const seen = await admin.query<{ mode: string; tls: boolean }>('SELECT mode, tls FROM tls_seen ORDER BY mode')
    expect(seen.rows).toEqual([
      { mode: 'allow', tls: false },
      { mode: 'disable', tls: false },
      { mode: 'prefer', tls: true },
      { mode: 'require', tls: true },
    ])
  })

  it('require in a URL encrypts without verifying the certificate, and prints no warning', async () => {
    const r = await runPgbulk(['jobs'], {
      cwd: dir,
      env: { HOME: certs, DATABASE_URL: `${server!.url}?sslmode=require` },
    })
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
  })

  it('verify-ca checks the chain against sslrootcert', async () => {
    expect((await jobs(`host=127.0.0.1 sslmode=verify-ca sslrootcert=${join(certs, 'ca.crt')}`)).code).toBe(0)
    const wrong = await jobs(`host=127.0.0.1 sslmode=verify-ca sslrootcert=${join(certs, 'other.crt')}`)
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/cannot connect to .*(certificate|issuer)/)
    // libpq: require with a root certificate file verifies the chain too.
    expect((await jobs(`host=127.0.0.1 sslmode=require sslrootcert=${join(certs, 'other.crt')}`)).code).toBe(1)
    const none = await jobs('host=127.0.0.1 sslmode=verify-ca')
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('root.crt" does not exist')
  })

  it('verify-full checks the chain and the host name', async () => {
    const ca = `sslrootcert=${join(certs, 'ca.crt')}`
    expect((await jobs(`host=127.0.0.1 sslmode=verify-full ${ca}`)).code).toBe(0)
    expect((await jobs(`host=localhost hostaddr=127.0.0.1 sslmode=verify-full ${ca}`)).code).toBe(0)
    const wrongHost = await jobs(`host=db.invalid hostaddr=127.0.0.1 sslmode=verify-full ${ca}`)
    expect(wrongHost.code).toBe(1)
    expect(wrongHost.stderr).toMatch(/db\.invalid/)
    expect((await jobs(`host=127.0.0.1 sslmode=verify-full sslrootcert=${join(certs, 'other.crt')}`)).code).toBe(1)
  })
})
