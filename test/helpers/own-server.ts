import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

/** A PostgreSQL of a test's own, which the test may restart (scripts/start-pg.mjs). */
export interface OwnServer {
  url: string
  /** Fast shutdown (every session is cut), `downMs` of downtime, start again; resolves once it accepts connections. */
  restart(downMs: number): Promise<void>
  /** Stop the server and remove its data folder. */
  stop(): Promise<void>
}

/** A failure to start the embedded server, with start-pg's own one-line reason as the message. */
export class ServerStartError extends Error {
  override name = 'ServerStartError'
}

/** `tls`: PEM files of a certificate and its key, for a server that also accepts TLS. */
export async function startOwnServer(opts: { tls?: { certFile: string; keyFile: string } } = {}): Promise<OwnServer> {
  const tlsArgs = opts.tls ? ['--tls', opts.tls.certFile, opts.tls.keyFile] : []
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../scripts/start-pg.mjs'), ...tlsArgs], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const lines = createInterface({ input: child.stdout })
  const exited = once(child, 'exit')
  const next = () =>
    Promise.race([
      once(lines, 'line').then(([l]) => l as string),
      exited.then(([code]) => {
        throw new ServerStartError(stderr.trim() || `the embedded PostgreSQL exited (${String(code)}) and said nothing`)
      }),
    ])
  const url = await next()
  return {
    url,
    async restart(downMs) {
      const done = next()
      child.stdin.write(`restart ${downMs}\n`)
      expectLine(await done, 'restarted')
    },
    async stop() {
      child.stdin.end()
      await exited
    },
  }
}

function expectLine(got: string, want: string): void {
  if (got !== want) throw new Error(`own server: expected "${want}", got "${got}"`)
}
