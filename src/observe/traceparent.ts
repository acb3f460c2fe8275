import { randomBytes } from 'node:crypto'

/**
 * The W3C trace context (https://www.w3.org/TR/trace-context/) a run was started in, from the
 * TRACEPARENT variable a CI system or scheduler that traces its jobs sets, with the span of
 * pgbulk's own run: every log line carries them, so that the caller's traces find pgbulk's logs.
 */
export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string
  /** The caller's span (the parent of pgbulk's run): 16 lowercase hex digits, not all zero. */
  parentSpanId: string
  /** The caller's trace flags (2 hex digits; 01: sampled). */
  flags: string
  /** pgbulk's own run: 16 random hex digits. */
  spanId: string
}

// version "-" trace-id "-" parent-id "-" trace-flags; version ff is forbidden, version 00 has nothing after the flags,
// and a later version may add fields after a "-" (the spec's rule for versions it does not know).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/** A traceparent's fields, or undefined for a missing or malformed one (which is ignored, as the spec says). */
export function parseTraceparent(
  header: string | undefined,
): { traceId: string; parentSpanId: string; flags: string } | undefined {
  if (header === undefined) return undefined
  const m = TRACEPARENT.exec(header.trim())
  if (!m) return undefined
  const [, version, traceId, parentSpanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ]
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (/^0+$/.test(traceId) || /^0+$/.test(parentSpanId)) return undefined
  return { traceId, parentSpanId, flags }
}

/** A new span id: 8 random bytes, never all zero. */
export function newSpanId(random: () => Buffer = () => randomBytes(8)): string {
  for (;;) {
    const id = random().toString('hex')
    if (!/^0+$/.test(id)) return id
  }
}

/** The trace context of a run started with this TRACEPARENT (undefined: none, or malformed). */
export function traceContextOf(header: string | undefined, spanId: string = newSpanId()): TraceContext | undefined {
  const parent = parseTraceparent(header)
  return parent && { ...parent, spanId }
}
