import { describe, expect, it } from 'vitest'
import type { CommitJob, WriterSource } from '../../src/write/ordered-commits.js'
import { EarlierBatchFailed, GiveWay, OrderedCommits } from '../../src/write/ordered-commits.js'

/** A fake writer: just a name. The jobs below play the transaction. */
interface Fake {
  id: number
}

/** Writers handed out as WriterPool does: a free one, else the next to be released. */
function pool(size: number): WriterSource<Fake> {
  const free = Array.from({ length: size }, (_, k) => ({ id: k + 1 }))
  const waiting: ((w: Fake) => void)[] = []
  return {
    size,
    acquire: () => Promise.resolve(free.shift() ?? new Promise<Fake>((resolve) => waiting.push(resolve))),
    release: (w) => {
      const next = waiting.shift()
      if (next) next(w)
      else free.push(w)
    },
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What happened, in order: "hook n" once a batch's turn came, "commit n" when its outcome was counted. */
type Log = string[]

/** A batch that reaches its hook after `delayMs`, waits its turn, and "commits" n. */
function job(
  n: number,
  log: Log,
  delayMs: number,
  extra: Partial<CommitJob<Fake, number>> = {},
): CommitJob<Fake, number> {
  return {
    send: async (_w, turn) => {
      await sleep(delayMs)
      await turn()
      log.push(`hook ${n}`)
      return n
    },
    committed: (r) => void log.push(`commit ${r}`),
    fatal: (err) => new Error(`batch ${n} failed: ${(err as Error).message}`),
    failed: () => Promise.resolve(void log.push(`failed ${n}`)),
    ...extra,
  }
}

describe('ordered commits of --workers', () => {
  it('commits batches in the order they were submitted, however long each takes to reach its hook', async () => {
    const log: Log = []
    const commits = new OrderedCommits(pool(3), () => Promise.resolve(false), 5)
    await commits.submit(() => job(1, log, 40))
    await commits.submit(() => job(2, log, 20))
    await commits.submit(() => job(3, log, 0))
    await commits.settle()
    expect(log).toEqual(['hook 1', 'commit 1', 'hook 2', 'commit 2', 'hook 3', 'commit 3'])
  })

  it('tells each batch how many are in flight before it, and waits for a free writer', async () => {
    const log: Log = []
    const seen: number[] = []
    const commits = new OrderedCommits(pool(2), () => Promise.resolve(false), 5)
    for (let n = 1; n <= 4; n++) {
      await commits.submit((inFlight) => {
        seen.push(inFlight)
        return job(n, log, 10)
      })
    }
    await commits.settle()
    // Two writers: the third batch waits for the first to finish, then finds the second in flight.
    expect(seen).toEqual([0, 1, 1, 1])
    expect(log.filter((l) => l.startsWith('commit'))).toEqual(['commit 1', 'commit 2', 'commit 3', 'commit 4'])
  })

  it('with one writer, a batch is done before submit returns', async () => {
    const log: Log = []
    const commits = new OrderedCommits(pool(1), () => Promise.resolve(false), 5)
    await commits.submit(() => job(1, log, 10))
    expect(log).toEqual(['hook 1', 'commit 1'])
  })

  it('gives way when it holds a lock the batch before waits for: rolled back, sent again after that one commits', async () => {
    const log: Log = []
    // Batch 2 takes a row lock that batch 1 needs: batch 1 cannot reach its hook while it is held.
    let held = false
    let released!: () => void
    const lockFree = new Promise<void>((resolve) => (released = resolve))
    let asked = 0
    const blocks = (me: Fake, earlier: readonly Fake[]) => {
      asked++
      return Promise.resolve(held && me.id === 2 && earlier.some((w) => w.id === 1))
    }
    const commits = new OrderedCommits(pool(2), blocks, 5)
    await commits.submit(() =>
      job(1, log, 0, {
        send: async (_w, turn) => {
          await sleep(5)
          await lockFree
          await turn()
          log.push('hook 1')
          return 1
        },
      }),
    )
    let attempts = 0
    await commits.submit(() =>
      job(2, log, 0, {
        send: async (_w, turn) => {
          attempts++
          if (attempts === 1) held = true
          try {
            await turn()
          } catch (err) {
            // The transaction rolls back: its locks go.
            expect(err).toBeInstanceOf(GiveWay)
            held = false
            released()
            throw err
          }
          log.push('hook 2')
          return 2
        },
      }),
    )
    await commits.settle()
    expect(attempts).toBe(2)
    expect(asked).toBeGreaterThan(0)
    expect(log).toEqual(['hook 1', 'commit 1', 'hook 2', 'commit 2'])
  })

  it('stops at the first failure: later batches in flight roll back, none is sent after, settle throws it', async () => {
    const log: Log = []
    const commits = new OrderedCommits(pool(3), () => Promise.resolve(false), 5)
    const errors: unknown[] = []
    await commits.submit(() =>
      job(1, log, 0, {
        send: async () => {
          await sleep(20)
          throw new Error('boom')
        },
      }),
    )
    await commits.submit(() => job(2, log, 0, { failed: (err) => Promise.resolve(void errors.push(err)) }))
    await expect(commits.settle()).rejects.toThrow('batch 1 failed: boom')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(EarlierBatchFailed)
    expect(log).toEqual(['failed 1'])
    expect(commits.failure?.error).toEqual(new Error('batch 1 failed: boom'))
    let started = false
    await expect(
      commits.submit(() => {
        started = true
        return job(3, log, 0)
      }),
    ).rejects.toThrow('batch 1 failed: boom')
    expect(started).toBe(false)
  })

  it('a batch whose counting throws after it committed stops the run there, and the next batch does not commit', async () => {
    const log: Log = []
    const commits = new OrderedCommits(pool(2), () => Promise.resolve(false), 5)
    await commits.submit(() =>
      job(1, log, 10, {
        committed: () => {
          throw new Error('counting failed')
        },
      }),
    )
    await commits.submit(() => job(2, log, 0))
    await expect(commits.settle()).rejects.toThrow('counting failed')
    expect(log).toEqual(['hook 1', 'failed 2'])
  })

  it('a batch whose failure handling throws still ends: the next batch does not wait for ever', async () => {
    const log: Log = []
    const commits = new OrderedCommits(pool(2), () => Promise.resolve(false), 5)
    await commits.submit(() =>
      job(1, log, 0, {
        send: async () => {
          await sleep(20)
          throw new Error('boom')
        },
        failed: () => Promise.reject(new Error('the reject file is gone too')),
      }),
    )
    await commits.submit(() => job(2, log, 10))
    await expect(commits.settle()).rejects.toThrow('batch 1 failed: boom')
    expect(log).toEqual(['failed 2'])
  })
})
