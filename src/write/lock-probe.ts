import type pg from 'pg'

/** Who waits on this transaction now. */
export interface BlockedNow {
  /**
   * The longest wait so far of a session waiting on it, directly or behind another waiter on it
   * (-1: waiting, for how long unknown).
   */
  blockedMs: number
  sessions: number
}

/**
 * Sessions waiting, right now, for a lock this transaction holds: directly, or queued behind a
 * waiter on it (readers behind an ALTER TABLE that waits for us). Run inside the transaction just
 * before COMMIT, when row and transaction locks are all still held. pg_locks and
 * pg_blocking_pids need no privilege; waitstart is PostgreSQL 14+ (before it the wait's length
 * is unknown: -1).
 */
export async function probeBlocked(client: pg.Client, serverVersionNum: number): Promise<BlockedNow> {
  const waited =
    serverVersionNum >= 140000
      ? 'coalesce(extract(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) waitstart) ' +
        'OPERATOR(pg_catalog.*) 1000, 0)'
      : '-1'
  const r = await client.query<{ pid: number; ms: number; blockers: number[]; me: number }>(
    `SELECT pid, (${waited})::pg_catalog.float8 AS ms, pg_catalog.pg_blocking_pids(pid) AS blockers,
            pg_catalog.pg_backend_pid() AS me
     FROM pg_catalog.pg_locks WHERE NOT granted AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()`,
  )
  if (r.rows.length === 0) return { blockedMs: 0, sessions: 0 }
  // The waiters on us, then the waiters on those, and so on.
  const chain = new Set<number>([r.rows[0]!.me])
  for (let grew = true; grew;) {
    grew = false
    for (const w of r.rows) {
      if (!chain.has(w.pid) && w.blockers.some((b) => chain.has(b))) {
        chain.add(w.pid)
        grew = true
      }
    }
  }
  let blockedMs = 0
  for (const w of r.rows) if (chain.has(w.pid)) blockedMs = w.ms < 0 ? -1 : Math.max(blockedMs, w.ms)
  return { blockedMs, sessions: chain.size - 1 }
}

/**
 * Whether the session of `me` holds a lock that one of `others` waits for (pg_blocking_pids,
 * which needs no privilege): the later of two batches writing the same key then gives way.
 */
export async function blocksAny(me: pg.Client, others: readonly pg.Client[]): Promise<boolean> {
  const pids = others.map(backendPid).filter((x): x is number => x !== null)
  const r = await me.query<{ blocking: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.unnest($2::pg_catalog.int4[]) AS e(pid)
     WHERE $1::pg_catalog.int4 OPERATOR(pg_catalog.=) ANY (pg_catalog.pg_blocking_pids(e.pid))) AS blocking`,
    [backendPid(me), pids],
  )
  return r.rows[0]?.blocking ?? false
}

/** The backend of a connection (node-postgres keeps it from BackendKeyData but does not type it). */
function backendPid(client: pg.Client): number | null {
  return (client as unknown as { processID: number | null }).processID
}
