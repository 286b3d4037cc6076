/**
 * The transport interface of Souk: dial a peer on a protocol id, handle a protocol, exchange whole messages.
 * Two implementations: `createLibp2pTransport` (TCP + noise + yamux) and `createMemoryNetwork().createTransport()`
 * (simulated latency, bandwidth, loss and churn). Role code sees only these types.
 */
import type { Logger } from '../core/logger.js'

/** A peer's identity as a string: a libp2p peer id (`12D3Koo...`) or, in the memory network, any unique name. */
export type PeerId = string

/** Options every async transport operation takes. `timeoutMs` is measured on the transport's clock. */
export interface AbortOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

/**
 * A bidirectional stream of whole messages (frames). Reading is pull-based, so a slow reader slows the writer
 * (backpressure) instead of buffering without bound.
 *
 * - `read()` resolves with the next frame, or throws `StreamClosedError` (reason `eof` when the remote closed its
 *   side cleanly), `MessageTooLargeError` (the stream is then reset), `TimeoutError` or `AbortedError` (the stream
 *   stays usable: the pending frame is delivered to the next `read`).
 * - `for await (const frame of stream)` ends cleanly on `eof` and throws on any other failure.
 * - `close()` ends our writing side (the remote sees `eof`); we can still read. `abort(err)` resets both sides.
 */
export interface MessageStream extends AsyncIterable<Uint8Array> {
  readonly remotePeer: PeerId
  readonly protocol: string
  /** The largest frame this stream will send or accept. */
  readonly maxMessageBytes: number
  read(opts?: AbortOptions): Promise<Uint8Array>
  /**
   * Sends one frame; resolves when the transport accepted it (backpressure), rejects with `StreamClosedError` etc.
   * A frame may be given as parts: it is their concatenation, sent as one frame without joining them first (a
   * header and a 1 MiB body go out without copying the body).
   * The transport may still hold `frame` after this resolves (libp2p does not copy): do not mutate it afterwards.
   * A write cut short by `signal`/`timeoutMs` resets the stream (half a frame may be on the wire).
   */
  write(frame: Uint8Array | readonly Uint8Array[], opts?: AbortOptions): Promise<void>
  /** Closes our writing side gracefully; idempotent. */
  close(opts?: AbortOptions): Promise<void>
  /** Resets the stream at once; both sides' pending and future reads/writes fail with `StreamClosedError`. */
  abort(err?: Error): void
  /** True once the stream can neither read nor write. */
  readonly closed: boolean
}

/**
 * Handles one inbound stream. The stream is closed when the returned promise settles (reset if it rejects), so
 * keep the promise pending for as long as you use the stream. A thrown error is logged with the peer and protocol
 * and never crashes the node; protocol violations count towards `banAfterViolations`.
 */
export type StreamHandler = (stream: MessageStream, remotePeer: PeerId) => Promise<void> | void

export interface HandleOptions {
  /** Most concurrent inbound streams per protocol (default {@link DEFAULT_MAX_INBOUND_STREAMS}). Extra ones are reset. */
  maxInboundStreams?: number
}

export interface Transport {
  readonly peerId: PeerId
  /** Addresses others can dial (`/ip4/127.0.0.1/tcp/4001/p2p/12D3...` or `/memory/<peer>`). */
  addresses(): string[]
  handle(protocol: string, handler: StreamHandler, opts?: HandleOptions): Promise<void>
  unhandle(protocol: string): Promise<void>
  /** Opens a stream to `peer` (a peer id, or an address from its `addresses()`) on `protocol`. */
  dial(peer: PeerId | string, protocol: string, opts?: AbortOptions): Promise<MessageStream>
  /** Drops every connection to `peer` and refuses it from now on (both directions). */
  ban(peer: PeerId, reason: string): Promise<void>
  unban(peer: PeerId): void
  isBanned(peer: PeerId): boolean
  /** Closes every stream and connection; later calls fail with `TransportStoppedError`. Idempotent. */
  stop(): Promise<void>
}

/** Options shared by both transport implementations. */
export interface TransportOptions {
  logger?: Logger
  /** Largest frame sent or accepted (default {@link DEFAULT_MAX_MESSAGE_BYTES}). */
  maxMessageBytes?: number
  /** Ban a peer after this many protocol violations (malformed or oversized messages) seen by handlers. Default: never. */
  banAfterViolations?: number
}

/**
 * Largest frame a transport accepts by default: a 1 MiB content chunk plus room for its JSON header. Checked on
 * the length prefix, before a byte of the body is buffered.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 + 64 * 1024
/** Default cap for JSON-only control messages (offers, tickets, receipts): none legitimately nears 64 KiB. */
export const MAX_CONTROL_MESSAGE_BYTES = 64 * 1024
/** Largest content chunk a service exchanges in one frame: 1 MiB keeps "risk at most one chunk" small. */
export const MAX_CHUNK_BYTES = 1024 * 1024
/** Default cap of concurrent inbound streams per protocol, so one peer cannot exhaust a node with streams. */
export const DEFAULT_MAX_INBOUND_STREAMS = 256
/** Default dial timeout, used only when the caller gives neither `signal` nor `timeoutMs`. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000

const PROTOCOL_NAME = /^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*$/

/**
 * Builds a versioned protocol id `/souk/<name>/<major>`. A breaking change is a new major, served beside the old.
 *
 * @example
 * ```ts
 * import { protocolId } from './types.js'
 * protocolId('cdn/fetch', 1) // '/souk/cdn/fetch/1'
 * ```
 */
export function protocolId(name: string, major: number): string {
  if (typeof name !== 'string' || !PROTOCOL_NAME.test(name)) {
    throw new TypeError(`protocolId: name must be lowercase words joined by '-' or '/', got ${JSON.stringify(name)}`)
  }
  if (!Number.isSafeInteger(major) || major < 0) throw new RangeError(`protocolId: major must be an integer >= 0, got ${major}`)
  return `/souk/${name}/${major}`
}

/**
 * Splits a Souk protocol id into name and major, or returns undefined if it is not one.
 *
 * @example
 * ```ts
 * import { parseProtocolId } from './types.js'
 * parseProtocolId('/souk/cdn/fetch/1') // { name: 'cdn/fetch', major: 1 }
 * ```
 */
export function parseProtocolId(id: string): { name: string; major: number } | undefined {
  const m = /^\/souk\/(.+)\/(\d+)$/.exec(id)
  if (!m || !PROTOCOL_NAME.test(m[1])) return undefined
  return { name: m[1], major: Number(m[2]) }
}
