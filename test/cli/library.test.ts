import { spawn } from 'node:child_process'
import { copyFile, mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliRun, outputOf } from '../helpers/cli.js'
import { type TestDb, withTestDb } from '../helpers/db.js'
import { DEMO_TABLE, FIXTURES, readRejects, tableContents } from '../helpers/fixtures.js'

// pgbulk as a library, the way a user gets it: installed (`npm install <the clone>`, which links
// it) into a project of its own, imported by its name. Assumes dist/ is built, as `npm test` does.

const ROOT = resolve(import.meta.dirname, '../..')

let db: TestDb
let project: string

withTestDb((d, t) => {
  db = d
  project = join(t, 'app')
})

/** Run a program in the project; the environment is PATH plus `env` only (no npm_config_* of an enclosing `npm test`). */
function run(file: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return outputOf(
    spawn(file, args, {
      cwd: project,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
}

const node = (args: string[], env?: Record<string, string>) => run(process.execPath, args, env)

beforeAll(async () => {
  await mkdir(project)
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  const repoFiles = ['package.json', 'package-lock.json']
  const before = await Promise.all(repoFiles.map((f) => readFile(join(ROOT, f), 'utf8')))
  // Offline, with a cache of its own, and linked whatever the user's .npmrc says.
  const flags = [
    '--offline',
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
    '--install-links=false',
    `--cache=${join(project, '.npm')}`,
  ]
  const r = await run('npm', ['install', ...flags, ROOT], { HOME: project })
  expect(r.code, r.stderr).toBe(0)
  expect(await realpath(join(project, 'node_modules/pgbulk'))).toBe(await realpath(ROOT))
  // Installing left the clone as it was.
  expect(await Promise.all(repoFiles.map((f) => readFile(join(ROOT, f), 'utf8')))).toEqual(before)
})

afterAll(async () => {
  await rm(project, { recursive: true, force: true })
})

describe('pgbulk as a library, installed in a project of its own', () => {
  it("exports load, redrive and LoadError by the package's name, from dist/index.js, and nothing deeper; its bin runs", async () => {
    await writeFile(
      join(project, 'names.mjs'),
      [
        "import { load, redrive, LoadError } from 'pgbulk'",
        "const deep = await import('pgbulk/dist/load.js').then(() => 'imported', (e) => e.code)",
        "console.log(JSON.stringify({ load: typeof load, redrive: typeof redrive, LoadError: typeof LoadError, entry: import.meta.resolve('pgbulk'), deep }))",
      ].join('\n'),
    )
    const r = await node(['names.mjs'])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({
      load: 'function',
      redrive: 'function',
      LoadError: 'function',
      entry: pathToFileURL(join(await realpath(ROOT), 'dist/index.js')).href,
      deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    })
    // The command comes with it.
    const version = await run(join(project, 'node_modules/.bin/pgbulk'), ['--version'])
    expect(version.stdout.trim(), version.stderr).toBe(
      (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    )
  })

  it("runs the README's example: the demo load, its report, and a LoadError for a setup problem", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    const example = /^## Use it as a library\n[\s\S]*?```js\n([\s\S]*?)```/m.exec(readme)
    expect(example, 'the README has a ```js example under "## Use it as a library"').not.toBeNull()
    await writeFile(join(project, 'example.mjs'), example![1]!)
    await db.client.query(await readFile(join(FIXTURES, 'demo/schema.sql'), 'utf8'))
    await mkdir(join(project, 'fixtures/demo'), { recursive: true })
    await copyFile(join(FIXTURES, 'demo/people.csv'), join(project, 'fixtures/demo/people.csv'))

    const first = await node(['example.mjs'], { DATABASE_URL: db.url })
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toBe('')
    expect(first.stdout).toBe('9 loaded, 8 rejected, exit code 2\n')
    expect(readme, 'the README says what the example prints').toContain(
      'this prints `9 loaded, 8 rejected, exit code 2`',
    )
    expect(await tableContents(db, 'people')).toBe(DEMO_TABLE)
    expect(await readRejects(join(project, 'fixtures/demo/people.csv.rejects.ndjson'))).toHaveLength(8)

    // Again: the job is done (its checkpoint says so), a setup problem, thrown before anything is written.
    const second = await node(['example.mjs'], { DATABASE_URL: db.url })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toBe('')
    expect(second.stderr).toMatch(/^job ".*" already loaded .*people\.csv as it is now .*\(JOB_DONE\)\n$/)
    expect(await tableContents(db, 'people')).toBe(DEMO_TABLE)
  })

  it('gives TypeScript its types: a right use type-checks, a wrong one does not', async () => {
    const use = (rowsLoaded: string, options: string) =>
      [
        "import { load, LoadError, type LoadOptions, type LoadReport } from 'pgbulk'",
        `const options: LoadOptions = ${options}`,
        'export async function run(): Promise<number> {',
        '  try {',
        '    const report: LoadReport = await load(options)',
        `    const loaded: ${rowsLoaded} = report.rowsLoaded`,
        '    return report.exitCode',
        '  } catch (err) {',
        '    if (err instanceof LoadError) return err.exitCode',
        '    throw err',
        '  }',
        '}',
        '',
      ].join('\n')
    await writeFile(
      join(project, 'right.ts'),
      use('number', "{ table: 'people', inputs: ['people.csv'], maxRejects: { count: 100 } }"),
    )
    await writeFile(join(project, 'wrong.ts'), use('string', "{ table: 'people', input: ['people.csv'] }"))
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
    // --skipLibCheck (as `tsc --init` sets it): the uses are checked against pgbulk's declarations, whose own bodies and
    // @types/node's are not checked again: on a busy 2-core machine, 3 s instead of 16.
    const flags = [
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--strict',
      '--noEmit',
      '--skipLibCheck',
      '--pretty',
      'false',
    ]
    const r = await node([tsc, ...flags, 'right.ts', 'wrong.ts'])
    // Each error as file(line): code. right.ts has none; wrong.ts has its two, and 'pgbulk' was found.
    const errors = [...r.stdout.matchAll(/^(\S+)\((\d+),\d+\): error (TS\d+)/gm)].map(
      ([, file, line, code]) => `${file}(${line}): ${code}`,
    )
    expect(errors, r.stdout).toEqual(['wrong.ts(2): TS2561', 'wrong.ts(6): TS2322'])
    expect(r.code).toBe(2)
  })
})
