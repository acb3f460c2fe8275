import { createHash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { constants } from 'node:fs'
import { open, readdir, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { LoadError } from '../errors.js'
import type { InputIdentity } from './input-identity.js'
import type { OpenedInput } from './open-input.js'
import { READ_CHUNK_BYTES } from './open-input.js'

/**
 * --follow: a file read like `tail -F`. At its end the reader waits for appended bytes (polling
 * every `pollMs`); a last line without its newline stays in the parser until the newline comes.
 * Its reading ends when the file is truncated or rewritten (its first bytes differ), or rotated
 * (the path names another file that has bytes: the old file's last bytes are read first, and one
 * more poll after them), or when the signal aborts.
 */
export interface FollowedInput extends OpenedInput {
  /** Why the reading ended; undefined while it goes on. */
  readonly ended: () => FollowEnd | undefined
  /** The checkpoint identity of the file read up to byte `n` (n ≤ bytes read). */
  identityAt(n: number): InputIdentity
}

export type FollowEnd = 'rotated' | 'truncated' | 'interrupted'

/**
 * The first bytes a checkpoint hashes (fewer while the file is shorter): they tell a file from the
 * one that replaced it at the same path, where its device and inode may be reused.
 */
const HEAD_BYTES = 4096
/** Marks a followed file's identity: its device and inode, and the hash of its first bytes. */
const FOLLOW_HASH = /^follow:(\d+):(\d+):(\d+):([0-9a-f]{64})$/

export async function followFile(
  path: string,
  startByte: number,
  o: {
    signal: AbortSignal | undefined
    pollMs: number
    /** The path followed, when `path` is where its file was rotated to (that file is only read to its end). */
    followed?: string
  },
): Promise<FollowedInput> {
  const fh = await openRegular(path)
  const st = await fh.stat()
  let head = await readAt(fh, 0, HEAD_BYTES)
  if (head[0] === 0x1f && head[1] === 0x8b) {
    await fh.close()
    throw new LoadError('USAGE', `${path}: cannot follow a gzip file (a compressed stream cannot grow line by line)`)
  }
  let pos = startByte
  let ended: FollowEnd | undefined

  /** Whether the file's first bytes are no longer the ones read from it (truncated and written again). */
  const rewritten = async () => head.length > 0 && !(await readAt(fh, 0, head.length)).equals(head)

  /** Why the reading ends now that it is at the end of what the file holds; undefined: wait for more. */
  const atEnd = async (quietSinceRotation: boolean): Promise<FollowEnd | 'rotating' | undefined> => {
    const now = await fh.stat()
    if (now.size < pos) return 'truncated'
    if (await rewritten()) return 'truncated'
    const at = await stat(o.followed ?? path).catch(() => undefined)
    if (at !== undefined && at.dev === now.dev && at.ino === now.ino) return undefined
    // Rotated: the old file is done with once the file at the path has bytes (its writer has reopened the
    // path: logrotate's `create` makes it empty, and a writer told by a postrotate HUP may write to the
    // old file a while longer) and the old file has been quiet for a poll since.
    if (at === undefined || (at.isFile() && at.size === 0)) return undefined
    return quietSinceRotation ? 'rotated' : 'rotating'
  }

  async function* chunks(): AsyncGenerator<Buffer> {
    // (one quiet poll after a rotation is seen: a writer may append to the old file until it reopens the path)
    let rotating = false
    /** The read buffer, kept while nothing of it was handed on (an idle poll reads nothing into it). */
    let spare: Buffer | undefined
    try {
      for (;;) {
        if (o.signal?.aborted) {
          ended = 'interrupted'
          return
        }
        const buf = (spare ??= Buffer.allocUnsafe(READ_CHUNK_BYTES))
        const { bytesRead } = await fh.read(buf, 0, READ_CHUNK_BYTES, pos)
        if (bytesRead > 0) {
          // (the file may have been truncated and written past `pos` again since the last look at its
          // first bytes, during a wait or while the last chunk was being loaded: these bytes would then be
          // the middle of another file, loaded again from its start by the next generation)
          if (await rewritten()) {
            ended = 'truncated'
            return
          }
          const small = bytesRead < READ_CHUNK_BYTES / 4
          const got = small ? Buffer.from(buf.subarray(0, bytesRead)) : buf.subarray(0, bytesRead)
          // (a chunk handed on as a view of the buffer keeps it: the next read needs a new one)
          if (!small) spare = undefined
          if (pos < HEAD_BYTES && head.length < HEAD_BYTES && pos <= head.length)
            head = Buffer.concat([head, got.subarray(head.length - pos, HEAD_BYTES - pos)])
          pos += bytesRead
          rotating = false
          yield got
          continue
        }
        const why = await atEnd(rotating)
        if (why === 'rotated' || why === 'truncated') {
          ended = why
          return
        }
        rotating = why === 'rotating'
        await sleep(o.pollMs, o.signal)
      }
    } finally {
      await fh.close()
    }
  }

  return {
    name: path,
    gzip: false,
    chunks: chunks(),
    bytesConsumed: () => pos,
    seeked: startByte > 0,
    ended: () => ended,
    identityAt(n) {
      const covered = Math.min(n, HEAD_BYTES, head.length)
      const hash = createHash('sha256').update(head.subarray(0, covered)).digest('hex')
      return { size: n, mtimeMs: 0, hash: `follow:${st.dev}:${st.ino}:${covered}:${hash}` }
    },
  }
}

/**
 * Where the file a followed input's checkpoint was taken from is now: at its path (unless it was
 * truncated or rewritten since), else renamed within the same folder (logrotate's app.log →
 * app.log.1), found by device and inode and checked by its first bytes. A reason when it is not found.
 */
export async function locateFollowed(
  path: string,
  identity: InputIdentity | undefined,
  nextByte: number,
): Promise<{ at: string; between?: string[] } | { lost: string }> {
  const m = FOLLOW_HASH.exec(identity?.hash ?? '')
  if (!m) return { lost: 'its checkpoint does not say which file it was (not taken with --follow)' }
  const [dev, ino, covered, hash] = [Number(m[1]), Number(m[2]), Number(m[3]), m[4]!]
  const matches = async (p: string) => {
    const st = await stat(p).catch(() => undefined)
    if (!st?.isFile() || st.dev !== dev || st.ino !== ino) return false
    const fh = await open(p, 'r')
    try {
      const head = await readAt(fh, 0, covered)
      const same = head.length === covered && createHash('sha256').update(head).digest('hex') === hash
      return same && st.size >= nextByte ? true : 'changed'
    } finally {
      await fh.close()
    }
  }
  const here = await matches(path)
  if (here === true) return { at: path }
  if (here === 'changed') return { lost: `${path} was truncated or rewritten since` }
  // (a path that is a symlink, pointed at another file since: the old file is beside its new target)
  const dirs = [dirname(path)]
  const real = await realpath(path).catch(() => undefined)
  if (real !== undefined && dirname(real) !== dirs[0]) dirs.push(dirname(real))
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name)
      if (p !== path && (await matches(p)) === true) {
        const between = await rotatedBetween(path, p)
        return between.length > 0 ? { at: p, between } : { at: p }
      }
    }
  }
  return { lost: `it was rotated away and no file in ${dirs.join(' or ')} is it any more (compressed or deleted?)` }
}

