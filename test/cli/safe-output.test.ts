import { existsSync } from 'node:fs'
import { lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { RejectSink } from '../../src/reject/reject-sink.js'
import { type CliRun, runPgbulk, runShell } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects } from '../helpers/fixtures.js'

// Issue 11, "safe by default": what pgbulk writes goes where it was asked, as it is (a device is
// not replaced, a link is not followed), and what reaches a terminal cannot drive it.

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

let seq = 0
/** A new table (id int, v text); `extra` is more SQL, with $T for its name. */
async function table(extra = ''): Promise<string> {
  const name = `s${++seq}`
  await db.client.query(`CREATE TABLE ${name} (id int PRIMARY KEY, v text); ${extra.replaceAll('$T', name)}`)
  return name
}

/** An input of three rows, the second of them rejected (its id is not an integer). */
async function input(name: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, 'id,v\n1,a\nx,b\n3,c\n')
  return path
}

function pgbulk(args: string[]): Promise<CliRun> {
  return runPgbulk(args, { cwd: dir, env: { DATABASE_URL: db.url } })
}

/** Run a bash command line with $PGBULK as the binary, in the test folder. */
const sh = (script: string): Promise<CliRun> => runShell(script, { cwd: dir, env: { DATABASE_URL: db.url } })

/**
 * A character device like /dev/null (1,3): as root, made in the test's folder, so that the real
 * one is never at risk; as anyone else (mknod needs root), the real /dev/null, which an ordinary
 * user could not replace or chmod even if pgbulk tried.
 */
async function nullDevice(name: string): Promise<string> {
  if (process.getuid?.() !== 0) return '/dev/null'
  const path = join(dir, name)
  const r = await sh(`mknod -m 0666 ${name} c 1 3`)
  expect(r.code).toBe(0)
  return path
}

