import type { Writer } from './types.js'

/**
 * The writers of a run (--workers), each on a connection of its own. A batch takes a free one;
 * with all of them busy the next batch waits, so at most `size` batches are in flight.
 */
export class WriterPool {
  private readonly free: Writer[]
  private readonly waiting: ((w: Writer) => void)[] = []

  constructor(readonly writers: readonly Writer[]) {
    if (writers.length === 0) throw new Error('a writer pool needs a writer')
    this.free = [...writers]
  }

  get size(): number {
    return this.writers.length
  }

  /** The first writer: checkpoints and other setup queries run on its connection. */
  get first(): Writer {
    return this.writers[0]!
  }

  async acquire(): Promise<Writer> {
    const w = this.free.pop()
    if (w) return w
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  release(w: Writer): void {
    const next = this.waiting.shift()
    if (next) next(w)
    else this.free.push(w)
  }

  async close(): Promise<void> {
    for (const w of this.writers) await w.close()
  }
}
