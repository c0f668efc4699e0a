// Text quoted from files or from MySQL (names, messages) on its way to a terminal.

/**
 * Control characters (C0, C1, line and paragraph separators) shown escaped, so that a quoted name keeps a message
 * on one line and cannot drive the terminal (ANSI escapes, carriage returns).
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}
