// npm run bench:autotune [-- --rows 200000 --repeats 1]: --batch-size auto against fixed sizes,
// each loading while another workload runs against the same table. Scenarios: the loader alone;
// DDL every second with readers queued behind it; upserts of the keys being loaded (those the
// running COPY has written, from pg_stat_progress_copy); the DDL workload switching on and off
// every 1.5 s. Arms: --batch-size 100, 1000, 10000, 100000 and auto (lock
// budget 200 ms). Competitors are open-loop (a request every 20 ms whatever happens), and each
// request's latency is measured from when it was meant to start. Prints, per scenario and arm,
// pgbulk's rows/s, the competitor's p50/p99/max latency and the share of requests over the budget.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { clearInterval, setInterval } from 'node:timers'
import { join } from 'node:path'
import pg from 'pg'
import { median, startServer, timePgbulk } from './bench-lib.mjs'

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : def
}
const ROWS = Number(arg('rows', '200000'))
const REPEATS = Number(arg('repeats', '1'))
const BUDGET_MS = 200
const INTERVAL_MS = 20

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * An open-loop competitor: `request(client, k)` every INTERVAL_MS (on several connections, so a
 * blocked request does not delay the next ones), latency from each request's intended start.
 * `active(t)` switches it on and off (t in ms since the start).
 */
function competitor(url, request, active = () => true, connections = 8) {
  const latencies = []
  let running = true
  const clients = Array.from({ length: connections }, () => new pg.Client({ connectionString: url }))
  const free = []
  const done = (async () => {
    for (const c of clients) {
      await c.connect()
      c.on('error', () => {})
      free.push(c)
    }
    const t0 = performance.now()
    const inflight = new Set()
    for (let k = 0; running; k++) {
      const due = t0 + k * INTERVAL_MS
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      if (!active(due - t0)) continue
      while (free.length === 0 && running) await sleep(1)
      if (!running) break
      const c = free.pop()
      const p = request(c, k)
        .catch(() => {})
        .then(() => {
          latencies.push(performance.now() - due)
          free.push(c)
          inflight.delete(p)
        })
      inflight.add(p)
    }
    await Promise.all(inflight)
    for (const c of clients) await c.end().catch(() => {})
  })()
  return {
    stop: async () => {
      running = false
      await done
      return latencies
    },
  }
}

const pct = (xs, p) => {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

const dir = await mkdtemp(join(tmpdir(), 'pgbulk-bench-autotune-'))
const srv = await startServer()
const admin = new pg.Client({ connectionString: srv.url })
await admin.connect()
try {
  const version = (await admin.query('SHOW server_version')).rows[0].server_version
  const file = join(dir, 'load.csv')
  let text = 'id,v\n'
  for (let i = 1; i <= ROWS; i++) text += `${i},value ${i} ${'x'.repeat(40)}\n`
  await writeFile(file, text)

  const scenarios = [
    { name: 'alone', start: () => undefined },
    {
      name: 'DDL every 1 s, readers behind it',
      start: () =>
        competitor(srv.url, (c, k) =>
          k % 50 === 0
            ? c.query(`ALTER TABLE auto_t ALTER COLUMN v SET DEFAULT '${k}'`)
            : c.query('SELECT v FROM auto_t WHERE id = $1', [1 + (k % 1000)]),
        ),
    },
    {
      name: 'upserts of the keys being loaded',
      start: () => {
        // Keys pgbulk has written in its open transaction: above the committed ones, up to what
        // the running COPY has processed (pg_stat_progress_copy).
        let committed = 0
        let inFlight = 0
        const poll = setInterval(() => {
          admin
            .query(
              'SELECT (SELECT coalesce(max(id), 0) FROM auto_t) AS c, (SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy) AS f',
            )
            .then((r) => {
              committed = Number(r.rows[0].c)
              inFlight = Number(r.rows[0].f)
            })
            .catch(() => {})
        }, INTERVAL_MS)
        const c = competitor(srv.url, (cl, k) =>
          cl.query(
            `INSERT INTO auto_t (id, v) VALUES ($1, 'c') ON CONFLICT (id) DO UPDATE SET hits = auto_t.hits + 1`,
            [inFlight > 0 ? committed + 1 + ((k * 7919) % inFlight) : Math.max(1, committed)],
          ),
        )
        return { stop: async () => (clearInterval(poll), c.stop()) }
      },
    },
    {
      name: 'DDL and readers, on and off every 1.5 s',
      start: () =>
        competitor(
          srv.url,
          (c, k) =>
            k % 50 === 0
              ? c.query(`ALTER TABLE auto_t ALTER COLUMN v SET DEFAULT '${k}'`)
              : c.query('SELECT v FROM auto_t WHERE id = $1', [1 + (k % 1000)]),
          (t) => Math.floor(t / 1500) % 2 === 1,
        ),
    },
  ]
  const arms = ['100', '1000', '10000', '100000', 'auto']
  const results = []
  for (const sc of scenarios) {
    const samples = new Map(arms.map((a) => [a, []]))
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const arm of arms) {
        // Two more indexes make each row cost the server more, as real tables do.
        await admin.query(`DROP TABLE IF EXISTS auto_t; CREATE TABLE auto_t (id bigint PRIMARY KEY, v text, hits int NOT NULL DEFAULT 0);
          CREATE INDEX ON auto_t (v); CREATE INDEX ON auto_t (md5(v))`)
        const comp = sc.start()
        await sleep(200)
        const extra =
          arm === 'auto'
            ? ['--batch-size', 'auto', '--lock-budget', String(BUDGET_MS)]
            : ['--batch-size', arm, '--batch-bytes', '1GB']
        const s = await timePgbulk(file, { url: srv.url, rejects: join(dir, 'rejects.ndjson'), extra, table: 'auto_t' })
        const lat = comp ? await comp.stop() : []
        samples.get(arm).push({ ms: s.ms, lat })
        process.stderr.write(
          `${sc.name}, batch ${arm}: ${(s.ms / 1000).toFixed(2)} s, competitor p99 ${pct(lat, 99).toFixed(0)} ms over ${lat.length} requests\n`,
        )
      }
    }
    for (const arm of arms) {
      const ss = samples.get(arm)
      const lat = ss.flatMap((s) => s.lat)
      results.push({
        scenario: sc.name,
        arm,
        rowsPerS: ROWS / (median(ss.map((s) => s.ms)) / 1000),
        p50: pct(lat, 50),
        p99: pct(lat, 99),
        max: lat.length ? Math.max(...lat) : 0,
        over: lat.length ? lat.filter((x) => x > BUDGET_MS).length / lat.length : 0,
        n: lat.length,
      })
    }
  }
  const f = (v, d = 0) => v.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d })
  console.log(
    `\nPostgreSQL ${version}; ${ROWS} rows; lock budget ${BUDGET_MS} ms; competitor latency from each request's intended start (a request every ${INTERVAL_MS} ms)\n`,
  )
  console.log('| scenario | batch size | pgbulk rows/s | competitor p50 ms | p99 ms | max ms | requests over budget |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of results) {
    console.log(
      `| ${r.scenario} | ${r.arm} | ${f(r.rowsPerS)} | ${r.n ? f(r.p50) : ''} | ${r.n ? f(r.p99) : ''} | ${r.n ? f(r.max) : ''} | ${r.n ? `${f(r.over * 100, 1)}%` : ''} |`,
    )
  }
} finally {
  await admin.end()
  await srv.stop()
  await rm(dir, { recursive: true, force: true })
}
