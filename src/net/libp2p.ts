/**
 * The libp2p transport: TCP + noise + yamux (+ identify), libp2p 2.x (3.x does not run on Node 20).
 *
 * yamux is tuned for bulk transfer on the same wire (src/net/yamux.ts: a 2 MiB stream window, updated per MiB
 * read; frames that fit one noise message); stock js-libp2p peers interoperate.
 *
 * Frames on a libp2p stream are `[u32 big-endian length][payload]`. The length is checked against
 * `maxMessageBytes` before any of the payload is buffered. Reads are pull-based, so yamux's flow control slows a
 * writer whose reader is slow.
 */
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { identify } from '@libp2p/identify'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey, Stream, PeerId as Libp2pPeerId } from '@libp2p/interface'
import { pushable } from 'it-pushable'
import { Uint8ArrayList } from 'uint8arraylist'
import { systemClock, type Clock } from '../core/clock.js'
import { silentLogger } from '../core/logger.js'
import { AbortedError, DialError, MessageTooLargeError, NetError, PeerBannedError, StreamClosedError, TimeoutError, TransportStoppedError } from './errors.js'
import { FramedStream, runHandler, type StreamBackend } from './stream.js'
import { tunedYamux } from './yamux.js'
import { leanNoise } from './noise.js'
import {
  DEFAULT_DIAL_TIMEOUT_MS, DEFAULT_MAX_INBOUND_STREAMS, DEFAULT_MAX_MESSAGE_BYTES,
  type AbortOptions, type HandleOptions, type MessageStream, type PeerId, type StreamHandler, type Transport, type TransportOptions,
} from './types.js'

// Some of libp2p 2.x's transitive dependencies (it-queue via mortice) call Promise.withResolvers (Node 22+).
// On Node 20 we install the standard polyfill once, only if it is missing.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (v: T | PromiseLike<T>) => void, reject!: (e?: unknown) => void
      const promise = new Promise<T>((a, b) => { resolve = a; reject = b })
      return { promise, resolve, reject }
    },
  })
}

/** Bytes of the frame length prefix on libp2p streams. */
export const LIBP2P_FRAME_PREFIX_BYTES = 4
/** Bytes a stream may queue ahead of the muxer before `write` waits: keeps the pipe full without unbounded memory. */
export const LIBP2P_WRITE_BUFFER_BYTES = 2 * 1024 * 1024
/** Most outbound streams per protocol per connection (libp2p's default of 64 is too few for chunk pipelines). */
export const LIBP2P_MAX_OUTBOUND_STREAMS = 1024

export interface Libp2pTransportOptions extends TransportOptions {
  /** Listen multiaddrs (default `['/ip4/127.0.0.1/tcp/0']`: loopback, a free port). */
  listen?: string[]
  /** The node's identity as protobuf private-key bytes (from {@link generateIdentity} or `exportIdentity()`); default: a fresh Ed25519 key. */
  privateKey?: Uint8Array
  /** Clock for read/write timeouts (default system clock). */
  clock?: Clock
  /**
   * Most inbound connections open at once from one IP address (default {@link DEFAULT_MAX_INBOUND_PER_IP}) and from
   * one IPv4 /24 (or IPv6 /48) (default {@link DEFAULT_MAX_INBOUND_PER_SUBNET}). A new identity costs an attacker
   * ~30 ms; an address costs more. Further connections are refused before the handshake.
   */
  maxInboundPerIp?: number
  maxInboundPerSubnet?: number
  /** Apply those limits to loopback too (default false: a local testnet runs every peer on 127.0.0.1). */
  limitLoopback?: boolean
}

/** Default cap of inbound connections from one IP address. */
export const DEFAULT_MAX_INBOUND_PER_IP = 16
/** Default cap of inbound connections from one IPv4 /24 or IPv6 /48. */
export const DEFAULT_MAX_INBOUND_PER_SUBNET = 64

/** The host of a TCP multiaddr and its subnet key (/24 for IPv4, /48 for IPv6), or undefined. */
export function ipAndSubnet(addr: string): { ip: string; subnet: string; loopback: boolean } | undefined {
  const m4 = /^\/ip4\/(\d+)\.(\d+)\.(\d+)\.(\d+)(\/|$)/.exec(addr)
  if (m4) return { ip: `${m4[1]}.${m4[2]}.${m4[3]}.${m4[4]}`, subnet: `${m4[1]}.${m4[2]}.${m4[3]}.0/24`, loopback: m4[1] === '127' }
  const m6 = /^\/ip6\/([0-9a-fA-F:]+)(\/|$)/.exec(addr)
  if (m6) {
    const ip = m6[1].toLowerCase()
    const head = ip.includes('::') ? [...ip.split('::')[0].split(':').filter(Boolean), '0', '0', '0'].slice(0, 3) : ip.split(':').slice(0, 3)
    return { ip, subnet: `${head.join(':')}::/48`, loopback: ip === '::1' }
  }
  return undefined
}

