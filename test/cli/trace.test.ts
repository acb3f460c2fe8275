import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type CliRun, runPgbulk } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { readRejects } from '../helpers/fixtures.js'

// pgbulk trace against a load killed with SIGKILL mid-way and then resumed: each answer is checked
// against the ledger, the run log, the reject file and the table, and the ledger as a whole is
// checked against the table (it never names a batch whose rows are not there).

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

function pgbulk(args: string[], killWhen?: () => Promise<boolean>): Promise<CliRun> {
  return runPgbulk(args, { cwd: dir, env: { DATABASE_URL: db.url }, ...(killWhen ? { killWhen } : {}) })
}

/** One JSON answer of `pgbulk trace --json`. */
type Answer = Record<string, unknown>

function answers(run: CliRun): Answer[] {
  expect(run.code, run.stderr).toBe(0)
  return run.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Answer)
}

const N = 3000
/** Line k + 1 holds id k: every 50th id is not a number (rejected client-side), every 97th breaks the CHECK (rejected by the database). */
const csv =
  'id,name\n' +
  Array.from({ length: N }, (_, k) => `${(k + 1) % 50 === 0 ? `x${k + 1}` : k + 1},name ${k + 1}`).join('\n') +
  '\n'
const clientRejected = (id: number) => id % 50 === 0
const dbRejected = (id: number) => id % 97 === 0 && !clientRejected(id)

interface Ledger {
  run_id: string
  batch: string
  first_line: string
  last_line: string
  rows_loaded: string
  rows_rejected: string
  txid: string
  committed_at: Date
}

async function ledger(job: string): Promise<Ledger[]> {
  const r = await db.client.query<Ledger>(`SELECT * FROM pgbulk.batches WHERE job = $1 ORDER BY first_line`, [job])
  return r.rows
}

async function batchCount(): Promise<number> {
  const r = await db.client
    .query<{ n: number }>(`SELECT count(*)::int AS n FROM pgbulk.batches`)
    .catch(() => ({ rows: [{ n: 0 }] })) // the ledger may not exist yet
  return r.rows[0]!.n
}

