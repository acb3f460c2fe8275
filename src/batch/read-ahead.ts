/**
 * Run an async source ahead of its consumer, by at most `max` units of `weight`: while the
 * consumer waits (for a batch to commit), the source goes on (reading and checking the next
 * rows), so that the client's work and the database's overlap. Items come out in order, the
 * source's error after the items before it. When the consumer stops early (break, return), the
 * source is stopped and closed, and whatever it had read ahead is dropped unseen: to the consumer
 * it is as if that had never been read.
 */
export function readAhead<T>(source: AsyncIterable<T>, max: number, weight: (item: T) => number): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = source[Symbol.asyncIterator]()
      // Each item with the weight it had when queued (the weight function may change its mind).
      const queue: { value: T; w: number }[] = []
      let queued = 0
      let ended = false
      let failure: { error: unknown } | undefined
      let stopped = false
      let wakeConsumer: (() => void) | undefined
      let wakeProducer: (() => void) | undefined
      const wake = (w: (() => void) | undefined) => w?.()

      const producer = (async () => {
        try {
          while (!stopped) {
            if (queued >= max) {
              await new Promise<void>((resolve) => (wakeProducer = resolve))
              continue
            }
            // Let I/O callbacks run between items: a source whose data is already buffered would
            // otherwise go on in one chain of microtasks while the database's answers wait.
            await new Promise<void>((resolve) => setImmediate(resolve))
            const n = await it.next()
            if (n.done) return
            const w = weight(n.value)
            queue.push({ value: n.value, w })
            queued += w
            wake(wakeConsumer)
          }
          await it.return?.()
        } catch (error) {
          failure = { error }
        } finally {
          ended = true
          wake(wakeConsumer)
        }
      })()

      return {
        async next(): Promise<IteratorResult<T>> {
          while (queue.length === 0) {
            if (ended) {
              if (failure) {
                const { error } = failure
                failure = undefined
                throw error
              }
              return { done: true, value: undefined }
            }
            await new Promise<void>((resolve) => (wakeConsumer = resolve))
          }
          const { value, w } = queue.shift()!
          queued -= w
          wake(wakeProducer)
          return { done: false, value }
        },
        async return(): Promise<IteratorResult<T>> {
          stopped = true
          wake(wakeProducer)
          await producer
          queue.length = 0
          return { done: true, value: undefined }
        },
      }
    },
  }
}
