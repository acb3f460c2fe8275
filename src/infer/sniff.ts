/**
 * The delimiter of a CSV-like file, from its first lines (pure): among `,` `;` tab and `|`, the one
 * that splits the most lines into the same number of fields (more than one), fields counted outside
 * double quotes. Undefined when none splits any line (a file of one column).
 */
export function sniffDelimiter(
  sample: string,
  /** The sample is the whole input (else its last line may be cut short, and is not counted). */
  whole = true,
): { delimiter: string; fields: number; lines: number } | undefined {
  const all = sample.split(/\r?\n/).filter((l) => l.trim() !== '')
  const lines = !whole && all.length > 2 ? all.slice(0, -1) : all
  let best: { delimiter: string; fields: number; lines: number } | undefined
  for (const delimiter of [',', ';', '\t', '|']) {
    const counts = lines.slice(0, 50).map((l) => fieldCount(l, delimiter))
    const mode = modeOf(counts)
    if (mode === undefined || mode.value < 2) continue
    const better = !best || mode.times > best.lines || (mode.times === best.lines && mode.value > best.fields)
    if (better) best = { delimiter, fields: mode.value, lines: mode.times }
  }
  return best
}

function fieldCount(line: string, delimiter: string): number {
  let n = 1
  let quoted = false
  for (const ch of line) {
    if (ch === '"') quoted = !quoted
    else if (ch === delimiter && !quoted) n++
  }
  return n
}

function modeOf(xs: readonly number[]): { value: number; times: number } | undefined {
  const seen = new Map<number, number>()
  for (const x of xs) seen.set(x, (seen.get(x) ?? 0) + 1)
  let best: { value: number; times: number } | undefined
  for (const [value, times] of seen) if (!best || times > best.times) best = { value, times }
  return best
}