/**
 * Files beside a rotated file that look rotated after it (named like the path, changed since it,
 * not the file at the path): lines in them were appended while nothing followed, and are not loaded
 * (only the file a checkpoint names and the file at the path are).
 */
async function rotatedBetween(path: string, rotated: string): Promise<string[]> {
  const [old, now] = await Promise.all([stat(rotated), stat(path).catch(() => undefined)])
  const dir = dirname(path)
  const base = basename(path)
  const out: string[] = []
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, name)
    if (!name.startsWith(base) || p === path || p === rotated) continue
    const st = await stat(p).catch(() => undefined)
    if (!st?.isFile() || (now && st.ino === now.ino) || st.mtimeMs < old.mtimeMs) continue
    out.push(p)
  }
  return out.sort()
}

async function openRegular(path: string): Promise<FileHandle> {
  let fh: FileHandle
  try {
    // (O_NONBLOCK: a named pipe's open would wait for a writer, past SIGTERM; it is refused below)
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch {
    throw new LoadError('INPUT_NOT_FOUND', `${path}: no such file, or not readable`)
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close()
    throw new LoadError('USAGE', `${path}: --follow reads a regular file (stdin is read until it closes anyway)`)
  }
  return fh
}

/** Up to `n` bytes from `at` (fewer at the end of the file). */
async function readAt(fh: FileHandle, at: number, n: number): Promise<Buffer> {
  const b = Buffer.alloc(n)
  let got = 0
  while (got < n) {
    const { bytesRead } = await fh.read(b, got, n - got, at + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return b.subarray(0, got)
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
