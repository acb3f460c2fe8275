import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { createTestDb, type TestDb } from '../helpers/db.js'
import { golden, loadFixture, rejectKey } from '../helpers/fixtures.js'

let db: TestDb

beforeEach(async () => {
  if (db) await db.cleanup()
  db = await createTestDb()
})
afterAll(async () => {
  await db?.cleanup()
})

const CASES = ['users-valid', 'users-bad-rows', 'events-ndjson'] as const

describe.each(['copy', 'insert'] as const)('load() of the fixtures with %s', (method) => {
  it.each(CASES)(
    '%s: the table holds exactly the good rows, and the reject file exactly the bad ones',
    async (name) => {
      const { report, rows, rejects } = await loadFixture(db, name, { method, batchRows: 5 })
      expect(rows).toBe(await golden(name, 'expected.rows.tsv', rows))
      // In file order, as written: the order of the reject file is a promise too (the order the rows
      // were found, a batch's database rejections after its client-side ones), so it is not sorted here.
      const lines = rejects.map(rejectKey)
      const text = lines.map((r) => JSON.stringify(r)).join('\n') + (lines.length ? '\n' : '')
      expect(text).toBe(await golden(name, 'expected.rejects.ndjson', text))
      expect(report.rowsRead).toBe(report.rowsLoaded + report.rowsRejected)
      expect(report.rowsLoaded).toBe(rows.split('\n').filter((l) => l !== '').length)
      expect(report.rowsRejected).toBe(rejects.length)
      expect(report.exitCode).toBe(rejects.length > 0 ? 2 : 0)
      const byCode: Record<string, number> = {}
      for (const r of rejects) byCode[r['code'] as string] = (byCode[r['code'] as string] ?? 0) + 1
      expect(report.rejectsByCode).toEqual(byCode)
    },
  )
})
