import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { replaceUsage, usageBlock } from '../../scripts/usage.mjs'

describe('README', () => {
  it('shows the same usage as --help (regenerate with npm run docs)', async () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8')
    expect(replaceUsage(readme, await usageBlock())).toBe(readme)
  })

  it('shows the install and test commands that CI runs', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8')
    const ci = readFileSync(join(import.meta.dirname, '../../.ci/run'), 'utf8')
    expect(readme).toContain('npm ci && npm run demo')
    expect(readme).toContain('npm test')
    expect(ci).toContain('npm ci')
    expect(ci).toContain('npm test')
  })
})
