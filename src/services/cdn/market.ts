/**
 * The CDN market as one `ServiceMarket` value: its three roles (publisher, cache, client), their adversarial
 * behaviours, and `wire`, the one wiring of a role from components that `src/node` (one role per process, libp2p,
 * SQLite), `runCdnScenario` (every role in one process) and the simulator share.
 *
 * @example
 * ```ts
import { cdnMarket } from './market.js'
 * const cfg = cdnMarket.configSchema.parse({ contentBytes: 1 << 20 })
 * const publisher = await cdnMarket.wire('publisher', { transport, clock, rng, logger, onEvent, openDb, payments }, cfg)
 * const client = await cdnMarket.wire('client', { transport: t2, clock, rng, logger, onEvent, openDb, bootstrap: addr }, cfg)
 * await client.run({ signal })
 * ```
 */
import { z } from 'zod'
import { keySigner, marketDomain } from '../../market/sign.js'
import { createReputation } from '../../market/reputation.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { sha256 } from '../../crypto/sha256.js'
import { createMutex } from '../../exchange/index.js'
import { createPayee, createPayer, fundPayer, schemeByName } from '../../payments/registry.js'
import type { PaymentPlan } from '../../payments/scheme.js'
import type { PayeeSide, PayerSide } from '../../payments/types.js'
import { CAPNET_DEFAULT_PARAMS } from '../../proofs/capnet/index.js'
import { SoukError } from '../../core/errors.js'
import type { RoleComponents, RoleHandle, ServiceEvent, ServiceMarket } from '../market.js'
import { createPublisher, type Publisher } from './publisher.js'
import { createCache, type Cache } from './cache.js'
import { createClient, type Client } from './client.js'
import { sqliteChunkStore } from './store.js'
import type { CacheBehaviour, ClientBehaviour, PublisherBehaviour } from './types.js'
import { privateKeyToAddress } from 'viem/accounts'

/** Default price per chunk: with the lottery's default face value this makes a few percent of tickets win. */
export const CDN_DEFAULT_PRICE_PER_CHUNK = 2n * 10n ** 14n
/** Default publisher deposit and per-cache reserve (fake coins on dev chains). */
export const CDN_DEFAULT_DEPOSIT = 10n ** 21n
export const CDN_DEFAULT_RESERVE = 10n ** 20n

export const CDN_ROLES = ['publisher', 'cache', 'client'] as const
export type CdnRole = (typeof CDN_ROLES)[number]
/** The behaviours of each CDN role, `honest` first (the others are its adversaries: docs/cdn.md#adversaries). */
export const CDN_ADVERSARIES = {
  publisher: ['honest', 'duplicate-numbers', 'void-tickets'],
  cache: ['honest', 'garbage', 'colluding'],
  client: ['honest', 'stingy', 'colluding', 'free-rider'],
} as const satisfies Record<CdnRole, readonly string[]>
/** Every behaviour a CDN peer can be started with (a role ignores the others' adversaries: they play honest). */
export const CDN_BEHAVIOURS = ['honest', 'garbage', 'colluding', 'stingy', 'free-rider', 'duplicate-numbers', 'void-tickets'] as const
/** `behaviour` as `role` plays it: one of its own, else honest. */
function behaviourOf<R extends CdnRole>(role: R, b: (typeof CDN_BEHAVIOURS)[number]): (typeof CDN_ADVERSARIES)[R][number] {
  return ((CDN_ADVERSARIES[role] as readonly string[]).includes(b) ? b : 'honest') as (typeof CDN_ADVERSARIES)[R][number]
}

