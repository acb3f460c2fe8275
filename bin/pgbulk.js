#!/usr/bin/env node
// The CLI lives in dist/, built from src/ by `npm run build` (npm test and npm run demo build
// first). No install script builds it: under `npm link` npm flags any such script as unapproved.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write(
    `pgbulk: not built yet: run "npm run build" in ${fileURLToPath(new URL('..', import.meta.url))}\n`,
  )
  process.exit(1)
}
const { main } = await import(cli.href)
process.exitCode = await main(process.argv)
