import { describe, expect, it } from 'vitest'
import { applicationNameFor, batchComment, newRunId } from '../../src/observe/run-id.js'

const ID = '01a23181-6bd9-7f1e-99c4-632e946b43ea'

describe('run ids', () => {
  it('is a UUIDv7: its first 48 bits the time in ms, version 7, variant 10', () => {
    const id = newRunId(0x0123456789ab, Buffer.alloc(10, 0xff))
    expect(id).toBe('01234567-89ab-7fff-bfff-ffffffffffff')
    expect(newRunId(1, Buffer.alloc(10, 0)) < newRunId(2, Buffer.alloc(10, 0xff))).toBe(true)
  })

  it('names connections "pgbulk <run id>", or the name set followed by the run id, within 63 bytes', () => {
    expect(applicationNameFor('pgbulk', ID)).toBe(`pgbulk ${ID}`)
    const long = applicationNameFor('nightly-orders-import-from-the-warehouse-cluster', ID)
    expect(long).toBe(`nightly-orders-import-from ${ID}`)
    expect(Buffer.byteLength(long)).toBe(63)
    // (PostgreSQL shows only printable ASCII of it: what is not is left out, not cut in half)
    expect(applicationNameFor('zürich\tjob', ID)).toBe(`zrichjob ${ID}`)
    expect(applicationNameFor('', ID)).toBe(ID)
  })

  it('leads a batch statement with a comment naming the run and the batch', () => {
    expect(batchComment(ID, 7)).toBe(`/* pgbulk run=${ID} batch=7 */ `)
  })
})
