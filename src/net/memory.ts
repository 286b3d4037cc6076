/**
 * An in-memory network of transports with simulated latency, bandwidth, loss and churn. Used by tests now and by
 * the simulator (with a manual clock) later. Same `Transport` interface and same stream semantics as libp2p.
 *
 * Timing model, per direction of each peer pair (a "link"): a frame starts transmitting when the link is free,
 * takes `size / bandwidthBytesPerSec` to transmit, then arrives `latencyMs` later. Frames on a link arrive in
 * order. `write()` resolves when the frame is transmitted (and waits first while the receiver holds more than
 * {@link MEMORY_RECEIVE_WINDOW_BYTES} unread). A frame due with zero delay is delivered on a microtask, so a
 * network with no latency and infinite bandwidth needs no clock advances.
 *
 * Loss drops whole frames (never stream opens, closes or resets) with a seeded PRNG. Streams do not retransmit:
 * protocols that need reliability should run with `lossRate: 0`, or use read timeouts and retry.
 */
import { mulberry32 } from '../core/prng.js'
import { systemClock, type Clock } from '../core/clock.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { AbortedError, DialError, PeerBannedError, StreamClosedError, TransportStoppedError } from './errors.js'
import { FramedStream, runHandler, withDeadline, type StreamBackend } from './stream.js'
import {
  DEFAULT_DIAL_TIMEOUT_MS, DEFAULT_MAX_INBOUND_STREAMS, DEFAULT_MAX_MESSAGE_BYTES,
  type AbortOptions, type HandleOptions, type MessageStream, type PeerId, type StreamHandler, type Transport, type TransportOptions,
} from './types.js'

/** Unread bytes (in flight plus queued) a receiver may hold per stream before the sender's `write` waits. */
export const MEMORY_RECEIVE_WINDOW_BYTES = 4 * 1024 * 1024
/** Address prefix of memory transports: `/memory/<peer id>`. */
export const MEMORY_ADDRESS_PREFIX = '/memory/'

export interface MemoryNetworkOptions {
  /** One-way delay of every frame, stream open and reset (default 0). */
  latencyMs?: number
  /**
   * One-way delay from `from` to `to` in ms, for a latency matrix (regions, a topology): replaces `latencyMs`. Called
   * once per frame, so it should be a lookup.
   */
  latency?: (from: PeerId, to: PeerId) => number
  /** Uniform extra delay in [0, jitterMs) per frame, from the seeded PRNG; frames on a link stay in order (default 0). */
  jitterMs?: number
  /** Per-link, per-direction bandwidth (default Infinity). */
  bandwidthBytesPerSec?: number
  /** Probability in [0, 1) that a frame is dropped (default 0). */
  lossRate?: number
  /** Seed of the loss PRNG (default 1). */
  seed?: number
  /** Time source; pass a `manualClock` to drive the network from a simulator (default system clock). */
  clock?: Clock
  logger?: Logger
}

export interface MemoryNetworkStats { framesSent: number; framesDropped: number; framesDelivered: number; bytesDelivered: number }

export interface MemoryNetwork {
  readonly clock: Clock
  /** Creates a transport on this network; `peerId` defaults to `peer-<n>`. */
  createTransport(opts?: TransportOptions & { peerId?: PeerId }): Transport
  /** The peer vanishes: its streams fail on both sides with `StreamClosedError('disconnected')`, dials fail until `reconnect`. */
  disconnect(peer: PeerId): void
  reconnect(peer: PeerId): void
  /** No traffic between the two groups: streams across are cut, dials across fail, until `heal`. */
  partition(a: PeerId[], b: PeerId[]): void
  heal(): void
  peers(): PeerId[]
  stats(): MemoryNetworkStats
}

interface Delivery { at: number; done: boolean; run: () => void }
interface Link { from: PeerId; to: PeerId; busyUntil: number; queue: Delivery[]; gone?: boolean; lastAt: number }

/** One side of a memory stream: its inbound queue and the transport that owns it. */
class End {
  frames: Uint8Array[] = []
  eof = false
  failed: StreamClosedError | undefined
  /** Bytes sent to this end and not yet read (in flight + queued): the receive window in use. */
  unread = 0
  readWaiter: (() => void) | undefined
  windowWaiters: (() => void)[] = []
  peer!: End
  stream!: FramedStream
  constructor(readonly node: MemoryTransport, readonly remote: PeerId) {}
  wakeReader() { const w = this.readWaiter; this.readWaiter = undefined; w?.() }
  wakeWriters() { const ws = this.windowWaiters; this.windowWaiters = []; for (const w of ws) w() }
}

