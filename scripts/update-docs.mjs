// Regenerate the usage block of README.md from the CLI's own --help (as graphile-migrate's
// scripts/update-docs.js does), so the two never drift apart. `npm run docs`; a test checks it.
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { usageBlock, replaceUsage } from './usage.mjs'

const readme = join(dirname(fileURLToPath(import.meta.url)), '../README.md')
const text = await readFile(readme, 'utf8')
await writeFile(readme, replaceUsage(text, await usageBlock()))
