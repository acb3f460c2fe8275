import { Writable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createProgress } from '../../src/cli/progress.js'

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = new Writable({
    write(chunk: Buffer, _enc, cb) {
      s.text += chunk.toString()
      cb()
    },
  }) as unknown as NodeJS.WriteStream & { text: string }
  s.text = ''
  s.isTTY = isTTY
  return s
}

afterEach(() => vi.restoreAllMocks())

describe('progress', () => {
  it('without a terminal, writes one plain line every 10 s and nothing in between', () => {
    let now = 0
    vi.spyOn(performance, 'now').mockImplementation(() => now)
    const out = fakeStream(false)
    const p = createProgress(out, false)
    p.start(100 * 1024 * 1024)
    const snap = (mb: number) => ({
      bytesRead: mb * 1024 * 1024,
      rowsRead: mb * 1000,
      rowsLoaded: mb * 1000 - 1,
      rowsRejected: 1,
    })
    now = 5_000
    p.update(snap(5))
    expect(out.text).toBe('')
    now = 10_000
    p.update(snap(10))
    now = 12_000
    p.update(snap(12))
    now = 20_500
    p.update(snap(20))
    expect(out.text.split('\n')).toEqual([
      'pgbulk: 10.0/100.0 MB (10.0%), 10000 rows read, 9999 loaded, 1 rejected, 1000 rows/s',
      'pgbulk: 20.0/100.0 MB (20.0%), 20000 rows read, 19999 loaded, 1 rejected, 976 rows/s',
      '',
    ])
  })

  it('--quiet writes nothing', () => {
    const out = fakeStream(true)
    const p = createProgress(out, true)
    p.start(10)
    p.update({ bytesRead: 5, rowsRead: 1, rowsLoaded: 1, rowsRejected: 0 })
    p.log('x\n')
    p.stop()
    expect(out.text).toBe('')
  })

  it('on a terminal, clears the bar when it stops and never saves or restores the cursor', () => {
    const out = fakeStream(true)
    const p = createProgress(out, false)
    p.start(100)
    p.update({ bytesRead: 50, rowsRead: 5, rowsLoaded: 4, rowsRejected: 1 })
    p.log('x.csv:3: bad (VALUE_INVALID)\n')
    p.stop()
    expect(out.text).not.toContain('\x1b7')
    expect(out.text).not.toContain('\x1b8')
    expect(out.text).toContain('\r\x1b[Kx.csv:3: bad (VALUE_INVALID)\n')
    expect(out.text.endsWith('\r\x1b[K\x1b[?25h')).toBe(true)
  })

  it('on a terminal, draws bytes of the total, percentage, rows/s, rejects so far and the current batch size of --batch-size auto', () => {
    let now = 0
    vi.spyOn(performance, 'now').mockImplementation(() => now)
    const out = fakeStream(true)
    out.columns = 200
    const p = createProgress(out, false)
    p.start(8 * 1024 * 1024)
    now = 2_000
    p.update({ bytesRead: 2 * 1024 * 1024, rowsRead: 5000, rowsLoaded: 4990, rowsRejected: 10, batchRows: 250 })
    const bar = out.text.split('\r').at(-1)!
    expect(bar).toBe(
      ` ${'\u2588'.repeat(10)}${'\u2591'.repeat(30)} 25% | 2.0/8.0 MB | ETA 6s | 2500 rows/s | 10 rejected, batches of 250 rows\x1b[K`,
    )
  })

  it('without a terminal, says the current batch size of --batch-size auto', () => {
    let now = 0
    vi.spyOn(performance, 'now').mockImplementation(() => now)
    const out = fakeStream(false)
    const p = createProgress(out, false)
    p.start(undefined)
    now = 10_000
    p.update({ bytesRead: 1024 * 1024, rowsRead: 100, rowsLoaded: 100, rowsRejected: 0, batchRows: 40 })
    expect(out.text).toBe('pgbulk: 1.0 MB, 100 rows read, 100 loaded, 0 rejected, 10 rows/s, batches of 40 rows\n')
  })
})
