/**
 * The one error base of Souk. Every domain error extends it, carries a short message, optional fix-it hints,
 * structured details and a cause, and renders them into one readable message.
 *
 * @example
 * ```ts
 * import { SoukError } from './errors.js'
 * throw new SoukError('Ticket expired', { code: 'TICKET_EXPIRED', hints: ['Ask the payee for fresh parameters.'] })
 * ```
 */
export interface SoukErrorOptions {
  /** A stable machine-readable code, e.g. `TICKET_EXPIRED`. */
  code?: string
  /** What the user can do about it. */
  hints?: string[]
  /** Structured facts about the failure (never secrets). */
  details?: Record<string, unknown>
  cause?: unknown
}

export class SoukError extends Error {
  override name = 'SoukError'
  readonly shortMessage: string
  readonly code: string
  readonly hints: string[]
  readonly details: Record<string, unknown>

  constructor(shortMessage: string, opts: SoukErrorOptions = {}) {
    const lines = [shortMessage]
    if (opts.details && Object.keys(opts.details).length > 0) {
      lines.push('', 'Details: ' + safeJson(opts.details))
    }
    if (opts.hints && opts.hints.length > 0) {
      lines.push('', ...opts.hints.map((h) => `Fix: ${h}`))
    }
    if (opts.cause instanceof Error && opts.cause.message && opts.cause.message !== shortMessage) {
      lines.push('', `Cause: ${opts.cause.message.split('\n')[0]}`)
    }
    super(lines.join('\n'), opts.cause === undefined ? undefined : { cause: opts.cause })
    this.shortMessage = shortMessage
    this.code = opts.code ?? 'SOUK_ERROR'
    this.hints = opts.hints ?? []
    this.details = opts.details ?? {}
  }

  /** Follows the cause chain and returns the first error that matches `fn`, or the deepest one. */
  walk(fn?: (e: unknown) => boolean): unknown {
    let e: unknown = this
    for (;;) {
      if (fn?.(e)) return e
      const next = (e as { cause?: unknown })?.cause
      if (next === undefined || next === null) return fn ? null : e
      e = next
    }
  }
}

/** A bad value at a trust boundary (config, CLI flag, network message). */
export class ValidationError extends SoukError {
  override name = 'ValidationError'
  constructor(shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: 'VALIDATION', ...opts })
  }
}

/** JSON with bigint support, for error details and logs. */
export function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? `0x${Buffer.from(x).toString('hex')}` : x))
  } catch {
    return String(v)
  }
}

/** Strips credentials (user:pass@ and key-like query params) from a URL before it appears in a message. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.username || u.password) { u.username = '***'; u.password = '' }
    for (const k of [...u.searchParams.keys()]) if (/key|token|secret|auth/i.test(k)) u.searchParams.set(k, '***')
    return u.toString()
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//***@')
  }
}
