/**
 * One CDN market in one process, over any transport: a publisher, caches and clients wired by `cdnMarket.wire` (the
 * same wiring `src/node` runs one role per process with) to the real payment scheme on a chain. Tests run it over
 * the memory network and over libp2p with the same role code; the benchmark reuses it. It creates nothing: the
 * caller passes the transports, the chain, the clock and the root rng (each role gets `forkRng(rng, name)`).
 *
 * Determinism: with the memory transport, a `manualClock`, a `seededRng` and `sequential`, two runs report the
 * same protocol events (docs/cdn.md, "Determinism"; `determinism.test.ts`).
 *
 * @example
 * ```ts
 * const net = createMemoryNetwork()
 * const r = await runCdnScenario({ chain, deployment, newTransport: async (name) => net.createTransport({ peerId: name }), clock: systemClock(), rng: systemRng, caches: 2, clients: 2 })
 * r.clients.every((c) => c.ok) // true
 * ```
 */
import { setMaxListeners } from 'node:events'
import type { Address, Hex } from 'viem'
import type { SoukDeployment } from '../../payments/deploy.js'
import type { Chain } from '../../chain/types.js'
import type { Clock } from '../../core/clock.js'
import { openDatabase } from '../../core/db.js'
import { silentLogger, type Logger } from '../../core/logger.js'
import { forkRng, type Rng } from '../../crypto/rng.js'
import type { Transport } from '../../net/index.js'
import type { PaymentPlan } from '../../payments/scheme.js'
import type { SchemeName, SettleReport } from '../../payments/types.js'
import type { RoleComponents } from '../market.js'
import { cdnMarket, CdnConfigSchema, contentDigest, type CdnCacheHandle, type CdnClientHandle, type CdnConfig, type CdnHandle, type CdnRole } from './market.js'
import type { CacheBehaviour, CacheStats, ClientBehaviour, ClientStats, EventSink, PublisherBehaviour, PublisherStats } from './types.js'

export { CDN_DEFAULT_PRICE_PER_CHUNK, CDN_DEFAULT_DEPOSIT, CDN_DEFAULT_RESERVE } from './market.js'

export interface CdnScenarioOptions {
  chain: Chain
  deployment: SoukDeployment
  /** A transport for the peer `name` ('publisher', 'cache-0', 'client-1'...). */
  newTransport(name: string): Promise<Transport>
  /** Every role's clock (a `manualClock` in simulations; the caller's `systemClock()` otherwise). */
  clock: Clock
  /** Root of every role's random stream (`forkRng(rng, role)`): a `seededRng` replays a run. */
  rng: Rng
  caches: number
  clients: number
  contentBytes?: number
  chunkSize?: number
  content?: Uint8Array
  scheme?: SchemeName
  pricePerChunk?: bigint
  /** Keys: publisher, then caches (default: the chain's dev keys 1..). */
  keys?: Hex[]
  cacheBehaviours?: CacheBehaviour[]
  clientBehaviours?: ClientBehaviour[]
  /** Colluding client i partners with colluding cache(s) partnerOf[i] (indices; several: Sybil caches of one operator). */
  partnerOf?: Record<number, number | number[]>
  /** The publisher's behaviour (`duplicate-numbers` with microcash, `void-tickets` with the lottery). */
  publisherBehaviour?: PublisherBehaviour
  /** microcash: the escrow's penalty deposit (CdnConfig.penalty). */
  penalty?: bigint
  /** Each client fetches the content this many times (default 1). */
  rounds?: number
  /** Free-rider clients: fresh identities each may take (CdnConfig.identities). */
  identities?: number
  /** Colluding caches: partner slots they try forged claims on first (CdnConfig.forgeTries, default 2). */
  forgeTries?: number
  puzzle?: { rounds?: number; pieceSize?: number; cachesPerRequest?: number }
  logger?: Logger
  onEvent?: EventSink
  /** Caches join, then clients fetch, one after the other (default: all at once). */
  sequential?: boolean
  /** How to fund and configure the publisher's payer (default: the scheme's `plan` for clients × chunks). */
  plan?: PaymentPlan
  /** Called after the last claim landed, before the caches settle (e.g. mine past the draw blocks on a dev chain). */
  beforeSettle?(): Promise<void>
  /**
   * Lets `ms` of the roles' time pass once the clients are done, so late-claim timers fire: by default
   * `clock.sleep(ms)`; a run on a `manualClock` advances it instead (`async (ms) => clock.advance(ms)`).
   */
  passTime?(ms: number): Promise<void>
}

export interface CdnScenarioResult {
  content: Uint8Array
  publisher: PublisherStats
  caches: (CacheStats & { peer: string; payee: Address; behaviour: CacheBehaviour; settle?: SettleReport })[]
  clients: (ClientStats & { behaviour: ClientBehaviour; ok: boolean; error?: string })[]
  elapsedMs: number
}

/** Re-exported for the tests and callers that mined past a microcash draw through the scenario. */
export { minePastCurrentDraw } from '../../payments/microcash/index.js'

