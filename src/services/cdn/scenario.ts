/**
 * One CDN market in one process, over any transport: a publisher, caches and clients wired to the real payment
 * scheme on a chain. Tests run it over the memory network and over libp2p with the same role code; the benchmark
 * reuses it. (The multi-process testnet wires the same roles in `src/node`.)
 *
 * @example
 * ```ts
 * const net = createMemoryNetwork()
 * const r = await runCdnScenario({ chain, deployment, newTransport: async () => net.createTransport(), caches: 2, clients: 2 })
 * r.clients.every((c) => c.ok) // true
 * ```
 */
import type { Address, Hex } from 'viem'
import type { SoukDeployment } from '../../payments/deploy.js'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../../chain/types.js'
import type { Clock } from '../../core/clock.js'
import { silentLogger, type Logger } from '../../core/logger.js'
import type { Transport } from '../../net/index.js'
import { createPayee, createPayer, fundPayer, schemeByName, type PaymentPlan } from '../../payments/index.js'
import type { SchemeName, SettleReport } from '../../payments/types.js'
import { createMutex } from '../../exchange/index.js'
import { createPublisher, type Publisher } from './publisher.js'
import { createCache, type Cache } from './cache.js'
import { createClient } from './client.js'
import { memoryChunkStore } from './store.js'
import { CAPNET_DEFAULT_PARAMS, type Rng } from '../../proofs/capnet/index.js'
import { forkRng } from '../../crypto/rng.js'
import type { CacheBehaviour, CacheStats, ClientBehaviour, ClientStats, EventSink, PublisherStats } from './types.js'

/** Default price per chunk: with the lottery's default face value this makes a few percent of tickets win. */
export const CDN_DEFAULT_PRICE_PER_CHUNK = 2n * 10n ** 14n
/** Default publisher deposit and per-cache reserve (fake coins on dev chains). */
export const CDN_DEFAULT_DEPOSIT = 10n ** 21n
export const CDN_DEFAULT_RESERVE = 10n ** 20n

