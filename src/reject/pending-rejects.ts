import type { Rejection } from './rejection.js'

/**
 * Client-side rejections not yet in the reject file. The next batch writes them, before its own
 * database rejections, in its transaction's hook: batches that commit in order then write the
 * file in order, and a batch sent again cuts back only what it wrote itself.
 */
export class PendingRejects {
  private list: Rejection[] = []
  /** Raw bytes of the rejections held. */
  private bytes = 0

  add(r: Rejection): void {
    this.list.push(r)
    this.bytes += r.raw.length
  }

  /**
   * Whether they make a batch of their own (`isFull`): a stretch of bad rows is written out then,
   * so memory stays bounded.
   */
  due(isFull: (rows: number, bytes: number) => boolean): boolean {
    return isFull(this.list.length, this.bytes)
  }

  /** The rejections held, in input order; none are held after. */
  take(): Rejection[] {
    const out = this.list
    this.list = []
    this.bytes = 0
    return out
  }
}
