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

/** Characters of the bar itself. */
const BAR_WIDTH = 40

/** Redraws of the bar per second at most. */
const BAR_FPS = 5

/** Seconds between plain progress lines when stderr is not a terminal. */
const LOG_INTERVAL_MS = 10_000

export function createProgress(stream: NodeJS.WriteStream, quiet: boolean): ProgressReporter {
  if (quiet) return { start() {}, update() {}, log() {}, stop() {} }
  const t0 = performance.now()
  const eta = etaFrom(t0)
  const rate = (rows: number) => Math.round(rows / Math.max(0.001, (performance.now() - t0) / 1000))
  if (stream.isTTY)
    return ttyProgress(stream, (p, total) => {
      const pct = total ? Math.min(100, Math.floor((p.bytesRead * 100) / total)) : 0
      const filled = Math.round((pct / 100) * BAR_WIDTH)
      const bar = `${'\u2588'.repeat(filled)}${'\u2591'.repeat(BAR_WIDTH - filled)}`
      const read = `${pct}% | ${mb(p.bytesRead, total)} | ETA ${eta(p.bytesRead, total)}`
      return ` ${bar} ${read} | ${rate(p.rowsRead)} rows/s | ${p.rowsRejected} rejected${batchText(p)}`
    })
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
      const read = `${mb(p.bytesRead, total)}${pct}, ${p.rowsRead} rows read`
      const counts = `${p.rowsLoaded} loaded, ${p.rowsRejected} rejected, ${rate(p.rowsRead)} rows/s`
      stream.write(`pgbulk: ${read}, ${counts}${batchText(p)}\n`)
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

/**
 * Time left from the share of bytes read so far (steadier than cli-progress' windowed rate,
 * which shows INF while a batch commits).
 */
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

/**
 * The bar on a terminal: one line, drawn with a carriage return and erase-to-end-of-line only.
 * No cursor save/restore (cli-progress restored a cursor saved before the reject lines were
 * printed, and the summary overwrote them), and no wrapping (the line is cut to the width), so
 * clearing the bar's line on stop leaves the screen as the plain output would read.
 */
function ttyProgress(
  stream: NodeJS.WriteStream,
  text: (p: ProgressSnapshot, total: number) => string,
): ProgressReporter {
  let total = 0
  let last: ProgressSnapshot = { bytesRead: 0, rowsRead: 0, rowsLoaded: 0, rowsRejected: 0 }
  let shown = false
  let drawnAt = -Infinity
  const draw = () => {
    drawnAt = performance.now()
    const width = Math.max(10, (stream.columns || 80) - 1)
    stream.write('\r' + text(last, total).slice(0, width) + '\x1b[K')
  }
  return {
    start(totalBytes) {
      total = totalBytes ?? 0
      shown = true
      stream.write('\x1b[?25l') // hide the cursor while the bar is drawn
      draw()
    },
    update(p) {
      last = p
      if (shown && performance.now() - drawnAt >= 1000 / BAR_FPS) draw()
    },
    log(line) {
      stream.write(shown ? '\r\x1b[K' + line : line)
      if (shown) draw()
    },
    stop() {
      if (!shown) return
      shown = false
      stream.write('\r\x1b[K\x1b[?25h')
    },
  }
}