export interface Libp2pTransport extends Transport {
  /** The private key as protobuf bytes, to persist (encrypted!) so the node keeps its peer id across restarts. */
  exportIdentity(): Uint8Array
  /** The underlying libp2p node, for diagnostics. */
  readonly node: Libp2p
}

/**
 * Generates a new Ed25519 identity as protobuf private-key bytes.
 *
 * @example
 * ```ts
 * import { generateIdentity, peerIdFromIdentity } from './libp2p.js'
 * const key = await generateIdentity()
 * peerIdFromIdentity(key) // '12D3KooW...'
 * ```
 */
export async function generateIdentity(): Promise<Uint8Array> {
  return privateKeyToProtobuf(await generateKeyPair('Ed25519'))
}

/**
 * The peer id of an identity made by {@link generateIdentity} or `exportIdentity()`.
 *
 * @example
 * ```ts
 * peerIdFromIdentity(await generateIdentity()).startsWith('12D3KooW') // true
 * ```
 */
export function peerIdFromIdentity(key: Uint8Array): PeerId {
  return peerIdFromPrivateKey(decodeKey(key)).toString()
}

function decodeKey(key: Uint8Array): PrivateKey {
  try {
    return privateKeyFromProtobuf(key)
  } catch (e) {
    throw new NetError('Invalid libp2p identity', { code: 'NET_BAD_IDENTITY', cause: e, hints: ['Pass the bytes returned by generateIdentity() or exportIdentity(), unchanged.'] })
  }
}

function frameBackend(stream: Stream, maxMessageBytes: number, peer: PeerId, protocol: string): StreamBackend {
  const out = pushable<Uint8Array>()
  let sinkError: unknown
  let sinkFinished = false
  const sinkDone = stream.sink(out).then(
    () => { sinkFinished = true },
    (e) => { sinkFinished = true; sinkError = e },
  )
  const src = stream.source[Symbol.asyncIterator]()
  const buf = new Uint8ArrayList()
  const ctx = { peer, protocol }
  const fill = async (n: number): Promise<boolean> => {
    while (buf.length < n) {
      let r: IteratorResult<Uint8ArrayList | Uint8Array>
      try {
        r = await src.next()
      } catch (e) {
        throw new StreamClosedError('reset', { ...ctx, cause: e, detail: e instanceof Error ? e.message : String(e) })
      }
      if (r.done) return false
      buf.append(r.value)
    }
    return true
  }
  const closedError = () => new StreamClosedError('reset', { ...ctx, cause: sinkError, detail: sinkError instanceof Error ? sinkError.message : 'the stream is no longer writable' })
  return {
    async pull() {
      if (!(await fill(LIBP2P_FRAME_PREFIX_BYTES))) {
        if (buf.length === 0) return null
        throw new StreamClosedError('reset', { ...ctx, detail: 'the stream ended inside a frame header' })
      }
      const len = buf.getUint32(0)
      if (len > maxMessageBytes) throw new MessageTooLargeError(len, maxMessageBytes, { what: 'Frame', ...ctx })
      if (!(await fill(LIBP2P_FRAME_PREFIX_BYTES + len))) throw new StreamClosedError('reset', { ...ctx, detail: `the stream ended inside a frame of ${len} bytes` })
      const frame = buf.subarray(LIBP2P_FRAME_PREFIX_BYTES, LIBP2P_FRAME_PREFIX_BYTES + len)
      buf.consume(LIBP2P_FRAME_PREFIX_BYTES + len)
      return frame
    },
    async send(frame) {
      if (sinkFinished || stream.writeStatus === 'closed' || stream.writeStatus === 'closing') throw closedError()
      const head = new Uint8Array(LIBP2P_FRAME_PREFIX_BYTES)
      if (frame instanceof Uint8Array) {
        new DataView(head.buffer).setUint32(0, frame.length)
        out.push(head)
        out.push(frame)
      } else {
        let n = 0
        for (const p of frame) n += p.length
        new DataView(head.buffer).setUint32(0, n)
        out.push(head)
        for (const p of frame) if (p.length > 0) out.push(p)
      }
      // Backpressure: once more than LIBP2P_WRITE_BUFFER_BYTES wait to be taken by the muxer (which itself waits
      // on yamux's send window), wait until it has taken them all.
      if (out.readableLength > LIBP2P_WRITE_BUFFER_BYTES) await Promise.race([out.onEmpty(), sinkDone])
      if (sinkFinished && out.readableLength > 0) throw closedError()
      if (sinkError) throw closedError()
    },
    async sendClose() {
      out.end()
      await sinkDone
      if (sinkError) throw closedError()
    },
    sendReset(err) {
      out.end()
      stream.abort(err)
    },
    release() {
      out.end()
      stream.close().catch((e) => stream.abort(e))
    },
    gone(err) {
      out.end()
      stream.abort(err)
    },
  }
}

