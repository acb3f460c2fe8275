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
// node-postgres asks whether it runs on Cloudflare Workers by navigator.userAgent and, where there is
// no navigator (Node.js 20), by making a fetch Response, which loads Node's whole fetch stack: about
// 45 ms of every start. Node.js 21 and later define navigator.userAgent as below; this process is
// the CLI's own (a library user's process is left as it is).
globalThis.navigator ??= { userAgent: `Node.js/${process.versions.node.split('.')[0]}` }
const { main } = await import(cli.href)
process.exitCode = await main(process.argv)
