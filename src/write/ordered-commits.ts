/**
 * Batches in flight on several writers (--workers), committed in input order. A batch is sent as
 * soon as a writer is free; inside its transaction, before anything whose order matters (its
 * reject lines, its checkpoint, COMMIT), it waits its turn: for the batch before it to commit.
 * Two batches writing the same key would then wait for each other for ever, one in the database
 * (the earlier one, on the later one's row lock) and one here: while waiting, the later batch asks
 * every `pollMs` whether it blocks an earlier one, and if so gives way (its transaction rolls
 * back, and it is sent again once the one before has committed).
 *
 * Knows nothing of rows or SQL: a writer is anything the pool hands out, and whether one blocks
 * another is asked of `blocks` (lock-probe.ts on a real server, a fake in the unit tests).
 */

/** Hands out writers, at most `size` at a time (WriterPool). */
export interface WriterSource<W> {
  readonly size: number
  acquire(): Promise<W>
  release(writer: W): void
}

/** What one batch does: sends itself (calling `turn()` in its transaction), and hears how it ended. */
export interface CommitJob<W, R> {
  /** Write the batch on `writer`; await `turn()` before anything that must follow the batch before. */
  send(writer: W, turn: () => Promise<void>): Promise<R>
  /** Committed: runs before the next batch's turn comes. */
  committed(result: R): void
  /** The error the run stops with, when this is the first batch to fail. */
  fatal(error: unknown): unknown
  /** Failed, or rolled back because an earlier one did: undo what it wrote outside its transaction. */
  failed(error: unknown): Promise<void>
}

/** An earlier batch failed: this one must not commit (the run stops with that failure). */
export class EarlierBatchFailed extends Error {
  override readonly name = 'EarlierBatchFailed'
}

/** An earlier batch waits for a lock this one holds: roll back and send again after that one. */
export class GiveWay extends Error {
  override readonly name = 'GiveWay'
}

export class OrderedCommits<W> {
  /** The last batch submitted: resolves once it committed and was counted (true), or failed (false). */
  private tail: Promise<boolean> = Promise.resolve(true)
  /** The writers of the batches in flight, in input order. */
  private readonly inFlight: W[] = []
  private readonly jobs = new Set<Promise<void>>()
  private firstFailure: { error: unknown } | undefined

  constructor(
    private readonly writers: WriterSource<W>,
    /** Whether `me` holds a lock that one of `earlier` waits for. */
    private readonly blocks: (me: W, earlier: readonly W[]) => Promise<boolean>,
    private readonly pollMs = 100,
  ) {}

  /** The first batch failure; once set, no batch is sent. */
  get failure(): { error: unknown } | undefined {
    return this.firstFailure
  }

  /**
   * Send a batch: once a writer is free, `start` is told how many batches are in flight before
   * this one and returns the batch's job. Resolves once the batch is on its way; with one writer,
   * once it is done (a failure then throws, as settle() does).
   */
  async submit<R>(start: (inFlightBefore: number) => CommitJob<W, R>): Promise<void> {
    if (this.firstFailure) throw this.firstFailure.error
    const writer = await this.writers.acquire()
    const job = start(this.inFlight.length)
    const prev = this.tail
    const earlier = [...this.inFlight]
    this.inFlight.push(writer)
    let settled!: (ok: boolean) => void
    this.tail = new Promise((resolve) => (settled = resolve))
    // (a batch whose own handling throws fails like any other: the next one must not wait for ever)
    const running = this.run(job, writer, prev, earlier).then(settled, (err: unknown) => {
      this.firstFailure ??= { error: err }
      settled(false)
    })
    this.jobs.add(running)
    void running.finally(() => this.jobs.delete(running))
    if (this.writers.size === 1) await this.settle()
  }

  /** Wait for every batch in flight; throw the first failure. */
  async settle(): Promise<void> {
    await this.drain()
    if (this.firstFailure) throw this.firstFailure.error
  }

  /** Wait for every batch in flight, failed or not. */
  async drain(): Promise<void> {
    await Promise.all(this.jobs)
  }

  /** One batch from send to outcome; true once committed and counted. */
  private async run<R>(
    job: CommitJob<W, R>,
    writer: W,
    prev: Promise<boolean>,
    earlier: readonly W[],
  ): Promise<boolean> {
    let result: R
    try {
      for (;;) {
        try {
          result = await job.send(writer, () => this.waitTurn(prev, writer, earlier))
          break
        } catch (err) {
          if (!(err instanceof GiveWay)) throw err
          await prev
        }
      }
    } catch (err) {
      if (!this.firstFailure && !(err instanceof EarlierBatchFailed)) this.firstFailure = { error: job.fatal(err) }
      await job.failed(err)
      return false
    } finally {
      this.inFlight.splice(this.inFlight.indexOf(writer), 1)
      this.writers.release(writer)
    }
    try {
      job.committed(result)
    } catch (err) {
      // (the batch committed, but what follows it cannot go on: the run stops here)
      this.firstFailure ??= { error: err }
      return false
    }
    return true
  }

  /** Until the batch before is done: throw EarlierBatchFailed when it failed, GiveWay when it waits on this one. */
  private async waitTurn(prev: Promise<boolean>, me: W, earlier: readonly W[]): Promise<void> {
    for (;;) {
      const done = earlier.length === 0 ? await prev : await Promise.race([prev, delay(this.pollMs)])
      if (done === false) throw new EarlierBatchFailed()
      if (done === true) return
      if (await this.blocks(me, earlier)) throw new GiveWay()
    }
  }
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms))
}
