import { describe, expect, it } from 'vitest'
import { printable } from '../../src/report/printable.js'

describe('printable', () => {
  it('escapes C0 controls, DEL, C1 controls and bidi overrides as visible text', () => {
    expect(printable('a\x1b[2Jb\x07c\x7fd\u009b31me\u202ef\u2066g\r')).toBe(
      'a\\x1b[2Jb\\x07c\\x7fd\\x9b31me\\u202ef\\u2066g\\x0d',
    )
  })

  it('escapes line feeds and tabs in a single line, and keeps them in lines of text', () => {
    expect(printable('a\nb\tc')).toBe('a\\x0ab\\x09c')
    expect(printable('a\nb\tc\x1b', true)).toBe('a\nb\tc\\x1b')
  })

  it('leaves printable text, accents and emoji as they are', () => {
    const text = 'déjà vu "quoted" \\ 日本 🎉'
    expect(printable(text)).toBe(text)
  })
})
