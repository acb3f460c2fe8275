import { randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { access, constants, lstat, open, readFile, rename, rm, stat } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { LoadError } from '../errors.js'
import type { Rejection } from './rejection.js'

/** Reject files may hold personal data: only the owner may read them. */
const REJECT_FILE_MODE = 0o600

/** Lines are written in blocks of about this many bytes. */
const FLUSH_BYTES = 64 * 1024

/** A point of the reject file to come back to: its length and the lines written by then. */
export interface SinkMark {
  bytes: number
  count: number
}

/**
 * Where reject lines go. 'file': a regular file pgbulk creates (O_EXCL, mode 0600). 'stream': a
 * character device or FIFO (`/dev/null`, a terminal, a pipe), "-" or `/dev/stdout`, written to as
 * it is, appending, never created, removed or chmod-ed.
 */
export type SinkKind = 'file' | 'stream'

/**
 * The reject file: one NDJSON line per rejected row. It is created on the first reject only,
 * with mode 0600, and never replaces an existing file unless `force` was given, and then only a
 * regular file or a symbolic link (the link itself, never what it points to). A batch's
 * database rejections are written, and the file synced, before the batch commits, and a retried
 * batch first cuts the file back to where it stood: so after a crash the file holds every reject
 * before the checkpoint, once. A stream sink (a device, a pipe, standard output) cannot be cut
 * back: lines it was sent stay sent, so a retried batch or a resumed load may repeat some there.
 */
export class RejectSink {
  private fh: FileHandle | undefined
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Bytes on disk. */
  private written = 0
  /** Lines written by this run. */
  count = 0
  /** A dry run's: each line says so ("dryRun": true), and the next dry run may replace the file. */
  private dryRun = false

  private constructor(
    readonly path: string,
    private readonly existing: boolean,
    readonly kind: SinkKind = 'file',
    /**
     * "-" or /dev/stdout: standard output, written through its stream (it may be a socket,
     * which cannot be opened again by path).
     */
    private readonly out?: NodeJS.WritableStream,
  ) {}

  /**
   * Check the path before loading: refuse an existing file unless `force`, in which case the old
   * file (or symbolic link) is removed so that no stale rejects remain. A device or FIFO is
   * written to as it is; a directory, socket or block device is refused.
   */
  static async prepare(
    path: string,
    force: boolean,
    stdout?: NodeJS.WritableStream,
    dryRun = false,
  ): Promise<RejectSink> {
    // (a dry run's rejects are a report: the next dry run replaces them, never a load's reject file)
    const sink = await RejectSink.create(path, force || (dryRun && (await writtenByDryRun(path))), stdout)
    sink.dryRun = dryRun
    return sink
  }

  private static async create(path: string, force: boolean, stdout?: NodeJS.WritableStream): Promise<RejectSink> {
    if (isStdout(path)) return new RejectSink(path, false, 'stream', stdout)
    const found = await examine(path)
    if (found === 'stream') return new RejectSink(path, false, 'stream')
    await checkWritable(path)
    if (found === 'absent') return new RejectSink(path, false)
    if (!force) {
      const link = found === 'link'
      const replaced = link ? 'the link (not what it points to)' : 'it'
      throw new LoadError(
        'REJECTS_FILE_EXISTS',
        `reject file ${path} already exists${link ? ' (a symbolic link)' : ''}`,
        `move it away, choose another with --rejects, or pass --force to replace ${replaced}`,
      )
    }
    // unlink: removes a symbolic link itself, never what it points to.
    await rm(path)
    return new RejectSink(path, false)
  }

  /**
   * Continue a reject file for a resumed load: keep the lines `keep` accepts (the rejects before
   * the checkpoint), drop the others and a last line cut short by a crash, and append from there.
   */
  static async resume(
    path: string,
    keep: (r: Rejection) => boolean,
    stdout?: NodeJS.WritableStream,
  ): Promise<RejectSink> {
    // A device or pipe holds no earlier lines to keep or drop: new lines are appended as they come.
    if (isStdout(path)) return new RejectSink(path, false, 'stream', stdout)
    const found = await examine(path)
    if (found === 'stream') return new RejectSink(path, false, 'stream')
    if (found === 'link')
      throw new LoadError(
        'REJECTS_UNWRITABLE',
        `reject file ${path} is a symbolic link: pgbulk does not follow links it did not create`,
        'give the path of the file itself with --rejects',
      )
    await checkWritable(path)
    if (found === 'absent') return new RejectSink(path, false)
    const text = await readFile(path, 'utf8')
    // The last piece after splitting is '' (the file ended with a newline) or a line cut short.
    const kept = text
      .split('\n')
      .slice(0, -1)
      .filter((l) => {
        try {
          return keep(JSON.parse(l) as Rejection)
        } catch {
          return true // not ours to judge: left as it was
        }
      })
    const tmp = tempPathFor(path, 'resume')
    const fh = await open(tmp, 'wx', REJECT_FILE_MODE)
    try {
      await fh.writeFile(kept.map((l) => l + '\n').join(''))
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
    return new RejectSink(path, true)
  }

  async write(rejection: Rejection): Promise<void> {
    // (raw before the message, which quotes the bad value too: an edit of the line's first match,
    // `sed s/31.02/28.02/`, fixes the row, not the message)
    const { file, input, line, byte, raw, ...rest } = rejection
    const ordered = { file, ...(input === undefined ? {} : { input }), line, byte, raw, ...rest }
    await this.writeLine(JSON.stringify(this.dryRun ? { ...ordered, dryRun: true } : ordered))
  }

  /** Write a line as it is (pgbulk redrive keeps the lines it did not get to). */
  async writeLine(text: string): Promise<void> {
    const b = Buffer.from(text + '\n', 'utf8')
    this.pending.push(b)
    this.pendingBytes += b.length
    this.count++
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush()
  }

  /** Where the file stands now (a stream's lines stay pending, so that a rollback can still drop them). */
  async mark(): Promise<SinkMark> {
    if (this.kind === 'stream') return { bytes: this.written + this.pendingBytes, count: this.count }
    await this.flush()
    return { bytes: this.written, count: this.count }
  }

  /** Cut the file back to a mark (a batch that is sent again writes its rejects again). */
  async rollbackTo(m: SinkMark): Promise<void> {
    if (this.kind === 'stream') {
      // Only lines still pending can be taken back; what a device or pipe was sent stays sent.
      const keep = Math.max(0, m.bytes - this.written)
      const data = Buffer.concat(this.pending).subarray(0, keep)
      this.pending = keep > 0 ? [data] : []
      this.pendingBytes = data.length
      this.count = m.count
      return
    }
    // Lines not yet written all came after the mark: dropped, not written only to be cut off.
    this.pending = []
    this.pendingBytes = 0
    if (this.fh && this.written > m.bytes) {
      await this.fh.truncate(m.bytes).catch((err: unknown) => {
        throw sinkError(this.path, err)
      })
      this.written = m.bytes
    }
    this.count = m.count
  }

  /** Write what is pending and close the file; it is closed even when the write fails. */
  async close(): Promise<void> {
    try {
      await this.flush()
    } finally {
      await this.fh?.close().catch(() => {})
      this.fh = undefined
    }
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return
    const data = Buffer.concat(this.pending)
    this.pending = []
    this.pendingBytes = 0
    try {
      if (this.out) {
        const out = this.out
        await new Promise<void>((res, rej) => out.write(data, (err) => (err ? rej(err) : res())))
        this.written += data.length
        return
      }
      if (!this.fh) {
        if (isStdout(this.path)) throw new Error('no standard output to write to')
        if (this.kind === 'stream') this.fh = await open(this.path, STREAM_FLAGS)
        else this.fh = await open(this.path, this.existing ? 'r+' : 'wx', REJECT_FILE_MODE)
        if (this.existing) this.written = (await this.fh.stat()).size
      }
      // write() may write less than asked (a disk filling up does that before it fails): write
      // the rest until all of it is there, or until it fails, which keeps the batch from committing.
      let done = 0
      while (done < data.length) {
        const at = this.kind === 'stream' ? null : this.written + done
        const { bytesWritten } = await this.fh.write(data, done, data.length - done, at)
        if (bytesWritten === 0) throw Object.assign(new Error('nothing could be written'), { code: 'ENOSPC' })
        done += bytesWritten
      }
    } catch (err) {
      throw sinkError(this.path, err)
    }
    this.written += data.length
  }

  /** Make what was written durable: before a batch and its checkpoint commit. */
  async sync(): Promise<void> {
    await this.flush()
    // A device or pipe has nothing to make durable (and fsync fails there with EINVAL).
    if (this.kind === 'stream') return
    await this.fh?.sync().catch((err: unknown) => {
      throw sinkError(this.path, err)
    })
  }
}

/** A failure to write the reject file ends the run: the batch whose rejects it held must not commit. */
function sinkError(path: string, err: unknown): LoadError {
  const e = err as NodeJS.ErrnoException
  const code = e.code ? `${e.code} ` : ''
  const why = e.code === 'ENOSPC' ? '(no space left on the device)' : e.message
  return new LoadError(
    'REJECTS_WRITE_FAILED',
    `cannot write the reject file ${path}: ${code}${why}`,
    'make room or choose another --rejects, then run again with --resume',
    { cause: err },
  )
}

async function checkWritable(path: string): Promise<void> {
  try {
    await access(dirname(resolve(path)), constants.W_OK)
  } catch {
    throw new LoadError(
      'REJECTS_UNWRITABLE',
      `cannot create the reject file ${path}: its directory does not exist or is not writable`,
      'choose another place with --rejects',
    )
  }
}

/**
 * "-" and the names of standard output: written through the process's stdout stream,
 * whatever it is (a socket has no path to open).
 */
function isStdout(path: string): boolean {
  return path === '-' || ['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1'].includes(resolve(path))
}

/** Opens a device or FIFO as it is: no O_CREAT (nothing is created), O_APPEND, no controlling terminal. */
const STREAM_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY

/**
 * What is at a reject path. 'stream': "-", a character device or FIFO, or a link under /dev to
 * one of those or to standard output's file (`/dev/stdout` redirected to a file is written to, never
 * replaced). 'link': any other symbolic link. Anything else that can hold no reject lines is refused.
 */
async function examine(path: string): Promise<'absent' | 'file' | 'link' | 'stream'> {
  if (path === '-') return 'stream'
  const here = await lstat(path).catch(() => undefined)
  if (!here) return 'absent'
  if (here.isFile()) return 'file'
  const target: Stats | undefined = here.isSymbolicLink() ? await stat(path).catch(() => undefined) : here
  if (here.isSymbolicLink()) {
    const underDev = resolve(path).startsWith('/dev/')
    if (!target || (target.isFile() && !underDev) || target.isDirectory()) return 'link'
  }
  if (target && (target.isCharacterDevice() || target.isFIFO() || target.isFile())) return 'stream'
  const what = target?.isDirectory()
    ? 'a directory'
    : target?.isSocket()
      ? 'a socket'
      : target?.isBlockDevice()
        ? 'a block device'
        : 'not a file'
  throw new LoadError(
    'REJECTS_UNWRITABLE',
    `cannot write reject lines to ${path}: it is ${what}`,
    'give a file path with --rejects (or "-" for standard output)',
  )
}

/** An unpredictable name beside `path` for a file created with O_EXCL and renamed into place. */
export function tempPathFor(path: string, purpose: string): string {
  return `${path}.${purpose}-${randomBytes(8).toString('hex')}.tmp`
}

/** Whether a regular file's first line is a dry run's reject line. */
async function writtenByDryRun(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined)
  if (!st?.isFile()) return false
  const fh = await open(path, 'r')
  try {
    const b = Buffer.alloc(Math.min(st.size, 1024 * 1024))
    const { bytesRead } = await fh.read(b, 0, b.length, 0)
    const text = b.subarray(0, bytesRead).toString('utf8')
    const end = text.indexOf('\n')
    if (end < 0) return false
    const first = JSON.parse(text.slice(0, end)) as unknown
    return typeof first === 'object' && first !== null && (first as { dryRun?: unknown }).dryRun === true
  } catch {
    return false
  } finally {
    await fh.close()
  }
}
