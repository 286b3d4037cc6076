/**
 * Logging as an injected component: protocol code logs through a `Logger` it was given, never `console`.
 * Never log keys, rands, puzzle secrets or preimages.
 *
 * @example
 * ```ts
 * import { memoryLogger } from './logger.js'
 * const log = memoryLogger()
 * log.child('cache').warn('bad chunk', { peer: 'abc' })
 * log.entries[0].scope // 'cache'
 * ```
 */
import { safeJson } from './errors.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** A logger whose entries carry `scope` (joined with ':' to the parent's). */
  child(scope: string): Logger
}

export interface LogEntry { level: LogLevel; scope: string; msg: string; fields?: Record<string, unknown>; time: number }

function make(scope: string, sink: (e: LogEntry) => void, now: () => number): Logger {
  const at = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => sink({ level, scope, msg, fields, time: now() })
  return {
    debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'),
    child: (s) => make(scope ? `${scope}:${s}` : s, sink, now),
  }
}

/** Discards everything. */
export function silentLogger(): Logger {
  return make('', () => {}, () => 0)
}

/** Keeps every entry in memory: for tests and the simulator. */
export function memoryLogger(opts: { now?: () => number } = {}): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  return Object.assign(make('', (e) => entries.push(e), opts.now ?? (() => 0)), { entries })
}

/** Writes one JSON line (or a human line) per entry at or above `level` to `write`. */
export function streamLogger(opts: { write: (line: string) => void; level?: LogLevel; json?: boolean; now?: () => number; scope?: string }): Logger {
  const min = LOG_LEVELS.indexOf(opts.level ?? 'info')
  const now = opts.now ?? (() => Date.now())
  return make(opts.scope ?? '', (e) => {
    if (LOG_LEVELS.indexOf(e.level) < min) return
    if (opts.json) opts.write(safeJson({ ...e }) + '\n')
    else opts.write(`${new Date(e.time).toISOString()} ${e.level.toUpperCase().padEnd(5)} ${e.scope ? `[${e.scope}] ` : ''}${e.msg}${e.fields ? ' ' + safeJson(e.fields) : ''}\n`)
  }, now)
}
