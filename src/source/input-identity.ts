import { createHash } from 'node:crypto'
import { open, stat } from 'node:fs/promises'

/** Enough of a file to tell whether it changed: size, modification time, and a hash of its first and last megabyte. */
export interface InputIdentity {
  size: number
  mtimeMs: number
  /** sha256 of the size, the first MiB and the last MiB. */
  hash: string
}

/** Bytes hashed at each end of the file: cheap on any size, and an append or a rewrite changes them. */
const END_BYTES = 1024 * 1024

export async function identifyInput(path: string): Promise<InputIdentity> {
  const st = await stat(path)
  const h = createHash('sha256').update(String(st.size))
  const fd = await open(path, 'r')
  try {
    const head = Buffer.alloc(Math.min(END_BYTES, st.size))
    await fd.read(head, 0, head.length, 0)
    h.update(head)
    const tailStart = Math.max(head.length, st.size - END_BYTES)
    const tail = Buffer.alloc(st.size - tailStart)
    await fd.read(tail, 0, tail.length, tailStart)
    h.update(tail)
  } finally {
    await fd.close()
  }
  return { size: st.size, mtimeMs: Math.round(st.mtimeMs), hash: h.digest('hex') }
}

/** What differs between two identities, for the message; undefined when they are the same. */
export function identityChange(before: InputIdentity, now: InputIdentity): string | undefined {
  if (before.size !== now.size) return `its size changed from ${before.size} to ${now.size} bytes`
  if (before.hash !== now.hash) return 'its content changed'
  if (before.mtimeMs !== now.mtimeMs)
    return `it was modified (${new Date(before.mtimeMs).toISOString()} → ${new Date(now.mtimeMs).toISOString()})`
  return undefined
}