describe('--rejects: devices, pipes, standard output and links', () => {
  it('--force writes to a device as it is, never replaces or chmods it', async () => {
    const t = await table()
    const dev = await nullDevice('null1')
    const r = await pgbulk(['load', await input('a.csv'), '--table', t, '--rejects', dev, '--force'])
    expect(r.code).toBe(2)
    const st = await lstat(dev)
    expect(st.isCharacterDevice()).toBe(true)
    expect(st.mode & 0o777).toBe(0o666)
    expect(await db.count(t)).toBe(2)
  })

  it('a link to a device is written through with --force, not replaced by a file', async () => {
    const t = await table()
    const dev = await nullDevice('null2')
    const link = join(dir, 'to-null.ndjson')
    await symlink(dev, link)
    const r = await pgbulk(['load', await input('b.csv'), '--table', t, '--dry-run', '--rejects', link, '--force'])
    expect(r.code).toBe(2)
    expect((await lstat(link)).isSymbolicLink()).toBe(true)
    expect((await lstat(dev)).isCharacterDevice()).toBe(true)
  })

  it('--rejects - writes the reject lines to standard output and creates no file named "-"', async () => {
    const t = await table()
    const r = await pgbulk(['load', await input('c.csv'), '--table', t, '--rejects', '-'])
    expect(r.code).toBe(2)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ line: 3, code: 'VALUE_INVALID', raw: 'x,b' })
    expect(existsSync(join(dir, '-'))).toBe(false)
  })

  it('--rejects /dev/stdout works without --force and leaves /dev/stdout alone', async () => {
    const t = await table()
    const f = await input('d.csv')
    const r = await sh(
      `$PGBULK load ${f} --table ${t} --dry-run --rejects /dev/stdout | cat; echo "status \${PIPESTATUS[0]}"`,
    )
    expect(r.stdout).toContain('"raw":"x,b"')
    expect(r.stdout).toContain('status 2')
    expect((await lstat('/dev/stdout')).isSymbolicLink()).toBe(true)
  })

  it('--rejects /dev/stdout writes to standard output when it is a socket', async () => {
    const t = await table()
    const r = await pgbulk(['load', await input('d2.csv'), '--table', t, '--rejects', '/dev/stdout'])
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ line: 3, raw: 'x,b' })
  })

  it('a FIFO is written to as it is', async () => {
    const t = await table()
    const f = await input('e.csv')
    const r = await sh(
      `mkfifo rej.fifo && { timeout 20 cat rej.fifo > got.ndjson & } && timeout 20 $PGBULK load ${f} --table ${t} --rejects rej.fifo --force; s=$?; wait; echo "status $s"`,
    )
    expect(r.stdout).toContain('status 2')
    expect((await lstat(join(dir, 'rej.fifo'))).isFIFO()).toBe(true)
    expect((await readRejects(join(dir, 'got.ndjson'))).map((x) => x['raw'])).toEqual(['x,b'])
  })

  it('a directory is refused with a clear error, --force or not', async () => {
    const t = await table()
    await mkdir(join(dir, 'rejdir'))
    await writeFile(join(dir, 'rejdir', 'keep'), 'k')
    const r = await pgbulk(['load', await input('f.csv'), '--table', t, '--rejects', 'rejdir', '--force'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('cannot write reject lines to rejdir: it is a directory (REJECTS_UNWRITABLE)')
    expect(await readFile(join(dir, 'rejdir', 'keep'), 'utf8')).toBe('k')
  })

  it('--force replaces a link to a file by a new file, and leaves the file it pointed to alone', async () => {
    const t = await table()
    const victim = join(dir, 'victim.txt')
    await writeFile(victim, 'precious')
    const link = join(dir, 'link.ndjson')
    await symlink(victim, link)
    const refused = await pgbulk(['load', await input('g.csv'), '--table', t, '--dry-run', '--rejects', link])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('(a symbolic link)')
    const r = await pgbulk(['load', await input('g.csv'), '--table', t, '--dry-run', '--rejects', link, '--force'])
    expect(r.code).toBe(2)
    const st = await lstat(link)
    expect(st.isFile()).toBe(true)
    expect(st.mode & 0o777).toBe(0o600)
    expect(await readFile(victim, 'utf8')).toBe('precious')
  })

  it('resuming onto a device appends; resuming onto a link is refused', async () => {
    const dev = await nullDevice('null3')
    const sink = await RejectSink.resume(dev, () => true)
    expect(sink.kind).toBe('stream')
    await sink.writeLine('{"x":1}')
    const m = await sink.mark()
    await sink.writeLine('{"x":2}')
    await sink.rollbackTo(m)
    await sink.sync()
    await sink.close()
    expect(sink.count).toBe(1)
    expect((await lstat(dev)).isCharacterDevice()).toBe(true)
    const link = join(dir, 'resume-link.ndjson')
    await writeFile(join(dir, 'real.ndjson'), '')
    await symlink(join(dir, 'real.ndjson'), link)
    await expect(RejectSink.resume(link, () => true)).rejects.toMatchObject({ code: 'REJECTS_UNWRITABLE' })
  })
})

describe('temporary files', () => {
  it('resume writes its temporary file under a name nobody can guess and follows no link', async () => {
    const path = join(dir, 'resume.ndjson')
    await writeFile(path, '{"a":1}\n{"a":2}\n')
    const victim = join(dir, 'resume-victim.txt')
    await writeFile(victim, 'precious')
    // The name the old code used: a link planted there was followed, and the victim overwritten.
    await symlink(victim, `${path}.resume-${process.pid}.tmp`)
    const sink = await RejectSink.resume(path, (r) => (r as unknown as { a: number }).a === 1)
    await sink.close()
    expect(await readFile(victim, 'utf8')).toBe('precious')
    expect(await readFile(path, 'utf8')).toBe('{"a":1}\n')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(
      (await readdir(dir)).filter((n) => n.startsWith('resume.ndjson.') && !n.endsWith(`-${process.pid}.tmp`)),
    ).toEqual([])
  })

  it('redrive neither follows nor removes what is at the old fixed temporary name', async () => {
    const t = await table()
    const rej = join(dir, 'h.rejects.ndjson')
    const first = await pgbulk(['load', await input('h.csv'), '--table', t, '--rejects', rej])
    expect(first.code).toBe(2)
    const victim = join(dir, 'redrive-victim.txt')
    await writeFile(victim, 'precious')
    await symlink(victim, `${rej}.redrive.tmp`)
    const r = await pgbulk(['redrive', rej, '--table', t])
    expect(r.code).toBe(2)
    expect(await readFile(victim, 'utf8')).toBe('precious')
    expect(await readlink(`${rej}.redrive.tmp`)).toBe(victim)
    expect((await readRejects(rej)).map((x) => x['raw'])).toEqual(['x,b'])
  })
})

