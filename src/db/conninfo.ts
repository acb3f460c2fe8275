import { existsSync, readFileSync, statSync } from 'node:fs'
import { homedir, userInfo } from 'node:os'
import { join } from 'node:path'
import { LoadError } from '../errors.js'

// Connection settings as libpq reads them (PostgreSQL docs, "Connection Strings" and
// "Environment Variables"; src/interfaces/libpq/fe-connect.c): a string is parsed once into
// keyword fields, and from then on only those fields are printed, never the string itself, so a
// password cannot reach a message or a report however mangled the string is.

/** The keywords pgbulk understands, in a URL's query or a keyword/value string. */
const KEYWORDS = new Set([
  'host',
  'hostaddr',
  'port',
  'user',
  'password',
  'dbname',
  'passfile',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'application_name',
  'fallback_application_name',
  'connect_timeout',
  'options',
  'keepalives',
])

/** libpq's sslmode values (PostgreSQL docs, table "SSL Mode Descriptions"). */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full'
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']

const DEFAULT_PORT = 5432 // libpq's DEF_PGPORT

/** The fields of a connection string, keyword → value (empty values are left out, as libpq treats them as unset). */
export type ConnectionFields = Map<string, string>

/**
 * Parse a connection URL (postgres:// or postgresql://) or a keyword/value string
 * ("host=db port=5432 user=u"), as libpq does. Errors name the position, never the text: the
 * text may hold a password.
 */
export function parseConnectionString(input: string): ConnectionFields {
  if (/^postgres(ql)?:\/\//i.test(input)) return parseUrl(input)
  if (!input.includes('=')) {
    throw invalid(
      'it is neither a postgres:// URL nor keyword=value settings',
      'a URL starts with postgres:// or postgresql://; keyword/value settings look like "host=db user=u dbname=d"',
    )
  }
  return parseKeywordValue(input)
}

function invalid(
  why: string,
  hint = 'check --db or DATABASE_URL (the string is not shown: it may hold a password)',
): LoadError {
  return new LoadError('DB_CONNECT', `invalid connection string: ${why}`, hint)
}

function setField(fields: ConnectionFields, key: string, value: string, where: string): void {
  if (!KEYWORDS.has(key)) throw invalid(`unknown keyword ${where}`)
  if (key === 'sslmode' && value !== '' && !SSL_MODES.includes(value as SslMode)) {
    throw invalid(`sslmode must be one of ${SSL_MODES.join(', ')}`)
  }
  if (key === 'port' && value !== '' && !/^\d{1,5}$/.test(value)) {
    throw invalid('the port is not a number', 'an "@" or "/" in a password must be percent-encoded in a URL (%40, %2F)')
  }
  if (value === '') fields.delete(key)
  else fields.set(key, value)
}

/**
 * libpq's conninfo_parse: keyword = value pairs, values in single quotes or bare, backslash escapes the next character.
 */
function parseKeywordValue(s: string): ConnectionFields {
  const fields: ConnectionFields = new Map()
  let i = 0
  const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c)
  while (i < s.length) {
    while (isSpace(s[i])) i++
    if (i >= s.length) break
    const keyStart = i
    while (i < s.length && !isSpace(s[i]) && s[i] !== '=') i++
    const key = s.slice(keyStart, i)
    while (isSpace(s[i])) i++
    if (s[i] !== '=') throw invalid(`missing "=" after the keyword at character ${keyStart + 1}`)
    i++
    while (isSpace(s[i])) i++
    let value = ''
    if (s[i] === "'") {
      i++
      for (;;) {
        if (i >= s.length) throw invalid(`unterminated quoted value after the keyword at character ${keyStart + 1}`)
        const c = s[i]!
        if (c === '\\' && i + 1 < s.length) {
          value += s[i + 1]
          i += 2
        } else if (c === "'") {
          i++
          break
        } else {
          value += c
          i++
        }
      }
    } else {
      while (i < s.length && !isSpace(s[i])) {
        if (s[i] === '\\' && i + 1 < s.length) i++
        value += s[i]
        i++
      }
    }
    setField(fields, key, value, `at character ${keyStart + 1}`)
  }
  return fields
}

function percentDecode(s: string, what: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw invalid(`bad percent-encoding in the ${what}`)
  }
}