/** Combines a caller's signal and timeout (or the default dial timeout) into one signal for libp2p. */
function dialDeadline(opts: AbortOptions | undefined, clock: Clock) {
  const ac = new AbortController()
  const timeoutMs = opts?.timeoutMs ?? (opts?.signal ? undefined : DEFAULT_DIAL_TIMEOUT_MS)
  let timedOut = false
  const cancel = timeoutMs === undefined ? undefined : clock.setTimer(timeoutMs, () => { timedOut = true; ac.abort(new Error('timeout')) })
  const onAbort = () => ac.abort(opts!.signal!.reason)
  opts?.signal?.addEventListener('abort', onAbort, { once: true })
  if (opts?.signal?.aborted) onAbort()
  return {
    signal: ac.signal,
    timeoutMs,
    get timedOut() { return timedOut },
    done() { cancel?.(); opts?.signal?.removeEventListener('abort', onAbort) },
  }
}

/**
 * Starts a libp2p node (TCP, noise, yamux, identify) and returns it as a Souk `Transport`.
 *
 * @example
 * ```ts
 * import { createLibp2pTransport, protocolId } from './index.js'
 * const a = await createLibp2pTransport({}), b = await createLibp2pTransport({})
 * await b.handle(protocolId('echo', 1), async (s) => { for await (const f of s) await s.write(f) })
 * const s = await a.dial(b.addresses()[0], protocolId('echo', 1))
 * await s.write(new TextEncoder().encode('hi'))
 * new TextDecoder().decode(await s.read()) // 'hi'
 * await a.stop(); await b.stop()
 * ```
 */
