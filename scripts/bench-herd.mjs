// npm run bench:herd [-- --loaders 16 --window 2000 --seconds 24 --rows 100]: the thundering herd of
// flush windows. N pgbulk loaders, each fed a steady stream on stdin (--rows every 50 ms), all started
// together with the same --flush-interval, run twice against the embedded PostgreSQL (or DATABASE_URL):
// once without jitter and once with --flush-jitter of 20% of the window. Meanwhile a probe session runs
// a small query every 10 ms. Per run: commits per 100 ms (peak, mean, peak-to-mean) from the batch
// ledger's commit times, the probe's p50/p99/max latency, the spread of the loaders' k-th flush
// times, and rows per second. Issue 16's target: jitter cuts the peak-to-mean ratio by 3× and the
// probe's p99 by 2×, at the same rows per second.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { root, startServer } from './bench-lib.mjs'

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`)
  return Number(i >= 0 ? process.argv[i + 1] : def)
}
const LOADERS = arg('loaders', 16)
const WINDOW_MS = arg('window', 2000)
const SECONDS = arg('seconds', 24)
/** Rows each producer writes every TICK_MS. */
const ROWS = arg('rows', 100)
const TICK_MS = 50
const BUCKET_MS = 100

const dir = await mkdtemp(join(tmpdir(), 'pgbulk-herd-'))
const srv = await startServer()
const client = new pg.Client({ connectionString: srv.url })
await client.connect()
const probe = new pg.Client({ connectionString: srv.url })
await probe.connect()
await client.query(
  'DROP TABLE IF EXISTS herd; CREATE TABLE herd (id bigint, loader int, payload text); ' +
    'DROP TABLE IF EXISTS herd_probe; CREATE TABLE herd_probe AS SELECT g AS id FROM generate_series(1, 1000) g',
)

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** One run of the herd: every loader started, then every producer at once; the figures of the run. */
async function herd(jitterMs) {
  const tag = `herd-${jitterMs}-${Date.now()}`
  const loaders = Array.from({ length: LOADERS }, (_, k) => {
    const args = [
      join(root, 'bin/pgbulk.js'),
      'load',
      '-',
      '--table',
      'herd',
      '--format',
      'csv',
      '--no-header',
      '--columns',
      'id,loader,payload',
      '--batch-size',
      '1000000',
      '--flush-interval',
      `${WINDOW_MS}ms`,
      ...(jitterMs > 0 ? ['--flush-jitter', `${jitterMs}ms`] : []),
      '--job',
      `${tag}-${k}`,
      '--rejects',
      join(dir, `${k}.rejects.ndjson`),
      '--force',
      '--quiet',
    ]
    const child = spawn(process.execPath, args, { env: { ...process.env, DATABASE_URL: srv.url }, stdio: 'pipe' })
    child.stderr.on('data', (d) => process.stderr.write(`loader ${k}: ${d}`))
    return child
  })
  // Every loader started and waiting for input: each gets one row and commits it by its window (16
  // processes start slowly on 2 cores); then every producer starts at once, and every loader's next
  // window opens with the first row it reads.
  for (const [k, child] of loaders.entries()) child.stdin.write(`0,${k},warm-up\n`)
  for (let ready = 0; ready < LOADERS; await sleep(100)) {
    // (a loader that ended already said why on stderr, above: the run cannot be measured)
    const gone = loaders.findIndex((c) => c.exitCode !== null)
    if (gone >= 0) throw new Error(`loader ${gone} exited with ${loaders[gone].exitCode} before the run started`)
    const q = await client
      .query('SELECT count(DISTINCT job)::int AS n FROM pgbulk.batches WHERE job LIKE $1', [`${tag}-%`])
      .catch(() => ({ rows: [{ n: 0 }] })) // (the ledger is made by the first loader that gets there)
    ready = q.rows[0].n
  }
  await sleep(500)
  const latencies = []
  let probing = true
  const probeLoop = (async () => {
    while (probing) {
      const t = performance.now()
      await probe.query('SELECT count(*) FROM herd_probe')
      latencies.push(performance.now() - t)
      await sleep(Math.max(0, 10 - (performance.now() - t)))
    }
  })()
  const start = Date.now()
  let seq = 0
  let written = 0
  while (Date.now() - start < SECONDS * 1000) {
    for (const [k, child] of loaders.entries()) {
      let chunk = ''
      for (let r = 0; r < ROWS; r++) chunk += `${++seq},${k},payload ${seq} of loader ${k} ${'x'.repeat(40)}\n`
      child.stdin.write(chunk)
      written += ROWS
    }
    await sleep(TICK_MS)
  }
  const producedMs = Date.now() - start
  probing = false
  await probeLoop
  for (const child of loaders) child.stdin.end()
  await Promise.all(loaders.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)))
  const r = await client.query(
    `SELECT job, extract(epoch FROM committed_at) * 1000 AS at, rows_loaded FROM pgbulk.batches
     WHERE job LIKE $1 ORDER BY committed_at`,
    [`${tag}-%`],
  )
  // (commits while the producers ran: the last flush of each loader, at the end of its input, is not a window's)
  const commits = r.rows.map((x) => ({ job: x.job, at: Number(x.at), rows: Number(x.rows_loaded) }))
  const inRun = commits.filter((c) => c.at >= start && c.at <= start + producedMs)
  const buckets = new Map()
  for (const c of inRun) {
    const b = Math.floor((c.at - start) / BUCKET_MS)
    buckets.set(b, (buckets.get(b) ?? 0) + 1)
  }
  const span = Math.ceil(producedMs / BUCKET_MS)
  const peak = Math.max(...buckets.values())
  const mean = inRun.length / span
  // The k-th flush of every loader: how far apart they are.
  const byLoader = new Map()
  for (const c of inRun) byLoader.set(c.job, [...(byLoader.get(c.job) ?? []), c.at])
  const rounds = Math.min(...[...byLoader.values()].map((xs) => xs.length))
  const spreads = Array.from({ length: rounds }, (_, k) => {
    const ts = [...byLoader.values()].map((xs) => xs[k])
    return Math.max(...ts) - Math.min(...ts)
  })
  const loaded = (await client.query("SELECT count(*)::int AS n FROM herd WHERE payload <> 'warm-up'")).rows[0].n
  await client.query('TRUNCATE herd')
  return {
    jitterMs,
    commits: inRun.length,
    peak,
    mean,
    ratio: peak / mean,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    max: Math.max(...latencies),
    spreadFirst: spreads[0],
    spreadLast: spreads.at(-1),
    spreadMedian: pct(spreads, 50),
    rowsPerS: loaded / (producedMs / 1000),
    written,
    loaded,
  }
}

const fmt = (x, d = 0) => (x === undefined ? '' : x.toLocaleString('en-US', { maximumFractionDigits: d }))
try {
  const runs = [await herd(0), await herd(Math.round(WINDOW_MS * 0.2))]
  console.log(
    `\n${LOADERS} loaders, --flush-interval ${WINDOW_MS}ms, ${SECONDS} s of ${(ROWS * 1000) / TICK_MS} rows/s each\n`,
  )
  console.log(
    '| jitter | commits | commits/100 ms peak | mean | peak/mean | probe p50 ms | p99 ms | max ms | k-th flush spread: 1st / median / last ms | rows/s |',
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const x of runs)
    console.log(
      `| ${x.jitterMs} ms | ${x.commits} | ${x.peak} | ${fmt(x.mean, 2)} | ${fmt(x.ratio, 1)} | ${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${fmt(x.max, 1)} | ${fmt(x.spreadFirst)} / ${fmt(x.spreadMedian)} / ${fmt(x.spreadLast)} | ${fmt(x.rowsPerS)} |`,
    )
  const [flat, jit] = runs
  console.log(
    `\njitter cut peak/mean ${fmt(flat.ratio / jit.ratio, 1)}× (target 3×), probe p99 ${fmt(flat.p99 / jit.p99, 1)}× (target 2×)`,
  )
  for (const x of runs)
    if (x.loaded !== x.written) console.log(`note: jitter ${x.jitterMs} ms loaded ${x.loaded} of ${x.written} rows`)
} finally {
  await probe.end()
  await client.end()
  await srv.stop()
  await rm(dir, { recursive: true, force: true })
}