describe('pgbulk trace', () => {
  it('traces lines and keys through a load killed mid-way and resumed, as the ledger, reject file and table say', async () => {
    // A slow statement trigger: each batch takes a moment, so the kill lands mid-load.
    await db.client.query(`CREATE TABLE t (id int PRIMARY KEY CHECK (id % 97 <> 0), name text);
      CREATE FUNCTION t_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.1); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT ON t FOR EACH STATEMENT EXECUTE FUNCTION t_slow()`)
    const input = join(dir, 'in.csv')
    await writeFile(input, csv)
    const job = 'trace-job'
    const loadArgs = ['load', input, '--table', 't', '--job', job, '--batch-size', '200', '--quiet']
    const killed = await pgbulk(loadArgs, async () => (await batchCount()) >= 2)
    expect(killed.code, killed.stderr).toBe(null)
    const runs1 = await db.client.query<{ run_id: string; ended_at: Date | null }>(
      `SELECT run_id, ended_at FROM pgbulk.runs WHERE job = $1`,
      [job],
    )
    expect(runs1.rows).toHaveLength(1)
    const firstRun = runs1.rows[0]!.run_id
    expect(runs1.rows[0]!.ended_at).toBe(null)
    const cp = await db.client.query<{ next_line: string; done: boolean }>(
      `SELECT next_line, done FROM pgbulk.checkpoints WHERE job = $1`,
      [job],
    )
    expect(cp.rows[0]!.done).toBe(false)
    const stoppedAt = Number(cp.rows[0]!.next_line)
    expect(stoppedAt).toBeGreaterThan(2)
    expect(stoppedAt).toBeLessThan(N + 1)

    // Before the resume: the last line was not loaded, and the answer names the killed run.
    const before = answers(await pgbulk(['trace', input, '--line', String(N + 1), '--json']))
    expect(before).toEqual([
      {
        input,
        line: N + 1,
        status: 'not loaded',
        runId: firstRun,
        job,
        killed: true,
        why: `the run was killed before this line, or is still running (it recorded no end): its checkpoint stops at line ${stoppedAt} (--resume loads the rest)`,
      },
    ])
    const human = await pgbulk(['trace', input, '--line', String(N + 1)])
    expect(human.stdout).toBe(
      `${input}:${N + 1}: not loaded: the run was killed before this line, or is still running (it recorded no end): ` +
        `its checkpoint stops at line ${stoppedAt} (--resume loads the rest)\n  run ${firstRun} of job ${job}\n`,
    )

    const resumed = await pgbulk([...loadArgs, '--resume'])
    expect(resumed.code, resumed.stderr).toBe(2)
    const runs2 = await db.client.query<{ run_id: string; exit_code: number }>(
      `SELECT run_id, exit_code FROM pgbulk.runs WHERE job = $1 AND run_id <> $2`,
      [job, firstRun],
    )
    const secondRun = runs2.rows[0]!.run_id
    expect(runs2.rows[0]!.exit_code).toBe(2)
    const batches = await ledger(job)
    const rejects = await readRejects(`${input}.rejects.ndjson`)
    const rejectedLines = new Map(rejects.map((r) => [r['line'] as number, r]))
    // (each bad row once, killed run and resume together)
    const bad = Array.from({ length: N }, (_, k) => k + 1).filter((id) => clientRejected(id) || dbRejected(id))
    expect(rejects.map((r) => r['line'] as number).sort((a, b) => a - b)).toEqual(bad.map((id) => id + 1))

    /** What trace must say of a line a batch loaded: that batch, exactly. */
    const expectLoaded = (a: Answer | undefined, line: number, runId: string) => {
      const b = batches.find((x) => Number(x.first_line) <= line && line <= Number(x.last_line))!
      expect(b.run_id).toBe(runId)
      expect(a).toEqual({
        input,
        line,
        status: 'loaded',
        runId,
        job,
        batch: Number(b.batch),
        firstLine: Number(b.first_line),
        lastLine: Number(b.last_line),
        committedAt: b.committed_at.toISOString(),
        txid: b.txid,
        inTable: true,
        key: { id: String(line - 1) },
        target: '"public"."t"',
      })
    }

    // A row of the killed run and one of the resumed run, by line and by key.
    expectLoaded(answers(await pgbulk(['trace', input, '--line', '2', '--json']))[0], 2, firstRun)
    expectLoaded(answers(await pgbulk(['trace', input, '--table', 't', '--key', '1', '--json']))[0], 2, firstRun)
    const late = N - 1 // line N holds id N - 1, loaded after the kill
    expectLoaded(answers(await pgbulk(['trace', input, '--line', String(N), '--json']))[0], N, secondRun)
    expectLoaded(
      answers(await pgbulk(['trace', input, '--table', 't', '--key', String(late), '--json']))[0],
      N,
      secondRun,
    )
    expect(secondRun).not.toBe(firstRun)
    const text = await pgbulk(['trace', input, '--line', '2'])
    expect(text.stdout).toMatch(
      new RegExp(
        `^${escape(input)}:2: loaded by run ${firstRun} batch 1 \\(lines 1–\\d+\\), ` +
          `committed \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ as transaction \\d+; a row with id 1 is in "public"."t" now\\n$`,
      ),
    )

    // A client-side and a database rejection, by line and by key (the key as text, as it stands in the input).
    const client = answers(await pgbulk(['trace', input, '--line', '51', '--json']))[0]
    expect(client).toMatchObject({
      line: 51,
      status: 'rejected',
      code: 'VALUE_INVALID',
      stage: 'validate',
      column: 1,
      message: rejectedLines.get(51)!['message'],
    })
    expect(answers(await pgbulk(['trace', input, '--table', 't', '--key', 'x50', '--json']))).toEqual([client])
    const byDb = answers(await pgbulk(['trace', input, '--table', 't', '--key', '97', '--json']))
    expect(byDb).toEqual([
      expect.objectContaining({
        line: 98,
        status: 'rejected',
        code: '23514',
        stage: 'database',
        message: rejectedLines.get(98)!['message'],
      }),
    ])

    // The whole ledger: its batches tile the input, and every id on a batch's lines is in the table
    // unless the reject file holds that line; the rows the batches count are the table's.
    const ids = new Set((await db.client.query<{ id: number }>(`SELECT id FROM t`)).rows.map((r) => r.id))
    expect(Number(batches[0]!.first_line)).toBe(1)
    expect(Number(batches.at(-1)!.last_line)).toBe(N + 1)
    let loaded = 0
    for (const [k, b] of batches.entries()) {
      if (k > 0) expect(Number(b.first_line)).toBe(Number(batches[k - 1]!.last_line) + 1)
      let inBatch = 0
      for (let line = Math.max(2, Number(b.first_line)); line <= Number(b.last_line); line++) {
        const id = line - 1
        if (rejectedLines.has(line)) {
          expect(clientRejected(id) || dbRejected(id), `line ${line}`).toBe(true)
          expect(ids.has(id)).toBe(false)
        } else {
          expect(ids.has(id), `line ${line} of batch ${b.batch} of run ${b.run_id}`).toBe(true)
          inBatch++
        }
      }
      expect(inBatch).toBe(Number(b.rows_loaded))
      loaded += inBatch
    }
    expect(loaded).toBe(ids.size)
    expect(new Set(batches.map((b) => b.run_id))).toEqual(new Set([firstRun, secondRun]))

    // An input never loaded, and a key in no line: exit 1.
    await writeFile(join(dir, 'other.csv'), 'id,name\n1,a\n')
    const unknown = await pgbulk(['trace', join(dir, 'other.csv'), '--line', '2'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('was never loaded: no run in the run log read it (TRACE_UNKNOWN)')
    const noKey = await pgbulk(['trace', input, '--table', 't', '--key', '999999'])
    expect(noKey.code).toBe(1)
    expect(noKey.stderr).toContain(`no line of ${input} holds id = "999999" (TRACE_UNKNOWN)`)
  })
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
