import { isUtf8 } from 'node:buffer'

/** Input encodings pgbulk reads. All are ASCII-compatible, so delimiters and newlines can be found in the raw bytes. */
export type InputEncoding = 'utf8' | 'latin1' | 'windows-1252'

const ALIASES: Record<string, InputEncoding> = {
  utf8: 'utf8',
  'utf-8': 'utf8',
  latin1: 'latin1',
  'iso-8859-1': 'latin1',
  'iso8859-1': 'latin1',
  l1: 'latin1',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  win1252: 'windows-1252',
}

/** Resolve a user's --encoding value, or undefined when pgbulk does not read it. */
export function resolveEncoding(name: string): InputEncoding | undefined {
  return ALIASES[name.toLowerCase()]
}

/**
 * Turns a byte range into text; returns null when the bytes are not valid in the encoding.
 * `unchecked` decodes bytes already known to be valid (a whole record checked at once).
 */
export type Decode = ((bytes: Buffer, start: number, end: number) => string | null) & {
  unchecked?: (bytes: Buffer, start: number, end: number) => string
}

/**
 * 0x80–0x9F in windows-1252 (the rest is Latin-1). Node 20's TextDecoder('windows-1252') decodes
 * these as Latin-1 C1 controls, so the table is spelled out here. Undefined bytes map to the C1
 * control of the same value, as the WHATWG encoding standard says.
 */
const CP1252_HIGH = [...'€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ']

/** A decoder for one encoding. Latin-1 is true ISO-8859-1 (0x80–0x9F are C1 controls). */
export function decoderFor(encoding: InputEncoding): Decode {
  switch (encoding) {
    case 'utf8':
      return Object.assign(
        (b: Buffer, s: number, e: number) => {
          const slice = b.subarray(s, e)
          return isUtf8(slice) ? slice.toString('utf8') : null
        },
        { unchecked: (b: Buffer, s: number, e: number) => b.toString('utf8', s, e) },
      )
    case 'latin1':
      return (b, s, e) => b.toString('latin1', s, e)
    case 'windows-1252':
      return (b, s, e) => {
        const text = b.toString('latin1', s, e)
        return /[\x80-\x9f]/.test(text)
          ? text.replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!)
          : text
      }
  }
}

/** Text of a record for the reject file; invalid bytes become U+FFFD (the exact bytes also go there as base64). */
export function lossyText(bytes: Buffer, encoding: InputEncoding): string {
  return encoding === 'utf8' ? bytes.toString('utf8') : (decoderFor(encoding)(bytes, 0, bytes.length) ?? '')
}