/** A CDN role's configuration: node flags, or a test's object. */
export const CdnConfigSchema = z.object({
  behaviour: z.enum(CDN_BEHAVIOURS).default('honest'),
  /**
   * Colluding mode: the partners' peer ids (a client's caches, a cache's clients): one, a list, or a comma-separated
   * list. Several colluding caches sharing a client are Sybil caches of one operator.
   */
  partner: z.union([z.string(), z.array(z.string())]).optional(),
  /**
   * Colluding cache: partner slots on which it first tries forged claims (no secret, a made-up one; rejected, the
   * made-up ones caught and counted as missed proofs). 0: it plays the accounting attack only.
   */
  forgeTries: z.coerce.number().int().min(0).default(2),
  /** Free-rider client: fresh identities it takes at most once cut off (each from `RoleComponents.newIdentity`). */
  identities: z.coerce.number().int().min(0).default(4),
  /**
   * Publisher, microcash: the escrow's penalty deposit (funded as the scheme's `reserves`; half of it compensates
   * caches harmed by a duplicated number, docs/microcash.md). Default none.
   */
  penalty: z.coerce.bigint().min(0n).optional(),
  contentId: z.string().default('content'),
  /** Publisher: the content, or its size and seed (`makeContent`). */
  content: z.instanceof(Uint8Array).optional(),
  contentBytes: z.coerce.number().int().min(1).default(4 << 20),
  contentSeed: z.string().default('souk'),
  chunkSize: z.coerce.number().int().min(1).optional(),
  maxCaches: z.coerce.number().int().min(1).default(4),
  cachesPerRequest: z.coerce.number().int().min(1).max(64).optional(),
  puzzle: z.object({ rounds: z.number().int().optional(), pieceSize: z.number().int().optional() }).optional(),
  pricePerChunk: z.coerce.bigint().default(CDN_DEFAULT_PRICE_PER_CHUNK),
  /** Publisher: chunks it expects to pay per round, to size its payer (default 8 clients × the content). */
  expectedChunks: z.coerce.number().int().min(1).optional(),
  /** Publisher: how to fund and configure its payer (default: the scheme's `plan` for `expectedChunks`). */
  plan: z.custom<PaymentPlan>((v) => typeof v === 'object' && v !== null && 'deposit' in v).optional(),
  /** Cache: after a client vanished without proof, wait this long before a late claim. */
  lateClaimDelayMs: z.coerce.number().int().min(0).default(1_000),
  /** Cache: how often it redeems what is worth redeeming while it runs (ms). */
  settleEveryMs: z.coerce.number().int().min(1).default(30_000),
  /** Client: fetch the content this many times (at least), or keep fetching until `durationMs` ran out. */
  rounds: z.coerce.number().int().min(1).default(1),
  durationMs: z.coerce.number().int().min(0).default(0),
})
export type CdnConfig = z.output<typeof CdnConfigSchema>

export interface CdnPublisherHandle extends RoleHandle { role: 'publisher'; publisher: Publisher; payer: PayerSide; content: Uint8Array; behaviour: PublisherBehaviour }
export interface CdnCacheHandle extends RoleHandle { role: 'cache'; cache: Cache; payee: PayeeSide; behaviour: CacheBehaviour }
export interface CdnClientHandle extends RoleHandle {
  role: 'client'
  client: Client
  behaviour: ClientBehaviour
  /** Rounds fetched, the SHA-256 (hex) of the last content fetched, and why fetching stopped early. */
  result(): { rounds: number; sha256?: string; error?: string }
}
export type CdnHandle = CdnPublisherHandle | CdnCacheHandle | CdnClientHandle
type HandleOf<R extends CdnRole> = Extract<CdnHandle, { role: R }>

/** The component a role needs is missing (a cache without payments, a client without a publisher address). */
export class CdnWiringError extends SoukError {
  override name = 'CdnWiringError'
}

/** Deterministic content of `bytes` bytes from a seed, so every process can check a byte-exact delivery. */
export function makeContent(bytes: number, seed: string): Uint8Array {
  const out = new Uint8Array(bytes)
  let block = sha256(new TextEncoder().encode(`souk-content:${seed}`))
  for (let off = 0; off < bytes; off += 32) {
    out.set(block.subarray(0, Math.min(32, bytes - off)), off)
    block = sha256(block)
  }
  return out
}

/** SHA-256 of `b` as lower-case hex without a prefix (what `content` events carry). */
export const contentDigest = (b: Uint8Array): string => bytesToHex(sha256(b)).slice(2)

const untilAborted = (signal: AbortSignal) => new Promise<void>((r) => { if (signal.aborted) r(); else signal.addEventListener('abort', () => r(), { once: true }) })
const firstLine = (e: unknown) => (e as Error).message.split('\n')[0]

function need<T>(v: T | undefined, what: string, role: CdnRole): T {
  if (v === undefined) throw new CdnWiringError(`A CDN ${role} needs ${what}`, { code: 'CDN_WIRING', hints: [`pass RoleComponents.${what}`] })
  return v
}

/**
 * A cheating publisher acts through its payer (the payment layer's `unsafeAdversary` option, simulation only):
 * `duplicate-numbers` needs microcash, `void-tickets` the lottery. Each attempt is reported as an `attack` event.
 */
