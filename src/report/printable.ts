/**
 * Characters that a terminal obeys instead of showing: C0 controls (tab and line feed are
 * handled by the caller's choice), DEL, C1 controls (0x9b is a one-byte CSI on some terminals)
 * and the bidirectional overrides and isolates that reorder what is shown (CVE-2021-42574).
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

function escapeChar(c: string): string {
  const n = c.charCodeAt(0)
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`
}

/**
 * Text made safe to print for people: every control character becomes a visible escape
 * (ESC → `\x1b`), so data quoted in a message cannot clear the screen or move the cursor.
 * With `lines`, line feeds and tabs are kept (a multi-line summary); else they are escaped too.
 * Reject files keep the raw bytes: only what reaches a terminal goes through this.
 */
export function printable(text: string, lines = false): string {
  return text.replace(lines ? UNSAFE : UNSAFE_IN_LINE, escapeChar)
}