class MemoryTransport implements Transport {
  readonly streams = new Set<FramedStream>()
  readonly handlers = new Map<string, { handler: StreamHandler; max: number; active: number }>()
  readonly banned = new Map<PeerId, string>()
  private readonly violations = new Map<PeerId, number>()
  stopped = false
  readonly maxMessageBytes: number

  constructor(readonly net: Net, readonly peerId: PeerId, readonly log: Logger, private readonly opts: TransportOptions) {
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  }

  addresses(): string[] { return this.stopped ? [] : [MEMORY_ADDRESS_PREFIX + this.peerId] }

  async handle(protocol: string, handler: StreamHandler, opts?: HandleOptions): Promise<void> {
    if (this.stopped) throw new TransportStoppedError()
    if (this.handlers.has(protocol)) throw new TypeError(`handle: a handler for ${protocol} is already registered; unhandle it first`)
    this.handlers.set(protocol, { handler, max: opts?.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS, active: 0 })
  }

  async unhandle(protocol: string): Promise<void> { this.handlers.delete(protocol) }

  async dial(peer: PeerId | string, protocol: string, opts?: AbortOptions): Promise<MessageStream> {
    if (this.stopped) throw new TransportStoppedError()
    const target = peer.startsWith(MEMORY_ADDRESS_PREFIX) ? peer.slice(MEMORY_ADDRESS_PREFIX.length) : peer
    if (this.banned.has(target)) throw new PeerBannedError(target, this.banned.get(target))
    const deadline = opts?.signal || opts?.timeoutMs !== undefined ? opts : { timeoutMs: DEFAULT_DIAL_TIMEOUT_MS }
    const lat = this.net.delay(this.peerId, target)
    if (lat > 0) await withDeadline(this.net.clock.sleep(lat), deadline, this.net.clock, `Dialing ${target}`, { peer: target, protocol })
    else if (opts?.signal?.aborted) throw new AbortedError(`Dialing ${target}`, { cause: opts.signal.reason })
    if (this.stopped) throw new TransportStoppedError()
    const remote = this.net.nodes.get(target)
    const ctx = { peer: target, protocol }
    if (!remote || remote.stopped) throw new DialError(`no peer ${target} on this memory network`, ctx)
    if (!this.net.reachable(this.peerId, target)) throw new DialError(`peer ${target} is unreachable (disconnected or partitioned)`, ctx)
    if (remote.banned.has(this.peerId)) throw new DialError(`peer ${target} refused the connection`, ctx)
    const h = remote.handlers.get(protocol)
    if (!h) throw new DialError(`peer ${target} does not handle ${protocol}`, { ...ctx, hints: ['Check the protocol id and its major version; the peer may run another version.'] })
    if (h.active >= h.max) throw new DialError(`peer ${target} has too many open streams on ${protocol}`, ctx)

    const mine = new End(this, target)
    const theirs = new End(remote, this.peerId)
    mine.peer = theirs
    theirs.peer = mine
    mine.stream = this.net.makeStream(mine, protocol, this.maxMessageBytes)
    theirs.stream = this.net.makeStream(theirs, protocol, remote.maxMessageBytes)
    h.active++
    const inbound = theirs.stream
    queueMicrotask(() => {
      void runHandler(h.handler, inbound, remote.log, (p, e) => remote.violation(p, e)).finally(() => { h.active-- })
    })
    return mine.stream
  }

  violation(peer: PeerId, err: Error): void {
    const n = (this.violations.get(peer) ?? 0) + 1
    this.violations.set(peer, n)
    const limit = this.opts.banAfterViolations
    if (limit !== undefined && n >= limit) void this.ban(peer, `${n} protocol violations, last: ${err.message.split('\n')[0]}`)
  }

  async ban(peer: PeerId, reason: string): Promise<void> {
    this.banned.set(peer, reason)
    this.log.warn('banned peer', { peer, reason })
    for (const s of [...this.streams]) if (s.remotePeer === peer) s.abort(new StreamClosedError('reset', { peer, detail: `peer banned: ${reason}` }))
  }

