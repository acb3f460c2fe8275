import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { PREFIX_BLOCK_BYTES, StreamPrefix } from '../../src/source/stream-prefix.js'
import { rng } from '../helpers/random.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function* chunksOf(data: Buffer, sizes: () => number): AsyncGenerator<Buffer> {
  await Promise.resolve()
  for (let at = 0; at < data.length;) {
    const n = Math.min(data.length - at, sizes())
    yield data.subarray(at, at + n)
    at += n
  }
}

async function drain(it: AsyncIterable<Buffer>, onChunk: (passed: number) => void = () => {}): Promise<void> {
  let passed = 0
  for await (const c of it) onChunk((passed += c.length))
}

describe('StreamPrefix', () => {
  it('hashes exactly the first bytes up to any later checkpoint, however the stream is cut into chunks', async () => {
    const random = rng(7)
    const data = randomBytes(700_000)
    const prefix = new StreamPrefix()
    const points: number[] = []
    await drain(
      prefix.tap(chunksOf(data, () => 1 + Math.floor(random() * 90_000))),
      // A checkpoint somewhere behind what was passed on, moving forward.
      (passed) => {
        const at = Math.max(points.at(-1) ?? 0, Math.floor(passed - random() * 50_000))
        points.push(at)
        expect(prefix.identityAt(at)).toEqual({ covered: at, hash: sha(data.subarray(0, at)) })
      },
    )
    expect(points.length).toBeGreaterThan(5)
  })

  it('refuses a stream that differs in the bytes covered, or ends short, before passing on what follows them', async () => {
    const data = randomBytes(300_000)
    const expected = { bytes: 200_000, covered: 200_000, hash: sha(data.subarray(0, 200_000)), name: 'stdin' }
    await drain(
      new StreamPrefix().tap(
        chunksOf(data, () => 10_000),
        expected,
      ),
    )
    const other = Buffer.from(data)
    other.writeUInt8(other.readUInt8(150_000) ^ 1, 150_000)
    let passed = 0
    await expect(
      drain(
        new StreamPrefix().tap(
          chunksOf(other, () => 10_000),
          expected,
        ),
        (p) => (passed = p),
      ),
    ).rejects.toMatchObject({
      code: 'INPUT_CHANGED',
      message:
        'stdin is not the stream its checkpoint was taken from: its first 200000 bytes differ from the ones committed',
    })
    expect(passed).toBeLessThan(200_000)
    await expect(
      drain(
        new StreamPrefix().tap(
          chunksOf(data.subarray(0, 199_999), () => 10_000),
          expected,
        ),
      ),
    ).rejects.toThrow('it ended after 199999 bytes')
  })

  it('does not keep the stream: a checkpoint further back than the last bytes kept covers the whole blocks before it', async () => {
    const prefix = new StreamPrefix()
    async function* many(): AsyncGenerator<Buffer> {
      await Promise.resolve()
      for (let i = 0; i < 120; i++) yield Buffer.alloc(1024 * 1024, 0x61)
    }
    await drain(prefix.tap(many()))
    const at = 1000 + 3 * PREFIX_BLOCK_BYTES
    const id = prefix.identityAt(at)
    expect(id.covered).toBe(3 * PREFIX_BLOCK_BYTES)
    expect(id.hash).toBe(sha(Buffer.alloc(3 * PREFIX_BLOCK_BYTES, 0x61)))
  })
})