/** libpq's conninfo_uri_parse_options: postgres://[user[:password]@][host][:port][/dbname][?keyword=value&…]. */
function parseUrl(s: string): ConnectionFields {
  const fields: ConnectionFields = new Map()
  let rest = s.slice(s.indexOf('://') + 3)
  // The user part ends at the first "@" before any "/":
  // an "@" or "/" inside a password must be percent-encoded (%40, %2F).
  const at = rest.search(/[@/]/)
  if (at >= 0 && rest[at] === '@') {
    const userinfo = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = userinfo.indexOf(':')
    setField(fields, 'user', percentDecode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name'), '')
    if (colon >= 0) setField(fields, 'password', percentDecode(userinfo.slice(colon + 1), 'password'), '')
  }
  let host: string
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) throw invalid('unterminated IPv6 address in the URL')
    host = rest.slice(1, close)
    rest = rest.slice(close + 1)
  } else {
    const end = rest.search(/[:/?,]/)
    host = end < 0 ? rest : rest.slice(0, end)
    rest = end < 0 ? '' : rest.slice(end)
  }
  setField(fields, 'host', percentDecode(host, 'host'), '')
  if (rest.startsWith(':')) {
    const end = rest.search(/[/?,]/)
    const port = end < 0 ? rest.slice(1) : rest.slice(1, end)
    rest = end < 0 ? '' : rest.slice(end)
    setField(fields, 'port', percentDecode(port, 'port'), '')
  }
  if (rest.startsWith(',')) throw invalid('several hosts in one URL are not supported', 'give one host')
  if (rest.startsWith('/')) {
    const end = rest.indexOf('?')
    setField(fields, 'dbname', percentDecode(end < 0 ? rest.slice(1) : rest.slice(1, end), 'database name'), '')
    rest = end < 0 ? '' : rest.slice(end)
  }
  if (rest.startsWith('?')) {
    let n = 0
    for (const pair of rest.slice(1).split('&')) {
      n++
      if (pair === '') continue
      const eq = pair.indexOf('=')
      if (eq < 0) throw invalid(`missing "=" in URL parameter ${n}`)
      // "+" is a space in a query, as URLSearchParams writes it and node-postgres read it (libpq
      // takes it literally; a "+" in a value must be %2B here).
      let key = percentDecode(pair.slice(0, eq).replaceAll('+', ' '), `name of URL parameter ${n}`)
      let value = percentDecode(pair.slice(eq + 1).replaceAll('+', ' '), `value of URL parameter ${n}`)
      // libpq's compatibility with the JDBC-style "ssl=true".
      if (key === 'ssl' && value === 'true') [key, value] = ['sslmode', 'require']
      setField(fields, key, value, `in URL parameter ${n}`)
    }
  } else if (rest !== '') {
    throw invalid(
      'unexpected text after the host in the URL',
      'an "@" or "/" in a password must be percent-encoded (%40, %2F)',
    )
  }
  return fields
}

/** A connection, every field decided: what to connect to and how. */
export interface ResolvedConnection {
  /**
   * Host name, IP address, or a Unix socket directory (starts with "/"):
   * what verify-full checks the certificate against.
   */
  host: string
  /** The IP address to connect to instead of looking up the host name (libpq's hostaddr). */
  hostaddr: string | undefined
  port: number
  user: string
  database: string
  /** The password, or undefined when none was given (the server may not ask). Never printed. */
  password: string | undefined
  /** Where the password came from, for messages ("PGPASSWORD", a password file's path, …). */
  passwordSource: string | undefined
  sslmode: SslMode
  sslrootcert: string | undefined
  sslcert: string | undefined
  sslkey: string | undefined
  applicationName: string
  connectTimeoutS: number
  options: string | undefined
}

/** The environment variables libpq reads, by keyword. */
const ENV_BY_KEYWORD: Record<string, string> = {
  host: 'PGHOST',
  hostaddr: 'PGHOSTADDR',
  port: 'PGPORT',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  dbname: 'PGDATABASE',
  passfile: 'PGPASSFILE',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  application_name: 'PGAPPNAME',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  options: 'PGOPTIONS',
}

/** What resolving reads besides the string: the environment, the OS user, files. Tests pass their own. */
export interface ResolveContext {
  env: NodeJS.ProcessEnv
  /** A warning for the user (a password file ignored). */
  warn: (message: string) => void
}

/** libpq's default socket directory on Debian (DEFAULT_PGSOCKET_DIR), else the upstream default /tmp. */
export function defaultSocketDir(): string {
  return existsSync('/var/run/postgresql') ? '/var/run/postgresql' : '/tmp'
}

/**
 * Decide every connection field as libpq does: the string's fields first, then the PG* variables,
 * then the defaults (the Unix socket, the OS user, a database named after the user, sslmode
 * prefer); a missing password is looked up in the password file.
 */