  unban(peer: PeerId): void { this.banned.delete(peer); this.violations.delete(peer) }
  isBanned(peer: PeerId): boolean { return this.banned.has(peer) }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.net.cutPeer(this.peerId, 'stopped')
    this.handlers.clear()
    this.net.nodes.delete(this.peerId)
    this.net.forget(this.peerId)
  }
}

class Net implements MemoryNetwork {
  readonly nodes = new Map<PeerId, MemoryTransport>()
  readonly clock: Clock
  readonly latencyMs: number
  private readonly latencyOf: ((from: PeerId, to: PeerId) => number) | undefined
  private readonly jitterMs: number
  private readonly bw: number
  private readonly lossRate: number
  private readonly random: () => number
  /** Links by sender, then receiver (no key strings on the per-frame path), and every link a peer is an end of. */
  private readonly links = new Map<PeerId, Map<PeerId, Link>>()
  private readonly linksOf = new Map<PeerId, Set<Link>>()
  private linkTotal = 0
  /** Open streams by their remote peer (the other ends of each peer's streams). */
  readonly towards = new Map<PeerId, Set<FramedStream>>()
  private readonly down = new Set<PeerId>()
  private readonly partitions: [Set<PeerId>, Set<PeerId>][] = []
  private readonly log: Logger
  private counter = 0
  private readonly st: MemoryNetworkStats = { framesSent: 0, framesDropped: 0, framesDelivered: 0, bytesDelivered: 0 }

  constructor(opts: MemoryNetworkOptions) {
    this.latencyMs = opts.latencyMs ?? 0
    this.latencyOf = opts.latency
    this.jitterMs = opts.jitterMs ?? 0
    if (!(this.jitterMs >= 0)) throw new RangeError(`createMemoryNetwork: jitterMs must be >= 0, got ${opts.jitterMs}`)
    this.bw = opts.bandwidthBytesPerSec ?? Infinity
    this.lossRate = opts.lossRate ?? 0
    if (!(this.latencyMs >= 0)) throw new RangeError(`createMemoryNetwork: latencyMs must be >= 0, got ${opts.latencyMs}`)
    if (!(this.bw > 0)) throw new RangeError(`createMemoryNetwork: bandwidthBytesPerSec must be > 0, got ${opts.bandwidthBytesPerSec}`)
    if (!(this.lossRate >= 0 && this.lossRate < 1)) throw new RangeError(`createMemoryNetwork: lossRate must be in [0, 1), got ${opts.lossRate}`)
    this.random = mulberry32(opts.seed ?? 1)
    this.clock = opts.clock ?? systemClock()
    this.log = opts.logger ?? silentLogger()
  }

  createTransport(opts: TransportOptions & { peerId?: PeerId } = {}): Transport {
    let id = opts.peerId
    if (id === undefined) do { id = `peer-${++this.counter}` } while (this.nodes.has(id))
    if (id.length === 0 || id.includes('/')) throw new TypeError(`createTransport: peerId must be non-empty without '/', got ${JSON.stringify(id)}`)
    if (this.nodes.has(id)) throw new TypeError(`createTransport: peer ${id} already exists on this network`)
    const t = new MemoryTransport(this, id, (opts.logger ?? this.log).child(`net:${id}`), opts)
    this.nodes.set(id, t)
    return t
  }

  /** The one-way delay of the next frame from `from` to `to`: the matrix or the fixed latency, plus jitter. */
  delay(from: PeerId, to: PeerId): number {
    const base = this.latencyOf ? this.latencyOf(from, to) : this.latencyMs
    if (!(base >= 0)) throw new RangeError(`createMemoryNetwork: latency from ${from} to ${to} must be >= 0, got ${base}`)
    return this.jitterMs > 0 ? base + this.random() * this.jitterMs : base
  }

  reachable(a: PeerId, b: PeerId): boolean {
    if (this.down.has(a) || this.down.has(b)) return false
    return !this.partitions.some(([x, y]) => (x.has(a) && y.has(b)) || (x.has(b) && y.has(a)))
  }

