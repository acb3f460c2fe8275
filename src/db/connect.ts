import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { checkServerIdentity, type ConnectionOptions } from 'node:tls'
import pg from 'pg'
import { LoadError } from '../errors.js'
import { describeResolved, redactConnectionString, resolveConnection, type ResolvedConnection } from './conninfo.js'

export type { ResolvedConnection } from './conninfo.js'

/**
 * Connection settings as psql reads them: an explicit connection string (URL or keyword/value),
 * else DATABASE_URL, and for every field it leaves out the PG* variables, then libpq's defaults.
 */
export function connectionConfig(db: string | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedConnection {
  const input = db ?? (env['DATABASE_URL'] || undefined)
  return resolveConnection(input, { env, warn: (m) => process.stderr.write(`pgbulk: warning: ${m}\n`) })
}

/** "user@host:port/database" for messages: never the password. */
export function describeConnection(c: ResolvedConnection): string {
  return describeResolved(c)
}

/** A connection string as reports may keep it: rebuilt from its fields, without the password. */
export function redactUrl(input: string): string {
  return redactConnectionString(input)
}

/** The TLS options for one attempt at sslmode's meaning in libpq; false for none. */
function tlsFor(c: ResolvedConnection, encrypt: boolean): false | ConnectionOptions {
  if (!encrypt || c.host.startsWith('/')) return false // libpq never uses TLS over a Unix socket
  const pgDir = join(homedir(), '.postgresql')
  const certFile = c.sslcert ?? join(pgDir, 'postgresql.crt')
  const keyFile = c.sslkey ?? join(pgDir, 'postgresql.key')
  const out: ConnectionOptions = {}
  if (existsSync(certFile) && existsSync(keyFile)) {
    out.cert = readTlsFile(certFile, 'sslcert')
    out.key = readTlsFile(keyFile, 'sslkey')
  }
  const rootFile = c.sslrootcert ?? join(pgDir, 'root.crt')
  // sslmode=require with a root certificate file at hand verifies the chain, as libpq does.
  const verify =
    c.sslmode === 'verify-ca' ||
    c.sslmode === 'verify-full' ||
    (c.sslmode === 'require' && (rootFile === 'system' || existsSync(rootFile)))
  if (!verify) return { ...out, rejectUnauthorized: false }
  if (rootFile !== 'system') {
    if (!existsSync(rootFile)) {
      throw new LoadError(
        'DB_CONNECT',
        `root certificate file ${JSON.stringify(rootFile)} does not exist`,
        'give sslrootcert (or PGSSLROOTCERT), or sslrootcert=system for the system CAs, or use sslmode=require',
      )
    }
    out.ca = readTlsFile(rootFile, 'sslrootcert')
  }
  out.rejectUnauthorized = true
  // verify-full checks the host name against the certificate (Node would check "localhost" for an IP address:
  // pg sets no servername then).
  out.checkServerIdentity =
    c.sslmode === 'verify-full' ? (_name, cert) => checkServerIdentity(c.host, cert) : () => undefined
  return out
}

function readTlsFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new LoadError(
      'DB_CONNECT',
      `cannot read the ${what} file ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      undefined,
      {
        cause: err,
      },
    )
  }
}

function clientConfig(c: ResolvedConnection, encrypt: boolean): pg.ClientConfig {
  const password = c.password
  return {
    // Every field is given, so node-postgres reads neither the PG* variables nor a connection string of its own.
    host: c.hostaddr ?? c.host,
    port: c.port,
    user: c.user,
    database: c.database,
    // A function: node-postgres then never looks in ~/.pgpass itself (its own lookup prints a
    // DeprecationWarning on every run, pg 8.x client.js _getPassword); ours ran in resolveConnection.
    password: () => {
      if (password === undefined)
        return Promise.reject(
          new Error('the server asked for a password and none was given (--db, PGPASSWORD or a password file)'),
        )
      return Promise.resolve(password)
    },
    ssl: tlsFor(c, encrypt),
    application_name: c.applicationName,
    ...(c.options !== undefined ? { options: c.options } : {}),
    // TCP keepalives, as libpq sends them by default: a connection idle for long (the job lock's)
    // is not dropped by a firewall or NAT.
    keepAlive: true,
    connectionTimeoutMillis: c.connectTimeoutS * 1000,
  }
}

async function attempt(c: ResolvedConnection, encrypt: boolean): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(c, encrypt))
  client.on('error', () => {}) // a dropped connection surfaces on the next query
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  return client
}

/** Open a connection, turning failures into a DB_CONNECT error that names the server but not the password. */
export async function connect(c: ResolvedConnection): Promise<pg.Client> {
  try {
    if (c.sslmode === 'disable') return await attempt(c, false)
    if (c.sslmode === 'allow') {
      // allow: without TLS first, with it when the server refuses that.
      return await attempt(c, false).catch((err: unknown) => {
        if (typeof (err as { code?: unknown }).code !== 'string' || !/^28/.test((err as { code: string }).code))
          throw err
        return attempt(c, true)
      })
    }
    if (c.sslmode === 'prefer') {
      // prefer, libpq's default: TLS when the server has it; node-postgres has no such fallback.
      return await attempt(c, true).catch((err: unknown) => {
        if (!/does not support SSL/i.test((err as Error).message)) throw err
        return attempt(c, false)
      })
    }
    return await attempt(c, true)
  } catch (err) {
    if (err instanceof LoadError) throw err
    throw new LoadError(
      'DB_CONNECT',
      // The whole message: a password typed where a name goes (the database's, say) is quoted by both.
      stripSecrets(`cannot connect to ${describeConnection(c)}: ${(err as Error).message}`, c),
      'check --db, DATABASE_URL or the PG* variables, and that the server is running',
      { cause: err },
    )
  }
}

/** A server or driver message may quote what it was given; the password never goes out. */
function stripSecrets(message: string, c: ResolvedConnection): string {
  return c.password ? message.split(c.password).join('***') : message
}
