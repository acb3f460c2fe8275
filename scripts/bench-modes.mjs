// npm run bench:modes [-- --rows 1000000 --repeats 2]: the load modes on a table that already
// holds as many rows as the file, half of whose keys the file has (rows/2+1 … rows*1.5), against
// append COPY of the same file into an empty table and a hand-written upsert (multi-row INSERT …
// ON CONFLICT DO UPDATE of 1,000 rows per statement, scripts/bench-upsert-script.mjs). Interleaved
// and repeated; prints wall time, rows/s and each figure's ratio to the append and the script.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { median, root, startServer, timed, timePgbulk } from './bench-lib.mjs'
import { TABLE, generate } from './bench-data.mjs'

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : def
}
const ROWS = Number(arg('rows', '1000000'))
const REPEATS = Number(arg('repeats', '2'))
/** Only the arms whose name holds this (beside the append into an empty table), e.g. --only replace. */
const ONLY = arg('only', '')

const dir = await mkdtemp(join(tmpdir(), 'pgbulk-bench-modes-'))
const srv = await startServer()
const client = new pg.Client({ connectionString: srv.url })
await client.connect()
try {
  const file = join(dir, 'file.csv')
  const seedFile = join(dir, 'seed.csv')
  await generate(file, ROWS, 'csv', 'clean')
  await generate(seedFile, ROWS, 'csv', 'clean', ROWS / 2 + 1)
  await client.query(`DROP TABLE IF EXISTS bench, bench_seed; ${TABLE}; CREATE TABLE bench_seed (LIKE bench)`)
  await timePgbulk(seedFile, { url: srv.url, table: 'bench_seed', rejects: join(dir, 'seed.rejects.ndjson') })
  const version = (await client.query('SHOW server_version')).rows[0].server_version

  /** The table before each run: empty, or holding the seed rows. */
  const reset = async (seeded) => {
    await client.query('TRUNCATE bench')
    if (seeded) await client.query('INSERT INTO bench SELECT * FROM bench_seed')
    await client.query('VACUUM ANALYZE bench')
  }
  const rejects = join(dir, 'rejects.ndjson')
  const pgbulk = (extra) => (f) => timePgbulk(f, { url: srv.url, rejects, extra })
  let jobs = 0
  /** --mode replace (it keeps checkpoints: a job of its own each time), with a reader asking for a row every 20 ms. */
  const replace = async (f) => {
    const reader = new pg.Client({ connectionString: srv.url })
    await reader.connect()
    let worst = 0
    let reading = true
    const reads = (async () => {
      for (let i = 1; reading; i++) {
        const t0 = performance.now()
        await reader.query('SELECT * FROM bench WHERE id = $1', [1 + ((i * 7919) % ROWS)])
        worst = Math.max(worst, performance.now() - t0)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    const s = await timePgbulk(f, { url: srv.url, rejects, extra: ['--mode', 'replace'], job: `bench-${++jobs}` })
    reading = false
    await reads
    await reader.end()
    return { ...s, worstReadMs: worst }
  }
  const arms = [
    { name: 'append (COPY) into an empty table', seeded: false, run: pgbulk([]) },
    { name: '--mode upsert', seeded: true, run: pgbulk(['--mode', 'upsert']) },
    {
      name: 'hand-written INSERT … ON CONFLICT DO UPDATE, 1,000 rows per statement',
      seeded: true,
      run: (f) =>
        timed(process.execPath, [join(root, 'scripts/bench-upsert-script.mjs'), f, 'bench', '1000'], {
          DATABASE_URL: srv.url,
        }),
    },
    { name: '--mode ignore', seeded: true, run: pgbulk(['--mode', 'ignore']) },
    { name: '--mode truncate', seeded: true, run: pgbulk(['--mode', 'truncate']) },
    { name: '--mode replace (a reader every 20 ms)', seeded: true, run: replace },
    { name: '--mode upsert, --workers 2', seeded: true, run: pgbulk(['--mode', 'upsert', '--workers', '2']) },
  ]
  const chosen = arms.filter((a, k) => k === 0 || a.name.includes(ONLY))
  const samples = new Map(chosen.map((a) => [a.name, []]))
  for (let rep = 0; rep < REPEATS; rep++) {
    for (const arm of chosen) {
      await reset(arm.seeded)
      const s = await arm.run(file)
      const n = Number((await client.query('SELECT count(*) AS n FROM bench')).rows[0].n)
      samples.get(arm.name).push(s)
      const read = s.worstReadMs === undefined ? '' : `, the reader waited ${s.worstReadMs.toFixed(0)} ms at most`
      process.stderr.write(`${arm.name}: ${(s.ms / 1000).toFixed(2)} s, ${n} rows in the table${read}\n`)
    }
  }
  const ms = (name) => median(samples.get(name).map((s) => s.ms))
  const append = ms(arms[0].name)
  const script = samples.has(arms[2].name) ? ms(arms[2].name) : undefined
  const fmt = (v, d = 0) => v.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d })
  console.log(
    `\nPostgreSQL ${version}; ${fmt(ROWS)} rows into a table of ${fmt(ROWS)} rows holding half their keys; ` +
      `median of ${REPEATS} interleaved runs\n`,
  )
  console.log(
    '| load | wall s | rows/s | vs append into an empty table | vs the hand-written upsert | peak RSS MB | worst read ms |',
  )
  console.log('|---|---|---|---|---|---|---|')
  for (const arm of chosen) {
    const m = ms(arm.name)
    const rss = Math.max(...samples.get(arm.name).map((s) => s.rssMb ?? 0))
    const reads = samples.get(arm.name).map((s) => s.worstReadMs ?? 0)
    console.log(
      `| ${arm.name} | ${fmt(m / 1000, 2)} | ${fmt(ROWS / (m / 1000))} | ${fmt(append / m, 2)}× | ${script ? `${fmt(script / m, 2)}×` : ''} | ${rss ? fmt(rss) : ''} | ${Math.max(...reads) > 0 ? fmt(Math.max(...reads)) : ''} |`,
    )
  }
} finally {
  await client.end()
  await srv.stop()
  await rm(dir, { recursive: true, force: true })
}
