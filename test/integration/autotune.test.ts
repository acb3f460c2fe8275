import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { load } from '../../src/index.js'
import type { BatchTrace } from '../../src/report/run-figures.js'
import { formatSummary } from '../../src/report/load-report.js'
import { type TestDb, withTestDb } from '../helpers/db.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

describe('--batch-size auto', () => {
  it.each(['copy', 'insert'] as const)(
    'shrinks its batches when another session waits on its transaction, and loads every row (%s)',
    async (method) => {
      // Each row costs the server 1 ms or a little more (a trigger: pg_sleep rounds its 0.3 ms up to a
      // 1 ms wait, on any machine), so the first 2,000-row batch holds its locks for 2 s or more, and
      // the size that keeps a transaction at half the budget (50 ms) is 50 rows or fewer. Another session takes an exclusive lock on the table every 50 ms (DDL does the
      // same): it waits for pgbulk's open transaction, and pgbulk must see that wait and cut.
      await db.client
        .query(`DROP TABLE IF EXISTS tuned; DROP FUNCTION IF EXISTS tuned_slow; CREATE TABLE tuned (id int, v text);
      CREATE FUNCTION tuned_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.0003); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON tuned FOR EACH ROW EXECUTE FUNCTION tuned_slow()`)
      // 3,938 rows go by while it halves down from 2,000 (2,000 + 1,000 + ... + 63); the rest is enough
      // for about ten batches at the settled size, so that what happens after the cut can be judged.
      const n = 4200
      const input = join(dir, 'tuned.csv')
      await writeFile(input, 'id,v\n' + Array.from({ length: n }, (_, k) => `${k + 1},row ${k + 1}\n`).join(''))

      const other = new pg.Client({ connectionString: db.url })
      await other.connect()
      let competing = true
      let locks = 0
      const competitor = (async () => {
        while (competing) {
          await other.query('BEGIN; LOCK TABLE tuned IN ACCESS EXCLUSIVE MODE; COMMIT')
          locks++
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      })()
      let report
      try {
        report = await load({
          inputs: [input],
          table: 'tuned',
          db: db.url,
          method,
          autoTune: { budgetMs: 100, minRows: 10, maxRows: 100_000 },
          checkpoint: false,
          force: true,
        })
      } finally {
        competing = false
        await competitor
        await other.end()
      }
      expect(locks).toBeGreaterThan(5)
      expect(report).toMatchObject({ rowsRead: n, rowsLoaded: n, rowsRejected: 0, exitCode: 0 })
      const r = await db.client.query<{ n: string; distinct_ids: string; lo: number; hi: number }>(
        'SELECT count(*) AS n, count(DISTINCT id) AS distinct_ids, min(id) AS lo, max(id) AS hi FROM tuned',
      )
      expect(r.rows[0]).toEqual({ n: String(n), distinct_ids: String(n), lo: 1, hi: n })

      const trace: BatchTrace[] = report.autoTune!.batches
      expect(trace.reduce((s, b) => s + b.rows, 0)).toBe(n)
      // It saw the waiter, cut at once, and ran smaller batches than it started with afterwards.
      expect(trace[0]!.rows).toBe(2000)
      const cut = trace.findIndex((b) => /waited \d+ ms \(budget 100 ms\): halved/.test(b.reason))
      expect(cut).toBeGreaterThanOrEqual(0)
      expect(trace[cut]!.blockedSessions).toBeGreaterThan(0)
      expect(trace[cut]!.blockedMs).toBeGreaterThan(100)
      expect(trace[cut]!.nextRows).toBeLessThan(trace[cut]!.rows)
      const later = trace.slice(cut + 1)
      expect(later.length).toBeGreaterThan(0)
      expect(Math.max(...later.map((b) => b.rows))).toBeLessThanOrEqual(trace[cut]!.nextRows)

      // The README: "from 2,000 rows of 2-3 s to 20-40 rows of about 50 ms", and the waits of others
      // under the 100 ms budget. Judged on the full batches sized after the controller stopped halving
      // (the first decision that is not "halved": the batch it was taken on may still be large, when a
      // waiter happened to arrive late), not on the leftover last batch, whose size is whatever rows remain.
      const full = trace.slice(0, -1)
      const settled = full.findIndex((b, i) => i > cut && !/: halved$/.test(b.reason))
      expect(settled, 'the controller never stopped halving').toBeGreaterThan(cut)
      // Halving from 2,000 to about 40 takes 5 or 6 cuts; a slow machine (more ms per row) may need 2 more.
      expect(settled).toBeLessThanOrEqual(8)
      const after = full.slice(settled + 1)
      expect(after.length, JSON.stringify(trace)).toBeGreaterThanOrEqual(4)
      // Small: none above twice the README's figure, and the typical one near it.
      const sizes = after.map((b) => b.rows).sort((a, b) => a - b)
      expect(Math.max(...sizes)).toBeLessThanOrEqual(80)
      expect(sizes[Math.floor(sizes.length / 2)]!).toBeLessThanOrEqual(60)
      // Within the budget: every full batch after the cut kept the waits under 100 ms, except at most
      // one (a stall of this shared machine can stretch one batch; the controller then halves again,
      // which is what it is for).
      const over = after.filter((b) => b.blockedMs > 100)
      expect(over.length, JSON.stringify(after)).toBeLessThanOrEqual(1)
      expect(after.filter((b) => b.blockedMs <= 50).length).toBeGreaterThan(after.length / 2)
      expect(formatSummary(report)).toMatch(
        /--batch-size auto: batches of \d+ to 2000 rows \(last \d+\); others waited on pgbulk up to \d+ ms \(budget 100 ms\)/,
      )
    },
  )
})
