#!/usr/bin/env node
// Mutation check: each entry of test/mutations.json breaks one promise of the README with a
// one-line change to src/, and names the test files that must notice. For each, this script copies
// the repository to a scratch folder, applies the change, builds, runs those test files, and counts
// the mutation as killed when they fail. A baseline run of all the named files, unchanged, must pass
// first (a failure there is not a kill). The score goes to stdout; exit 1 when a mutation survived.
//
//   npm run test:mutations                 every mutation
//   npm run test:mutations -- scrub resume only those whose id contains "scrub" or "resume"
//   node scripts/mutations.mjs --anchors   only check that every entry still applies (part of npm run lint)
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const all = JSON.parse(readFileSync(join(root, 'test/mutations.json'), 'utf8'))
const anchorsOnly = process.argv.includes('--anchors')
const filters = process.argv.slice(2).filter((a) => a !== '--anchors')
const mutations = filters.length > 0 ? all.filter((m) => filters.some((f) => m.id.includes(f))) : all
if (mutations.length === 0) {
  console.error(`no mutation matches ${filters.join(' ')}`)
  process.exit(1)
}

/** Every mutation must still apply: an anchor that no longer matches one line is a broken entry, not a pass. */
function checkAnchors() {
  for (const m of mutations) {
    const text = readFileSync(join(root, m.file), 'utf8')
    const count = text.split(m.find).length - 1
    if (count !== 1)
      throw new Error(
        `${m.id}: ${JSON.stringify(m.find)} occurs ${count} times in ${m.file} (must be once); update test/mutations.json`,
      )
    if (m.find.includes('\n')) throw new Error(`${m.id}: a mutation changes one line`)
  }
}
if (anchorsOnly) {
  try {
    checkAnchors()
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
  console.log(`all ${mutations.length} mutations of test/mutations.json still apply`)
  process.exit(0)
}

const scratch = mkdtempSync(join(tmpdir(), 'pgbulk-mutations-'))
const cleanup = () => rmSync(scratch, { recursive: true, force: true })
process.on('SIGINT', () => {
  cleanup()
  process.exit(130)
})
for (const part of [
  'src',
  'test',
  'bin',
  'scripts',
  'fixtures',
  'package.json',
  'tsconfig.json',
  'vitest.config.ts',
  'README.md',
])
  cpSync(join(root, part), join(scratch, part), { recursive: true })
symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'))

function run(cmd, args) {
  const started = Date.now()
  // A mutation can hang a synchronous loop that Vitest's own timeouts cannot stop: 10 minutes at most.
  const r = spawnSync(cmd, args, {
    cwd: scratch,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    maxBuffer: 1 << 28,
    timeout: 600_000,
  })
  const timedOut = r.error !== undefined && 'code' in r.error && r.error.code === 'ETIMEDOUT'
  return {
    ok: r.status === 0,
    output: `${r.stdout}${r.stderr}${timedOut ? '\nFAIL (timed out after 10 minutes)' : ''}`,
    seconds: Math.round((Date.now() - started) / 1000),
  }
}
const build = () => run('npx', ['tsc', '-p', 'tsconfig.json'])
// `name` (optional) narrows a mutation's files to the tests whose name holds it (vitest -t).
const vitest = (files, name) => run('npx', ['vitest', 'run', ...files, ...(name ? ['-t', name] : [])])

let failed
try {
  checkAnchors()
  const b = build()
  if (!b.ok) throw new Error(`the unchanged build fails:\n${b.output}`)
  // The baseline: every (files, name) a mutation uses passes unchanged, or a failure would be taken for a kill.
  const selections = new Map(mutations.map((m) => [JSON.stringify([m.tests, m.name]), m]))
  let seconds = 0
  for (const m of selections.values()) {
    const t = vitest(m.tests, m.name)
    if (!t.ok)
      throw new Error(
        `${m.tests.join(' ')}${m.name ? ` -t ${JSON.stringify(m.name)}` : ''} fails unchanged, so no kill could be told from a failure:\n${t.output.slice(-4000)}`,
      )
    seconds += t.seconds
  }
  console.log(`baseline: ${selections.size} selections of tests pass unchanged (${seconds} s)\n`)

  const rows = []
  for (const m of mutations) {
    const path = join(scratch, m.file)
    const original = readFileSync(path, 'utf8')
    writeFileSync(
      path,
      original.replace(m.find, () => m.replace),
    )
    // A mutation the compiler refuses proves nothing about the tests: the entry must be fixed.
    const built = build()
    if (!built.ok) throw new Error(`${m.id}: the mutated source does not build:\n${built.output}`)
    const t = vitest(m.tests, m.name)
    const failing = t.output
      .replaceAll(new RegExp(String.fromCharCode(27) + '\\[[0-9;]*m', 'g'), '')
      .split('\n')
      .filter((l) => /\bFAIL\b/.test(l))
      .map((l) => l.replace(/^\s*FAIL\s+/, '').trim())
    const verdict = { killed: !t.ok, how: t.ok ? 'all tests pass' : (failing[0] ?? 'tests fail'), seconds: t.seconds }
    writeFileSync(path, original)
    rows.push({ m, ...verdict })
    console.log(`${verdict.killed ? 'killed  ' : 'SURVIVED'} ${m.id} (${verdict.seconds} s): ${verdict.how}`)
  }
  const killed = rows.filter((r) => r.killed).length
  console.log(`\nmutation score: ${killed}/${rows.length} killed`)
  for (const r of rows.filter((x) => !x.killed)) console.log(`  survived: ${r.m.id} — ${r.m.promise}`)
  failed = killed < rows.length
} catch (e) {
  console.error(e instanceof Error ? e.message : e)
  failed = true
} finally {
  cleanup()
}
process.exit(failed ? 1 : 0)
