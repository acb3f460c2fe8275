// npm run bench:bad-rows [-- rows]: what 1% of bad rows costs. Loads the same generated file
// clean, with 1% of rows repeating an earlier primary key, and with 1% naming a missing parent
// (foreign key), spread evenly; by COPY and INSERT; interleaved and repeated; against the
// embedded PostgreSQL (or DATABASE_URL). Prints rows/s, and each figure as a share of the clean
// load's and of psql's \copy (when psql is installed) measured in the same run.
import { spawnSync } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { median, startServer, timePgbulk, timed as timedRun } from './bench-lib.mjs'

const ROWS = Number(process.argv[2] ?? 1_000_000)
const INSERT_ROWS = Math.min(ROWS, 200_000) // INSERT is slower: a smaller file keeps the run short
const REPEATS = Number(process.env.BENCH_REPEATS ?? 2)
const PARENTS = 1000

/** kind: clean | unique (every 100th row repeats the id before it) | fk (every 100th row names a missing parent, each a different one). */
async function generate(path, rows, kind) {
  const out = createWriteStream(path)
  out.write('id,parent,name,amount,ts\n')
  for (let i = 1; i <= rows; i++) {
    const bad = i % 100 === 50
    const id = kind === 'unique' && bad ? i - 1 : i
    const parent = kind === 'fk' && bad ? PARENTS + i : 1 + (i % PARENTS)
    const line = `${id},${parent},"item ${i}, ""quoted""",${(i % 100000) / 100},2024-01-${String(1 + (i % 28)).padStart(2, '0')} 10:00:00+00\n`
    if (!out.write(line)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

const time = async (cmd, args, env) => (await timedRun(cmd, args, env)).ms

const dir = await mkdtemp(join(tmpdir(), 'pgbulk-bench-'))
const srv = await startServer()
const client = new pg.Client({ connectionString: srv.url })
await client.connect()
try {
  await client.query(`DROP TABLE IF EXISTS bench; DROP TABLE IF EXISTS bench_parent;
    CREATE TABLE bench_parent (id int PRIMARY KEY); INSERT INTO bench_parent SELECT generate_series(1, ${PARENTS});
    CREATE TABLE bench (id bigint PRIMARY KEY, parent int REFERENCES bench_parent, name text, amount numeric(12,2), ts timestamptz)`)
  const files = {}
  for (const kind of ['clean', 'unique', 'fk']) {
    files[`copy-${kind}`] = join(dir, `copy-${kind}.csv`)
    await generate(files[`copy-${kind}`], ROWS, kind)
    files[`insert-${kind}`] = join(dir, `insert-${kind}.csv`)
    await generate(files[`insert-${kind}`], INSERT_ROWS, kind)
  }
  const psql = spawnSync('psql', ['--version']).status === 0
  const arms = [
    ...(psql
      ? [
          {
            name: 'psql \\copy, clean',
            rows: ROWS,
            run: () => time('psql', [srv.url, '-qc', `\\copy bench FROM '${files['copy-clean']}' CSV HEADER`]),
          },
        ]
      : []),
    ...['clean', 'unique', 'fk'].flatMap((kind) =>
      ['copy', 'insert'].map((method) => ({
        name: `pgbulk ${method}, ${kind === 'clean' ? 'clean' : `1% ${kind === 'unique' ? 'duplicate keys' : 'missing parents'}`}`,
        method,
        kind,
        rows: method === 'copy' ? ROWS : INSERT_ROWS,
        run: async () =>
          (await timePgbulk(files[`${method}-${kind}`], { url: srv.url, method, rejects: join(dir, 'rejects.ndjson') }))
            .ms,
      })),
    ),
  ]
  const results = new Map(arms.map((a) => [a.name, []]))
  for (let rep = 0; rep < REPEATS; rep++) {
    for (const arm of arms) {
      await client.query('TRUNCATE bench')
      await client.query('VACUUM bench')
      const ms = await arm.run()
      const loaded = Number((await client.query('SELECT count(*) FROM bench')).rows[0].count)
      const expected = arm.kind && arm.kind !== 'clean' ? arm.rows - arm.rows / 100 : arm.rows
      if (loaded !== expected) throw new Error(`${arm.name}: loaded ${loaded} rows, expected ${expected}`)
      results.get(arm.name).push(ms)
      process.stderr.write(`${arm.name}: ${(ms / 1000).toFixed(2)} s\n`)
    }
  }
  const rate = (name, rows) => rows / (median(results.get(name)) / 1000)
  const copyRef = psql ? rate('psql \\copy, clean', ROWS) : undefined
  console.log(
    `\n${ROWS} rows (INSERT: ${INSERT_ROWS}), median of ${REPEATS}, PostgreSQL ${(await client.query('SHOW server_version')).rows[0].server_version}\n`,
  )
  console.log('| load | rows/s | vs clean, same method | vs psql \\copy |')
  console.log('|---|---|---|---|')
  for (const arm of arms) {
    const r = rate(arm.name, arm.rows)
    const clean = arm.method ? rate(`pgbulk ${arm.method}, clean`, arm.rows) : undefined
    console.log(
      `| ${arm.name} | ${Math.round(r).toLocaleString('en')} | ${clean ? `${Math.round((r / clean) * 100)}%` : ''} | ${copyRef ? `${Math.round((r / copyRef) * 100)}%` : ''} |`,
    )
  }
} finally {
  await client.end()
  await srv.stop()
  await rm(dir, { recursive: true, force: true })
}
