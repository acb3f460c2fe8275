import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LoadError } from '../../src/errors.js'
import {
  parseConnectionString,
  passwordFromFile,
  redactConnectionString,
  resolveConnection,
} from '../../src/db/conninfo.js'

const SECRET = 'Zq9-distinctive-s3cret'

function fields(s: string): Record<string, string> {
  return Object.fromEntries(parseConnectionString(s))
}

function parseError(s: string): LoadError {
  try {
    parseConnectionString(s)
  } catch (err) {
    return err as LoadError
  }
  throw new Error('parsed')
}

describe('parseConnectionString', () => {
  it('reads libpq keyword/value settings, with spaces around "=", quotes and backslash escapes', () => {
    expect(fields(`host=db.example port = 6543 user=u password='it s' dbname=d`)).toMatchObject({
      host: 'db.example',
      port: '6543',
      user: 'u',
      dbname: 'd',
    })
    expect(fields(`password='a \\'quoted\\' pass\\\\word' user=u`)).toEqual({
      password: "a 'quoted' pass\\word",
      user: 'u',
    })
    expect(fields(`password=back\\ slash user=u`)).toEqual({ password: 'back slash', user: 'u' })
    expect(fields(`host=h password='' user=u`)).toEqual({ host: 'h', user: 'u' })
  })

  it('reads URLs with percent-encoding, IPv6 hosts, socket directories and parameters', () => {
    expect(fields('postgres://u:p%40ss%2Fw@db:6543/mydb?sslmode=require&application_name=x')).toEqual({
      user: 'u',
      password: 'p@ss/w',
      host: 'db',
      port: '6543',
      dbname: 'mydb',
      sslmode: 'require',
      application_name: 'x',
    })
    expect(fields('postgresql://[::1]:5433/d')).toEqual({ host: '::1', port: '5433', dbname: 'd' })
    expect(fields('postgres://%2Fvar%2Frun%2Fpostgresql/d')).toEqual({ host: '/var/run/postgresql', dbname: 'd' })
    expect(fields(`postgres://u@h/d?password=${SECRET}`)).toMatchObject({ user: 'u', password: SECRET })
    // as URLSearchParams writes a space (and node-postgres read it)
    expect(fields('postgres://h/d?options=-c+lock_timeout%3D100')).toEqual({
      host: 'h',
      dbname: 'd',
      options: '-c lock_timeout=100',
    })
  })

  it('refuses strings it cannot read without quoting any of their text', () => {
    for (const s of [
      `postgres//u:${SECRET}@host/db`,
      `postgres://u:p@ss:w/rd@host/db`.replace('p@ss', SECRET),
      `host=h password='${SECRET}`,
      `host=h ${SECRET}`,
      `host=h ${SECRET}=x`,
      `postgres://u:${SECRET}@h/d?${SECRET}=1`,
      `postgres://u:${SECRET}%zz@h/d`,
    ]) {
      const err = parseError(s)
      expect(err).toBeInstanceOf(LoadError)
      expect(err.code).toBe('DB_CONNECT')
      expect(`${err.message} ${err.hint}`).not.toContain(SECRET.slice(4))
      expect(`${err.message} ${err.hint}`).not.toContain('host/db')
    }
  })
})

describe('redactConnectionString', () => {
  it('rebuilds the string from its fields without the password', () => {
    expect(redactConnectionString(`host=127.0.0.1 user=u password=${SECRET} dbname=d`)).toBe(
      'postgres://u:***@127.0.0.1/d',
    )
    expect(redactConnectionString(`postgres://u@h:1/d?password=${SECRET}&sslmode=disable`)).toBe(
      'postgres://u:***@h:1/d?sslmode=disable',
    )
    expect(redactConnectionString(`postgres://u:p@ss:w/rd@host/db`)).toBe('(an invalid connection string, not shown)')
    // A password typed where a name goes too is hidden there, and only there: not in the scheme.
    expect(redactConnectionString(`postgres://u:${SECRET}@h/${SECRET}x`)).toBe('postgres://u:***@h/***x')
    expect(redactConnectionString('postgres://postgres:postgres@h/app')).toBe('postgres://***:***@h/app')
  })
})

describe('resolveConnection', () => {
  const none = { warn: () => {} }

  it('takes the string first, then the PG* variables, then the socket as the OS user', () => {
    const c = resolveConnection('dbname=d', {
      ...none,
      env: { PGHOST: 'h', PGPORT: '7', PGUSER: 'pu', PGPASSWORD: 'pw', PGDATABASE: 'x', HOME: '/nonexistent' },
    })
    expect(c).toMatchObject({ host: 'h', port: 7, user: 'pu', database: 'd', password: 'pw', sslmode: 'prefer' })
    const d = resolveConnection(undefined, { ...none, env: { HOME: '/nonexistent' } })
    expect(d.host).toMatch(/^\/(var\/run\/postgresql|tmp)$/)
    expect(d.port).toBe(5432)
    expect(d.database).toBe(d.user)
    expect(d.user).not.toBe('')
  })

  it('takes the password from the password file, matching wildcards and escapes, as libpq does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgpass-'))
    const file = join(dir, 'pass')
    writeFileSync(
      file,
      ['# comment', 'other:5432:*:u:wrong', 'h\\:x:*:d:u:first\\:one', '*:5432:*:u:sec:ret', '*:*:*:*:fallback'].join(
        '\n',
      ),
      { mode: 0o600 },
    )
    const warn: string[] = []
    const get = (host: string, port: number, user = 'u') =>
      passwordFromFile(file, { host, port, database: 'd', user }, (m) => warn.push(m))
    expect(get('h:x', 1)).toBe('first:one')
    expect(get('db', 5432)).toBe('sec:ret')
    expect(get('db', 1, 'v')).toBe('fallback')
    expect(resolveConnection(`host=db user=u passfile=${file}`, { ...none, env: {} }).password).toBe('sec:ret')
    chmodSync(file, 0o644)
    expect(get('db', 5432)).toBeUndefined()
    expect(warn).toEqual([expect.stringContaining('has group or world access')])
  })
})
