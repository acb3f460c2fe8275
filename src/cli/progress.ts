import cliProgress from 'cli-progress'

/** A load's progress as the pipeline reports it. */
export interface ProgressSnapshot {
  bytesRead: number
  rowsRead: number
  rowsLoaded: number
  rowsRejected: number
  /** --batch-size auto: the size the next batches get. */
  batchRows?: number
}

/** Shows progress on stderr: a bar on a terminal, one plain line every 10 s otherwise (cron logs). */
export interface ProgressReporter {
  start(totalBytes: number | undefined): void
  update(p: ProgressSnapshot): void
  /** Print a line without breaking the bar. */
  log(line: string): void
  stop(): void
}

/** Seconds between plain progress lines when stderr is not a terminal. */
const LOG_INTERVAL_MS = 10_000

export function createProgress(stream: NodeJS.WriteStream, quiet: boolean): ProgressReporter {
  if (quiet) return { start() {}, update() {}, log() {}, stop() {} }
  const t0 = performance.now()
  const eta = etaFrom(t0)
  const rate = (rows: number) => Math.round(rows / Math.max(0.001, (performance.now() - t0) / 1000))
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: ' {bar} {percentage}% | {mb} | ETA {etaText} | {rowsPerSec} rows/s | {rejected} rejected{batch}',
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    )
    let total = 0
    let last: ProgressSnapshot = { bytesRead: 0, rowsRead: 0, rowsLoaded: 0, rowsRejected: 0 }
    return {
      start(totalBytes) {
        total = totalBytes ?? 0
        bar.start(total || 1, 0, { mb: mb(0, total), rowsPerSec: 0, rejected: 0, etaText: '-', batch: '' })
      },
      update(p) {
        last = p
        bar.update(total ? p.bytesRead : 0, {
          mb: mb(p.bytesRead, total),
          rowsPerSec: rate(p.rowsRead),
          rejected: p.rowsRejected,
          etaText: eta(p.bytesRead, total),
          batch: batchText(p),
        })
      },
      log(line) {
        // cli-progress redraws over the current line: clear it, print, and let the bar redraw.
        stream.write('\r\x1b[K' + line)
        bar.render()
      },
      stop() {
        if (total) bar.update(last.bytesRead)
        bar.stop()
      },
    }
  }
  let total: number | undefined
  let next = LOG_INTERVAL_MS
  return {
    start(totalBytes) {
      total = totalBytes
    },
    update(p) {
      const elapsed = performance.now() - t0
      if (elapsed < next) return
      next = elapsed + LOG_INTERVAL_MS
      const pct = total ? ` (${((p.bytesRead * 100) / total).toFixed(1)}%)` : ''
      stream.write(
        `pgbulk: ${mb(p.bytesRead, total)}${pct}, ${p.rowsRead} rows read, ${p.rowsLoaded} loaded, ${p.rowsRejected} rejected, ${rate(p.rowsRead)} rows/s${batchText(p)}\n`,
      )
    },
    log(line) {
      stream.write(line)
    },
    stop() {},
  }
}

function batchText(p: ProgressSnapshot): string {
  return p.batchRows === undefined ? '' : `, batches of ${p.batchRows} rows`
}

/** Time left from the share of bytes read so far (steadier than cli-progress' windowed rate, which shows INF while a batch commits). */
function etaFrom(t0: number) {
  return (done: number, total: number) => {
    if (!total || done <= 0) return '-'
    const left = ((performance.now() - t0) / 1000) * (total / done - 1)
    return left >= 3600
      ? `${Math.floor(left / 3600)}h${String(Math.floor((left % 3600) / 60)).padStart(2, '0')}m`
      : left >= 60
        ? `${Math.floor(left / 60)}m${String(Math.round(left % 60)).padStart(2, '0')}s`
        : `${Math.max(0, Math.round(left))}s`
  }
}

function mb(bytes: number, total: number | undefined): string {
  const f = (n: number) => (n / 1024 / 1024).toFixed(1)
  return total ? `${f(bytes)}/${f(total)} MB` : `${f(bytes)} MB`
}