export async function createLibp2pTransport(opts: Libp2pTransportOptions = {}): Promise<Libp2pTransport> {
  const privateKey = opts.privateKey ? decodeKey(opts.privateKey) : await generateKeyPair('Ed25519')
  const clock = opts.clock ?? systemClock()
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  const banned = new Map<PeerId, string>()
  const violations = new Map<PeerId, number>()
  const streams = new Set<FramedStream>()
  const isBannedId = (p: Libp2pPeerId) => banned.has(p.toString())
  const perIp = opts.maxInboundPerIp ?? DEFAULT_MAX_INBOUND_PER_IP
  const perSubnet = opts.maxInboundPerSubnet ?? DEFAULT_MAX_INBOUND_PER_SUBNET
  for (const [k, v] of [['maxInboundPerIp', perIp], ['maxInboundPerSubnet', perSubnet]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`createLibp2pTransport: ${k} must be an integer >= 1, got ${v}`)
  }
  let refusedInbound = 0
  /** True when one more inbound connection from `remote` would pass a per-IP or per-subnet cap (`extra`: already counted). */
  const overLimit = (remote: string, extra: number): boolean => {
    const at = ipAndSubnet(remote)
    if (!at || (at.loopback && !opts.limitLoopback)) return false
    let ip = 0, subnet = 0
    for (const c of node.getConnections()) {
      if (c.direction !== 'inbound') continue
      const o = ipAndSubnet(c.remoteAddr.toString())
      if (!o) continue
      if (o.ip === at.ip) ip++
      if (o.subnet === at.subnet) subnet++
    }
    const deny = ip - extra >= perIp || subnet - extra >= perSubnet
    if (deny) {
      refusedInbound++
      if (refusedInbound === 1 || refusedInbound % 100 === 0) log.warn('refusing inbound connections: too many from one address or subnet', { ip: at.ip, subnet: at.subnet, perIp, perSubnet, refused: refusedInbound })
    }
    return deny
  }
  let log = silentLogger()
  const node = await createLibp2p({
    privateKey,
    addresses: { listen: opts.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    // noise and yamux are typed against a newer @libp2p/interface than libp2p's own (npm resolved two): same shape at runtime.
    connectionEncrypters: [leanNoise() as unknown as NonNullable<Libp2pOptions['connectionEncrypters']>[number]],
    streamMuxers: [tunedYamux() as unknown as NonNullable<Libp2pOptions['streamMuxers']>[number]],
    services: { identify: identify() },
    connectionGater: {
      denyDialMultiaddr: () => false,
      denyDialPeer: isBannedId,
      denyInboundEncryptedConnection: isBannedId,
      denyOutboundEncryptedConnection: isBannedId,
      denyInboundUpgradedConnection: (p, maConn) => isBannedId(p) || overLimit(maConn.remoteAddr.toString(), 0),
      denyInboundConnection: (maConn) => overLimit(maConn.remoteAddr.toString(), 0),
    },
    connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1_000 },
  })
  const peerId = node.peerId.toString()
  log = (opts.logger ?? silentLogger()).child(`net:${peerId.slice(-8)}`)
  let stopped = false

  const track = (s: Stream, remote: PeerId, protocol: string) => {
    const fs = new FramedStream(remote, protocol, maxMessageBytes, frameBackend(s, maxMessageBytes, remote, protocol), clock, (x) => { streams.delete(x) })
    streams.add(fs)
    return fs
  }

  const transport: Libp2pTransport = {
    peerId,
    node,
    addresses: () => (stopped ? [] : node.getMultiaddrs().map((m) => m.toString())),

    async handle(protocol: string, handler: StreamHandler, hopts?: HandleOptions) {
      if (stopped) throw new TransportStoppedError()
      await node.handle(protocol, ({ stream, connection }) => {
        const remote = connection.remotePeer.toString()
        if (banned.has(remote)) { stream.abort(new Error('peer is banned')); return }
        const fs = track(stream, remote, protocol)
        void runHandler(handler, fs, log, onViolation)
      }, { maxInboundStreams: hopts?.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS, maxOutboundStreams: LIBP2P_MAX_OUTBOUND_STREAMS })
    },

    async unhandle(protocol: string) { await node.unhandle(protocol) },

    async dial(peer: PeerId | string, protocol: string, dopts?: AbortOptions): Promise<MessageStream> {
      if (stopped) throw new TransportStoppedError()
      let target: Parameters<Libp2p['dialProtocol']>[0]
      let remote: PeerId
      try {
        if (peer.startsWith('/')) {
          const ma = multiaddr(peer)
          remote = ma.getPeerId() ?? ''
          if (!remote) throw new Error('the address has no /p2p/<peer id>')
          target = ma
        } else {
          target = peerIdFromString(peer)
          remote = peer
        }
      } catch (e) {
        throw new DialError(`bad peer address ${JSON.stringify(peer)}`, { peer, protocol, cause: e })
      }
      if (banned.has(remote)) throw new PeerBannedError(remote, banned.get(remote))
      const what = `Dialing ${remote} on ${protocol}`
      if (dopts?.signal?.aborted) throw new AbortedError(what, { cause: dopts.signal.reason })
      const dl = dialDeadline(dopts, clock)
      try {
        const s = await node.dialProtocol(target, protocol, { signal: dl.signal, maxOutboundStreams: LIBP2P_MAX_OUTBOUND_STREAMS })
        return track(s, remote, protocol)
      } catch (e) {
        if (stopped) throw new TransportStoppedError()
        if (dl.timedOut) throw new TimeoutError(what, dl.timeoutMs!, { peer: remote, protocol })
        if (dopts?.signal?.aborted) throw new AbortedError(what, { cause: dopts.signal.reason })
        const name = (e as Error)?.name
        if (name === 'UnsupportedProtocolError') throw new DialError(`peer ${remote} does not handle ${protocol}`, { peer: remote, protocol, cause: e, hints: ['Check the protocol id and its major version; the peer may run another version.'] })
        throw new DialError(`could not open ${protocol} to ${remote}`, { peer: remote, protocol, cause: e })
      } finally {
        dl.done()
      }
    },

    async ban(peer: PeerId, reason: string) {
      banned.set(peer, reason)
      log.warn('banned peer', { peer, reason })
      for (const s of [...streams]) if (s.remotePeer === peer) s.abort(new StreamClosedError('reset', { peer, detail: `peer banned: ${reason}` }))
      try { await node.hangUp(peerIdFromString(peer)) } catch (e) { log.debug('hang up failed', { peer, reason: (e as Error).message }) }
    },
    unban(peer: PeerId) { banned.delete(peer); violations.delete(peer) },
    isBanned: (peer: PeerId) => banned.has(peer),

    async stop() {
      if (stopped) return
      stopped = true
      for (const s of [...streams]) s.abort(new StreamClosedError('stopped', { peer: s.remotePeer, protocol: s.protocol }))
      await node.stop()
    },

    exportIdentity: () => privateKeyToProtobuf(privateKey),
  }

  function onViolation(peer: PeerId, err: Error) {
    const n = (violations.get(peer) ?? 0) + 1
    violations.set(peer, n)
    if (opts.banAfterViolations !== undefined && n >= opts.banAfterViolations) void transport.ban(peer, `${n} protocol violations, last: ${err.message.split('\n')[0]}`)
  }

  log.info('libp2p transport started', { peerId, addresses: transport.addresses() })
  return transport
}
