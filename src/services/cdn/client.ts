/**
 * The client: asks the publisher for bundles, fetches each bundle's chunks from its caches in parallel, sends each
 * cache the payment message (the publisher's order) to get the outer key, checks every peeled chunk against the
 * publisher's digest (a cache serving garbage is caught here, banned, and its slot re-assigned), solves the puzzle,
 * recovers the plaintext (every chunk checked against the Merkle root) and hands the secret to the caches as proof.
 *
 * Behaviours: `honest`; `stingy` (takes chunks, never sends the payment message or a proof: must be cut off after one
 * chunk per cache); `colluding` (the accounting attack, with a colluding cache: its partners' slots come over the
 * collude protocol, never served; on its first `shortcutTries` bundles it tries to solve without the honest caches'
 * chunks, which must fail, so it downloads them like anyone else, solves, and hands each partner the secret to claim
 * its slot — paid, not served; with several partner caches — Sybil caches of one operator — a bundle whose every
 * slot is a partner's is solved from their chunks alone, nothing downloaded, and each partner is handed the secret
 * to claim its slot); `free-rider` (a stingy client that whitewashes: cut off,
 * it comes back under a fresh identity from `newIdentity`, up to `identities` times: it must get at most one unpaid
 * chunk per cache per identity).
 *
 * Events: `attack` where it cheats (`what`: `unpaid-chunk`, `whitewash`, `shortcut`, `unserved-slots`, `sybil-capture`), `caught` when it catches
 * a cache serving garbage (`who`: the cache's peer id, `why`: `garbage`).
 *
 * @example
 * ```ts
 * const client = createClient({ transport, clock, logger }, { publisher: publisherAddr, contentId: 'video' })
 * const bytes = await client.fetchContent()
 * ```
 */
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { SoukError } from '../../core/errors.js'
import { readMessage, request, sendMessage, type MessageStream, type PeerId, type Transport } from '../../net/index.js'
import {
  openBundle, openCacheTicket, parseBundle, peelOuterLayer, sha256, solveBundle, encryptLayer, padChunk, PuzzleUnsolvableError, type Bundle,
} from '../../proofs/capnet/index.js'
import {
  CDN_COLLUDE, CDN_FETCH, CDN_REQUEST, collideCodec, collideReplyCodec, fetchCodec, fetchReplyCodec, hex, partnerList, requestCodec, requestReplyCodec, type PayOrder,
} from './protocol.js'
import type { ClientBehaviour, ClientStats, EventSink } from './types.js'
import { releaseWhenRemoteEnds } from '../../exchange/index.js'

export interface ClientComponents {
  transport: Transport
  /**
   * Free-rider mode only: a fresh identity (a new transport, a new peer id) to come back under once cut off. The
   * caller owns the transports it returns (stops them). Other behaviours never call it.
   */
  newIdentity?: () => Promise<Transport>
  /** Measures `solveMs`. */
  clock: Clock
  logger: Logger
  onEvent?: EventSink
}

export interface ClientOptions {
  publisher: string
  contentId: string
  behaviour?: ClientBehaviour
  /** Colluding mode: the colluding caches' peer ids (one, a list, or a comma-separated list). */
  partner?: PeerId | readonly PeerId[]
  /** Free-rider mode: fresh identities it takes at most once cut off (default 4). */
  identities?: number
  /** Colluding mode: try the shortcut on this many bundles (each failed try costs one full puzzle search). */
  shortcutTries?: number
  timeoutMs?: number
}

/** The client could not get the content (publisher refused, caches cut it off, too many failures). */
export class CdnClientError extends SoukError {
  override name = 'CdnClientError'
}

export interface Client {
  /** Fetches the whole content; resolves with its bytes (byte-exact, Merkle-verified). */
  fetchContent(opts?: { signal?: AbortSignal }): Promise<Uint8Array>
  stats(): ClientStats
}

/** How many times the client asks again for a bundle that failed (not counting a refusal by the publisher). */
const BUNDLE_RETRIES = 2