  /** Cuts every stream between peers matching `pred` (an unordered pair): both ends fail at once. */
  cut(pred: (a: PeerId, b: PeerId) => boolean, why: 'disconnected' | 'stopped'): void {
    for (const node of this.nodes.values()) {
      for (const s of [...node.streams]) {
        if (!pred(node.peerId, s.remotePeer)) continue
        const local = why === 'stopped' && !this.nodes.get(node.peerId)?.stopped ? 'disconnected' : why
        s.remoteGone(new StreamClosedError(local, { peer: s.remotePeer, protocol: s.protocol }))
      }
    }
  }

  /**
   * Cuts every stream of `peer`: its own and their other ends, found through `towards` (streams whose remote is
   * `peer`), so a peer leaving a network of 10^5 costs its own streams, not a scan of every node.
   */
  cutPeer(peer: PeerId, why: 'disconnected' | 'stopped'): void {
    const own = this.nodes.get(peer)
    const mine = own ? [...own.streams] : []
    const theirs = [...(this.towards.get(peer) ?? [])]
    for (const s of mine) s.remoteGone(new StreamClosedError(why === 'stopped' && !own?.stopped ? 'disconnected' : why, { peer: s.remotePeer, protocol: s.protocol }))
    for (const s of theirs) s.remoteGone(new StreamClosedError(why === 'stopped' ? 'disconnected' : why, { peer: s.remotePeer, protocol: s.protocol }))
  }

  disconnect(peer: PeerId): void {
    this.down.add(peer)
    this.log.info('peer disconnected', { peer })
    this.cutPeer(peer, 'disconnected')
  }

  reconnect(peer: PeerId): void { this.down.delete(peer) }

  partition(a: PeerId[], b: PeerId[]): void {
    const x = new Set(a), y = new Set(b)
    this.partitions.push([x, y])
    this.cut((p, q) => (x.has(p) && y.has(q)) || (x.has(q) && y.has(p)), 'disconnected')
  }

  heal(): void { this.partitions.length = 0 }

  /** Drops the links of a stopped peer once their queues have drained: a long run with churn keeps nothing per departed peer. */
  forget(peer: PeerId): void {
    for (const l of [...(this.linksOf.get(peer) ?? [])]) {
      if (l.queue.length === 0) this.dropLink(l)
      else l.gone = true
    }
  }

  private dropLink(l: Link): void {
    const out = this.links.get(l.from)
    if (!out?.delete(l.to)) return
    if (out.size === 0) this.links.delete(l.from)
    this.linkTotal--
    for (const end of [l.from, l.to]) {
      const set = this.linksOf.get(end)
      set?.delete(l)
      if (set?.size === 0) this.linksOf.delete(end)
    }
  }

  /** Links held (for tests of bounded state). */
  linkCount(): number { return this.linkTotal }
  peers(): PeerId[] { return [...this.nodes.keys()] }
  stats(): MemoryNetworkStats { return { ...this.st } }

  private link(from: PeerId, to: PeerId): Link {
    let out = this.links.get(from)
    if (!out) { out = new Map(); this.links.set(from, out) }
    let l = out.get(to)
    if (!l) {
      l = { from, to, busyUntil: 0, queue: [], lastAt: 0 }
      out.set(to, l)
      this.linkTotal++
      for (const end of [from, to]) {
        let set = this.linksOf.get(end)
        if (!set) { set = new Set(); this.linksOf.set(end, set) }
        set.add(l)
      }
    }
    return l
  }

  /** Schedules `run` on link from→to at `at`, preserving FIFO order whatever order timers fire in. */
  private schedule(l: Link, due: number, run: () => void): void {
    // Jitter never reorders a link: a frame arrives no earlier than the one sent before it.
    const at = due < l.lastAt ? l.lastAt : due
    l.lastAt = at
    const d: Delivery = { at, done: false, run }
    l.queue.push(d)
    const fire = () => {
      if (d.done) return
      while (l.queue.length > 0) {
        const head = l.queue.shift()!
        if (!head.done) { head.done = true; head.run() }
        if (head === d) break
      }
      if (l.gone && l.queue.length === 0) this.dropLink(l)
    }
    const delay = at - this.clock.now()
    if (delay <= 0) queueMicrotask(fire)
    else this.clock.setTimer(delay, fire)
  }

