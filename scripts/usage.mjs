import { buildProgram } from '../dist/cli/main.js'

/** `pgbulk load --help`, `pgbulk redrive --help`, `pgbulk jobs --help` and `pgbulk trace --help` as fenced blocks, with a fixed width so that they do not depend on the terminal. */
export async function usageBlock() {
  const program = buildProgram(async () => {})
  return ['load', 'redrive', 'jobs', 'trace', 'infer', 'rejects']
    .map((name) => {
      const cmd = program.commands.find((c) => c.name() === name)
      cmd.configureOutput({ getOutHelpWidth: () => 100, getErrHelpWidth: () => 100 })
      return '```\n$ pgbulk ' + name + ' --help\n' + cmd.helpInformation() + '```'
    })
    .join('\n\n')
}

const BEGIN = '<!-- CLI_USAGE_BEGIN -->'
const END = '<!-- CLI_USAGE_END -->'

/** README text with the usage block between the markers replaced. */
export function replaceUsage(text, block) {
  const a = text.indexOf(BEGIN)
  const b = text.indexOf(END)
  if (a < 0 || b < a) throw new Error('README.md lacks the CLI usage markers')
  return text.slice(0, a + BEGIN.length) + '\n' + block + '\n' + text.slice(b)
}
