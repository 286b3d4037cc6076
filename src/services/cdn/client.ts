/**
 * The client: asks the publisher for bundles, fetches each bundle's chunks from its caches in parallel, sends each
 * cache the payment message (the publisher's order) to get the outer key, checks every peeled chunk against the
 * publisher's digest (a cache serving garbage is caught here, banned, and its slot re-assigned), solves the puzzle,
 * recovers the plaintext (every chunk checked against the Merkle root) and hands the secret to the caches as proof.
 *
 * Behaviours: `honest`; `stingy` (takes chunks, never sends the payment message or a proof: must be cut off after one
 * chunk per cache); `colluding` (with a colluding cache: first tries to solve without downloading the honest caches'
 * chunks, which must fail, then has to download them like anyone else).
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
  CDN_COLLUDE, CDN_FETCH, CDN_REQUEST, collideCodec, collideReplyCodec, fetchCodec, fetchReplyCodec, hex, requestCodec, requestReplyCodec, type PayOrder,
} from './protocol.js'
import type { ClientBehaviour, ClientStats, EventSink } from './types.js'
import { releaseWhenRemoteEnds } from '../../exchange/index.js'

export interface ClientComponents {
  transport: Transport
  /** Measures `solveMs`. */
  clock: Clock
  logger: Logger
  onEvent?: EventSink
}

export interface ClientOptions {
  publisher: string
  contentId: string
  behaviour?: ClientBehaviour
  /** Colluding mode: the colluding cache's peer id. */
  partner?: PeerId
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
interface Got { stream: MessageStream; inner: Uint8Array }

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
  const { transport, clock } = c
  const log = c.logger.child('client')
  const emit = c.onEvent ?? (() => {})
  const behaviour = o.behaviour ?? 'honest'
  const timeoutMs = o.timeoutMs ?? 30_000
  const st: ClientStats = { bundles: 0, chunksVerified: 0, bytesVerified: 0, bytesFrom: {}, solveMs: 0, badChunks: 0, repairs: 0, proofsUndelivered: 0, bundleRetries: 0, shortcutAttempts: 0, shortcutFailures: 0, unpaidChunks: 0 }
  const avoid = new Set<string>()
  const solved: { requestId: Uint8Array; secret: Uint8Array }[] = []

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
      if (behaviour === 'stingy') {
        st.unpaidChunks++
        stream.abort()
        throw new CdnClientError('stingy client: not paying', { code: 'CDN_STINGY' })
      }
      await sendMessage(stream, fetchCodec, { type: 'pay', order: s.order })
      const k = await readMessage(stream, fetchReplyCodec, { timeoutMs, signal })
      if (k.header.type === 'refuse') throw new CdnClientError(`cache refused: ${k.header.reason}`, { code: 'CDN_REFUSED' })
      if (k.header.type !== 'key') throw new CdnClientError('cache did not release the outer key', { code: 'CDN_NO_KEY' })
      const inner = peelOuterLayer(served, k.header.outerKey, bundle.requestId, entry.chunkIndex)
      if (hex(sha256(inner)) !== hex(digest)) {
        st.badChunks++
        throw new CdnClientError('chunk does not match the publisher digest (garbage)', { code: 'CDN_BAD_CHUNK' })
      }
      return { stream, inner }
    } catch (e) {
      stream.abort(e as Error)
      throw e
    }
  }

  /** Colluding mode: try to solve with only the partner's chunk (honest slots zero-filled). Must fail. */
  async function shortcut(bundle: Bundle, slots: Slot[], signal?: AbortSignal) {
    const mine = slots.findIndex((s) => s.cacheId === o.partner)
    if (mine < 0) return
    st.shortcutAttempts++
    try {
      const cs = await transport.dial(slots[mine].addresses[0] ?? o.partner!, CDN_COLLUDE, { timeoutMs, signal })
      const e = bundle.entries[mine]
      const { cacheSecret, chunk } = await request(cs, collideCodec, collideReplyCodec, { contentId: o.contentId, chunkIndex: e.chunkIndex }, { timeoutMs, signal })
      // Everything the colluding cache knows: its chunk and its inner key (from its ticket). The honest caches'
      // chunks are left out (zeros): the point of the attack is not to download them.
      const innerKey = openCacheTicket(e.cacheTicket, cacheSecret, bundle.requestId, e.chunkIndex)
      const zeros: Uint8Array[] = bundle.entries.map(() => new Uint8Array(bundle.manifest.chunkSize))
      zeros[mine] = encryptLayer(padChunk(chunk, bundle.manifest.chunkSize), { key: innerKey, requestId: bundle.requestId, chunkIndex: e.chunkIndex, layer: 'inner' })
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
    if (behaviour === 'colluding' && st.shortcutAttempts < (o.shortcutTries ?? 2)) await shortcut(bundle, slots, signal)

    const got: (Got | undefined)[] = new Array(n)
    const runSlot = async (i: number): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          got[i] = await fetchSlot(bundle, i, slots[i], r.innerDigests[i], signal)
          return
        } catch (e) {
          if (behaviour === 'stingy' || signal?.aborted) throw e
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
        await sendMessage(g!.stream, fetchCodec, { type: 'proof', secret }, { timeoutMs, signal })
        const ack = await readMessage(g!.stream, fetchReplyCodec, { timeoutMs, signal })
        if (ack.header.type !== 'ack' || !ack.header.accepted) log.warn('cache did not accept our proof', { cache: g!.stream.remotePeer })
        await g!.stream.close()
      }))
      delivered.forEach((d, i) => {
        if (d.status === 'fulfilled') return
        st.proofsUndelivered++
        log.warn('could not hand a cache its proof (the content is ours anyway)', { cache: slots[i].cacheId, reason: (d.reason as Error).message.split('\n')[0] })
      })
      solved.push({ requestId: bundle.requestId, secret })
      for (const p of plain) { st.chunksVerified++; st.bytesVerified += p.length }
      emit({ kind: 'bundle-done', chunks: plain.length, bytes: plain.reduce((s, p) => s + p.length, 0) })
      return { chunks: plain, chunkCount: bundle.manifest.chunkCount, contentLength: bundle.manifest.contentLength }
    } finally {
      for (const g of got) if (g && !g.stream.closed) g.stream.abort()
    }
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
            if (behaviour === 'stingy') {
              if (/refused/.test(reason)) { st.cutOff = reason; emit({ kind: 'cut-off', reason }); throw e }
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
    stats: () => ({ ...st, bytesFrom: { ...st.bytesFrom } }),
  }
}
