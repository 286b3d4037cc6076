/**
 * Errors of the transport layer. Every one extends {@link NetError} (itself a `SoukError`), carries a stable
 * `code`, structured `details` (never secrets, never payload bytes) and fix-it hints.
 *
 * @example
 * ```ts
 * import { readMessage, MalformedMessageError } from './index.js'
 * try { await readMessage(stream, codec) } catch (e) {
 *   if (e instanceof MalformedMessageError) log.warn('bad message', { peer: stream.remotePeer, issues: e.issues })
 * }
 * ```
 */
import { SoukError, type SoukErrorOptions } from '../core/errors.js'

/** Base of every transport-layer error. */
export class NetError extends SoukError {
  override name = 'NetError'
  constructor(shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: 'NET', ...opts })
  }
}

/** A frame (or an encoded message) is larger than the cap that applies to it. Checked before any decoding. */
export class MessageTooLargeError extends NetError {
  override name = 'MessageTooLargeError'
  readonly size: number
  readonly maxBytes: number
  constructor(size: number, maxBytes: number, opts: { what?: string; peer?: string; protocol?: string; cause?: unknown } = {}) {
    super(`${opts.what ?? 'Message'} of ${size} bytes exceeds the cap of ${maxBytes} bytes`, {
      code: 'NET_MESSAGE_TOO_LARGE',
      details: { size, maxBytes, ...(opts.peer ? { peer: opts.peer } : {}), ...(opts.protocol ? { protocol: opts.protocol } : {}) },
      hints: [
        'Split large payloads into chunks of at most the cap (content is exchanged in chunks of <= 1 MiB).',
        'If both sides agree on a larger cap, raise `maxMessageBytes` on the transport and `maxBytes` on the codec.',
      ],
      cause: opts.cause,
    })
    this.size = size
    this.maxBytes = maxBytes
  }
}

/** One schema issue, as reported by zod (path + message). */
export interface MessageIssue { path: (string | number)[]; message: string; code?: string }

/** A frame could not be decoded (bad header, bad JSON, bad tag) or did not match the protocol's schema. */
export class MalformedMessageError extends NetError {
  override name = 'MalformedMessageError'
  readonly issues: MessageIssue[]
  constructor(reason: string, opts: { issues?: MessageIssue[]; codec?: string; peer?: string; cause?: unknown } = {}) {
    const issues = opts.issues ?? []
    super(`Malformed message${opts.codec ? ` for ${opts.codec}` : ''}: ${reason}`, {
      code: 'NET_MALFORMED_MESSAGE',
      details: {
        ...(opts.peer ? { peer: opts.peer } : {}),
        ...(issues.length ? { issues: issues.slice(0, 10).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) } : {}),
      },
      hints: ['Check that both peers speak the same protocol id (same major version) and use the same schema.'],
      cause: opts.cause,
    })
    this.issues = issues
  }
}

/** Why a stream ended: the remote closed it cleanly, it was reset/aborted, the peer vanished, or we closed it. */
export type StreamClosedReason = 'eof' | 'reset' | 'local' | 'disconnected' | 'stopped'

/** Reading from or writing to a stream that has ended (remote closed, reset, peer vanished, or local close). */
export class StreamClosedError extends NetError {
  override name = 'StreamClosedError'
  readonly reason: StreamClosedReason
  constructor(reason: StreamClosedReason, opts: { peer?: string; protocol?: string; detail?: string; cause?: unknown } = {}) {
    const what = {
      eof: 'the remote closed the stream',
      reset: 'the stream was reset',
      local: 'the stream was closed locally',
      disconnected: 'the peer disconnected',
      stopped: 'the transport was stopped',
    }[reason]
    super(`Stream closed: ${what}${opts.detail ? ` (${opts.detail})` : ''}`, {
      code: 'NET_STREAM_CLOSED',
      details: { reason, ...(opts.peer ? { peer: opts.peer } : {}), ...(opts.protocol ? { protocol: opts.protocol } : {}) },
      hints: reason === 'eof' || reason === 'local'
        ? ['Read only as many messages as the protocol promises; the peer may have finished or given up.']
        : ['Peers come and go: retry with another peer or after a back-off; a protocol must not wait on a vanished peer.'],
      cause: opts.cause,
    })
    this.reason = reason
  }
}

