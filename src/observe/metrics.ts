// --metrics-file: a run's figures in Prometheus' text exposition format (version 0.0.4), for
// node_exporter's textfile collector, which cron jobs use to be watched
// (https://github.com/prometheus/node_exporter#textfile-collector). Pure: the CLI reads the old
// file and writes the new one (cli/metrics-file.ts).
//
// Every figure is a gauge: it is the last run's value, set again by each run, not a count that
// only grows for the life of a process. The names keep the `_total` the issue asked for (alert
// rules are written against them); `promtool check metrics` notes that a non-counter should not
// end in _total, which is the price of that.

/** One sample: `name{labels} value`. */
export interface MetricSample {
  name: string
  labels: Record<string, string>
  value: number
}

/** What a run contributes to the file. */
export interface RunMetrics {
  /** The job's name: the `job` label of every sample. */
  job: string
  /** The run's figures; absent for a run that failed before it started (exit 1): its counts are 0. */
  totals?: { rowsRead: number; rowsLoaded: number; rejectsByCode: Record<string, number>; batches: number }
  retries: number
  durationSeconds: number
  exitCode: number
  /** When the run ended, in Unix seconds. */
  endedAt: number
  /** A dry run loads nothing: it is not a success of the job (its last success is kept). */
  dryRun?: boolean
}

/** The families pgbulk writes, in the order it writes them, with their HELP text. */
export const METRIC_FAMILIES = {
  pgbulk_rows_read_total: 'Rows read by the last run (loaded + rejected + skipped).',
  pgbulk_rows_loaded_total: 'Rows the last run loaded (inserted or updated).',
  pgbulk_rows_rejected_total: 'Rows the last run rejected, by reject code (pgbulk code or SQLSTATE).',
  pgbulk_batches_total: 'Batches the last run committed.',
  pgbulk_retries_total: 'Batches the last run sent again after a passing fault.',
  pgbulk_run_duration_seconds: 'How long the last run took.',
  pgbulk_last_run_exit_code: "The last run's exit code (0 all loaded, 2 rows rejected, 1 setup error, 3 stopped).",
  pgbulk_last_run_timestamp_seconds: 'When the last run ended (Unix time).',
  pgbulk_last_success_timestamp_seconds:
    'When a run last finished (exit 0 or 2, not a dry run), in Unix time; kept by failed runs.',
} as const

type Family = keyof typeof METRIC_FAMILIES

/** Exit codes of a run that finished its input: 0 (every row loaded) and 2 (some rows rejected, in the reject file). */
export function succeeded(exitCode: number): boolean {
  return exitCode === 0 || exitCode === 2
}

function succeededRun(m: RunMetrics): boolean {
  return succeeded(m.exitCode) && !m.dryRun
}

/** The samples of one run (the last success only when this run succeeded). */
export function runSamples(m: RunMetrics): MetricSample[] {
  const job = { job: m.job }
  const t = m.totals ?? { rowsRead: 0, rowsLoaded: 0, rejectsByCode: {}, batches: 0 }
  const s = (name: Family, value: number, labels: Record<string, string> = job): MetricSample => ({
    name,
    labels,
    value,
  })
  return [
    s('pgbulk_rows_read_total', t.rowsRead),
    s('pgbulk_rows_loaded_total', t.rowsLoaded),
    ...Object.entries(t.rejectsByCode)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([code, n]) => s('pgbulk_rows_rejected_total', n, { job: m.job, code })),
    s('pgbulk_batches_total', t.batches),
    s('pgbulk_retries_total', m.retries),
    s('pgbulk_run_duration_seconds', m.durationSeconds),
    s('pgbulk_last_run_exit_code', m.exitCode),
    s('pgbulk_last_run_timestamp_seconds', m.endedAt),
    ...(succeededRun(m) ? [s('pgbulk_last_success_timestamp_seconds', m.endedAt)] : []),
  ]
}

/**
 * The new file: the samples of other jobs kept as they were, this job's replaced by this run's,
 * and this job's last success kept from the old file when this run did not succeed (so "no success
 * for 26 hours" stays one alert rule across failed runs). Lines of families pgbulk does not write
 * are dropped.
 */
export function mergeRunMetrics(existing: string | undefined, m: RunMetrics): string {
  const old = existing === undefined ? [] : parseMetricsText(existing)
  const known = (x: MetricSample) => Object.hasOwn(METRIC_FAMILIES, x.name)
  const others = old.filter((x) => known(x) && x.labels['job'] !== m.job)
  const fresh = runSamples(m)
  const keptSuccess = succeededRun(m)
    ? []
    : old.filter((x) => x.name === 'pgbulk_last_success_timestamp_seconds' && x.labels['job'] === m.job).slice(0, 1)
  return renderMetrics([...others, ...fresh, ...keptSuccess])
}

/** The text format: each family's HELP and TYPE, then its samples (families in METRIC_FAMILIES' order). */
export function renderMetrics(samples: readonly MetricSample[]): string {
  const lines: string[] = []
  for (const [name, help] of Object.entries(METRIC_FAMILIES)) {
    const of = samples.filter((x) => x.name === name)
    if (of.length === 0) continue
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} gauge`)
    for (const x of of) lines.push(`${name}${renderLabels(x.labels)} ${formatValue(x.value)}`)
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n'
}

function renderLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels)
  if (entries.length === 0) return ''
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`
}

/** A label value as the text format writes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))
}

/** HELP text escapes backslash and line feed (not the double quote). */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'))
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Infinity) return '+Inf'
  if (n === -Infinity) return '-Inf'
  return String(n)
}

// name, then optional {labels}, then the value, then an optional timestamp. (`s`: a label value
// may hold a carriage return or U+2028, which only the line feed is escaped against.)
const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?[ \t]*$/s
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y

/**
 * The samples of a file in the text format; comments, blank lines and lines that do not parse
 * are skipped (an old file a person edited does not stop the run's own figures being written).
 */
export function parseMetricsText(text: string): MetricSample[] {
  const out: MetricSample[] = []
  // (a file saved with CRLF line ends is read as one with LF)
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue
    const m = SAMPLE_LINE.exec(line)
    if (!m) continue
    const labels = parseLabels(m[2] ?? '')
    const value = parseValue(m[3]!)
    if (labels && value !== undefined) out.push({ name: m[1]!, labels, value })
  }
  return out
}

function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {}
  LABEL.lastIndex = 0
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text)
    if (!m) return text.slice(LABEL.lastIndex).trim() === '' ? labels : undefined
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    if (m[3] === '') break
  }
  return labels
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  const n = Number(text)
  return text !== '' && !Number.isNaN(n) ? n : undefined
}
