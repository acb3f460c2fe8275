// npm run bench [-- --rows 100000,1000000 --repeats 2]: pgbulk against what users would pick
// instead, in one run. Generates deterministic data (10 columns: bigint, uuid, text with quotes
// and commas, varchar, numeric(12,2), integer, boolean, timestamptz, date, jsonb; primary key on
// id) as CSV and NDJSON, clean and with 1% bad rows of each kind (a value the column cannot take,
// a duplicate key, a malformed record), and loads each, interleaved and repeated, against the
// embedded PostgreSQL (or DATABASE_URL): pgbulk COPY and INSERT, one INSERT per row (on a small
// file, reported per row), psql's \copy when installed. Prints rows/s, MB/s, wall time, client
// CPU, peak RSS (with GNU time), and each figure as a ratio to \copy measured in the same run.
// --only "<arm>" runs one arm beside \copy; --baseline <checkout> runs each pgbulk arm of another
// built checkout too, interleaved (before and after a change, in the same run).
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { debianPg15, installed, median, startServer, timed, timePgbulk } from './bench-lib.mjs'
import { TABLE, generate, row } from './bench-data.mjs'

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : def
}
const SIZES = arg('rows', '100000,1000000').split(',').map(Number)
const REPEATS = Number(arg('repeats', '2'))
const PER_ROW_ROWS = Number(arg('per-row-rows', '3000'))
const INSERT_MAX_ROWS = Number(arg('insert-max-rows', '200000'))
/** Only the arm of this name, beside psql (e.g. --only "pgbulk COPY, CSV" for its memory on 5M rows). */
const ONLY = arg('only', '')
/**
 * Another checkout, built (e.g. a worktree of the commit before a refactor): each pgbulk arm runs
 * twice per round, this checkout's build and that one's ("[baseline]"), interleaved.
 */
const BASELINE = arg('baseline', '')

const COLUMNS = 'id, uid, title, status, amount, qty, flag, ts, day, meta'

const dir = await mkdtemp(join(tmpdir(), 'pgbulk-bench-'))
/** The data files made so far (by path: rows, format and kind), shared by the servers' runs. */
const made = new Map()
try {
  // The embedded PostgreSQL 18 (or DATABASE_URL), then Debian's PostgreSQL 15 where it is installed.
  await benchOn(await startServer())
  const pg15 = process.env.DATABASE_URL ? { why: 'DATABASE_URL is set' } : debianPg15()
  if (pg15.url) await benchOn(pg15)
  else console.log(`\n(no PostgreSQL 15 arm: ${pg15.why})`)
  if (!installed('pgloader')) console.log('\n(pgloader is not installed: apt-get install pgloader to compare with it)')
} finally {
  await rm(dir, { recursive: true, force: true })
}

