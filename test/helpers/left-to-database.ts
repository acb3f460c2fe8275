// The forms of a value that pgbulk's client-side checks leave to PostgreSQL on purpose.

const DATE_WORDS = /epoch|infinity|now|today|tomorrow|yesterday|allballs/i
const ZONE = '(Z|[+-]\\d{2}(?::?\\d{2}(?::?\\d{2})?)?)'
const ISO_TIME_OF_DAY = new RegExp(`^(\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?)${ZONE}?$`, 'i')
const ISO_TIMESTAMP = new RegExp(`^(\\d{4})-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?)?${ZONE}?$`, 'i')

/**
 * Why pgbulk deliberately leaves a value to the database (src/validate/check-value.ts: where a
 * check cannot be exact, it says nothing), or undefined when its check must agree with PostgreSQL
 * on the value. Every value PostgreSQL refuses that pgbulk lets through needs a reason here (the
 * differential tests hold the client checks to that), and is then sent and rejected by the
 * database, as that row's reject. `type` is the column's type as written in SQL, `v` its text.
 */
export function leftToDatabase(type: string, v: string): string | undefined {
  const s = v.trim()
  const zoneHours = (zone: string | undefined) => (zone && /^[+-]/.test(zone) ? Number(zone.slice(1, 3)) : 0)
  switch (type.replace(/\(.*\)$/, '')) {
    case 'int2':
    case 'int4':
    case 'int8':
    case 'posint':
      if (/^[+-]?(0[xob]\w*|\d[\d_]*_[\d_]*)$/i.test(s))
        return 'hex, octal, binary and 1_000 forms: PostgreSQL 16 reads them, 15 does not'
      if (type === 'posint' && /^[+-]?\d{1,10}$/.test(s) && BigInt(s) <= 0n && BigInt(s) >= -2147483648n)
        return "the domain's CHECK is the server's"
      return undefined
    case 'numeric':
      if (/_|0[xob]/i.test(s)) return 'underscores and 0x/0o/0b forms: PostgreSQL 16 reads them, 15 does not'
      if (/^[+-]?(inf|infinity|nan)$/i.test(s)) return 'special values: numeric(p,s) takes NaN but not Infinity'
      if (/e\s/i.test(s)) return 'a space after the exponent: numeric_in before PostgreSQL 16 skips it'
      return undefined
    case 'float4':
    case 'float8': {
      if (/_|0x/i.test(s)) return 'underscores and hex: left to the server'
      const x = Math.abs(Number(s))
      if (type === 'float4' && ((x > 3.4e38 && x <= 3.5e38) || (x >= 1e-46 && x < 1.5e-45)))
        return "float4 limits are checked with a margin: close to them, the server's rounding decides"
      return undefined
    }
    case 'uuid':
      return s !== v ? 'spaces around a UUID' : undefined
    case 'date':
    case 'time':
    case 'timetz':
    case 'timestamp':
    case 'timestamptz': {
      if (!/\d/.test(s)) return DATE_WORDS.test(s) ? 'special words, alone or with other tokens' : undefined
      if (type === 'date')
        return /^\d{4}-\d{2}-\d{2}$/.test(s) && !s.startsWith('0000')
          ? undefined
          : 'not a plain ISO date (other styles; year 0)'
      const m = (type === 'time' || type === 'timetz' ? ISO_TIME_OF_DAY : ISO_TIMESTAMP).exec(s)
      if (!m || m[1] === '0000')
        return `not a plain ISO ${type.startsWith('time') && !type.startsWith('timestamp') ? 'time of day' : 'timestamp'} (other styles; year 0)`
      if (zoneHours(m[2]) > 15) return 'a zone offset beyond 15 hours'
      if (/:60\.\d*[1-9]/.test(s)) return 'a leap second with a fraction'
      return undefined
    }
    default:
      return undefined
  }
}