describe('what reaches a terminal', () => {
  it('escapes control characters that a database error quotes, and keeps them raw in the reject file', async () => {
    const t = await table(
      `CREATE FUNCTION $T_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.v LIKE 'bad%' THEN RAISE EXCEPTION 'refused %', NEW.v; END IF; RETURN NEW; END $$;
       CREATE TRIGGER $T_t BEFORE INSERT ON $T FOR EACH ROW EXECUTE FUNCTION $T_f();`,
    )
    const f = join(dir, 'esc.csv')
    await writeFile(f, 'id,v\n1,ok\n2,bad\x1b[2J\u009b31m\u202e\n')
    const r = await pgbulk(['load', f, '--table', t])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('refused bad\\x1b[2J\\x9b31m\\u202e (SQLSTATE P0001)')
    for (const c of ['\x1b', '\u009b', '\u202e']) expect(r.stderr).not.toContain(c)
    const [rej] = await readRejects(`${f}.rejects.ndjson`)
    expect(rej!['raw']).toBe('2,bad\x1b[2J\u009b31m\u202e')
  })

  it('escapes a C1 control character in an error message', async () => {
    const t = await table()
    const f = join(dir, 'c1.csv')
    await writeFile(f, 'id,v\u009b2J\n1,a\n')
    const r = await pgbulk(['load', f, '--table', t])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('"v\\x9b2J" matches no column')
    expect(r.stderr).not.toContain('\u009b')
  })
})

describe('a closed output pipe', () => {
  // `true` exits at once: by the time pgbulk writes, nobody reads the pipe (EPIPE every time).
  it.each([
    ['pgbulk jobs', '$PGBULK jobs', 0],
    ['pgbulk --help', '$PGBULK --help', 0],
    ['pgbulk load --help', '$PGBULK load --help', 0],
  ])('%s ends quietly with its own status', async (_name, cmd, status) => {
    const r = await sh(`sleep 0 | ${cmd} | true; echo "status \${PIPESTATUS[1]}"`)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe(`status ${status}\n`)
  })

  it('pgbulk load whose stderr is closed ends with its own status', async () => {
    const t = await table()
    const f = await input('pipe.csv')
    const r = await sh(`$PGBULK load ${f} --table ${t} --dry-run 2>&1 | true; echo "status \${PIPESTATUS[0]}"`)
    expect(r.stdout).toBe('status 2\n')
  })
})

/** The screen a terminal shows after `bytes`: printable text, CR, LF, erase to end of line; any other escape fails the test. */
function render(bytes: string): string[] {
  const screen: string[][] = [[]]
  let row = 0
  let col = 0
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (c === '\r') col = 0
    // A line feed only: the terminal's own CR (onlcr) is in the bytes already.
    else if (c === '\n') {
      row++
      screen[row] ??= []
    } else if (c === '\x1b') {
      // eslint-disable-next-line no-control-regex -- the escape sequences are what is parsed
      const m = /^\x1b\[(\??[0-9;]*)([A-Za-z])/.exec(bytes.slice(i))
      if (!m) throw new Error(`unexpected escape ${JSON.stringify(bytes.slice(i, i + 4))}`)
      if (m[2] === 'K') screen[row]!.length = col
      else if (!(m[1] === '?25' && (m[2] === 'l' || m[2] === 'h')))
        throw new Error(`unexpected escape ${JSON.stringify(m[0])}`)
      i += m[0].length - 1
    } else screen[row]![col++] = c
  }
  return screen
    .map((l) => Array.from(l, (c) => c ?? ' ').join(''))
    .filter((l, k, all) => l !== '' || k < all.length - 1)
}

/** Elapsed time and rate differ between two runs. */
function untimed(lines: string[]): string[] {
  return lines.map((l) => l.replace(/\d+\.\d s \(\d+ rows\/s\)/, 'T'))
}

