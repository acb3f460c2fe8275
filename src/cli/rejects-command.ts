import { open, rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { Option } from 'commander'
import { EXIT, LoadError } from '../errors.js'
import { readRejectFile } from '../redrive/redrive.js'
import { rejectsToCsv } from '../reject/rejects-csv.js'
import type { Rejection } from '../reject/rejection.js'
import { describeError } from './log.js'

/** What `pgbulk rejects` was asked. */
export interface RejectsJob {
  rejectsFile: string
  format: 'csv'
  output?: string
  force: boolean
}

interface RejectsIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** Add `pgbulk rejects` to the program; `run` receives what it was asked. */
export function registerRejects(program: Command, run: (job: RejectsJob) => Promise<void>): void {
  program
    .command('rejects')
    .description(
      "write the rows of a reject file as a CSV to fix in a spreadsheet: the input's header, then _reason, _line, " +
        '_input and _rejects; `pgbulk redrive <that CSV>` puts the fixed rows back into the reject file and loads them',
    )
    .argument('<rejects>', 'a reject file written by pgbulk load')
    .addOption(new Option('--format <format>', 'what to write').choices(['csv']).default('csv'))
    .option(
      '-o, --output <path>',
      'write to this file (created with mode 0600: rejects hold your data) instead of stdout',
    )
    .option('--force', 'replace an existing --output file')
    .action(async (rejectsFile: string, o: { format: 'csv'; output?: string; force?: true }) => {
      await run({ rejectsFile, format: o.format, force: Boolean(o.force), ...(o.output ? { output: o.output } : {}) })
    })
}

/** pgbulk rejects: the CSV on stdout or in --output; what was left out on stderr. Exit 0, or 1. */
export async function runRejectsCommand(job: RejectsJob, io: RejectsIo): Promise<number> {
  try {
    const entries = await readRejectFile(job.rejectsFile)
    const rejections = entries.flatMap((e) => (e.rejection ? [e.rejection] : []))
    const { csv, left } = rejectsToCsv(rejections, resolve(job.rejectsFile))
    if (job.output) await writePrivate(job.output, csv, job.force)
    else io.stdout.write(csv)
    const rows = rejections.length - left
    io.stderr.write(`pgbulk: ${rows} rejected rows written${job.output ? ` to ${job.output}` : ''}\n`)
    if (left > 0) io.stderr.write(`pgbulk: ${left} left out: ${leftOutWhy(rejections)}\n`)
    return EXIT.OK
  } catch (err) {
    io.stderr.write(describeError(err))
    return err instanceof LoadError ? err.exitCode : EXIT.SETUP
  }
}

function leftOutWhy(rs: readonly Rejection[]): string {
  const kinds = new Set(
    rs.map((r) =>
      r.source?.format !== 'csv'
        ? `${r.source?.format ?? 'unknown'} rows`
        : r.rawTruncated
          ? 'rows cut short'
          : 'rows that are not valid text',
    ),
  )
  kinds.delete('csv rows')
  return `${[...kinds].join(', ')} (fix those in the reject file's raw text)`
}

async function writePrivate(path: string, text: string, force: boolean): Promise<void> {
  if (force) await rm(path, { force: true })
  const fh = await open(path, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST')
      throw new LoadError('REJECTS_FILE_EXISTS', `${path} already exists`, 'choose another --output, or pass --force')
    throw new LoadError('REJECTS_UNWRITABLE', `cannot write ${path}: ${err.message}`)
  })
  try {
    await fh.writeFile(text)
  } finally {
    await fh.close()
  }
}