function publisherAdversary(behaviour: PublisherBehaviour, scheme: string, c: RoleComponents): Record<string, unknown> {
  if (behaviour === 'honest') return {}
  const want = behaviour === 'duplicate-numbers' ? 'microcash' : 'lottery'
  if (scheme !== want) throw new CdnWiringError(`A ${behaviour} publisher needs the ${want} scheme, not ${scheme}`, { code: 'CDN_WIRING', hints: [`run it with scheme ${want}`] })
  const onAttack = (e: { what: string }) => c.onEvent({ kind: 'attack', ...e })
  return { unsafeAdversary: behaviour === 'duplicate-numbers' ? { duplicateNumbers: true, onAttack } : { voidTickets: true, onAttack } }
}

async function wirePublisher(c: RoleComponents, cfg: CdnConfig): Promise<CdnPublisherHandle> {
  const { scheme, context } = need(c.payments, 'payments', 'publisher')
  const content = cfg.content ?? makeContent(cfg.contentBytes, cfg.contentSeed)
  const chunkCount = Math.ceil(content.length / (cfg.chunkSize ?? CAPNET_DEFAULT_PARAMS.chunkSize))
  // The scheme sizes the payer for this run (microcash: an escrow with a handful of winners, not the default).
  const plan = cfg.plan ?? schemeByName(scheme).plan({ expectedPayments: cfg.expectedChunks ?? 8 * chunkCount, payees: cfg.maxCaches, pricePerPayment: cfg.pricePerChunk })
  const behaviour = behaviourOf('publisher', cfg.behaviour)
  const me = privateKeyToAddress(context.key)
  // microcash: the sum of `reserves` is the escrow's penalty deposit (the payee named does not matter).
  const reserves = scheme === 'microcash' && cfg.penalty ? [{ payee: me, amount: cfg.penalty }] : undefined
  await fundPayer(scheme, { ...context, options: plan.fundOptions }, { deposit: plan.deposit > CDN_DEFAULT_DEPOSIT ? plan.deposit : CDN_DEFAULT_DEPOSIT, reserves })
  const payer = await createPayer(scheme, { ...context, options: { ...plan.payerOptions, ...publisherAdversary(behaviour, scheme, c) } })
  const fundMutex = createMutex()
  const publisher = await createPublisher({
    transport: c.transport, payer, signer: keySigner(context.key), reputation: createReputation({ clock: c.clock }), clock: c.clock, rng: c.rng, logger: c.logger, onEvent: c.onEvent,
    fundServer: plan.fundsEachPayee ? (payee) => fundMutex.run(() => fundPayer(scheme, context, { deposit: 0n, reserves: [{ payee, amount: CDN_DEFAULT_RESERVE }] })) : undefined,
  }, {
    contentId: cfg.contentId, content, chunkSize: cfg.chunkSize, marketDomain: marketDomain(context.chain.chainId),
    policy: { maxPricePerChunk: cfg.pricePerChunk, minCapacityBytes: 0, minCollateral: 0n, maxServers: cfg.maxCaches },
    puzzle: { ...cfg.puzzle, cachesPerRequest: cfg.cachesPerRequest },
  })
  c.onEvent({ kind: 'published', bytes: content.length, sha256: contentDigest(content), chunks: publisher.manifest.chunkCount, payer: payer.address, scheme, ...(plan.facts ? { plan: plan.facts } : {}) })
  return {
    role: 'publisher', publisher, payer, content, behaviour, ready: Promise.resolve(),
    run: ({ signal }) => untilAborted(signal),
    async stop() {
      const e: ServiceEvent = { kind: 'stats', stats: publisher.stats() }
      c.onEvent(e)
      await publisher.stop()
      await payer.close()
      return e
    },
  }
}