interface Slot { cacheId: string; addresses: string[]; ticket: Uint8Array; order: PayOrder }
/** A slot's inner-encrypted chunk, and the stream of the cache that served it (none: a partner's, not served). */
interface Got { stream?: MessageStream; inner: Uint8Array }

/**
 * Creates a client of one publisher's content.
 *
 * @example
 * ```ts
 * const c = createClient({ transport, clock, logger }, { publisher, contentId: 'video' })
 * const data = await c.fetchContent()
 * ```
 */
export function createClient(c: ClientComponents, o: ClientOptions): Client {
  const { clock } = c
  /** Our identity: the components' transport, or the fresh one a free rider came back under. */
  let transport = c.transport
  const log = c.logger.child('client')
  const emit = c.onEvent ?? (() => {})
  const behaviour = o.behaviour ?? 'honest'
  /** Takes chunks without ever paying (stingy, free-rider). */
  const unpaying = behaviour === 'stingy' || behaviour === 'free-rider'
  const partners = new Set(partnerList(o.partner))
  const maxIdentities = o.identities ?? 4
  if (behaviour === 'free-rider' && !c.newIdentity && maxIdentities > 0) throw new CdnClientError('a free-rider client needs newIdentity (a fresh transport) to whitewash', { code: 'CDN_WIRING', hints: ['pass ClientComponents.newIdentity (RoleComponents.newIdentity through cdnMarket.wire), or identities: 0'] })
  const timeoutMs = o.timeoutMs ?? 30_000
  const st: ClientStats = {
    bundles: 0, chunksVerified: 0, bytesVerified: 0, bytesFrom: {}, solveMs: 0, badChunks: 0, repairs: 0, proofsUndelivered: 0, bundleRetries: 0, shortcutAttempts: 0, shortcutFailures: 0, unpaidChunks: 0,
    captured: 0, capturedSlotsPaid: 0, unservedSlots: 0, unservedSlotsPaid: 0, identities: 0, unpaidFrom: {},
  }
  const avoid = new Set<string>()
  let solved: { requestId: Uint8Array; secret: Uint8Array }[] = []

  const ask = async (msg: Parameters<typeof requestCodec.encode>[0], signal?: AbortSignal) => {
    try {
      const s = await transport.dial(o.publisher, CDN_REQUEST, { timeoutMs, signal })
      const reply = await request(s, requestCodec, requestReplyCodec, msg, { timeoutMs, signal })
      releaseWhenRemoteEnds(s, timeoutMs) // else the transport holds every request's stream for good
      return reply
    } catch (e) {
      if (signal?.aborted) throw e
      throw new CdnClientError(`the publisher is unreachable: ${(e as Error).message.split('\n')[0]}`, { code: 'CDN_PUBLISHER_UNREACHABLE', cause: e })
    }
  }

  /** Gets one slot's chunk: request, download, payment message, outer key, peel, digest check. */
  async function fetchSlot(bundle: Bundle, slot: number, s: Slot, digest: Uint8Array, signal?: AbortSignal): Promise<Got> {
    const entry = bundle.entries[slot]
    const stream = await transport.dial(s.addresses[0] ?? s.cacheId, CDN_FETCH, { timeoutMs, signal })
    try {
      await sendMessage(stream, fetchCodec, { type: 'get', contentId: o.contentId, requestId: bundle.requestId, chunkIndex: entry.chunkIndex, cacheTicket: s.ticket })
      const m = await readMessage(stream, fetchReplyCodec, { timeoutMs, signal })
      if (m.header.type === 'refuse') throw new CdnClientError(`cache refused: ${m.header.reason}`, { code: 'CDN_REFUSED' })
      if (m.header.type !== 'chunk' || m.header.chunkIndex !== entry.chunkIndex || m.body.length !== bundle.manifest.chunkSize) throw new CdnClientError('cache sent a wrong chunk', { code: 'CDN_BAD_CHUNK' })
      const served = m.body.slice()
      st.bytesFrom[s.cacheId] = (st.bytesFrom[s.cacheId] ?? 0) + served.length
      if (unpaying) {
        st.unpaidChunks++
        const mine = (st.unpaidFrom[transport.peerId] ??= {})
        mine[s.cacheId] = (mine[s.cacheId] ?? 0) + 1
        emit({ kind: 'attack', what: 'unpaid-chunk', cache: s.cacheId, identity: transport.peerId, bytes: served.length })
        stream.abort()
        throw new CdnClientError(`${behaviour} client: not paying`, { code: 'CDN_STINGY' })
      }
      await sendMessage(stream, fetchCodec, { type: 'pay', order: s.order })
      const k = await readMessage(stream, fetchReplyCodec, { timeoutMs, signal })
      if (k.header.type === 'refuse') throw new CdnClientError(`cache refused: ${k.header.reason}`, { code: 'CDN_REFUSED' })
      if (k.header.type !== 'key') throw new CdnClientError('cache did not release the outer key', { code: 'CDN_NO_KEY' })
      const inner = peelOuterLayer(served, k.header.outerKey, bundle.requestId, entry.chunkIndex)
      if (hex(sha256(inner)) !== hex(digest)) {
        st.badChunks++
        emit({ kind: 'caught', who: s.cacheId, why: 'garbage', role: 'cache', chunkIndex: entry.chunkIndex })
        throw new CdnClientError('chunk does not match the publisher digest (garbage)', { code: 'CDN_BAD_CHUNK' })
      }
      return { stream, inner }
    } catch (e) {
      stream.abort(e as Error)
      throw e
    }
  }

  /** Colluding mode: a partner cache's inner-encrypted chunk of slot `i`, from its chunk and secret (its ticket opens). */
  async function partnerInner(bundle: Bundle, slots: Slot[], i: number, signal?: AbortSignal): Promise<Uint8Array> {
    const cs = await transport.dial(slots[i].addresses[0] ?? slots[i].cacheId, CDN_COLLUDE, { timeoutMs, signal })
    const e = bundle.entries[i]
    const { cacheSecret, chunk } = await request(cs, collideCodec, collideReplyCodec, { contentId: o.contentId, chunkIndex: e.chunkIndex, requestId: bundle.requestId }, { timeoutMs, signal })
    releaseWhenRemoteEnds(cs, timeoutMs)
    const innerKey = openCacheTicket(e.cacheTicket, cacheSecret, bundle.requestId, e.chunkIndex)
    return encryptLayer(padChunk(chunk, bundle.manifest.chunkSize), { key: innerKey, requestId: bundle.requestId, chunkIndex: e.chunkIndex, layer: 'inner' })
  }

  /**
   * Sybil caches: every slot of the bundle is a partner's, so their chunks alone solve it — nothing downloaded, no
   * payment order used. Each partner is handed the secret and claims its slot (served or not); returns the plaintext.
   */
  async function capture(bundle: Bundle, slots: Slot[], signal?: AbortSignal) {
    const inner = await Promise.all(slots.map((_, i) => partnerInner(bundle, slots, i, signal)))
    const { secret } = solveBundle({ bundle, innerChunks: inner, signal })
    const plain = openBundle({ bundle, innerChunks: inner, secret })
    const paid = await Promise.all(slots.map(async (s, i) => {
      try {
        const cs = await transport.dial(s.addresses[0] ?? s.cacheId, CDN_COLLUDE, { timeoutMs, signal })
        const r = await request(cs, collideCodec, collideReplyCodec, { contentId: o.contentId, chunkIndex: bundle.entries[i].chunkIndex, claim: { requestId: bundle.requestId, secret, captured: true } }, { timeoutMs, signal })
        releaseWhenRemoteEnds(cs, timeoutMs)
        return r.paid === true
      } catch (e) {
        log.info('a partner could not claim its captured slot', { cache: s.cacheId, reason: (e as Error).message.split('\n')[0] })
        return false
      }
    }))
    const slotsPaid = paid.filter(Boolean).length
    st.captured++
    st.capturedSlotsPaid += slotsPaid
    solved.push({ requestId: bundle.requestId, secret })
    emit({ kind: 'attack', what: 'sybil-capture', slots: slots.length, slotsPaid, downloadedBytes: 0 })
    return plain
  }

  /**
   * Colluding mode: the partner slots' inner chunks over the collude protocol (not served), each checked against the
   * publisher's digest; a slot whose partner does not answer, or answers wrong, is left to be fetched as anyone would.
   */
  async function partnerSlots(bundle: Bundle, slots: Slot[], digests: Uint8Array[], signal?: AbortSignal): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>()
    for (let i = 0; i < slots.length; i++) {
      if (!partners.has(slots[i].cacheId)) continue
      try {
        const inner = await partnerInner(bundle, slots, i, signal)
        if (hex(sha256(inner)) === hex(digests[i])) out.set(i, inner)
        else log.warn('a partner\'s chunk does not match the publisher digest: fetching it', { cache: slots[i].cacheId })
      } catch (e) {
        if (signal?.aborted) throw e
        log.info('a partner did not hand over its slot: fetching it', { cache: slots[i].cacheId, reason: (e as Error).message.split('\n')[0] })
      }
    }
    return out
  }

  /** Colluding mode: try to solve with only the partners' chunks (honest slots zero-filled). Must fail. */
  function shortcut(bundle: Bundle, slots: Slot[], mine: Map<number, Uint8Array>, signal?: AbortSignal) {
    if (mine.size === 0) return
    st.shortcutAttempts++
    try {
      // Everything the colluding caches know: their chunks and their inner keys (from their tickets). The honest
      // caches' chunks are left out (zeros): the point of the attack is not to download them.
      const zeros: Uint8Array[] = bundle.entries.map((_, i) => mine.get(i) ?? new Uint8Array(bundle.manifest.chunkSize))
      emit({ kind: 'attack', what: 'shortcut', partnerSlots: mine.size, slots: slots.length })
      solveBundle({ bundle, innerChunks: zeros, signal })
      log.error('shortcut solved a puzzle without the honest chunks: CAPnet broken?')
    } catch (e) {
      if (e instanceof PuzzleUnsolvableError) { st.shortcutFailures++; emit({ kind: 'shortcut-failed' }) }
      else log.info('shortcut attempt failed', { reason: (e as Error).message.split('\n')[0] })
    }
  }

  async function fetchBundle(firstChunk: number, signal?: AbortSignal): Promise<{ chunks: Uint8Array[]; chunkCount: number; contentLength: number }> {
    const r = await ask({ type: 'bundle', contentId: o.contentId, firstChunk, avoid: [...avoid], solved: solved.splice(0, 8) }, signal)
    if (r.type === 'refuse') throw new CdnClientError(`publisher refused: ${r.reason}`, { code: 'CDN_REFUSED' })
    if (r.type !== 'bundle') throw new CdnClientError('publisher sent no bundle', { code: 'CDN_PROTOCOL' })
    const bundle = parseBundle(r.bundle)
    const n = bundle.entries.length
    if (r.caches.length !== n || r.orders.length !== n || r.innerDigests.length !== n) throw new CdnClientError('bundle reply is inconsistent', { code: 'CDN_PROTOCOL' })
    st.bundles++
    const slots: Slot[] = bundle.entries.map((e, i) => ({ cacheId: e.cacheId, addresses: r.caches[i].addresses, ticket: e.cacheTicket, order: r.orders[i] }))
    if (behaviour === 'colluding' && slots.every((s) => partners.has(s.cacheId))) {
      try {
        const plain = await capture(bundle, slots, signal)
        for (const p of plain) { st.chunksVerified++; st.bytesVerified += p.length }
        emit({ kind: 'bundle-done', chunks: plain.length, bytes: plain.reduce((a, p) => a + p.length, 0) })
        return { chunks: plain, chunkCount: bundle.manifest.chunkCount, contentLength: bundle.manifest.contentLength }
      } catch (e) {
        if (signal?.aborted) throw e
        log.warn('capture by the partner caches failed: fetching the bundle as anyone would', { reason: (e as Error).message.split('\n')[0] })
      }
    }
    const got: (Got | undefined)[] = new Array(n)
    // The accounting attack: the partners' slots over the collude protocol; only the honest slots are downloaded.
    const mine = behaviour === 'colluding' ? await partnerSlots(bundle, slots, r.innerDigests, signal) : new Map<number, Uint8Array>()
    if (mine.size > 0 && st.shortcutAttempts < (o.shortcutTries ?? 2)) shortcut(bundle, slots, mine, signal)
    for (const [i, inner] of mine) got[i] = { inner }

    const runSlot = async (i: number): Promise<void> => {
      if (got[i]) return
      for (let attempt = 0; ; attempt++) {
        try {
          got[i] = await fetchSlot(bundle, i, slots[i], r.innerDigests[i], signal)
          return
        } catch (e) {
          if (unpaying || signal?.aborted) throw e
          const reason = (e as Error).message.split('\n')[0]
          log.warn('slot failed', { cache: slots[i].cacheId, reason })
          if ((e as CdnClientError).code === 'CDN_BAD_CHUNK') { avoid.add(slots[i].cacheId); await transport.ban(slots[i].cacheId, reason).catch(() => {}) }
          if ((e as CdnClientError).code === 'CDN_REFUSED' && /unpaid/.test(reason)) throw e
          if (attempt >= 2) throw e
          avoid.add(slots[i].cacheId)
          const rep = await ask({ type: 'repair', requestId: bundle.requestId, slot: i, avoid: [...avoid], reason }, signal)
          if (rep.type !== 'repair') throw new CdnClientError(`repair refused: ${rep.type === 'refuse' ? rep.reason : rep.type}`, { code: 'CDN_REFUSED' })
          st.repairs++
          slots[i] = { cacheId: rep.cache.cacheId, addresses: rep.cache.addresses, ticket: rep.cacheTicket, order: rep.order }
          bundle.entries[i] = { ...bundle.entries[i], cacheId: rep.cache.cacheId, cacheTicket: rep.cacheTicket }
        }
      }
    }
    try {
      const results = await Promise.allSettled(bundle.entries.map((_, i) => runSlot(i)))
      const failed = results.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined
      if (failed) throw failed.reason
      const inner = got.map((g) => g!.inner)
      const t0 = clock.now()
      const { secret } = solveBundle({ bundle, innerChunks: inner, signal })
      st.solveMs += clock.now() - t0
      const plain = openBundle({ bundle, innerChunks: inner, secret })
      // The content of this bundle is ours now (solved, Merkle-checked). Handing each cache its proof is what gets
      // it paid; a cache that died or fails here costs us nothing: the others' claims (or our `solved[]` in the next
      // request) prove the bundle, so it can still late-claim if it comes back.
      const delivered = await Promise.allSettled(got.map(async (g) => {
        const stream = g!.stream
        if (!stream) return
        await sendMessage(stream, fetchCodec, { type: 'proof', secret }, { timeoutMs, signal })
        const ack = await readMessage(stream, fetchReplyCodec, { timeoutMs, signal })
        if (ack.header.type !== 'ack' || !ack.header.accepted) log.warn('cache did not accept our proof', { cache: stream.remotePeer })
        await stream.close()
      }))
      delivered.forEach((d, i) => {
        if (d.status === 'fulfilled') return
        st.proofsUndelivered++
        log.warn('could not hand a cache its proof (the content is ours anyway)', { cache: slots[i].cacheId, reason: (d.reason as Error).message.split('\n')[0] })
      })
      // The partners' slots, never served: each partner claims its slot with the secret the honest chunks paid for.
      if (mine.size > 0) {
        const paid = await Promise.all([...mine.keys()].map(async (i) => {
          try {
            const cs = await transport.dial(slots[i].addresses[0] ?? slots[i].cacheId, CDN_COLLUDE, { timeoutMs, signal })
            const x = await request(cs, collideCodec, collideReplyCodec, { contentId: o.contentId, chunkIndex: bundle.entries[i].chunkIndex, claim: { requestId: bundle.requestId, secret, captured: false } }, { timeoutMs, signal })
            releaseWhenRemoteEnds(cs, timeoutMs)
            return x.paid === true
          } catch (e) {
            log.info('a partner could not claim its slot', { cache: slots[i].cacheId, reason: (e as Error).message.split('\n')[0] })
            return false
          }
        }))
        const slotsPaid = paid.filter(Boolean).length
        st.unservedSlots += mine.size
        st.unservedSlotsPaid += slotsPaid
        emit({ kind: 'attack', what: 'unserved-slots', slots: n, partnerSlots: mine.size, slotsPaid, downloadedSlots: n - mine.size })
      }
      solved.push({ requestId: bundle.requestId, secret })
      for (const p of plain) { st.chunksVerified++; st.bytesVerified += p.length }
      emit({ kind: 'bundle-done', chunks: plain.length, bytes: plain.reduce((s, p) => s + p.length, 0) })
      return { chunks: plain, chunkCount: bundle.manifest.chunkCount, contentLength: bundle.manifest.contentLength }
    } finally {
      for (const g of got) if (g?.stream && !g.stream.closed) g.stream.abort()
    }
  }

  /** Free-rider mode: cut off under this identity, come back under a fresh one (nothing carried over). */
  async function whitewash(reason: string) {
    const previous = transport.peerId
    transport = await c.newIdentity!()
    st.identities++
    avoid.clear()
    solved = []
    const took = Object.values(st.unpaidFrom[previous] ?? {}).reduce((a, n) => a + n, 0)
    log.info('cut off: coming back under a fresh identity', { previous, identity: transport.peerId, reason })
    emit({ kind: 'attack', what: 'whitewash', previous, identity: transport.peerId, unpaidChunks: took, identities: st.identities, reason })
  }

  return {
    async fetchContent(opts) {
      const chunks: Uint8Array[] = []
      let first = 0
      let total = Infinity
      let length = 0
      let retries = 0
      try {
        while (first < total) {
          let b
          try {
            b = await fetchBundle(first, opts?.signal)
          } catch (e) {
            const reason = (e as Error).message.split('\n')[0]
            if (unpaying) {
              if (/refused/.test(reason)) {
                if (behaviour === 'free-rider' && st.identities < maxIdentities && c.newIdentity) {
                  await whitewash(reason)
                  continue
                }
                st.cutOff = reason
                emit({ kind: 'cut-off', reason })
                throw e
              }
              continue // the stingy client moves on to the next bundle without paying
            }
            // A bundle whose slots could not all be fetched (caches gone, repairs used up) is asked for again, with
            // the failed caches avoided; the publisher's refusal (no cache left, too many open bundles) or its
            // absence is final.
            if (opts?.signal?.aborted || /^publisher refused/.test(reason) || (e as CdnClientError).code === 'CDN_PUBLISHER_UNREACHABLE' || retries >= BUNDLE_RETRIES) throw e
            retries++
            st.bundleRetries++
            log.warn('bundle failed: asking for it again', { firstChunk: first, reason })
            continue
          }
          retries = 0
          chunks.push(...b.chunks)
          total = b.chunkCount
          length = b.contentLength
          first += b.chunks.length
        }
      } catch (e) {
        st.failed = (e as Error).message.split('\n')[0]
        throw e
      }
      const out = new Uint8Array(length)
      let off = 0
      for (const ch of chunks) { out.set(ch, off); off += ch.length }
      return out
    },
    stats: () => ({ ...st, bytesFrom: { ...st.bytesFrom }, unpaidFrom: Object.fromEntries(Object.entries(st.unpaidFrom).map(([k, v]) => [k, { ...v }])) }),
  }
}
