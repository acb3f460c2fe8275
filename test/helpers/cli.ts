import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'

/** The built binary, run as a user would. */
export const BIN = join(import.meta.dirname, '../../bin/pgbulk.js')

/** What a run of the binary gave. */
export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/** How to run it: the environment is PATH plus `env` only, so the machine's DATABASE_URL or PG* never leak in. */
export interface CliRunOptions {
  cwd: string
  env?: Record<string, string>
  stdin?: string
  /** Write `stdin` but leave it open (a stalled producer). */
  keepStdinOpen?: boolean
  /** Send `signal` (SIGKILL by default) once this turns true (polled every 5 ms from the start): a kill on observed progress, not on a clock. */
  killWhen?: () => Promise<boolean>
  signal?: NodeJS.Signals
  /** Called once started, with a way to signal the process. */
  onStart?: (kill: (sig: NodeJS.Signals) => void) => void
}

export function runPgbulk(args: string[], opts: CliRunOptions): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: { PATH: process.env['PATH'] ?? '', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    const kill = () => child.kill(opts.signal ?? 'SIGKILL')
    let running = true
    const poll = async (): Promise<void> => {
      while (running && opts.killWhen) {
        if (await opts.killWhen()) return void kill()
        await new Promise((r) => setTimeout(r, 5))
      }
    }
    poll().catch(reject)
    child.on('close', (code) => {
      running = false
      resolve({ code, stdout, stderr })
    })
    if (opts.keepStdinOpen) child.stdin.write(opts.stdin ?? '')
    else child.stdin.end(opts.stdin)
    opts.onStart?.((sig) => child.kill(sig))
  })
}

/** What a child process printed on stdout and stderr, and its exit code, once it has ended. */
export function outputOf(child: ChildProcess): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Run a bash command line (pipes, FIFOs, process substitution) with $PGBULK as the built binary; the environment is PATH plus `env`. */
export function runShell(script: string, opts: { cwd: string; env?: Record<string, string> }): Promise<CliRun> {
  const env = { PATH: process.env['PATH'] ?? '', ...opts.env, PGBULK: `${process.execPath} ${BIN}` }
  return outputOf(spawn('bash', ['-c', script], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }))
}

/** A run of the binary that a test watches as it goes. */
export interface StartedRun {
  child: ChildProcess
  /** What it printed so far. */
  output(): { stdout: string; stderr: string }
  /** Its output and exit code, once it has ended. */
  done: Promise<CliRun>
}

/**
 * Start the binary (environment: PATH plus `env`) and let the test watch its output and signal it;
 * with `stdin: 'pipe'` the test writes its stdin (child.stdin) as it goes.
 */
export function startPgbulk(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; stdin?: 'pipe' },
): StartedRun {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env['PATH'] ?? '', ...opts.env },
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
  return { child, output: () => ({ stdout, stderr }), done }
}

/**
 * Wait for an event: poll `cond` every 10 ms until it holds. The limit only turns a hang (the
 * feature broken) into a failure naming what never happened; a passing run never waits for it.
 */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`gave up waiting (${limitMs} ms) for: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