async function wireCache(c: RoleComponents, cfg: CdnConfig): Promise<CdnCacheHandle> {
  const { scheme, context } = need(c.payments, 'payments', 'cache')
  const publisherAddr = need(c.bootstrap, 'bootstrap', 'cache')
  const behaviour: CacheBehaviour = behaviourOf('cache', cfg.behaviour)
  const payee = await createPayee(scheme, context)
  // A restart: redeem what the store holds from before, whether or not the publisher takes us back (a chain that
  // cannot be reached now leaves it stored for the settle at stop).
  const recovered = await payee.settle({ force: true }).catch((e) => { c.logger.warn('could not settle stored payments at start', { reason: firstLine(e) }); return undefined })
  if (recovered && (recovered.settled > 0 || recovered.pending > 0 || (recovered.lostCount ?? 0) > 0)) c.onEvent({ kind: 'recovered', settle: recovered })
  const store = sqliteChunkStore(c.openDb('chunks'))
  const cache = await createCache({ transport: c.transport, payee, signer: keySigner(context.key), store, clock: c.clock, rng: c.rng, logger: c.logger, onEvent: c.onEvent, chainProbe: () => context.chain.blockNumber() }, {
    publisher: publisherAddr, behaviour, partner: cfg.partner, forgeTries: cfg.forgeTries, marketDomain: marketDomain(context.chain.chainId),
    offer: { pricePerChunk: cfg.pricePerChunk, floorPricePerChunk: cfg.pricePerChunk / 2n, capacityBytes: 1 << 30, collateral: 0n },
    lateClaimDelayMs: cfg.lateClaimDelayMs,
  })
  return {
    role: 'cache', cache, payee, behaviour, ready: cache.ready,
    async run({ signal }) {
      await Promise.race([cache.ready.catch(() => {}), untilAborted(signal)])
      // A long-running cache redeems as it goes (when a batch is worth its gas, or its winners hold half the payer's
      // reserve), not only at stop: unredeemed winners beyond the reserve would make its payee refuse every ticket.
      while (!signal.aborted) {
        await c.clock.sleep(cfg.settleEveryMs, { signal }).catch(() => {})
        if (signal.aborted) break
        await cache.settle().catch((e: unknown) => c.logger.warn('periodic settle failed; retrying later', { reason: firstLine(e) }))
      }
    },
    async stop() {
      await cache.stop()
      await cache.drain()
      const settle = await cache.settle({ force: true })
      const e: ServiceEvent = { kind: 'stats', payee: payee.address, stats: cache.stats(), settle, payments: payee.stats() }
      c.onEvent(e)
      await payee.close()
      store.close?.()
      return e
    },
  }
}

async function wireClient(c: RoleComponents, cfg: CdnConfig): Promise<CdnClientHandle> {
  const publisherAddr = need(c.bootstrap, 'bootstrap', 'client')
  const behaviour: ClientBehaviour = behaviourOf('client', cfg.behaviour)
  if (behaviour === 'free-rider' && cfg.identities > 0) need(c.newIdentity, 'newIdentity', 'client')
  const client = createClient({ transport: c.transport, clock: c.clock, logger: c.logger, onEvent: c.onEvent, newIdentity: c.newIdentity }, { publisher: publisherAddr, contentId: cfg.contentId, behaviour, partner: cfg.partner, identities: cfg.identities })
  let rounds = 0
  let digest: string | undefined
  let error: string | undefined
  return {
    role: 'client', client, behaviour, ready: Promise.resolve(),
    async run({ signal }) {
      const start = c.clock.now()
      while (!signal.aborted && (rounds < cfg.rounds || (cfg.durationMs > 0 && c.clock.now() - start < cfg.durationMs))) {
        try {
          const got = await client.fetchContent({ signal })
          digest = contentDigest(got)
          c.onEvent({ kind: 'content', round: rounds, bytes: got.length, sha256: digest })
        } catch (e) {
          error = firstLine(e)
          c.onEvent({ kind: 'fetch-failed', round: rounds, reason: error })
          break
        }
        rounds++
      }
    },
    result: () => ({ rounds, sha256: digest, error }),
    async stop() {
      const e: ServiceEvent = { kind: 'stats', stats: client.stats(), rounds, error }
      c.onEvent(e)
      return e
    },
  }
}

function wire<R extends CdnRole>(role: R, components: RoleComponents, config: CdnConfig): Promise<HandleOf<R>>
function wire(role: CdnRole, components: RoleComponents, config: CdnConfig): Promise<CdnHandle> {
  if (role === 'publisher') return wirePublisher(components, config)
  if (role === 'cache') return wireCache(components, config)
  if (role === 'client') return wireClient(components, config)
  throw new CdnWiringError(`Unknown CDN role ${String(role)}`, { code: 'CDN_WIRING', hints: [`one of ${CDN_ROLES.join(', ')}`] })
}

/** The CDN market (docs/cdn.md). */
export const cdnMarket = {
  name: 'cdn',
  description: 'a publisher pays caches per chunk delivered to its clients, proven by CAPnet puzzles',
  roles: CDN_ROLES,
  adversaries: CDN_ADVERSARIES,
  paidRoles: ['publisher', 'cache'],
  configSchema: CdnConfigSchema,
  wire,
} satisfies ServiceMarket<CdnRole, CdnConfig, CdnHandle>
