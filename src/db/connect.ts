import pg from 'pg'
import { LoadError } from '../errors.js'

/** Connection settings: an explicit URL, else DATABASE_URL, else the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE) that node-postgres reads as psql does. */
export function connectionConfig(dbUrl: string | undefined, env: NodeJS.ProcessEnv = process.env): pg.ClientConfig {
  const url = dbUrl ?? env['DATABASE_URL']
  const timeoutS = Number(env['PGCONNECT_TIMEOUT'] ?? 30)
  return {
    ...(url ? { connectionString: url } : {}),
    application_name: 'pgbulk',
    // TCP keepalives, as libpq sends them by default: a connection idle for long (the job lock's) is not dropped by a firewall or NAT.
    keepAlive: true,
    connectionTimeoutMillis: Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS * 1000 : 30000,
  }
}

/** "user@host:port/database" for messages: never the password. */
export function describeConnection(client: pg.Client): string {
  const c = client as unknown as { user?: string; host?: string; port?: number; database?: string }
  return `${c.user ?? ''}@${c.host ?? ''}:${c.port ?? ''}/${c.database ?? ''}`
}

/** The URL with any password replaced, for reports and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    for (const key of [...u.searchParams.keys()]) if (/pass/i.test(key)) u.searchParams.set(key, '***')
    return u.toString()
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@')
  }
}

/** Open a connection, turning failures into a DB_CONNECT error that names the server but not the password. */
export async function connect(config: pg.ClientConfig): Promise<pg.Client> {
  let client: pg.Client
  try {
    client = new pg.Client(config)
  } catch (err) {
    throw new LoadError('DB_CONNECT', `invalid connection settings: ${stripSecrets((err as Error).message, config)}`, 'check --db or DATABASE_URL')
  }
  client.on('error', () => {}) // a dropped connection surfaces on the next query
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw new LoadError(
      'DB_CONNECT',
      `cannot connect to ${describeConnection(client)}: ${stripSecrets((err as Error).message, config)}`,
      'check --db, DATABASE_URL or the PG* variables, and that the server is running',
      { cause: err },
    )
  }
  return client
}

function stripSecrets(message: string, config: pg.ClientConfig): string {
  let out = message
  const pw = typeof config.password === 'string' ? config.password : process.env['PGPASSWORD']
  if (config.connectionString) out = out.split(config.connectionString).join(redactUrl(config.connectionString))
  if (pw) out = out.split(pw).join('***')
  return out
}
