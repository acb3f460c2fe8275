import { InvalidArgumentError } from 'commander'
import type { RejectLimit } from '../options.js'

/** A positive whole number, for --batch-size (and trace's --line: one past 2^53 - 1 would be read as another line). */
export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError(`expected a whole number of at least 1 (at most ${Number.MAX_SAFE_INTEGER}).`)
  return Number(value)
}

/** A share for the sampling flags (--log-rejects, --log-sample-rows): more than 0, at most 1. */
export function parseFraction(value: string): number {
  const n = Number(value.trim())
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1)
    throw new InvalidArgumentError('expected a fraction more than 0 and at most 1, such as 0.1.')
  return n
}

/** --batch-size: a number of rows, or "auto". */
export function parseBatchSize(value: string): number | 'auto' {
  if (value.trim().toLowerCase() === 'auto') return 'auto'
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1, or auto.')
  return Number(value)
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
}

/** A size such as 16MB, 512k or 1048576 (binary units), for --batch-bytes. */
export function parseSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value)
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined || Number(m[1]) * unit < 1)
    throw new InvalidArgumentError('expected a size such as 16MB, 512kB or 1048576.')
  return Math.floor(Number(m[1]) * unit)
}

/** A size for --max-record-bytes: at least 1 byte, at most `max`. */
export function parseRecordSize(max: number): (value: string) => number {
  return (value) => {
    const n = parseSize(value)
    if (n > max) throw new InvalidArgumentError(`at most ${max / 1024 ** 2}MB.`)
    return n
  }
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * A duration such as 500ms, 60s, 1.5m or 2h, in whole milliseconds, for --flush-interval,
 * --flush-jitter and --start-jitter; a plain number is milliseconds (as --lock-budget's are).
 * Its range is checked by the resolver (options.ts), for the library too.
 */
export function parseDuration(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value)
  const unit = m ? DURATION_UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined)
    throw new InvalidArgumentError('expected a duration such as 500ms, 60s, 5m or 1h (a plain number is ms).')
  return Math.round(Number(m[1]) * unit)
}

/** "100" (rows) or "2.5%" (of rows read), for --max-rejects. */
export function parseRejectLimit(value: string): RejectLimit {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(value)
  if (!m) throw new InvalidArgumentError('expected a number of rows (100) or a percentage (2.5%).')
  const n = Number(m[1])
  if (m[2] === '%') {
    if (n > 100) throw new InvalidArgumentError('a percentage must be at most 100%.')
    return { percent: n }
  }
  if (!Number.isInteger(n)) throw new InvalidArgumentError('a number of rows must be whole.')
  return { count: n }
}

/** A single ASCII character, for --delimiter, --quote and --escape; "\t" and "tab" mean a tab. */
export function parseChar(value: string): string {
  const v = value === '\\t' || value.toLowerCase() === 'tab' ? '\t' : value
  if (v.length !== 1 || v.charCodeAt(0) > 0x7f || v === '\n' || v === '\r')
    throw new InvalidArgumentError('expected a single ASCII character other than a newline.')
  return v
}

/** Like parseChar, but "" or "none" turns quoting off (returned as "", since commander drops a null). */
export function parseQuote(value: string): string {
  return value === '' || value.toLowerCase() === 'none' ? '' : parseChar(value)
}

/** Comma-separated column names for --columns. */
export function parseColumns(value: string): string[] {
  const cols = value.split(',').map((c) => c.trim())
  if (cols.some((c) => c === ''))
    throw new InvalidArgumentError('expected comma-separated column names, such as id,name,email.')
  return cols
}

/**
 * --map 'Field Name=column,Other=col2' (repeatable: each adds to the ones before): field → column.
 * The last "=" of a pair splits it (a header name may hold "=", a column name seldom does).
 */
export function parseMap(value: string, before: Record<string, string> | undefined): Record<string, string> {
  const out = { ...before }
  for (const pair of value.split(',')) {
    const at = pair.lastIndexOf('=')
    const field = pair.slice(0, at)
    const column = pair.slice(at + 1).trim()
    if (at < 0 || field.trim() === '' || column === '')
      throw new InvalidArgumentError(`expected field=column pairs, such as 'Customer ID=customer_id', not '${pair}'.`)
    if (field in out && out[field] !== column)
      throw new InvalidArgumentError(`'${field}' is mapped twice: to '${out[field]}' and to '${column}'.`)
    out[field] = column
  }
  return out
}
