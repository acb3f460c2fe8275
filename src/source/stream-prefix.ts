import { createHash, type Hash } from 'node:crypto'
import { LoadError } from '../errors.js'

/** What a checkpoint of a stream records of it: where it stands, and a hash of the stream's bytes before that. */
export interface PrefixIdentity {
  /** The checkpoint's position. */
  bytes: number
  /**
   * How many of the first bytes the hash covers: `bytes`, or where a block begins before it (see PREFIX_BLOCK_BYTES).
   */
  covered: number
  hash: string
}

/**
 * The hash's state is kept at each boundary of blocks of this size, and the stream's last bytes
 * (up to RETAINED_BYTES, about a batch and its read-ahead) are kept too: so the hash of any prefix
 * is at hand without keeping the stream (a line of 600 MB between two checkpoints would be). When
 * a checkpoint falls further back than the bytes kept, its hash covers the prefix up to the block
 * boundary before it only.
 */
export const PREFIX_BLOCK_BYTES = 64 * 1024
const RETAINED_BYTES = 48 * 1024 * 1024

/**
 * The identity of what a stream (stdin, a pipe) delivered up to a byte: a SHA-256 of its first
 * bytes, after decompression. A stream has no size or ends to compare, and a resume reads it
 * from the start and skips what was committed: each checkpoint records the hash of the prefix it
 * covers, and a resume checks that the new stream starts with the same bytes before it loads
 * anything past them (a resume of different data would skip rows it never loaded).
 */
export class StreamPrefix {
  private readonly hash = createHash('sha256')
  private hashed = 0
  /** The hash's state at each block boundary since the oldest one a checkpoint may still need. */
  private readonly states: { at: number; state: Hash }[] = [{ at: 0, state: createHash('sha256') }]
  /** The last chunks passed on, oldest first, at most RETAINED_BYTES (and the one that passes it). */
  private readonly kept: { at: number; chunk: Buffer }[] = []
  private keptBytes = 0

  /**
   * Pass the chunks on, hashing them. With `expected`, throw INPUT_CHANGED as soon as the bytes
   * it covers are in and hash otherwise, or when the stream ends short of its position: before the
   * chunk after the covered bytes is passed on.
   */
  async *tap(chunks: AsyncIterable<Buffer>, expected?: PrefixIdentity & { name: string }): AsyncGenerator<Buffer> {
    let checked = expected === undefined
    for await (const chunk of chunks) {
      this.feed(chunk)
      if (!checked && this.hashed >= expected!.covered) {
        if (this.digestAt(expected!.covered) !== expected!.hash)
          throw changed(expected!.name, `its first ${expected!.covered} bytes differ from the ones committed`)
        checked = true
      }
      yield chunk
    }
    if (expected && this.hashed < expected.bytes)
      throw changed(expected.name, `it ended after ${this.hashed} bytes, before the ${expected.bytes} bytes committed`)
  }

  /** The identity of the first `bytes` bytes: never fewer than asked before, never more than were passed on. */
  identityAt(bytes: number): Omit<PrefixIdentity, 'bytes'> {
    const exact = this.digestAt(bytes)
    if (exact !== undefined) return { covered: bytes, hash: exact }
    const covered = Math.floor(bytes / PREFIX_BLOCK_BYTES) * PREFIX_BLOCK_BYTES
    return { covered, hash: this.digestAt(covered)! }
  }

  /**
   * The hash of the first `n` bytes, or undefined when the bytes after the block boundary before it are no longer kept.
   */
  private digestAt(n: number): string | undefined {
    const boundary = Math.floor(n / PREFIX_BLOCK_BYTES) * PREFIX_BLOCK_BYTES
    // States before the boundary are never asked for again (checkpoints only move forward).
    while (this.states.length > 1 && this.states[1]!.at <= boundary) this.states.shift()
    const s = this.states[0]!
    if (s.at !== boundary) throw new Error(`StreamPrefix: no state at byte ${boundary}`)
    if (n === boundary) return s.state.copy().digest('hex')
    const h = s.state.copy()
    let at = boundary
    for (const k of this.kept) {
      const end = k.at + k.chunk.length
      if (end <= at) continue
      if (k.at > at) return undefined // the bytes from `at` on are gone
      const stop = Math.min(end, n)
      h.update(k.chunk.subarray(at - k.at, stop - k.at))
      at = stop
      if (at === n) return h.digest('hex')
    }
    return undefined
  }

  private feed(chunk: Buffer): void {
    this.kept.push({ at: this.hashed, chunk })
    this.keptBytes += chunk.length
    while (this.keptBytes - this.kept[0]!.chunk.length >= RETAINED_BYTES)
      this.keptBytes -= this.kept.shift()!.chunk.length
    let from = 0
    while (from < chunk.length) {
      const take = Math.min(PREFIX_BLOCK_BYTES - (this.hashed % PREFIX_BLOCK_BYTES), chunk.length - from)
      this.hash.update(from === 0 && take === chunk.length ? chunk : chunk.subarray(from, from + take))
      this.hashed += take
      from += take
      if (this.hashed % PREFIX_BLOCK_BYTES === 0) this.states.push({ at: this.hashed, state: this.hash.copy() })
    }
  }
}

function changed(name: string, why: string): LoadError {
  return new LoadError(
    'INPUT_CHANGED',
    `${name} is not the stream its checkpoint was taken from: ${why}`,
    'a resumed stream must start with the same data; ' +
      'pass --restart to load it from the start, or --force to resume anyway',
  )
}
