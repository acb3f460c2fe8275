/** Where a record or a value sits in the input: 1-based line and column, 0-based byte offset. */
export interface SourceLocation {
  file: string
  line: number
  byte: number
  column?: number
}

/** Compiler-style "file:line:column", so editors can jump to it. */
export function formatLocation(loc: SourceLocation): string {
  return loc.column === undefined ? `${loc.file}:${loc.line}` : `${loc.file}:${loc.line}:${loc.column}`
}

/** Quote a user's value for a message, cut to about 60 characters. */
export function snippet(value: string, max = 60): string {
  const cut = value.length > max ? value.slice(0, max) + '…' : value
  return JSON.stringify(cut)
}