  makeStream(end: End, protocol: string, maxMessageBytes: number): FramedStream {
    const node = end.node
    const net = this
    const from = node.peerId, to = end.remote
    const backend: StreamBackend = {
      pull() {
        return new Promise<Uint8Array | null>((resolve, reject) => {
          const attempt = () => {
            if (end.frames.length > 0) {
              const f = end.frames.shift()!
              end.unread -= f.length
              end.wakeWriters()
              return resolve(f)
            }
            if (end.failed) return reject(end.failed)
            if (end.eof) return resolve(null)
            end.readWaiter = attempt
          }
          attempt()
        })
      },
      async send(parts) {
        const frame = parts instanceof Uint8Array ? parts : concatParts(parts)
        const dst = end.peer
        // Wait for room in the receiver's window (a frame larger than the window goes alone).
        while (dst.unread > 0 && dst.unread + frame.length > MEMORY_RECEIVE_WINDOW_BYTES) {
          if (dst.failed || end.stream.closed) break
          await new Promise<void>((r) => dst.windowWaiters.push(r))
        }
        if (dst.failed) throw dst.failed
        const copy = frame === parts ? frame.slice() : frame // parts were joined into a new buffer already
        const size = copy.length
        const l = net.link(from, to)
        const now = net.clock.now()
        const start = Math.max(now, l.busyUntil)
        const txMs = Number.isFinite(net.bw) ? (size / net.bw) * 1000 : 0
        l.busyUntil = start + txMs
        net.st.framesSent++
        if (net.lossRate > 0 && net.random() < net.lossRate) {
          net.st.framesDropped++
        } else {
          dst.unread += size
          net.schedule(l, start + txMs + net.delay(from, to), () => {
            if (dst.failed || dst.eof) { dst.unread -= size; return }
            dst.frames.push(copy)
            net.st.framesDelivered++
            net.st.bytesDelivered += size
            dst.wakeReader()
          })
        }
        const wait = start + txMs - now
        if (wait > 0) await net.clock.sleep(wait)
      },
      async sendClose() {
        const dst = end.peer
        const l = net.link(from, to)
        net.schedule(l, Math.max(net.clock.now(), l.busyUntil) + net.delay(from, to), () => { dst.eof = true; dst.wakeReader() })
      },
      sendReset(err) {
        const dst = end.peer
        end.failed ??= new StreamClosedError('local', { peer: to, protocol, cause: err })
        end.wakeReader()
        end.wakeWriters()
        dst.wakeWriters()
        const deliver = () => {
          if (dst.failed) return
          const e = new StreamClosedError('reset', { peer: from, protocol, detail: err.message.split('\n')[0] })
          dst.failed = e
          dst.wakeReader()
          dst.wakeWriters()
          dst.stream.remoteGone(e)
        }
        const lat = net.delay(from, to)
        if (lat > 0) net.clock.setTimer(lat, deliver)
        else queueMicrotask(deliver)
      },
      release() {},
      gone(e) {
        end.failed ??= e
        end.wakeReader()
        end.wakeWriters()
        end.peer.wakeWriters()
      },
    }
    let towards = net.towards.get(to)
    if (!towards) { towards = new Set(); net.towards.set(to, towards) }
    const stream = new FramedStream(to, protocol, maxMessageBytes, backend, net.clock, (s) => {
      node.streams.delete(s)
      const t = net.towards.get(to)
      if (t) { t.delete(s); if (t.size === 0) net.towards.delete(to) }
    })
    node.streams.add(stream)
    towards.add(stream)
    return stream
  }
}

/**
 * Creates an in-memory network. Transports created from it reach each other by peer id or `/memory/<peer id>`.
 *
 * @example
 * ```ts
 * import { createMemoryNetwork, protocolId } from './index.js'
 * const net = createMemoryNetwork({ latencyMs: 20, bandwidthBytesPerSec: 10e6 })
 * const a = net.createTransport({ peerId: 'alice' }), b = net.createTransport({ peerId: 'bob' })
 * await b.handle(protocolId('echo', 1), async (s) => { for await (const f of s) await s.write(f) })
 * const s = await a.dial('bob', protocolId('echo', 1))
 * await s.write(new TextEncoder().encode('hi'))
 * await s.read() // 'hi' after ~40 ms
 * ```
 */
export function createMemoryNetwork(opts: MemoryNetworkOptions = {}): MemoryNetwork {
  return new Net(opts)
}

/** The concatenation of a frame's parts, in a new buffer. */
function concatParts(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.length }
  return out
}
