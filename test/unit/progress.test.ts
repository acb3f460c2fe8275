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
    const snap = (mb: number) => ({ bytesRead: mb * 1024 * 1024, rowsRead: mb * 1000, rowsLoaded: mb * 1000 - 1, rowsRejected: 1 })
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
})
