// PostgreSQL reads JSON strings escape by escape wherever it decodes them (jsonb input, and
// json_populate_record, which decodes every string of the line, keys and nested values too), and
// refuses two escapes there: \u0000, "unsupported Unicode escape sequence" (text cannot hold a
// NUL), and a UTF-16 surrogate without its pair, "invalid input syntax for type json"
// (json_lex_string in src/common/jsonapi.c). JSON.parse takes both: a NUL, and a lone surrogate
// that reaches PostgreSQL as U+FFFD once the string is written as UTF-8. json input keeps its text
// as written, and takes both.

/**
 * The first \u escape of a JSON text that PostgreSQL refuses where it decodes escapes (jsonb,
 * json_populate_record), as written: \u0000, or a UTF-16 surrogate without its pair.
 */
export function refusedJsonEscape(json: string): string | undefined {
  for (let i = json.indexOf('\\'); i >= 0; i = json.indexOf('\\', i)) {
    if (json.charCodeAt(i + 1) !== 0x75) {
      i += 2
      continue
    }
    const cp = parseInt(json.slice(i + 2, i + 6), 16)
    if (cp === 0 || (cp >= 0xdc00 && cp <= 0xdfff)) return json.slice(i, i + 6)
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const lo =
        json.charCodeAt(i + 6) === 0x5c && json.charCodeAt(i + 7) === 0x75
          ? parseInt(json.slice(i + 8, i + 12), 16)
          : -1
      if (!(lo >= 0xdc00 && lo <= 0xdfff)) return json.slice(i, i + 6)
      i += 12
    } else i += 6
  }
  return undefined
}

/**
 * The first character of a decoded JSON string that refusedJsonEscape would have found (NUL, a lone surrogate),
 * as a \u escape.
 */
export function refusedCharacter(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0) return '\\u0000'
    if (c < 0xd800 || c > 0xdfff) continue
    const next = s.charCodeAt(i + 1)
    if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++
    else return `\\u${c.toString(16)}`
  }
  return undefined
}

/** What is wrong with an escape refusedJsonEscape found. */
export function refusedEscapeReason(escape: string): string {
  return escape === '\\u0000'
    ? 'contains \\u0000, a NUL character, which PostgreSQL cannot store'
    : `contains ${escape}, a UTF-16 surrogate without its pair, which PostgreSQL's JSON reader refuses`
}
