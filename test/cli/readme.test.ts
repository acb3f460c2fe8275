import { readFileSync } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { replaceUsage, usageBlock } from '../../scripts/usage.mjs'
import { runPgbulk } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { DEMO_TABLE, FIXTURES, readRejects, tableContents } from '../helpers/fixtures.js'

let db: TestDb
let dir: string

withTestDb((d, t) => {
  db = d
  dir = t
})

const README = join(import.meta.dirname, '../../README.md')

describe('README', () => {
  it('shows the same usage as --help (regenerate with npm run docs)', async () => {
    const readme = readFileSync(README, 'utf8')
    expect(replaceUsage(readme, await usageBlock())).toBe(readme)
  })

  it('shows the install and test commands that CI runs', () => {
    const readme = readFileSync(README, 'utf8')
    const ci = readFileSync(join(import.meta.dirname, '../../.ci/run'), 'utf8')
    expect(readme).toContain('npm ci && npm run demo')
    expect(readme).toContain('npm test')
    expect(ci).toContain('npm ci')
    expect(ci).toContain('npm test')
  })

  it('shows what the demo load really prints, line by line and in order, and the reject line it really writes', async () => {
    const readme = readFileSync(README, 'utf8')
    // The opening example: the command, then what it prints on stderr.
    const block = /```\n\$ (pgbulk load fixtures\/demo\/people\.csv --table people)\n([\s\S]*?)```/.exec(readme)
    expect(block, 'the README opens with the demo load').not.toBeNull()
    const [, command, shown] = block!
    await db.client.query(readFileSync(join(FIXTURES, 'demo/schema.sql'), 'utf8'))
    // The same relative path as in the README, in a folder of the test's own (the reject file goes beside the input).
    await mkdir(join(dir, 'fixtures/demo'), { recursive: true })
    await copyFile(join(FIXTURES, 'demo/people.csv'), join(dir, 'fixtures/demo/people.csv'))
    const r = await runPgbulk(command!.split(' ').slice(1), { cwd: dir, env: { DATABASE_URL: db.url } })
    expect(r.code, r.stderr).toBe(2)
    expect(r.stdout).toBe('')
    // Only the time and the speed may differ.
    const timing = /, \d+(\.\d+)? s \(\d+ rows\/s\)$/m
    expect(r.stderr).toMatch(timing)
    expect(r.stderr.replace(timing, ', T')).toBe(shown!.replace(timing, ', T'))
    expect(await tableContents(db, 'people')).toBe(DEMO_TABLE)
    // The reject file, in the order of the output above; its database line is the README's example, field for field.
    const rejects = await readRejects(join(dir, 'fixtures/demo/people.csv.rejects.ndjson'))
    expect(rejects.map((x) => x['line'])).toEqual([6, 8, 9, 12, 13, 14, 17, 11])
    const example = /```json\n(\{.*\})\n```/.exec(readme)
    expect(example, 'the README shows a reject line').not.toBeNull()
    const shownReject = JSON.parse(example![1]!) as Record<string, unknown>
    // (The example leaves out three fields the table below it describes: input, attempts and source.)
    expect(rejects[7]).toEqual({
      ...shownReject,
      input: join(dir, 'fixtures/demo/people.csv'),
      attempts: 1,
      source: expect.any(Object) as unknown,
    })
  })
})
