/** The word for `n` things: `one` for exactly one, else `many` (plural(2, 'batch', 'batches') is "batches"). */
export function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many
}

/** A count and its word: counted(1, 'batch', 'batches') is "1 batch", counted(3, …) "3 batches". */
export function counted(n: number, one: string, many: string): string {
  return `${n} ${plural(n, one, many)}`
}

/** "1 batch", "3 batches". */
export function batchCount(n: number): string {
  return counted(n, 'batch', 'batches')
}

/** Names quoted as JSON strings, comma-separated: "a", "b". */
export function quotedList(names: readonly string[]): string {
  return names.map((n) => JSON.stringify(n)).join(', ')
}
