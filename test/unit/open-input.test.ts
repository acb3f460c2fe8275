import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { openInput } from '../../src/source/open-input.js'

describe('openInput', () => {
  it('keeps no chunk once it is read, with an abort signal as the CLI always passes (memory stays flat)', async () => {
    // Each read used to race one promise that lived as long as the input: every chunk stayed
    // reachable from it, so a 10 GB file needed 10 GB of memory.
    const dir = await mkdtemp(join(tmpdir(), 'pgbulk-open-'))
    try {
      const path = join(dir, 'zeros.bin')
      await writeFile(path, '')
      await truncate(path, 400 * 1024 * 1024) // sparse: read fast, stored nowhere
      const input = await openInput(
        { path, size: 400 * 1024 * 1024, stream: false },
        Readable.from([]),
        new AbortController().signal,
      )
      let bytes = 0
      let peak = 0
      for await (const chunk of input.chunks) {
        bytes += chunk.length
        peak = Math.max(peak, process.memoryUsage().arrayBuffers)
      }
      expect(bytes).toBe(400 * 1024 * 1024)
      expect(peak).toBeLessThan(150 * 1024 * 1024)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('ends the reading on abort, as if the input had ended', async () => {
    const ac = new AbortController()
    const never = new Readable({ read() {} })
    never.push(Buffer.from('abc'))
    const input = await openInput({ path: '-', size: undefined, stream: true }, never, ac.signal)
    const got: string[] = []
    setTimeout(() => ac.abort(), 50)
    for await (const chunk of input.chunks) got.push(chunk.toString())
    expect(got).toEqual(['abc'])
  })
})