export function resolveConnection(input: string | undefined, ctx: ResolveContext): ResolvedConnection {
  const fields = input === undefined ? new Map<string, string>() : parseConnectionString(input)
  const get = (key: string): string | undefined => {
    const v = fields.get(key)
    if (v !== undefined) return v
    const envName = ENV_BY_KEYWORD[key]
    const e = envName ? ctx.env[envName] : undefined
    return e === undefined || e === '' ? undefined : e
  }
  const hostaddr = get('hostaddr')
  const host = get('host') ?? hostaddr ?? defaultSocketDir()
  const portText = get('port')
  const port = portText === undefined ? DEFAULT_PORT : Number(portText)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('the port is not a number from 1 to 65535')
  const user = get('user') ?? osUser()
  const database = get('dbname') ?? user
  const sslmodeText = get('sslmode') ?? 'prefer'
  if (!SSL_MODES.includes(sslmodeText as SslMode)) throw invalid(`sslmode must be one of ${SSL_MODES.join(', ')}`)
  const timeoutText = get('connect_timeout')
  const timeoutS = timeoutText === undefined ? 30 : Number(timeoutText)
  let password = get('password')
  let passwordSource: string | undefined
  if (password !== undefined) passwordSource = fields.has('password') ? 'the connection string' : 'PGPASSWORD'
  else {
    const file = get('passfile') ?? join(ctx.env['HOME'] || homedir(), '.pgpass')
    password = passwordFromFile(file, { host, port, database, user }, ctx.warn)
    if (password !== undefined) passwordSource = file
  }
  return {
    host,
    hostaddr,
    port,
    user,
    database,
    password,
    passwordSource,
    sslmode: sslmodeText as SslMode,
    sslrootcert: get('sslrootcert'),
    sslcert: get('sslcert'),
    sslkey: get('sslkey'),
    applicationName: get('application_name') ?? get('fallback_application_name') ?? 'pgbulk',
    connectTimeoutS: Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS : 30,
    options: get('options'),
  }
}

/** The OS user's name, as libpq takes it (getpwuid), whatever USER says. */
function osUser(): string {
  try {
    return userInfo().username
  } catch {
    throw new LoadError(
      'DB_CONNECT',
      'no PostgreSQL user name given, and the OS user has no name',
      'set PGUSER, or user= in --db',
    )
  }
}

/**
 * The password for a connection from a libpq password file (lines
 * host:port:database:user:password, "*" matches anything, "\" escapes ":" and "\"). Like libpq,
 * a file that group or others can read is ignored with a warning.
 */
export function passwordFromFile(
  file: string,
  conn: { host: string; port: number; database: string; user: string },
  warn: (message: string) => void,
): string | undefined {
  let st
  try {
    st = statSync(file)
  } catch {
    return undefined
  }
  if (!st.isFile()) {
    warn(`password file ${JSON.stringify(file)} is not a plain file`)
    return undefined
  }
  if ((st.mode & 0o077) !== 0) {
    warn(`password file ${JSON.stringify(file)} has group or world access; permissions should be u=rw (0600) or less`)
    return undefined
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  // A socket connection matches the host "localhost", as in libpq (passwordFromFile in fe-connect.c).
  const host = conn.host.startsWith('/') ? 'localhost' : conn.host
  const wanted = [host, String(conn.port), conn.database, conn.user]
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#') || line.trim() === '') continue
    const fields = splitPassLine(line)
    if (fields.length < 5) continue
    if (wanted.every((w, k) => fields[k] === '*' || fields[k] === w)) return fields.slice(4).join(':')
  }
  return undefined
}

/** Split a password file line at unescaped ":"; the fifth field is the rest of the line. */
function splitPassLine(line: string): string[] {
  const out: string[] = []
  let cur = ''
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === '\\' && i + 1 < line.length) cur += line[++i]
    else if (c === ':' && out.length < 4) {
      out.push(cur)
      cur = ''
    } else cur += c
  }
  out.push(cur)
  return out
}

/** "user@host:port/database" for messages: fields only, never the password. */
export function describeResolved(c: Pick<ResolvedConnection, 'user' | 'host' | 'port' | 'database'>): string {
  return `${c.user}@${c.host}:${c.port}/${c.database}`
}

/**
 * A connection string as it may be shown (reports, messages): rebuilt from its fields as a URL
 * without the password, or a placeholder when it does not parse.
 */
export function redactConnectionString(input: string): string {
  let fields: ConnectionFields
  try {
    fields = parseConnectionString(input)
  } catch {
    return '(an invalid connection string, not shown)'
  }
  // Each field's value, with a password typed into it too (a database named like it) hidden; the
  // scheme and separators are never touched, whatever the password is.
  const password = fields.get('password')
  const hide = (v: string) => (password ? v.split(password).join('***') : v)
  const enc = (v: string) => encodeURIComponent(hide(v))
  const user = fields.get('user')
  const host = fields.get('host') ?? ''
  const port = fields.get('port')
  const db = fields.get('dbname')
  const userInfo = user ? `${enc(user)}${fields.has('password') ? ':***' : ''}@` : ''
  // An IPv6 address goes in brackets.
  const hostText = host.includes(':') ? `[${hide(host)}]` : enc(host)
  let out = `postgres://${userInfo}${hostText}`
  if (port) out += `:${enc(port)}`
  if (db) out += `/${enc(db)}`
  const params = [...fields].filter(([k]) => !['user', 'password', 'host', 'port', 'dbname'].includes(k))
  if (!user && fields.has('password')) params.push(['password', '***'])
  if (params.length > 0) out += '?' + params.map(([k, v]) => `${k}=${k === 'password' ? v : enc(v)}`).join('&')
  return out
}