describe('the progress bar', () => {
  it('leaves a terminal reading exactly like the plain output when rows were rejected', async () => {
    const t = await table()
    const f = join(dir, 'tty.csv')
    await writeFile(
      f,
      'id,v\n' + Array.from({ length: 2000 }, (_, k) => (k % 400 === 7 ? `x${k},v` : `${k},v`)).join('\n') + '\n',
    )
    const plain = await pgbulk(['load', f, '--table', t, '--dry-run', '--rejects', join(dir, 'tty1.ndjson')])
    expect(plain.code).toBe(2)
    const tty = await sh(
      `script -qfec "$PGBULK load ${f} --table ${t} --dry-run --rejects ${join(dir, 'tty2.ndjson')}" /dev/null`,
    )
    expect(tty.code).toBe(2)
    expect(tty.stdout).not.toContain('\x1b8')
    const screen = render(tty.stdout)
    expect(untimed(screen)).toEqual(
      untimed(plain.stderr.replaceAll('tty1.ndjson', 'tty2.ndjson').trimEnd().split('\n')),
    )
    expect(screen.join('\n')).toContain('rejected rows of')
  })
})

describe('the progress bar, interrupted', () => {
  it('leaves every reject line and the stop message readable on a terminal after SIGTERM', async () => {
    const t = await table()
    const f = join(dir, 'tty-int.csv')
    await writeFile(
      f,
      'id,v\n' + Array.from({ length: 500 }, (_, k) => (k % 100 === 7 ? `x${k},v` : `${k},v`)).join('\n') + '\n',
    )
    // stdin stays open after the rows (a FIFO whose writer sleeps), so the load is still running when
    // the signal comes; the signal comes once the terminal shows the last bad row (script -f flushes
    // its log as it goes), not after a fixed time. The pattern is written so that it does not match
    // itself: script's log starts with the command it runs.
    const log = join(dir, 'tty-int.log')
    const fifo = join(dir, 'tty-int.fifo')
    const inner = [
      `mkfifo ${fifo}; (cat ${f}; exec sleep 60) > ${fifo} & w=$!`,
      `$PGBULK load - --format csv --table ${t} --rejects ${join(dir, 'tty-int.ndjson')} < ${fifo} & p=$!`,
      `n=0; until grep -q "x40[7]" ${log} || [ $n -ge 600 ]; do sleep 0.05; n=$((n+1)); done; kill -TERM $p; wait $p; s=$?; kill $w; exit $s`,
    ].join('; ')
    const tty = await sh(`script -qfec '${inner}' ${log}`)
    expect(tty.stdout).not.toContain('\x1b8')
    const screen = render(tty.stdout)
    for (const k of [7, 107, 207, 307, 407])
      expect(screen).toContain(
        `stdin:${k + 2}:1: column "id" (integer): expected an integer, found "x${k}" (VALUE_INVALID)`,
      )
    expect(screen).toContain(
      'pgbulk: SIGTERM received: finishing the batch in flight, then stopping (send again to quit at once)',
    )
    expect(screen.some((l) => l.startsWith('pgbulk: 500 rows read'))).toBe(true)
  })
})

describe('clear errors', () => {
  it('a file whose lines end in CR alone is named as such', async () => {
    const t = await table()
    const f = join(dir, 'cr.csv')
    await writeFile(f, 'id,v\r1,a\r2,b\r')
    const r = await pgbulk(['load', f, '--table', t])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('the lines seem to end in CR alone')
    expect(r.stderr).toContain('(HEADER_INVALID)')
    expect(r.stderr).toContain(`hint: convert the line endings first, e.g. tr '\\r' '\\n' <`)
  })

  it('a view (with an INSTEAD OF trigger) is refused as a view, not as a missing table', async () => {
    const t = await table(
      `CREATE VIEW $T_v AS SELECT * FROM $T;
       CREATE FUNCTION $T_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO $T VALUES (NEW.*); RETURN NEW; END $$;
       CREATE TRIGGER $T_t INSTEAD OF INSERT ON $T_v FOR EACH ROW EXECUTE FUNCTION $T_f();`,
    )
    const r = await pgbulk(['load', await input('view.csv'), '--table', `${t}_v`, '--method', 'insert'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`"${t}_v" is a view: pgbulk loads tables only`)
    expect(r.stderr).toContain('(TARGET_NOT_TABLE)')
  })

  it('a missing --table is a pgbulk error like the others', async () => {
    const r = await pgbulk(['load', await input('notable.csv')])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^pgbulk: error: required option '-t, --table <\[schema\.\]table>' not specified\n/)
  })
})
