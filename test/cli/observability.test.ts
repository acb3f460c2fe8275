import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inSample } from '../../src/observe/sample.js'
import { type CliRun, type CliRunOptions, runPgbulk, startPgbulk, waitFor } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects } from '../helpers/fixtures.js'

// --log-format json, TRACEPARENT, --log-rejects, --log-sample-rows and --metrics-file, through the
// built binary (run `npm run build` first).

let db: TestDb
let dir: string
/** The test database's URL as a role with a password of its own: no log line may show it. */
let secretUrl: string
const PASSWORD = 'Obs-s3cret-Pw9'
/** Roles belong to the whole server: a name of this file's own. */
const ROLE = `obs_${randomBytes(4).toString('hex')}`

withTestDb((d, t) => {
  db = d
  dir = t
})

beforeAll(async () => {
  await db.client.query(`CREATE ROLE ${ROLE} LOGIN SUPERUSER PASSWORD '${PASSWORD}'`)
  const u = new URL(db.url)
  u.username = ROLE
  u.password = PASSWORD
  secretUrl = u.toString()
})

afterAll(async () => {
  // (a role outlives the test's database: dropped here, once its connections are gone)
  await db.client.query(`DROP OWNED BY ${ROLE}`).catch(() => {})
  await db.client.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => {})
})

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT_ID = '00f067aa0ba902b7'
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`

function pgbulk(args: string[], opts: Omit<CliRunOptions, 'cwd'> = {}): Promise<CliRun> {
  return runPgbulk(args, { cwd: dir, ...opts })
}

/** Every stderr line as JSON (fails on a line that is not an object). */
function jsonLines(stderr: string): Record<string, unknown>[] {
  const lines = stderr.split('\n').filter((l) => l !== '')
  expect(lines.length).toBeGreaterThan(0)
  return lines.map((l) => {
    const v = JSON.parse(l) as unknown
    expect(typeof v === 'object' && v !== null && !Array.isArray(v), l).toBe(true)
    return v as Record<string, unknown>
  })
}

const events = (lines: Record<string, unknown>[], name: string) => lines.filter((l) => l['event'] === name)

interface Report {
  runId: string
  job: string
  rowsRead: number
  rowsLoaded: number
  rowsRejected: number
  rejectsByCode: Record<string, number>
  batches: number
  exitCode: number
}

async function readReport(path: string): Promise<Report> {
  return JSON.parse(await readFile(path, 'utf8')) as Report
}

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/**
 * A strict reader of the text exposition format: every line a HELP, a TYPE or a sample
 * `name{labels} value`; a family's HELP and TYPE once each, before its samples; a family's samples together.
 */
function parseExposition(text: string): { samples: Sample[]; types: Record<string, string> } {
  expect(text.endsWith('\n')).toBe(true)
  const help = new Set<string>()
  const types: Record<string, string> = {}
  const samples: Sample[] = []
  const done = new Set<string>()
  let current: string | undefined
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line)
    if (comment) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string]
      expect(done.has(name), `${name} comes back after another family`).toBe(false)
      if (current !== name && current !== undefined) done.add(current)
      current = name
      if (kind === 'HELP') {
        expect(help.has(name)).toBe(false)
        help.add(name)
      } else {
        expect(types[name]).toBeUndefined()
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(rest)
        types[name] = rest
      }
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    expect(m, `not a sample line: ${JSON.stringify(line)}`).not.toBeNull()
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string]
    expect(name, 'a sample of another family than its HELP and TYPE').toBe(current)
    expect(help.has(name) && types[name] !== undefined, `${name} without HELP and TYPE before it`).toBe(true)
    const labels: Record<string, string> = {}
    const rest = (labelText ?? '').replace(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/g, (_, k, v) => {
      labels[k as string] = (v as string).replace(/\\([\\"n])/g, (_x, c: string) => (c === 'n' ? '\n' : c))
      return ''
    })
    expect(rest, `labels of ${line}`).toBe('')
    const value = Number(valueText)
    expect(Number.isFinite(value), line).toBe(true)
    samples.push({ name, labels, value })
  }
  return { samples, types }
}

function sampleValue(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const hits = samples.filter((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))
  expect(hits.length).toBeLessThanOrEqual(1)
  return hits[0]?.value
}

let seq = 0
/** A table with a key (database-side rejects: duplicates) and a smallint (client-side rejects). */
async function table(): Promise<string> {
  const name = `obs${++seq}`
  await db.client.query(`CREATE TABLE ${name} (id int PRIMARY KEY, age smallint, name text)`)
  return name
}

/**
 * `n` rows: every 7th row's age is not a number (rejected client-side, VALUE_INVALID), every 11th
 * repeats an earlier id (rejected by the database, 23505).
 */
async function dirtyCsv(file: string, n: number): Promise<string> {
  const lines = ['id,age,name']
  for (let k = 1; k <= n; k++) {
    const id = k % 11 === 0 ? k - 1 : k
    lines.push(`${id},${k % 7 === 0 ? 'x' + k : k % 100},n${k}`)
  }
  const path = join(dir, file)
  await writeFile(path, lines.join('\n') + '\n')
  return path
}

/** The rows of dirtyCsv(n) that load, in input order: their id and line. */
function loadedRows(n: number): { id: number; line: number }[] {
  const ids = new Set<number>()
  const out: { id: number; line: number }[] = []
  for (let k = 1; k <= n; k++) {
    const id = k % 11 === 0 ? k - 1 : k
    if (k % 7 === 0 || ids.has(id)) continue
    ids.add(id)
    out.push({ id, line: k + 1 })
  }
  return out
}

describe('pgbulk load --log-format json', () => {
  it('writes one JSON object per line, each with the run id, the job and the caller’s trace; batches and rejects add up to the report', async () => {
    const t = await table()
    const input = await dirtyCsv('dirty.csv', 400)
    const report = join(dir, 'r1.json')
    const metrics = join(dir, 'pgbulk.prom')
    const r = await pgbulk(
      ['load', input, '-t', t, '--db', secretUrl, '--batch-size', '50', '--log-format', 'json'].concat([
        '--report',
        report,
        '--job',
        'nightly',
        '--metrics-file',
        metrics,
      ]),
      { env: { TRACEPARENT } },
    )
    expect(r.code, r.stderr).toBe(2)
    const rep = await readReport(report)
    expect(rep.rowsRejected).toBeGreaterThan(60)
    expect(rep.rejectsByCode['VALUE_INVALID']).toBeGreaterThan(0)
    expect(rep.rejectsByCode['23505']).toBeGreaterThan(0)
    const lines = jsonLines(r.stderr)
    expect(r.stderr).not.toContain(PASSWORD)
    for (const l of lines) {
      expect(l).toMatchObject({ runId: rep.runId, job: 'nightly', traceId: TRACE_ID, parentSpanId: PARENT_ID })
      expect(l['spanId']).toMatch(/^[0-9a-f]{16}$/)
      expect(l['spanId']).toBe(lines[0]!['spanId'])
      expect(new Date(l['time'] as string).toISOString()).toBe(l['time'])
      expect(['info', 'warn', 'error']).toContain(l['level'])
    }
    expect(rep.runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    // The story: run_start first, run_end last.
    expect(lines[0]!['event']).toBe('run_start')
    expect(lines.at(-1)!['event']).toBe('run_end')
    const options = lines[0]!['options'] as Record<string, unknown>
    expect(options).toMatchObject({ table: t, batchRows: 50, job: 'nightly' })
    expect(options['db']).toContain(ROLE)
    // Batches: their rows add up to the rows loaded, and their lines cover the input's.
    const batches = events(lines, 'batch')
    expect(batches).toHaveLength(rep.batches)
    expect(batches.reduce((n, b) => n + (b['rows'] as number), 0)).toBe(rep.rowsLoaded)
    expect(batches.reduce((n, b) => n + (b['rejected'] as number), 0)).toBe(rep.rowsRejected)
    // (the first batch's lines start at the header's)
    expect(batches[0]).toMatchObject({ batch: 1, file: input, firstLine: 1, attempts: 1 })
    for (const [k, b] of batches.entries())
      if (k > 0) expect(b['firstLine']).toBe((batches[k - 1]!['lastLine'] as number) + 1)
    for (const b of batches) {
      expect(b['txid']).toMatch(/^\d+$/)
      expect(b['ms']).toBeGreaterThanOrEqual(0)
      expect(b['lastLine'] as number).toBeGreaterThanOrEqual(b['firstLine'] as number)
    }
    expect(batches.at(-1)!['lastLine']).toBe(401)
    // Every rejected row is a reject event, at the place the reject file gives.
    const rejects = events(lines, 'reject')
    expect(rejects).toHaveLength(rep.rowsRejected)
    const file = await readRejects(`${input}.rejects.ndjson`)
    const place = (e: Record<string, unknown>) => JSON.stringify([e['line'], e['code'], e['stage']])
    expect(rejects.map(place).sort()).toEqual(file.map(place).sort())
    expect(rejects.find((e) => e['code'] === 'VALUE_INVALID')).toMatchObject({ column: 2, stage: 'validate' })
    expect(rejects.find((e) => e['code'] === '23505')).toMatchObject({ stage: 'database', level: 'warn' })
    // (row values stay in the reject file)
    expect(rejects.some((e) => JSON.stringify(e).includes('"x7"'))).toBe(false)
    const end = lines.at(-1)!
    expect(end).toMatchObject({
      level: 'warn',
      exitCode: 2,
      rowsRead: rep.rowsRead,
      rowsLoaded: rep.rowsLoaded,
      rowsRejected: rep.rowsRejected,
      rejectsByCode: rep.rejectsByCode,
      batches: rep.batches,
      retries: 0,
    })
    expect(end['elapsedMs']).toBeGreaterThan(0)
    expect(end).not.toHaveProperty('rejectsNotLogged')
    expect(end).not.toHaveProperty('rowsSampled')
    // No human text on stderr: no summary, no progress.
    expect(r.stderr).not.toMatch(/^pgbulk:/m)

    // The metrics file: the text format, and the report's figures.
    const first = parseExposition(await readFile(metrics, 'utf8'))
    expect(new Set(Object.values(first.types))).toEqual(new Set(['gauge']))
    const job = { job: 'nightly' }
    expect(sampleValue(first.samples, 'pgbulk_rows_read_total', job)).toBe(rep.rowsRead)
    expect(sampleValue(first.samples, 'pgbulk_rows_loaded_total', job)).toBe(rep.rowsLoaded)
    expect(sampleValue(first.samples, 'pgbulk_batches_total', job)).toBe(rep.batches)
    expect(sampleValue(first.samples, 'pgbulk_retries_total', job)).toBe(0)
    expect(sampleValue(first.samples, 'pgbulk_last_run_exit_code', job)).toBe(2)
    for (const [code, n] of Object.entries(rep.rejectsByCode))
      expect(sampleValue(first.samples, 'pgbulk_rows_rejected_total', { job: 'nightly', code })).toBe(n)
    expect(first.samples.filter((s) => s.name === 'pgbulk_rows_rejected_total')).toHaveLength(
      Object.keys(rep.rejectsByCode).length,
    )
    const success = sampleValue(first.samples, 'pgbulk_last_success_timestamp_seconds', job)!
    expect(Math.abs(success - Date.now() / 1000)).toBeLessThan(60)
    expect(sampleValue(first.samples, 'pgbulk_run_duration_seconds', job)).toBeGreaterThan(0)

    // A later run that fails (the table is gone): exit 1, an error event, and the metrics keep the last success.
    await db.client.query(`DROP TABLE ${t}`)
    const again = await pgbulk(
      ['load', input, '-t', t, '--db', secretUrl, '--log-format', 'json', '--force', '--restart'].concat([
        '--job',
        'nightly',
        '--metrics-file',
        metrics,
      ]),
      { env: { TRACEPARENT } },
    )
    expect(again.code, again.stderr).toBe(1)
    expect(again.stderr).not.toContain(PASSWORD)
    const failed = jsonLines(again.stderr)
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({
      level: 'error',
      event: 'error',
      code: 'TABLE_NOT_FOUND',
      exitCode: 1,
      job: 'nightly',
      traceId: TRACE_ID,
    })
    expect(failed[0]!['runId']).not.toBe(rep.runId)
    expect(failed[0]!['hint']).toEqual(expect.any(String))
    const second = parseExposition(await readFile(metrics, 'utf8'))
    expect(sampleValue(second.samples, 'pgbulk_last_success_timestamp_seconds', job)).toBe(success)
    expect(sampleValue(second.samples, 'pgbulk_last_run_exit_code', job)).toBe(1)
    expect(sampleValue(second.samples, 'pgbulk_rows_loaded_total', job)).toBe(0)
    expect(second.samples.some((s) => s.name === 'pgbulk_rows_rejected_total')).toBe(false)
  })

  it('--log-rejects logs a sample of the rejects, and run_end says how many were left out', async () => {
    const t = await table()
    const input = await dirtyCsv('sampled.csv', 1500)
    const r = await pgbulk(['load', input, '-t', t, '--db', db.url, '--log-format', 'json', '--log-rejects', '0.1'], {
      env: { TRACEPARENT: 'not-a-traceparent' },
    })
    expect(r.code, r.stderr).toBe(2)
    const lines = jsonLines(r.stderr)
    // A malformed TRACEPARENT is ignored: no trace fields.
    for (const l of lines) expect(l).not.toHaveProperty('traceId')
    const end = lines.at(-1)!
    const rejected = end['rowsRejected'] as number
    const logged = events(lines, 'reject')
    expect(rejected).toBeGreaterThan(300)
    expect(logged.length).toBeGreaterThan(0)
    expect(logged.length).toBeLessThan(rejected / 4)
    expect(end['rejectsNotLogged']).toBe(rejected - logged.length)
    // The sample is decided by place: the rows whose file:line is in it.
    const file = await readRejects(`${input}.rejects.ndjson`)
    expect(logged.map((e) => e['line']).sort()).toEqual(
      file
        .filter((e) => inSample(`${input}:${e['line'] as number}`, 0.1))
        .map((e) => e['line'])
        .sort(),
    )
  })

  it('--log-sample-rows logs the committed rows whose id is in the sample (a hash of the id decides), with their line and batch', async () => {
    const t = await table()
    const input = await dirtyCsv('ids.csv', 300)
    const args = ['-t', t, '--db', db.url, '--log-format', 'json', '--log-sample-rows', '0.2', '--id-column', 'id']
    const r = await pgbulk(['load', input, ...args, '--batch-size', '100'])
    expect(r.code, r.stderr).toBe(2)
    const lines = jsonLines(r.stderr)
    const rows = events(lines, 'row')
    const { rows: stored } = await db.client.query<{ id: number }>(`SELECT id FROM ${t} ORDER BY id`)
    const expected = loadedRows(300).filter((x) => inSample(String(x.id), 0.2))
    expect(expected.map((x) => x.id)).toEqual(stored.map((x) => x.id).filter((id) => inSample(String(id), 0.2)))
    expect(expected.length).toBeGreaterThan(20)
    expect(rows.map((e) => [e['id'], e['line']])).toEqual(expected.map((x) => [String(x.id), x.line]))
    const batches = events(lines, 'batch')
    for (const e of rows) {
      expect(e['file']).toBe(input)
      const b = batches.find((x) => x['batch'] === e['batch'])!
      expect(e['line']).toBeGreaterThanOrEqual(b['firstLine'] as number)
      expect(e['line']).toBeLessThanOrEqual(b['lastLine'] as number)
    }
    expect(jsonLines(r.stderr).at(-1)!['rowsSampled']).toBe(rows.length)

    // An --id-column the table does not have: exit 1 before anything is written.
    const t2 = await table()
    const bad = await pgbulk(['load', input, ...args.slice(0, -1), 'nope', '-t', t2, '--force'])
    expect(bad.code, bad.stderr).toBe(1)
    expect(jsonLines(bad.stderr).at(-1)).toMatchObject({ event: 'error', code: 'COLUMN_UNKNOWN', exitCode: 1 })
    expect(await db.count(t2)).toBe(0)
  })

  it('names the run in application_name while it loads, and the batch in a comment leading its statements', async () => {
    const t = await table()
    // A slow load: a batch per row, and a trigger that sleeps.
    await db.client.query(`
      CREATE FUNCTION ${t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$;
      CREATE TRIGGER slow BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_slow();`)
    const rows = ['id,age,name', ...Array.from({ length: 300 }, (_, k) => `${k + 1},1,n`)]
    const input = join(dir, 'slow.csv')
    await writeFile(input, rows.join('\n') + '\n')
    const run = startPgbulk(['load', input, '-t', t, '--db', db.url, '--batch-size', '1', '--log-format', 'json'], {
      cwd: dir,
    })
    let runId = ''
    await waitFor('run_start', () => {
      const first = run.output().stderr.split('\n')[0]
      if (!first || !run.output().stderr.includes('\n')) return false
      runId = (JSON.parse(first) as { runId: string }).runId
      return true
    })
    let names: string[] = []
    await waitFor('a connection named after the run', async () => {
      const q = await db.client.query<{ application_name: string }>(
        'SELECT application_name FROM pg_stat_activity WHERE strpos(application_name, $1) > 0',
        [runId],
      )
      names = q.rows.map((x) => x.application_name)
      return names.length > 0
    })
    expect(names[0]).toBe(`pgbulk ${runId}`)
    // The writer's statements name the run and the batch (pg_stat_activity keeps an idle session's last one too).
    let statement = ''
    await waitFor('a statement that names its batch', async () => {
      const q = await db.client.query<{ query: string }>(
        `SELECT query FROM pg_stat_activity WHERE strpos(application_name, $1) > 0 AND query LIKE '/* pgbulk run=%'`,
        [runId],
      )
      statement = q.rows[0]?.query ?? ''
      return statement !== ''
    })
    expect(statement).toMatch(
      new RegExp(`^/\\* pgbulk run=${runId} batch=\\d+ \\*/ (BEGIN|COPY|COMMIT|RELEASE|SAVEPOINT)`),
    )
    const done = await run.done
    expect(done.code, done.stderr).toBe(0)
    expect(jsonLines(done.stderr).at(-1)).toMatchObject({ event: 'run_end', runId, rowsLoaded: 300 })
  })
})

describe('retries and signals under --log-format json', () => {
  it('a retry event names the SQLSTATE, the attempt and the wait; run_end and the metrics count the retries', async () => {
    const t = await table()
    // The first statement that inserts row 5 fails with a deadlock (a passing fault): a sequence, which no rollback
    // undoes, makes it fail once only.
    await db.client.query(`
      CREATE SEQUENCE ${t}_tries;
      CREATE FUNCTION ${t}_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.id = 5 AND nextval('${t}_tries') = 1 THEN RAISE EXCEPTION 'made-up deadlock' USING ERRCODE = '40P01'; END IF;
        RETURN NEW; END $$;
      CREATE TRIGGER once BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_once();`)
    const input = join(dir, 'retry.csv')
    await writeFile(input, 'id,age,name\n' + Array.from({ length: 20 }, (_, k) => `${k + 1},1,n`).join('\n') + '\n')
    const metrics = join(dir, 'retry.prom')
    const r = await pgbulk(
      ['load', input, '-t', t, '--db', db.url, '--batch-size', '10', '--log-format', 'json', '--job', 'retry'].concat([
        '--metrics-file',
        metrics,
      ]),
    )
    expect(r.code, r.stderr).toBe(0)
    const lines = jsonLines(r.stderr)
    const retries = events(lines, 'retry')
    expect(retries).toHaveLength(1)
    expect(retries[0]).toMatchObject({ level: 'warn', code: '40P01', attempt: 1, message: 'made-up deadlock' })
    expect(retries[0]!['delayMs']).toEqual(expect.any(Number))
    const batches = events(lines, 'batch')
    expect(batches.map((b) => b['attempts'])).toEqual([2, 1])
    expect(lines.at(-1)).toMatchObject({ event: 'run_end', level: 'info', exitCode: 0, rowsLoaded: 20, retries: 1 })
    const { samples } = parseExposition(await readFile(metrics, 'utf8'))
    expect(sampleValue(samples, 'pgbulk_retries_total', { job: 'retry' })).toBe(1)
    expect(sampleValue(samples, 'pgbulk_last_run_exit_code', { job: 'retry' })).toBe(0)
  })

  it('a signal is an event, and run_end says the run stopped (exit 130); the metrics keep no success for it', async () => {
    const t = await table()
    await db.client.query(`
      CREATE FUNCTION ${t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$;
      CREATE TRIGGER slow BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_slow();`)
    const input = join(dir, 'stopped.csv')
    await writeFile(input, 'id,age,name\n' + Array.from({ length: 2000 }, (_, k) => `${k + 1},1,n`).join('\n') + '\n')
    const metrics = join(dir, 'stopped.prom')
    const run = startPgbulk(
      ['load', input, '-t', t, '--db', db.url, '--batch-size', '20', '--log-format', 'json', '--job', 'stop'].concat([
        '--metrics-file',
        metrics,
      ]),
      { cwd: dir },
    )
    await waitFor('a batch to commit', () => run.output().stderr.includes('"event":"batch"'))
    run.child.kill('SIGTERM')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    const lines = jsonLines(r.stderr)
    expect(events(lines, 'signal')).toEqual([expect.objectContaining({ level: 'warn', signal: 'SIGTERM' })])
    const end = lines.at(-1)!
    expect(end).toMatchObject({ event: 'run_end', level: 'error', exitCode: 130, stopped: { code: 'ABORTED' } })
    expect(events(lines, 'batch').reduce((n, b) => n + (b['rows'] as number), 0)).toBe(end['rowsLoaded'])
    expect(await db.count(t)).toBe(end['rowsLoaded'])
    const { samples } = parseExposition(await readFile(metrics, 'utf8'))
    expect(sampleValue(samples, 'pgbulk_last_run_exit_code', { job: 'stop' })).toBe(130)
    expect(sampleValue(samples, 'pgbulk_rows_loaded_total', { job: 'stop' })).toBe(end['rowsLoaded'])
    expect(sampleValue(samples, 'pgbulk_last_success_timestamp_seconds', { job: 'stop' })).toBeUndefined()
  })
})

describe('pgbulk redrive --log-format json', () => {
  it('tells the redrive’s story with its job (redrive: and the reject file), and --batch-size auto’s wait and next size', async () => {
    const t = await table()
    const input = await dirtyCsv('again.csv', 60)
    const first = await pgbulk(['load', input, '-t', t, '--db', db.url, '--quiet'])
    expect(first.code, first.stderr).toBe(2)
    // Free three of the four ids the input repeated (10, 32, 43, 54): those rows load; the ages that are not numbers still fail.
    await db.client.query(`DELETE FROM ${t} WHERE id IN (10, 32, 43)`)
    const rejects = `${input}.rejects.ndjson`
    const report = join(dir, 'redrive.json')
    const r = await pgbulk(
      ['redrive', rejects, '-t', t, '--db', db.url, '--log-format', 'json', '--report', report].concat([
        '--batch-size',
        'auto',
      ]),
      { env: { TRACEPARENT } },
    )
    const rep = await readReport(report)
    expect(r.code, r.stderr).toBe(rep.exitCode)
    const lines = jsonLines(r.stderr)
    for (const l of lines) expect(l).toMatchObject({ runId: rep.runId, job: `redrive:${rejects}`, traceId: TRACE_ID })
    expect(rep.job).toBe(`redrive:${rejects}`)
    expect(lines.map((l) => l['event'])).toEqual(['run_start', ...lines.slice(1, -1).map((l) => l['event']), 'run_end'])
    const batches = events(lines, 'batch')
    expect(batches.length).toBeGreaterThan(0)
    expect(batches.reduce((n, b) => n + (b['rows'] as number), 0)).toBe(rep.rowsLoaded)
    expect(rep.rowsLoaded).toBe(3)
    for (const b of batches) {
      expect(b['blockedMs']).toEqual(expect.any(Number))
      expect(b['nextBatchRows']).toEqual(expect.any(Number))
    }
    expect(events(lines, 'reject')).toHaveLength(rep.rowsRejected)
  })
})

describe('pgbulk load --metrics-file', () => {
  it('writes the file on a setup error too, and leaves a symbolic link where the file should be alone', async () => {
    const metrics = join(dir, 'setup.prom')
    const r = await pgbulk(['load', join(dir, 'missing.csv'), '-t', 'x', '--job', 'cron1', '--metrics-file', metrics])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^pgbulk: error: .*\(INPUT_NOT_FOUND\)/)
    const { samples } = parseExposition(await readFile(metrics, 'utf8'))
    expect(sampleValue(samples, 'pgbulk_last_run_exit_code', { job: 'cron1' })).toBe(1)
    expect(sampleValue(samples, 'pgbulk_last_success_timestamp_seconds', { job: 'cron1' })).toBeUndefined()

    const { symlink } = await import('node:fs/promises')
    const target = join(dir, 'elsewhere.txt')
    await writeFile(target, 'not yours\n')
    const link = join(dir, 'link.prom')
    await symlink(target, link)
    const l = await pgbulk(['load', join(dir, 'missing.csv'), '-t', 'x', '--job', 'cron1', '--metrics-file', link])
    expect(l.code).toBe(1)
    expect(l.stderr).toContain(`pgbulk: cannot write the metrics file ${link}: ${link} is a symbolic link`)
    expect(await readFile(target, 'utf8')).toBe('not yours\n')

    // A connection that fails: an error event, and never the password.
    const u = new URL(secretUrl)
    u.port = '1'
    await writeFile(join(dir, 'conn.csv'), 'id\n1\n')
    const c = await pgbulk(['load', join(dir, 'conn.csv'), '-t', 'x', '--db', u.toString(), '--log-format', 'json'])
    expect(c.code).toBe(1)
    expect(jsonLines(c.stderr).at(-1)).toMatchObject({ event: 'error', code: 'DB_CONNECT', exitCode: 1 })
    expect(c.stderr).not.toContain(PASSWORD)
  })
})
