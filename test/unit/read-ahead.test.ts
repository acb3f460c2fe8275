import { describe, expect, it } from 'vitest'
import { readAhead } from '../../src/batch/read-ahead.js'

/** A source of 1..n that records how far it was read and whether it was closed. */
function source(n: number, failAt?: number) {
  const state = { read: 0, closed: false }
  async function* gen() {
    try {
      for (let i = 1; i <= n; i++) {
        if (i === failAt) throw new Error(`boom at ${i}`)
        state.read = i
        yield await Promise.resolve(i)
      }
    } finally {
      state.closed = true
    }
  }
  return { state, items: gen() }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5))

describe('readAhead', () => {
  it('gives every item in order', async () => {
    const { items } = source(50)
    const got: number[] = []
    for await (const x of readAhead(items, 3, () => 1)) got.push(x)
    expect(got).toEqual(Array.from({ length: 50 }, (_, k) => k + 1))
  })

  it('reads ahead while the consumer waits, but no further than its limit', async () => {
    const { state, items } = source(100)
    const it = readAhead(items, 5, () => 1)[Symbol.asyncIterator]()
    expect((await it.next()).value).toBe(1)
    await tick()
    // 1 taken, 5 waiting: the source stands at 6 (it may have asked for the next one).
    expect(state.read).toBeGreaterThanOrEqual(6)
    expect(state.read).toBeLessThanOrEqual(7)
    await it.return!()
  })

  it('delivers the source error after the items read before it', async () => {
    const { items } = source(10, 4)
    const got: number[] = []
    await expect(
      (async () => {
        for await (const x of readAhead(items, 100, () => 1)) got.push(x)
      })(),
    ).rejects.toThrow('boom at 4')
    expect(got).toEqual([1, 2, 3])
  })

  it('stops and closes the source when the consumer stops early; what was read ahead is dropped', async () => {
    const { state, items } = source(1000)
    const got: number[] = []
    for await (const x of readAhead(items, 10, () => 1)) {
      got.push(x)
      if (x === 3) {
        await tick()
        break
      }
    }
    expect(got).toEqual([1, 2, 3])
    expect(state.closed).toBe(true)
    expect(state.read).toBeLessThan(20)
  })

  it('keeps going when the weight of items changes while they wait (the batch size of --batch-size auto grows)', async () => {
    const { items } = source(200)
    let scale = 1
    const it = readAhead(items, 5, () => scale)[Symbol.asyncIterator]()
    await tick() // the source runs ahead: five items of weight 1 wait
    // They weigh nothing now: a queue that took them off with the new weight would stay "full"
    // with nothing in it, and wait for ever.
    scale = 0
    const got: number[] = []
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value)
    expect(got).toHaveLength(200)
  })
})
