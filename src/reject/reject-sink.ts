import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { access, constants, rm, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { LoadError } from '../errors.js'
import type { Rejection } from './rejection.js'

/** Reject files may hold personal data: only the owner may read them. */
const REJECT_FILE_MODE = 0o600

/**
 * The reject file: one NDJSON line per rejected row. It is created on the first reject only,
 * with mode 0600, and never replaces an existing file unless `force` was given.
 */
export class RejectSink {
  private stream: WriteStream | undefined
  count = 0

  private constructor(readonly path: string) {}

  /** Check the path before loading: refuse an existing file unless `force`, in which case the old file is removed so that no stale rejects remain. */
  static async prepare(path: string, force: boolean): Promise<RejectSink> {
    try {
      await access(dirname(resolve(path)), constants.W_OK)
    } catch {
      throw new LoadError(
        'REJECTS_UNWRITABLE',
        `cannot create the reject file ${path}: its directory does not exist or is not writable`,
        'choose another place with --rejects',
      )
    }
    const exists = await stat(path).then(
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
    return new RejectSink(path)
  }

  async write(rejection: Rejection): Promise<void> {
    await this.writeLine(JSON.stringify(rejection))
  }

  /** Write a line as it is (pgbulk redrive keeps the lines it did not get to). */
  async writeLine(text: string): Promise<void> {
    if (!this.stream) {
      this.stream = createWriteStream(this.path, { flags: 'wx', mode: REJECT_FILE_MODE })
      await once(this.stream, 'open')
    }
    this.count++
    if (!this.stream.write(text + '\n')) await once(this.stream, 'drain')
  }

  async close(): Promise<void> {
    if (!this.stream) return
    const s = this.stream
    this.stream = undefined
    await new Promise<void>((resolve, reject) => s.end((err?: Error | null) => (err ? reject(err) : resolve())))
  }
}
