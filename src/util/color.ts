// ANSI colour, off when not a TTY, with NO_COLOR, or with --no-color.
export interface Colors {
  green(s: string): string
  red(s: string): string
  yellow(s: string): string
  cyan(s: string): string
  bold(s: string): string
  dim(s: string): string
}

const wrap = (on: boolean, open: number, close: number) => (s: string) =>
  on ? `\u001b[${open}m${s}\u001b[${close}m` : s

export function colors(enabled: boolean): Colors {
  return {
    green: wrap(enabled, 32, 39),
    red: wrap(enabled, 31, 39),
    yellow: wrap(enabled, 33, 39),
    cyan: wrap(enabled, 36, 39),
    bold: wrap(enabled, 1, 22),
    dim: wrap(enabled, 2, 22),
  }
}

export function colorWanted(stream: NodeJS.WriteStream, flag?: boolean): boolean {
  if (flag === false) return false
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false
  return Boolean(stream.isTTY)
}
