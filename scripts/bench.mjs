// npm run bench [-- --rows 100000,1000000 --repeats 2]: pgbulk against what users would pick
// instead, in one run. Generates deterministic data (10 columns: bigint, uuid, text with quotes
// and commas, varchar, numeric(12,2), integer, boolean, timestamptz, date, jsonb; primary key on
// id) as CSV and NDJSON, clean and with 1% bad rows of each kind (a value the column cannot take,
// a duplicate key, a malformed record), and loads each, interleaved and repeated, against the
// embedded PostgreSQL (or DATABASE_URL): pgbulk COPY and INSERT, one INSERT per row (on a small
// file, reported per row), psql's \copy when installed. Prints rows/s, MB/s, wall time, client
// CPU, peak RSS (with GNU time), and each figure as a ratio to \copy measured in the same run.
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { installed, median, startServer, timed, timePgbulk } from './bench-lib.mjs'
import { TABLE, generate, row } from './bench-data.mjs'

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : def
}
const SIZES = arg('rows', '100000,1000000').split(',').map(Number)
const REPEATS = Number(arg('repeats', '2'))
const PER_ROW_ROWS = Number(arg('per-row-rows', '3000'))
const INSERT_MAX_ROWS = Number(arg('insert-max-rows', '200000'))

const dir = await mkdtemp(join(tmpdir(), 'pgbulk-bench-'))
const srv = await startServer()
const client = new pg.Client({ connectionString: srv.url })
await client.connect()
const results = []
try {
  await client.query(`DROP TABLE IF EXISTS bench; ${TABLE}`)
  const version = (await client.query('SHOW server_version')).rows[0].server_version
  const psql = installed('psql')
  for (const rows of SIZES) {
    const files = {}
    for (const [format, kinds] of [
      ['csv', ['clean', 'value', 'unique', 'malformed']],
      ['ndjson', ['clean', 'value']],
    ]) {
      for (const kind of kinds) {
        const path = join(dir, `${rows}-${kind}.${format}`)
        await generate(path, rows, format, kind)
        files[`${format}-${kind}`] = { path, bytes: (await stat(path)).size }
      }
    }
    const insertFile = join(dir, `${rows}-insert.csv`)
    const insertRows = Math.min(rows, INSERT_MAX_ROWS)
    await generate(insertFile, insertRows, 'csv', 'clean')
    const pgbulk =
      (file, method = 'copy') =>
      () =>
        timePgbulk(file, { url: srv.url, method, rejects: join(dir, 'rejects.ndjson') })
    const arms = [
      ...(psql
        ? [
            {
              name: 'psql \\copy, CSV',
              rows,
              bytes: files['csv-clean'].bytes,
              run: () => timed('psql', [srv.url, '-qc', `\\copy bench FROM '${files['csv-clean'].path}' CSV HEADER`]),
            },
          ]
        : []),
      { name: 'pgbulk COPY, CSV', rows, bytes: files['csv-clean'].bytes, run: pgbulk(files['csv-clean'].path) },
      { name: 'pgbulk COPY, NDJSON', rows, bytes: files['ndjson-clean'].bytes, run: pgbulk(files['ndjson-clean'].path) },
      { name: 'pgbulk COPY, CSV, 1% bad values', rows, bytes: files['csv-value'].bytes, run: pgbulk(files['csv-value'].path) },
      { name: 'pgbulk COPY, CSV, 1% duplicate keys', rows, bytes: files['csv-unique'].bytes, run: pgbulk(files['csv-unique'].path) },
      { name: 'pgbulk COPY, CSV, 1% malformed', rows, bytes: files['csv-malformed'].bytes, run: pgbulk(files['csv-malformed'].path) },
      { name: 'pgbulk COPY, NDJSON, 1% bad values', rows, bytes: files['ndjson-value'].bytes, run: pgbulk(files['ndjson-value'].path) },
      { name: 'pgbulk INSERT, CSV', rows: insertRows, bytes: (await stat(insertFile)).size, run: pgbulk(insertFile, 'insert') },
    ]
    const samples = new Map(arms.map((a) => [a.name, []]))
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const arm of arms) {
        await client.query('TRUNCATE bench')
        await client.query('VACUUM ANALYZE bench')
        const s = arm.run()
        samples.get(arm.name).push(s)
        process.stderr.write(`${rows} rows, ${arm.name}: ${(s.ms / 1000).toFixed(2)} s\n`)
      }
    }
    // One INSERT per row, autocommit: per row, on a small file.
    await client.query('TRUNCATE bench')
    const t0 = performance.now()
    for (let i = 1; i <= PER_ROW_ROWS; i++) {
      const r = row(i, 'clean')
      await client.query('INSERT INTO bench VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)', [
        r.id,
        r.uid,
        r.title,
        r.status,
        r.amount,
        r.qty,
        r.flag,
        r.ts,
        r.day,
        JSON.stringify(r.meta),
      ])
    }
    const perRowMs = (performance.now() - t0) / PER_ROW_ROWS
    const ref = psql ? median(samples.get('psql \\copy, CSV').map((s) => s.ms)) / rows : undefined
    for (const arm of arms) {
      const ss = samples.get(arm.name)
      const ms = median(ss.map((s) => s.ms))
      const cpu = ss[0].cpuS === undefined ? undefined : median(ss.map((s) => s.cpuS))
      const rss = ss[0].rssMb === undefined ? undefined : Math.max(...ss.map((s) => s.rssMb))
      results.push({
        rows,
        name: arm.name,
        n: arm.rows,
        ms,
        mbs: arm.bytes / 1024 / 1024 / (ms / 1000),
        cpu,
        rss,
        vsCopy: ref ? ref / (ms / arm.rows) : undefined,
      })
    }
    results.push({
      rows,
      name: `one INSERT per row (${PER_ROW_ROWS} rows)`,
      n: PER_ROW_ROWS,
      ms: perRowMs * PER_ROW_ROWS,
      vsCopy: ref ? ref / perRowMs : undefined,
    })
  }
  const fmt = (v, d = 0) => (v === undefined ? '' : v.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d }))
  console.log(`\nPostgreSQL ${version}; median of ${REPEATS} interleaved runs; CPU and RSS are pgbulk's (or psql's) own process\n`)
  console.log('| size | load | rows/s | MB/s | wall s | client CPU s | peak RSS MB | vs psql \\copy |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of results) {
    console.log(
      `| ${fmt(r.rows)} | ${r.name} | ${fmt(r.n / (r.ms / 1000))} | ${fmt(r.mbs, 1)} | ${fmt(r.ms / 1000, 2)} | ${fmt(r.cpu, 2)} | ${fmt(r.rss)} | ${r.vsCopy === undefined ? '' : `${fmt(r.vsCopy, 2)}×`} |`,
    )
  }
  if (!installed('pgloader')) console.log('\n(pgloader is not installed: apt-get install pgloader to compare with it)')
} finally {
  await client.end()
  await srv.stop()
  await rm(dir, { recursive: true, force: true })
}
