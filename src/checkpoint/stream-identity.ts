import { LoadError } from '../errors.js'
import type { InputIdentity } from '../source/input-identity.js'
import type { PrefixIdentity, StreamPrefix } from '../source/stream-prefix.js'
import type { Checkpoint } from './checkpoint-store.js'

/** Marks a stream's identity, so that it is never taken for a file's. */
const PREFIX_HASH = 'prefix-sha256:'

/**
 * A stream's checkpoint identity: its position, and the hash of its first bytes with how many it
 * covers (a stream has no size or time to compare; its resume checks that it starts the same).
 */
export function prefixIdentity(bytes: number, prefix: StreamPrefix): InputIdentity {
  const { covered, hash } = prefix.identityAt(bytes)
  return { size: bytes, mtimeMs: 0, hash: `${PREFIX_HASH}${covered}:${hash}` }
}

/**
 * What a resumed stream must start with, from its checkpoint; a checkpoint without it cannot be
 * checked, and is refused (--force resumes anyway).
 */
export function expectedPrefix(from: Checkpoint, name: string): PrefixIdentity & { name: string } {
  const m = /^prefix-sha256:(\d+):([0-9a-f]{64})$/.exec(from.identity?.hash ?? '')
  if (m && from.identity?.size === from.nextByte)
    return { bytes: from.nextByte, covered: Number(m[1]), hash: m[2]!, name }
  throw new LoadError(
    'INPUT_CHANGED',
    `cannot tell whether ${name} is the stream its checkpoint was taken from (the checkpoint holds no hash of it)`,
    'pass --restart to load it from the start, or --force to resume anyway',
  )
}
