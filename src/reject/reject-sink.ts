import { access, constants, lstat, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
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
 * The reject file: one NDJSON line per rejected row. It is created on the first reject only,
 * with mode 0600, and never replaces an existing file unless `force` was given. A batch's
 * database rejections are written, and the file synced, before the batch commits, and a retried
 * batch first cuts the file back to where it stood: so after a crash the file holds every reject
 * before the checkpoint, once.
 */
export class RejectSink {
  private fh: FileHandle | undefined
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Bytes on disk. */
  private written = 0
  /** Lines written by this run. */
  count = 0

  private constructor(
    readonly path: string,
    private readonly existing: boolean,
  ) {}

  /** Check the path before loading: refuse an existing file unless `force`, in which case the old file is removed so that no stale rejects remain. */
  static async prepare(path: string, force: boolean): Promise<RejectSink> {
    await checkWritable(path)
    // lstat: a symlink is something at the path, even when it leads nowhere.
    const exists = await lstat(path).then(
      () => true,
      () => false,
    )
    if (exists) {
      if (!force)
        throw new LoadError(
          'REJECTS_FILE_EXISTS',
          `reject file ${path} already exists`,
          'move it away, choose another with --rejects, or pass --force to replace it',
        )
      await rm(path)
    }
    return new RejectSink(path, false)
  }

  /**
   * Continue a reject file for a resumed load: keep the lines `keep` accepts (the rejects before
   * the checkpoint), drop the others and a last line cut short by a crash, and append from there.
   */
  static async resume(path: string, keep: (r: Rejection) => boolean): Promise<RejectSink> {
    await checkWritable(path)
    const text = await readFile(path, 'utf8').catch(() => undefined)
    if (text === undefined) return new RejectSink(path, false)
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
    const tmp = `${path}.resume-${process.pid}.tmp`
    await writeFile(tmp, kept.map((l) => l + '\n').join(''), { mode: REJECT_FILE_MODE })
    await rename(tmp, path)
    return new RejectSink(path, true)
  }

  async write(rejection: Rejection): Promise<void> {
    await this.writeLine(JSON.stringify(rejection))
  }

  /** Write a line as it is (pgbulk redrive keeps the lines it did not get to). */
  async writeLine(text: string): Promise<void> {
    const b = Buffer.from(text + '\n', 'utf8')
    this.pending.push(b)
    this.pendingBytes += b.length
    this.count++
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush()
  }

  /** Where the file stands now. */
  async mark(): Promise<SinkMark> {
    await this.flush()
    return { bytes: this.written, count: this.count }
  }

  /** Cut the file back to a mark (a batch that is sent again writes its rejects again). */
  async rollbackTo(m: SinkMark): Promise<void> {
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
      if (!this.fh) {
        this.fh = await open(this.path, this.existing ? 'r+' : 'wx', REJECT_FILE_MODE)
        if (this.existing) this.written = (await this.fh.stat()).size
      }
      // write() may write less than asked (a disk filling up does that before it fails): write
      // the rest until all of it is there, or until it fails, which keeps the batch from committing.
      let done = 0
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(data, done, data.length - done, this.written + done)
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
    await this.fh?.sync().catch((err: unknown) => {
      throw sinkError(this.path, err)
    })
  }
}

/** A failure to write the reject file ends the run: the batch whose rejects it held must not commit. */
function sinkError(path: string, err: unknown): LoadError {
  const e = err as NodeJS.ErrnoException
  return new LoadError(
    'REJECTS_WRITE_FAILED',
    `cannot write the reject file ${path}: ${e.code ?? ''}${e.code ? ' ' : ''}${e.code === 'ENOSPC' ? '(no space left on the device)' : e.message}`,
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