export interface CdnScenarioOptions {
  chain: Chain
  deployment: SoukDeployment
  newTransport(role: string): Promise<Transport>
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
  /** Colluding client i partners with colluding cache partnerOf[i] (indices). */
  partnerOf?: Record<number, number>
  puzzle?: { rounds?: number; pieceSize?: number; cachesPerRequest?: number }
  logger?: Logger
  onEvent?: EventSink
  /** Run clients one after the other (default: all at once). */
  sequential?: boolean
  /** How to fund and configure the publisher's payer (default: the scheme's `plan` for clients × chunks). */
  plan?: PaymentPlan
  /** Called after the last claim landed, before the caches settle (e.g. mine past the draw blocks on a dev chain). */
  beforeSettle?(): Promise<void>
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
  const price = o.pricePerChunk ?? CDN_DEFAULT_PRICE_PER_CHUNK
  const transports: Transport[] = []
  const newT = async (role: string) => { const t = await o.newTransport(role); transports.push(t); return t }
  const pubKey = keys[0]
  const ctx = (key: Hex) => ({ chain: o.chain, deployment: o.deployment, key, logger: log })
  const chunkCount = Math.ceil(content.length / (o.chunkSize ?? CAPNET_DEFAULT_PARAMS.chunkSize))
  const plan = o.plan ?? schemeByName(scheme).plan({ expectedPayments: o.clients * chunkCount, payees: o.caches, pricePerPayment: price })
  await fundPayer(scheme, { ...ctx(pubKey), options: plan.fundOptions }, { deposit: plan.deposit > CDN_DEFAULT_DEPOSIT ? plan.deposit : CDN_DEFAULT_DEPOSIT })
  const payer = await createPayer(scheme, { ...ctx(pubKey), options: plan.payerOptions })
  const fundMutex = createMutex()
  const pt = await newT('publisher')
  let publisher: Publisher | undefined
  const caches: { cache: Cache; peer: string; payee: Address; behaviour: CacheBehaviour }[] = []
  const started = o.clock.now()
  try {
    publisher = await createPublisher({
      transport: pt, payer, clock: o.clock, rng: forkRng(o.rng, 'publisher'), logger: log, onEvent: o.onEvent,
      fundServer: plan.fundsEachPayee ? (payee) => fundMutex.run(() => fundPayer(scheme, ctx(pubKey), { deposit: 0n, reserves: [{ payee, amount: CDN_DEFAULT_RESERVE }] })) : undefined,
    }, {
      contentId: 'content', content, chunkSize: o.chunkSize,
      policy: { maxPricePerChunk: price, minCapacityBytes: 0, minCollateral: 0n, maxServers: o.caches },
      puzzle: o.puzzle,
    })
    const publisherAddr = pt.addresses()[0]
    const clientTs = await Promise.all(Array.from({ length: o.clients }, (_, i) => newT(`client-${i}`)))
    for (let i = 0; i < o.caches; i++) {
      const t = await newT(`cache-${i}`)
      const behaviour = o.cacheBehaviours?.[i] ?? 'honest'
      const partnerClient = Object.entries(o.partnerOf ?? {}).find(([, c]) => c === i)?.[0]
      const payee = await createPayee(scheme, ctx(keys[1 + i]))
      const cache = await createCache({ transport: t, payee, store: memoryChunkStore(), clock: o.clock, rng: forkRng(o.rng, `cache-${i}`), logger: log, onEvent: o.onEvent }, {
        publisher: publisherAddr, behaviour, partner: partnerClient !== undefined ? clientTs[Number(partnerClient)].peerId : undefined,
        offer: { pricePerChunk: price, floorPricePerChunk: price / 2n, capacityBytes: 1 << 30, collateral: 0n },
        lateClaimDelayMs: 500,
      })
      caches.push({ cache, peer: t.peerId, payee: privateKeyToAddress(keys[1 + i]), behaviour })
    }
    await Promise.all(caches.map((c) => c.cache.ready))
    const clients = clientTs.map((t, i) => {
      const behaviour = o.clientBehaviours?.[i] ?? 'honest'
      const partnerCache = o.partnerOf?.[i]
      return { behaviour, client: createClient({ transport: t, clock: o.clock, logger: log, onEvent: o.onEvent }, { publisher: publisherAddr, contentId: 'content', behaviour, partner: partnerCache !== undefined ? caches[partnerCache].peer : undefined }) }
    })
    const run = async (c: (typeof clients)[number]) => {
      try {
        const got = await c.client.fetchContent()
        return { ...c.client.stats(), behaviour: c.behaviour, ok: Buffer.compare(Buffer.from(got), Buffer.from(content)) === 0 }
      } catch (e) {
        return { ...c.client.stats(), behaviour: c.behaviour, ok: false, error: (e as Error).message.split('\n')[0] }
      }
    }
    const results: CdnScenarioResult['clients'] = []
    if (o.sequential) for (const c of clients) results.push(await run(c))
    else results.push(...(await Promise.all(clients.map(run))))
    // Let late claims (proof timeouts) and claims in flight finish, then redeem every winner.
    await o.clock.sleep(700)
    for (const c of caches) await c.cache.drain()
    await o.beforeSettle?.()
    const cacheResults: CdnScenarioResult['caches'] = []
    for (const c of caches) {
      const settle = await c.cache.settle({ force: true })
      cacheResults.push({ ...c.cache.stats(), peer: c.peer, payee: c.payee, behaviour: c.behaviour, settle })
    }
    return { content, publisher: publisher.stats(), caches: cacheResults, clients: results, elapsedMs: o.clock.now() - started }
  } finally {
    for (const c of caches) await c.cache.stop().catch(() => {})
    await publisher?.stop().catch(() => {})
    await Promise.all(transports.map((t) => t.stop().catch(() => {})))
  }
}
