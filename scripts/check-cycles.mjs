// Fails when the modules of src/ import each other in a cycle, type-only imports included: a
// cycle is one value import away from a module that runs before the one it needs is defined.
// Reads each file's import and export-from specifiers with TypeScript's own pre-processor.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

const root = resolve(process.argv[2] ?? 'src')

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

const files = filesUnder(root)
const graph = new Map()
for (const file of files) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
  const deps = importedFiles
    .map((i) => i.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')))
  graph.set(file, [...new Set(deps)])
}

// Depth-first search; every back edge closes a cycle.
const state = new Map()
const stack = []
const cycles = []
function visit(f) {
  state.set(f, 'open')
  stack.push(f)
  for (const d of graph.get(f) ?? []) {
    if (!graph.has(d)) continue
    if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d])
    else if (!state.has(d)) visit(d)
  }
  stack.pop()
  state.set(f, 'done')
}
for (const f of files) if (!state.has(f)) visit(f)

const name = (f) => relative(process.cwd(), f)
if (cycles.length > 0) {
  for (const c of cycles) console.error(`import cycle: ${c.map(name).join(' → ')}`)
  console.error(
    `${cycles.length} import cycle${cycles.length === 1 ? '' : 's'} in ${name(root)} (type imports included): move the shared types to a module that imports none of their users`,
  )
  process.exit(1)
}
console.log(`no import cycles in ${name(root)} (${files.length} modules)`)
