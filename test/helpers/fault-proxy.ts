import { createServer, Socket, type Server } from 'node:net'

/**
 * A TCP proxy in front of PostgreSQL that can cut a connection at a chosen moment of the wire
 * protocol: just before or just after it forwards a COMMIT. That is the one fault a test cannot
 * provoke from SQL: a COMMIT whose answer never reaches the client.
 */
export class FaultProxy {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  /**
   * Cut the connection at a COMMIT: before forwarding it, or once the server has answered it (the
   * answer is dropped, so the client never learns that it committed).
   */
  cutAtCommit: 'before' | 'after' | undefined
  /** COMMITs to let through before the one cut (set before the load starts: no timing involved). */
  commitsBeforeCut = 0
  commits = 0
  cuts = 0

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.pipe(client))
  }

  static async start(targetUrl: string): Promise<FaultProxy> {
    const u = new URL(targetUrl)
    const proxy = new FaultProxy({ host: u.hostname, port: Number(u.port) })
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  /** The target URL with the proxy's port. */
  url(targetUrl: string): string {
    const u = new URL(targetUrl)
    const addr = this.server.address()
    u.port = String(typeof addr === 'object' && addr ? addr.port : 0)
    return u.toString()
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private pipe(client: Socket): void {
    const upstream = new Socket()
    upstream.connect(this.target.port, this.target.host)
    this.sockets.add(client).add(upstream)
    let toClientOpen = true
    /** The COMMIT forwarded with its answer dropped: cut once the server has answered it. */
    let cutOnAnswer = false
    let pending = Buffer.alloc(0)
    let startup = true
    const cut = () => {
      this.cuts++
      client.destroy()
      upstream.destroy()
    }
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      // Forward whole protocol messages, looking at each: 1 type byte (none for the startup message) and an Int32 length.
      for (;;) {
        const head = startup ? 0 : 1
        if (pending.length < head + 4) return
        const len = pending.readInt32BE(head) + head
        if (pending.length < len) return
        const msg = pending.subarray(0, len)
        pending = pending.subarray(len)
        startup = false
        const isCommit =
          msg[0] === 0x51 /* Q */ &&
          // (after the comment that names the run and the batch)
          msg
            .subarray(5)
            .toString('utf8')
            .replace(/\0$/, '')
            .replace(/^\/\*.*?\*\//s, '')
            .trim()
            .toUpperCase() === 'COMMIT'
        if (isCommit && this.cutAtCommit && this.commits++ >= this.commitsBeforeCut) {
          const when = this.cutAtCommit
          this.cutAtCommit = undefined
          if (when === 'before') return cut()
          toClientOpen = false // the answer never arrives
          cutOnAnswer = true
          upstream.write(msg)
          return
        }
        upstream.write(msg)
      }
    })
    upstream.on('data', (chunk: Buffer) => {
      if (toClientOpen) client.write(chunk)
      // The server answers a COMMIT once it is durable: that, not a delay, is when to cut.
      else if (cutOnAnswer) {
        cutOnAnswer = false
        cut()
      }
    })
    const close = () => {
      client.destroy()
      upstream.destroy()
      this.sockets.delete(client)
      this.sockets.delete(upstream)
    }
    client.on('close', close)
    upstream.on('close', close)
    client.on('error', close)
    upstream.on('error', close)
  }
}
