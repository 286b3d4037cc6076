/**
 * Terminal colour for the testnet's output, off where it would get in the way: `NO_COLOR` set to anything non-empty
 * turns it off (no-color.org), `FORCE_COLOR` = 1-3 turns it on and 0 off, else it is on only when the stream is a
 * terminal that is not `TERM=dumb`. A `Style` is plain functions over strings, so the summary renders the same text
 * with or without escapes (tests render with `plainStyle`).
 *
 * @example
 * ```ts
 * import { styleFor } from './style.js'
 * const s = styleFor(process.stderr, process.env)
 * process.stderr.write(s.green('result OK') + '\n')
 * ```
 */

export interface Style {
  readonly enabled: boolean
  bold(s: string): string
  dim(s: string): string
  red(s: string): string
  green(s: string): string
  yellow(s: string): string
  cyan(s: string): string
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`

/** The escapes (SGR codes) for each style. */
export const ansiStyle: Style = {
  enabled: true,
  bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39),
}

const id = (s: string) => s
/** No escapes at all. */
export const plainStyle: Style = { enabled: false, bold: id, dim: id, red: id, green: id, yellow: id, cyan: id }

/** Whether colour is wanted on `stream` given `env` (the rules in the header). */
export function colourWanted(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  if (env.NO_COLOR) return false
  const force = env.FORCE_COLOR
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false'
  return stream.isTTY === true && env.TERM !== 'dumb'
}

export function styleFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): Style {
  return colourWanted(stream, env) ? ansiStyle : plainStyle
}

/** `s` without SGR escapes (for widths and tests). */
export function stripStyle(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '')
}
