/** PostgreSQL's MAXDIM: an array has at most six dimensions. */
const MAX_DIMENSIONS = 6

/** Why PostgreSQL refuses a JSON array for an array column. */
export interface ArrayRefused {
  refused: string
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/** The index after the JSON string that opens at `i`. */
function stringEnd(json: string, i: number): number {
  for (let j = i + 1; ; j++) {
    const c = json.charCodeAt(j)
    if (c === 0x5c) j++
    else if (c === 0x22) return j + 1
  }
}

/** The index after the JSON array or object that opens at `i` (iterative: nesting depth costs no stack). */
function containerEnd(json: string, i: number): number {
  let depth = 0
  for (let j = i; ; j++) {
    const c = json.charCodeAt(j)
    if (c === 0x22) j = stringEnd(json, j) - 1
    else if (c === 0x5b || c === 0x7b) depth++
    else if (c === 0x5d || c === 0x7d) {
      if (--depth === 0) return j + 1
    }
  }
}

/** The index after the number, true, false or null at `i`. */
function wordEnd(json: string, i: number): number {
  let j = i
  while (j < json.length) {
    const c = json.charCodeAt(j)
    if (c === 0x2c || c === 0x5d || isSpace(c)) break
    j++
  }
  return j
}

/** An element as array_in reads it back unchanged: NULL, or quoted with `"` and `\` escaped. */
const quoteElement = (text: string | null) => (text === null ? 'NULL' : `"${text.replace(/[\\"]/g, '\\$&')}"`)

/**
 * A JSON array as the PostgreSQL array literal json_populate_record builds from it, following
 * populate_array_json (src/backend/utils/adt/jsonfuncs.c) event by event. The number of
 * dimensions is the depth of the first scalar or object met, or of the first empty array plus
 * one; every sub-array at the same depth must have as many elements ("malformed JSON array"),
 * and a scalar or object above that depth is refused ("expected JSON array"). An empty array at
 * any depth makes the whole array empty ([[]] and [[],[]] are '{}'). Each element is the text
 * PostgreSQL gives the element type's input function, never a JS number: a string's characters
 * (for json and jsonb elements, the string as JSON), a number, true or false as written, an array
 * or object below the dimensions as its JSON text; null is NULL. `json` must be valid JSON whose
 * value is an array; `delimiter` is the element type's (typdelim: ';' for box). Returns the
 * literal, or why PostgreSQL refuses the array.
 */
export function populateArray(json: string, elementIsJson: boolean, delimiter = ','): string | ArrayRefused {
  let ndims = 0
  let dims: number[] = []
  let sizes: number[] = []
  const elements: (string | null)[] = []
  const expectedArray = (level: number): ArrayRefused => ({
    refused: `expected JSON array, found a scalar or an object at the array element ${sizes
      .slice(0, level)
      .map((s) => `[${s}]`)
      .join('')}`,
  })
  const assign = (n: number) => {
    ndims = n
    dims = new Array<number>(n).fill(-1)
    sizes = new Array<number>(n).fill(0)
  }
  let i = json.indexOf('[') + 1
  /** Level of the innermost array being read (the outer one is 0; its elements are at level 1). */
  let depth = 0
  for (;;) {
    while (isSpace(json.charCodeAt(i))) i++
    const c = json.charCodeAt(i)
    if (c === 0x5d) {
      // The end of the array at `depth`: the first empty array sets the dimensions; a sub-array
      // must have as many elements as the others at its depth.
      i++
      if (ndims === 0) assign(depth + 1)
      if (depth < ndims) {
        const size = sizes[depth]!
        if (dims[depth] === -1) dims[depth] = size
        else if (dims[depth] !== size)
          return { refused: 'malformed JSON array: sub-arrays at the same depth must have as many elements' }
        sizes[depth] = 0
        if (depth > 0) sizes[depth - 1]!++
      }
      if (depth === 0) break
      depth--
    } else {
      const level = depth + 1
      if (c === 0x5b && (ndims === 0 || level < ndims)) {
        // A sub-array above the element depth: read its elements.
        i++
        depth = level
        continue
      }
      const start = i
      if (c !== 0x5b) {
        // A scalar or an object: the first one met sets the dimensions.
        if (ndims === 0) assign(level)
        else if (level < ndims) return expectedArray(level)
      }
      if (c === 0x5b || c === 0x7b) i = containerEnd(json, i)
      else if (c === 0x22) i = stringEnd(json, i)
      else i = wordEnd(json, i)
      if (level === ndims) {
        let text: string | null = json.slice(start, i)
        if (c === 0x22) {
          const s = JSON.parse(text) as string
          // (JSON.stringify escapes as PostgreSQL's escape_json does, for strings without lone surrogates)
          text = elementIsJson ? JSON.stringify(s) : s
        } else if (text === 'null') text = null
        elements.push(text)
        sizes[ndims - 1]!++
      }
    }
    while (isSpace(json.charCodeAt(i))) i++
    if (json.charCodeAt(i) === 0x2c) i++
  }
  if (ndims > MAX_DIMENSIONS)
    return { refused: `number of array dimensions (${ndims}) exceeds the maximum allowed (${MAX_DIMENSIONS})` }
  if (dims.includes(0)) return '{}'
  let at = 0
  const nest = (d: number): string => {
    const parts = new Array<string>(dims[d]!)
    for (let k = 0; k < parts.length; k++)
      parts[k] = d === ndims - 1 ? quoteElement(elements[at++] ?? null) : nest(d + 1)
    return `{${parts.join(delimiter)}}`
  }
  return nest(0)
}