/** Runs the scenario to completion (every client done), settles every cache with `force`, stops everything. */
export async function runCdnScenario(o: CdnScenarioOptions): Promise<CdnScenarioResult> {
  const log = o.logger ?? silentLogger()
  const scheme = o.scheme ?? 'lottery'
  const keys = o.keys ?? o.chain.devKeys.slice(1)
  const content = o.content ?? new Uint8Array(Buffer.alloc(o.contentBytes ?? 1 << 20).map((_, i) => (i * 31 + (i >> 10)) & 0xff))
  const transports: Transport[] = []
  const handles: CdnHandle[] = []
  const dbs: ReturnType<typeof openDatabase>[] = []
  const base = CdnConfigSchema.parse({
    content, chunkSize: o.chunkSize, pricePerChunk: o.pricePerChunk, maxCaches: o.caches, cachesPerRequest: o.puzzle?.cachesPerRequest,
    puzzle: o.puzzle ? { rounds: o.puzzle.rounds, pieceSize: o.puzzle.pieceSize } : undefined,
    expectedChunks: o.clients * Math.ceil(content.length / (o.chunkSize ?? 128 * 1024)), plan: o.plan, lateClaimDelayMs: 500,
    rounds: o.rounds, identities: o.identities, penalty: o.penalty, forgeTries: o.forgeTries,
  })
  const partnersOf = (client: number): number[] => { const p = o.partnerOf?.[client]; return p === undefined ? [] : Array.isArray(p) ? p : [p] }
  const components = async (name: string, role: CdnRole, key: Hex | undefined, bootstrap: string | undefined): Promise<RoleComponents> => {
    const transport = await o.newTransport(name)
    transports.push(transport)
    const logger = log.child(name)
    return {
      transport, clock: o.clock, rng: forkRng(o.rng, name), logger, bootstrap,
      onEvent: (e) => o.onEvent?.({ ...e, role, name }),
      openDb: () => { const db = openDatabase(':memory:'); dbs.push(db); return db },
      payments: key ? { scheme, context: { chain: o.chain, deployment: o.deployment, key, clock: o.clock, rng: forkRng(o.rng, `${name}:payments`), logger } } : undefined,
    }
  }
  const wire = async <R extends CdnRole>(role: R, name: string, key: Hex | undefined, bootstrap: string | undefined, cfg: CdnConfig) => {
    const h = await cdnMarket.wire(role, await components(name, role, key, bootstrap), cfg)
    handles.push(h)
    return h
  }
  const started = o.clock.now()
  try {
    const publisher = await wire('publisher', 'publisher', keys[0], undefined, { ...base, behaviour: o.publisherBehaviour ?? 'honest' })
    const publisherAddr = transports[0].addresses()[0]
    // Clients' transports first: a colluding cache is told its partner client's peer id.
    const clientTs = await Promise.all(Array.from({ length: o.clients }, async (_, i) => { const t = await o.newTransport(`client-${i}`); transports.push(t); return t }))
    const caches: { h: CdnCacheHandle; peer: string; payee: Address }[] = []
    for (let i = 0; i < o.caches; i++) {
      const partnerClients = clientTs.filter((_, k) => partnersOf(k).includes(i)).map((t) => t.peerId)
      const h = await wire('cache', `cache-${i}`, keys[1 + i], publisherAddr, {
        ...base, behaviour: o.cacheBehaviours?.[i] ?? 'honest', partner: partnerClients.length > 0 ? partnerClients : undefined,
      })
      caches.push({ h, peer: transports[transports.length - 1].peerId, payee: h.payee.address })
      if (o.sequential) await h.ready
    }
    await Promise.all(caches.map((c) => c.h.ready))
    const clients: CdnClientHandle[] = []
    for (const [i, t] of clientTs.entries()) {
      const partnerCaches = partnersOf(i).map((k) => caches[k].peer)
      const cfg: CdnConfig = { ...base, behaviour: o.clientBehaviours?.[i] ?? 'honest', partner: partnerCaches.length > 0 ? partnerCaches : undefined }
      const name = `client-${i}`
      let identity = 0
      const h = await cdnMarket.wire('client', {
        transport: t, clock: o.clock, rng: forkRng(o.rng, name), logger: log.child(name), bootstrap: publisherAddr,
        onEvent: (e) => o.onEvent?.({ ...e, role: 'client', name }), openDb: () => openDatabase(':memory:'),
        // A free rider's fresh identities: new peers on the same network, stopped with the others.
        newIdentity: async () => { const n = await o.newTransport(`${name}~${++identity}`); transports.push(n); return n },
      }, cfg)
      handles.push(h)
      clients.push(h)
    }
    const digest = contentDigest(content)
    // One signal shared by every client's concurrent reads (one listener each while a read waits): no limit on them.
    const signal = new AbortController().signal
    setMaxListeners(0, signal)
    const run = async (h: CdnClientHandle): Promise<CdnScenarioResult['clients'][number]> => {
      await h.run({ signal })
      const r = h.result()
      return { ...h.client.stats(), behaviour: h.behaviour, ok: r.error === undefined && r.sha256 === digest, ...(r.error !== undefined ? { error: r.error } : {}) }
    }
    const results: CdnScenarioResult['clients'] = []
    if (o.sequential) for (const h of clients) results.push(await run(h))
    else results.push(...(await Promise.all(clients.map(run))))
    // Let late claims (proof timeouts) and claims in flight finish, then redeem every winner.
    await (o.passTime ?? ((ms: number) => o.clock.sleep(ms)))(700)
    for (const c of caches) await c.h.cache.drain()
    await o.beforeSettle?.()
    const cacheResults: CdnScenarioResult['caches'] = []
    for (const c of caches) {
      const e = await c.h.stop()
      handles.splice(handles.indexOf(c.h), 1)
      cacheResults.push({ ...c.h.cache.stats(), peer: c.peer, payee: c.payee, behaviour: c.h.behaviour, settle: e.settle as SettleReport })
    }
    return { content, publisher: publisher.publisher.stats(), caches: cacheResults, clients: results, elapsedMs: o.clock.now() - started }
  } finally {
    for (const h of handles.reverse()) await h.stop().catch(() => {})
    await Promise.all(transports.map((t) => t.stop().catch(() => {})))
    for (const db of dbs) if (db.open) db.close()
  }
}
