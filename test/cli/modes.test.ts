import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type CliRun, runPgbulk } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects } from '../helpers/fixtures.js'
import { appendedToEmpty, BEFORE, COLUMNS, csv, input, reference, type Row, type Stored } from '../helpers/modes.js'
import { rng } from '../helpers/random.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

function pgbulk(args: string[], kill?: () => Promise<boolean>): Promise<CliRun> {
  return runPgbulk(args, { cwd: dir, env: { DATABASE_URL: db.url }, ...(kill ? { killWhen: kill } : {}) })
}

let seq = 0
/** The table of helpers/modes.ts with its rows, slowed down (a pause per statement) so that a kill lands mid-load. */
async function freshTable(): Promise<string> {
  const t = `c${++seq}`
  const values = BEFORE.map((x) => `(${x.id}, '${x.name}', ${x.n as number}, ${x.ts})`).join(', ')
  await db.client.query(`CREATE TABLE ${t} (${COLUMNS}); INSERT INTO ${t} VALUES ${values};
    CREATE FUNCTION ${t}_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NULL; END $$;
    CREATE TRIGGER slow AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_slow()`)
  return t
}

async function contents(table: string): Promise<Map<number, Stored>> {
  const r = await db.client.query<Stored>(`SELECT id, name, n, ts FROM ${table} ORDER BY id`)
  return new Map(r.rows.map((x) => [x.id!, x]))
}

/** The job's checkpoint: rows read and loaded so far, the next line, whether it is done. */
async function checkpoint(job: string) {
  const r = await db.client
    .query<{ done: boolean; next_line: string; rows_read: string; rows_loaded: string }>(
      'SELECT done, next_line, rows_read, rows_loaded FROM pgbulk.checkpoints WHERE job = $1',
      [job],
    )
    .catch(() => ({ rows: [] }))
  const c = r.rows[0]
  return c && { done: c.done, nextLine: Number(c.next_line), read: Number(c.rows_read), loaded: Number(c.rows_loaded) }
}

const N = 800

describe('every mode after a kill', () => {
  const trials = (['ignore', 'upsert', 'truncate', 'replace'] as const).flatMap((mode) =>
    [0, 1].map((k) => ({ mode, k })),
  )

  it.each(trials)(
    'SIGKILL at a random moment, then --resume with another batch size and worker count: $mode, trial $k',
    async ({ mode, k }) => {
      const random = rng(500 + k * 13 + (mode === 'upsert' ? 1 : 0))
      const t = await freshTable()
      const rows = input(700 + k, N)
      const path = join(dir, `${t}.csv`)
      await writeFile(path, csv(rows))
      const job = `job-${t}`
      const killAt = Math.floor(N * (0.1 + random() * 0.5))
      const common = ['load', path, '--table', t, '--mode', mode, '--job', job, '--quiet']
      const first = await pgbulk(
        [...common, '--batch-size', String(20 + Math.floor(random() * 60)), '--workers', String(1 + k)],
        async () => ((await checkpoint(job))?.read ?? 0) >= killAt,
      )
      expect(first.code, first.stderr).toBe(null)
      const cp = await checkpoint(job)
      expect(cp?.done).toBe(false)
      expect(cp!.read).toBeGreaterThan(0)
      expect(cp!.read).toBeLessThan(N)
      // replace: the table is as it was until the switch; the rows so far wait in the staging table.
      if (mode === 'replace') expect(await contents(t)).toEqual(reference([], 'upsert').table)
      const second = await pgbulk([...common, '--resume', '--batch-size', '37', '--workers', String(2 - k)])
      // truncate: emptied once, by the first run (the resumed one keeps what it committed).
      const expected = mode === 'truncate' || mode === 'replace' ? appendedToEmpty(rows) : reference(rows, mode)
      expect(second.code, second.stderr).toBe(expected.rejected > 0 ? 2 : 0)
      expect(await contents(t)).toEqual(expected.table)
      // Each rejected row once in the reject file, across both runs.
      const lines = (await readRejects(`${path}.rejects.ndjson`)).map((r) => r['line'])
      expect(lines).toHaveLength(expected.rejected)
      expect(new Set(lines).size).toBe(expected.rejected)
    },
  )
})

describe('cron, night after night', () => {
  /** Night one: the export at `path`, killed part-way; returns the rows it had committed (their lines). */
  async function killedNight(t: string, path: string, mode: string, rows: readonly Row[]) {
    await writeFile(path, csv(rows))
    const job = `nightly-${t}`
    const args = ['load', path, '--table', t, '--mode', mode, '--job', job, '--batch-size', '25', '--quiet']
    const night = await pgbulk(args, async () => ((await checkpoint(job))?.read ?? 0) >= N / 3)
    expect(night.code, night.stderr).toBe(null)
    const cp = await checkpoint(job)
    expect(cp?.done).toBe(false)
    return { args, committed: rows.slice(0, cp!.nextLine - 2) }
  }

  it('--mode upsert: a --resume whose file changed since the killed night loads the new file from the start, and says so', async () => {
    const t = await freshTable()
    const path = join(dir, `export-${t}.csv`)
    const { args, committed } = await killedNight(t, path, 'upsert', input(31, N))
    const tonight = input(32, N)
    await writeFile(path, csv(tonight))
    const run = await pgbulk([...args.filter((a) => a !== '--quiet'), '--resume'])
    const expected = reference([...committed, ...tonight], 'upsert')
    expect(run.code, run.stderr).toBe(2)
    expect(run.stderr).toMatch(
      /loaded .*export-c\d+\.csv from the start: it changed since the unfinished run \(.*\); --mode upsert makes that safe/,
    )
    expect(await contents(t)).toEqual(expected.table)
  })

  it.each([
    ['truncate', 'empties the table again and loads the new file'],
    ['replace', 'loads the new file into a fresh staging table; the table is unchanged until then'],
  ] as const)('--mode %s: a --resume whose file changed since the killed night %s', async (mode, _what) => {
    const t = await freshTable()
    const path = join(dir, `export-${t}.csv`)
    const { args } = await killedNight(t, path, mode, input(mode === 'truncate' ? 51 : 61, N))
    if (mode === 'replace') expect(await contents(t)).toEqual(reference([], 'upsert').table)
    const tonight = input(mode === 'truncate' ? 52 : 62, N)
    await writeFile(path, csv(tonight))
    const run = await pgbulk([...args.filter((a) => a !== '--quiet'), '--resume'])
    expect(run.code, run.stderr).toBe(2)
    expect(run.stderr).toContain(`--mode ${mode} makes that safe`)
    expect(await contents(t)).toEqual(appendedToEmpty(tonight).table)
  })

  it('--mode append: the same --resume is refused, with a hint that keeps the table right', async () => {
    const t = await freshTable()
    const path = join(dir, `export-${t}.csv`)
    await db.client.query(`TRUNCATE ${t}`)
    const { args, committed } = await killedNight(
      t,
      path,
      'append',
      input(41, N).filter((r) => r.id !== null),
    )
    const before = await contents(t)
    expect(before.size).toBeGreaterThan(0)
    await writeFile(path, csv(input(42, N)))
    const run = await pgbulk([...args, '--resume'])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('(INPUT_CHANGED)')
    expect(run.stderr).toContain('rows the unfinished run committed from the old file stay in the table')
    expect(run.stderr).toContain('--restart --mode ignore')
    expect(await contents(t)).toEqual(before)
    expect(committed.length).toBeGreaterThan(0)
  })
})
