import type { BatchWriter } from './writer.js'

/**
 * The writers of a run (--workers), each on a connection of its own. A batch takes a free one;
 * with all of them busy the next batch waits, so at most `size` batches are in flight.
 */
export class WriterPool {
  private readonly free: BatchWriter[]
  private readonly waiting: ((w: BatchWriter) => void)[] = []

  constructor(readonly writers: readonly BatchWriter[]) {
    if (writers.length === 0) throw new Error('a writer pool needs a writer')
    this.free = [...writers]
  }

  get size(): number {
    return this.writers.length
  }

  /** The first writer: checkpoints and other setup queries run on its connection. */
  get first(): BatchWriter {
    return this.writers[0]!
  }

  async acquire(): Promise<BatchWriter> {
    const w = this.free.pop()
    if (w) return w
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  release(w: BatchWriter): void {
    const next = this.waiting.shift()
    if (next) next(w)
    else this.free.push(w)
  }

  async close(): Promise<void> {
    for (const w of this.writers) await w.close()
  }
}