/** A dial failed: unknown or unreachable peer, refused connection, protocol not supported, or banned by the remote. */
export class DialError extends NetError {
  override name = 'DialError'
  constructor(reason: string, opts: { peer?: string; protocol?: string; cause?: unknown; hints?: string[] } = {}) {
    super(`Dial failed: ${reason}`, {
      code: 'NET_DIAL',
      details: { ...(opts.peer ? { peer: opts.peer } : {}), ...(opts.protocol ? { protocol: opts.protocol } : {}) },
      hints: opts.hints ?? [
        'Check the address (it needs /p2p/<peer id> for libp2p) and that the peer is running and handles the protocol.',
        'A peer may refuse us if it banned us; dial another peer.',
      ],
      cause: opts.cause,
    })
  }
}

/** An operation did not finish within its `timeoutMs`. */
export class TimeoutError extends NetError {
  override name = 'TimeoutError'
  readonly timeoutMs: number
  constructor(what: string, timeoutMs: number, opts: { peer?: string; protocol?: string } = {}) {
    super(`${what} timed out after ${timeoutMs} ms`, {
      code: 'NET_TIMEOUT',
      details: { timeoutMs, ...(opts.peer ? { peer: opts.peer } : {}), ...(opts.protocol ? { protocol: opts.protocol } : {}) },
      hints: ['The peer may be slow, overloaded or gone: retry another peer, or raise `timeoutMs` if the network is slow.'],
    })
    this.timeoutMs = timeoutMs
  }
}

/** An operation was cancelled through its `AbortSignal`. The signal's reason is the cause. */
export class AbortedError extends NetError {
  override name = 'AbortedError'
  constructor(what: string, opts: { cause?: unknown } = {}) {
    super(`${what} was aborted`, { code: 'NET_ABORTED', cause: opts.cause })
  }
}

/** We refuse to talk to a peer we banned (or the operation targeted a banned peer). */
export class PeerBannedError extends NetError {
  override name = 'PeerBannedError'
  constructor(peer: string, reason?: string) {
    super(`Peer ${peer} is banned${reason ? `: ${reason}` : ''}`, {
      code: 'NET_PEER_BANNED',
      details: { peer, ...(reason ? { reason } : {}) },
      hints: ['Call `transport.unban(peer)` if the ban was a mistake; otherwise pick another peer.'],
    })
  }
}

/** The transport was used after `stop()`. */
export class TransportStoppedError extends NetError {
  override name = 'TransportStoppedError'
  constructor() {
    super('Transport is stopped', { code: 'NET_STOPPED', hints: ['Create a new transport; a stopped one cannot be restarted.'] })
  }
}

/**
 * A well-formed message the peer may not send here: out of order (`expected join`), not entitled (content asked by
 * a cache nobody hired), for something we do not serve. A handler throws it to drop the stream; it is logged as a
 * warning and counts toward `banAfterViolations`, like a malformed message.
 */
export class ProtocolViolationError extends NetError {
  override name = 'ProtocolViolationError'
  constructor(reason: string, opts: { peer?: string; protocol?: string } = {}) {
    super(`Protocol violation: ${reason}`, { code: 'NET_PROTOCOL_VIOLATION', details: { ...(opts.peer ? { peer: opts.peer } : {}), ...(opts.protocol ? { protocol: opts.protocol } : {}) } })
  }
}

/** True for errors that mean the remote peer broke the protocol (not a network failure): grounds to drop or ban it. */
export function isProtocolViolation(e: unknown): e is MessageTooLargeError | MalformedMessageError | ProtocolViolationError {
  return e instanceof MessageTooLargeError || e instanceof MalformedMessageError || e instanceof ProtocolViolationError
}