/** Every arm against one server, and its table. */
async function benchOn(srv) {
  const client = new pg.Client({ connectionString: srv.url })
  await client.connect()
  /** Whether a row of bench is visible yet: a committed batch. */
  const firstRow = async () => (await client.query('SELECT EXISTS (SELECT 1 FROM bench) AS e')).rows[0].e
  const results = []
  try {
    await client.query(`DROP TABLE IF EXISTS bench; ${TABLE}`)
    const version = (await client.query('SHOW server_version')).rows[0].server_version
    const psql = installed('psql')
    const pgloader = installed('pgloader')
    for (const rows of SIZES) {
      /** The data file of a format and kind (made on first use), with its size. */
      const data = async (format, kind, n = rows) => {
        const path = join(dir, `${n}-${kind}.${format}`)
        if (!made.has(path)) {
          await generate(path, n, format, kind)
          made.set(path, { path, bytes: (await stat(path)).size, rows: n })
        }
        return made.get(path)
      }
      const pgbulk = (format, kind, method = 'copy', n = rows, extra = []) => ({
        data: () => data(format, kind, n),
        run: (f) => timePgbulk(f.path, { url: srv.url, method, rejects: join(dir, 'rejects.ndjson'), firstRow, extra }),
        baseline: (f) =>
          timePgbulk(f.path, {
            url: srv.url,
            method,
            rejects: join(dir, 'rejects.ndjson'),
            firstRow,
            extra,
            checkout: BASELINE,
          }),
      })
      const arms = [
        ...(psql
          ? [
              {
                name: 'psql \\copy, CSV',
                data: () => data('csv', 'clean'),
                run: (f) => timed('psql', [srv.url, '-qc', `\\copy bench FROM '${f.path}' CSV HEADER`], {}, firstRow),
              },
            ]
          : []),
        ...(pgloader
          ? [
              {
                name: 'pgloader 3.6, CSV',
                data: () => data('csv', 'clean'),
                run: async (f) => {
                  const cmd = join(dir, 'bench.load')
                  await writeFile(
                    cmd,
                    `LOAD CSV FROM '${f.path}' (${COLUMNS}) INTO ${srv.url}?tablename=bench (${COLUMNS})
                   WITH skip header = 1, fields optionally enclosed by '"', fields escaped by double-quote, fields terminated by ',';\n`,
                  )
                  return timed('pgloader', ['--quiet', cmd], {}, firstRow)
                },
              },
            ]
          : []),
        { name: 'pgbulk COPY, CSV', ...pgbulk('csv', 'clean') },
        // What the checkpoints and the batch ledger (pgbulk trace) cost: the same load keeping neither.
        { name: 'pgbulk COPY, CSV, --no-checkpoint', ...pgbulk('csv', 'clean', 'copy', rows, ['--no-checkpoint']) },
        { name: 'pgbulk COPY, NDJSON', ...pgbulk('ndjson', 'clean') },
        { name: 'pgbulk COPY, CSV, 1% bad values', ...pgbulk('csv', 'value') },
        { name: 'pgbulk COPY, CSV, 1% duplicate keys', ...pgbulk('csv', 'unique') },
        { name: 'pgbulk COPY, CSV, 1% malformed', ...pgbulk('csv', 'malformed') },
        { name: 'pgbulk COPY, CSV, 10% fail a CHECK', ...pgbulk('csv', 'check10') },
        { name: 'pgbulk COPY, CSV, 50% fail a CHECK', ...pgbulk('csv', 'check50') },
        { name: 'pgbulk COPY, NDJSON, 1% bad values', ...pgbulk('ndjson', 'value') },
        { name: 'pgbulk COPY, CSV, --workers 2', ...pgbulk('csv', 'clean', 'copy', rows, ['--workers', '2']) },
        { name: 'pgbulk COPY, NDJSON, --workers 2', ...pgbulk('ndjson', 'clean', 'copy', rows, ['--workers', '2']) },
        { name: 'pgbulk INSERT, CSV', ...pgbulk('csv', 'clean', 'insert', Math.min(rows, INSERT_MAX_ROWS)) },
        {
          name: 'pgbulk INSERT, CSV, --workers 2',
          ...pgbulk('csv', 'clean', 'insert', Math.min(rows, INSERT_MAX_ROWS), ['--workers', '2']),
        },
      ]
        .filter((a) => ONLY === '' || a.name === ONLY || a.name.startsWith('psql'))
        .flatMap((a) =>
          BASELINE && a.baseline ? [a, { name: `${a.name} [baseline]`, data: a.data, run: a.baseline }] : [a],
        )
      for (const arm of arms) arm.file = await arm.data()
      const samples = new Map(arms.map((a) => [a.name, []]))
      for (let rep = 0; rep < REPEATS; rep++) {
        for (const arm of arms) {
          await client.query('TRUNCATE bench')
          await client.query('VACUUM ANALYZE bench')
          const s = await arm.run(arm.file)
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
          n: arm.file.rows,
          ms,
          firstS: median(ss.map((s) => s.firstRowMs)) / 1000,
          mbs: arm.file.bytes / 1024 / 1024 / (ms / 1000),
          cpu,
          rss,
          vsCopy: ref ? ref / (ms / arm.file.rows) : undefined,
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
    const fmt = (v, d = 0) =>
      v === undefined ? '' : v.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d })
    console.log(
      `\nPostgreSQL ${version}; median of ${REPEATS} interleaved runs; CPU and RSS are the loader's own process; first commit: until the first row is visible to another session\n`,
    )
    console.log(
      '| size | load | rows/s | MB/s | wall s | first commit s | client CPU s | peak RSS MB | vs psql \\copy |',
    )
    console.log('|---|---|---|---|---|---|---|---|---|')
    for (const r of results) {
      console.log(
        `| ${fmt(r.rows)} | ${r.name} | ${fmt(r.n / (r.ms / 1000))} | ${fmt(r.mbs, 1)} | ${fmt(r.ms / 1000, 2)} | ${fmt(r.firstS, 2)} | ${fmt(r.cpu, 2)} | ${fmt(r.rss)} | ${r.vsCopy === undefined ? '' : `${fmt(r.vsCopy, 2)}×`} |`,
      )
    }
  } finally {
    await client.end()
    await srv.stop()
  }
}
