import { createHash } from 'node:crypto'
import { LoadError } from '../errors.js'

/** What a checkpoint of a stream records of it: the length of the prefix it covers and that prefix's hash. */
export interface PrefixIdentity {
  bytes: number
  hash: string
}

/**
 * The identity of what a stream (stdin, a pipe) delivered up to a byte: a SHA-256 of its first
 * bytes, after decompression. A stream has no size or ends to compare, and a resume reads it
 * from the start and skips what was committed: each checkpoint records the hash of the prefix it
 * covers, and a resume checks that the new stream starts with the same bytes before it loads
 * anything past them (a resume of different data would skip rows it never loaded).
 *
 * The chunks passed on are kept until a checkpoint has hashed past them, so memory follows the
 * distance between checkpoints, which the pipeline keeps to about a batch.
 */
export class StreamPrefix {
  private readonly hash = createHash('sha256')
  private hashed = 0
  /** Chunks passed on and not hashed yet (a checkpoint may still fall inside them). */
  private readonly queue: Buffer[] = []

  /**
   * Pass the chunks on. With `expected`, throw INPUT_CHANGED as soon as the first
   * `expected.bytes` bytes are in and hash otherwise, or the stream ends short of them: before the
   * chunk that holds the first byte past them is passed on.
   */
  async *tap(chunks: AsyncIterable<Buffer>, expected?: PrefixIdentity & { name: string }): AsyncGenerator<Buffer> {
    let seen = 0
    let pending = expected
    for await (const chunk of chunks) {
      this.queue.push(chunk)
      seen += chunk.length
      if (pending && seen >= pending.bytes) {
        if (this.digestAt(pending.bytes) !== pending.hash) throw changed(pending.name, `its first ${pending.bytes} bytes differ from the ones committed`)
        pending = undefined
      }
      yield chunk
    }
    if (pending) throw changed(pending.name, `it ended after ${seen} bytes, before the ${pending.bytes} bytes committed`)
  }

  /** The hash of the first `bytes` bytes: never less than asked before, never more than was passed on. */
  digestAt(bytes: number): string {
    while (this.hashed < bytes) {
      const head = this.queue[0]
      if (!head) throw new Error(`StreamPrefix: asked for byte ${bytes}, only ${this.hashed} passed on`)
      const take = Math.min(head.length, bytes - this.hashed)
      this.hash.update(take === head.length ? head : head.subarray(0, take))
      this.hashed += take
      if (take === head.length) this.queue.shift()
      else this.queue[0] = head.subarray(take)
    }
    return this.hash.copy().digest('hex')
  }
}

function changed(name: string, why: string): LoadError {
  return new LoadError(
    'INPUT_CHANGED',
    `${name} is not the stream its checkpoint was taken from: ${why}`,
    'a resumed stream must start with the same data; pass --restart to load it from the start, or --force to resume anyway',
  )
}
