/**
 * The storage market's seam (`ServiceMarket`): roles `provider` and `client`, their adversaries, and `wire`, the
 * one wiring `souk node`, the tests and the testnet share. The contract's address comes in the role's configuration
 * (`storageMarket`), the chain and key in `RoleComponents.payments.context`; per-chunk upload and retrieval payments
 * use that scheme (lottery by default), storage itself is paid per proven period from the on-chain escrow.
 *
 * @example
 * ```ts
 * const provider = await storageMarket.wire('provider', components, StorageConfigSchema.parse({ storageMarket }))
 * const client = await storageMarket.wire('client', { ...components2, bootstrap: providerAddress }, StorageConfigSchema.parse({ storageMarket }))
 * await client.ready // deal made, opened, uploaded, activated
 * ```
 */
import { z } from 'zod'
import type { Address } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { offsetClock } from '../../core/clock.js'
import { SoukError } from '../../core/errors.js'
import { faucet } from '../../chain/deploy.js'
import { keySigner, marketDomain } from '../../market/sign.js'
import { createPayee, createPayer, fundPayer, schemeByName } from '../../payments/registry.js'
import type { PayeeSide, PayerSide } from '../../payments/types.js'
import type { RoleComponents, RoleHandle, ServiceEvent, ServiceMarket } from '../market.js'
import { makeContent } from '../cdn/market.js'
import { storageContract, type StorageChain } from './chain.js'
import { createStorageClient, type ClientResult, type StorageClient } from './client.js'
import { createStorageProvider, type StorageProvider } from './provider.js'
import { sqliteProviderStore } from './store.js'

export const STORAGE_ROLES = ['provider', 'client'] as const
export type StorageRole = (typeof STORAGE_ROLES)[number]
export const STORAGE_PROVIDER_BEHAVIOURS = ['honest', 'drop', 'one-replica', 'forge', 'refuse-retrieval'] as const
export const STORAGE_CLIENT_BEHAVIOURS = ['honest', 'stingy'] as const

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'a 0x-prefixed contract address').transform((s) => s.toLowerCase() as Address)

/** A storage role's configuration: node flags (`--opt key=value`), or a test's object. */
export const StorageConfigSchema = z.object({
  behaviour: z.enum([...STORAGE_PROVIDER_BEHAVIOURS, 'stingy']).default('honest'),
  /** The StorageMarket contract (the testnet deploys it and passes it on). */
  storageMarket: address,
  /** Provider: price of one MiB of one replica for one period, token units. */
  unitPrice: z.coerce.bigint().min(0n).default(10n ** 15n),
  /** Collateral as a multiple of the deal's total price (Sia's hosts post about 2x). */
  collateralMultiple: z.coerce.bigint().min(1n).default(2n),
  capacityBytes: z.coerce.number().int().min(1).default(1 << 30),
  ingestPricePerChunk: z.coerce.bigint().min(0n).default(10n ** 13n),
  retrievalPricePerChunk: z.coerce.bigint().min(0n).default(10n ** 13n),
  chunkSize: z.coerce.number().int().min(32).max(64 * 1024).refine((n) => n % 32 === 0, 'a multiple of 32').default(1024),
  minPeriodBlocks: z.coerce.number().int().min(1).default(4),
  minWindowBlocks: z.coerce.number().int().min(1).default(2),
  maxReplicas: z.coerce.number().int().min(1).max(64).default(8),
  /** Provider `drop`: the fraction of leaves it loses. */
  dropFraction: z.coerce.number().min(0).max(1).default(0.25),
  pollMs: z.coerce.number().int().min(1).default(200),
  /** Added to the clock's `now()`: when the clock counts from another origin than the chain's block times (the simulator). */
  clockOffsetMs: z.coerce.number().int().default(0),
  /** Client: the file (its size and seed: `makeContent`, so every process can check it), and the deal it asks for. */
  contentBytes: z.coerce.number().int().min(1).default(64 * 1024),
  contentSeed: z.string().default('souk-storage'),
  content: z.instanceof(Uint8Array).optional(),
  replicas: z.coerce.number().int().min(1).max(64).default(2),
  periods: z.coerce.number().int().min(1).default(6),
  periodBlocks: z.coerce.number().int().min(1).default(10),
  windowBlocks: z.coerce.number().int().min(1).max(256).default(6),
  /** Challenges a period: 16 detect a 1% loss within 30 periods with probability 0.992 (`challengesFor`). */
  challenges: z.coerce.number().int().min(1).max(64).default(16),
  activateWithinBlocks: z.coerce.number().int().min(1).default(200),
  maxPricePerPeriod: z.coerce.bigint().min(0n).default(10n ** 18n),
  stingyAfterChunks: z.coerce.number().int().min(0).default(2),
  retrieveAfterPeriods: z.coerce.number().int().min(0).default(1),
  /** How long the signed market deal is valid (ms). */
  dealMs: z.coerce.number().int().min(1).default(30 * 86_400_000),
})
export type StorageConfig = z.output<typeof StorageConfigSchema>

export interface StorageProviderHandle extends RoleHandle { role: 'provider'; provider: StorageProvider; payee: PayeeSide; chain: StorageChain }
export interface StorageClientHandle extends RoleHandle { role: 'client'; client: StorageClient; payer: PayerSide; chain: StorageChain; data: Uint8Array; result(): ClientResult }
export type StorageHandle = StorageProviderHandle | StorageClientHandle

export class StorageWiringError extends SoukError {
  override name = 'StorageWiringError'
}

function need<T>(v: T | undefined, what: string, role: StorageRole): T {
  if (v === undefined) throw new StorageWiringError(`A storage ${role} needs ${what}`, { code: 'STORAGE_WIRING', hints: [`pass RoleComponents.${what}`] })
  return v
}
const untilAborted = (signal: AbortSignal) => new Promise<void>((r) => { if (signal.aborted) r(); else signal.addEventListener('abort', () => r(), { once: true }) })

async function wireProvider(c: RoleComponents, cfg: StorageConfig): Promise<StorageProviderHandle> {
  const { scheme, context } = need(c.payments, 'payments', 'provider')
  const chain = storageContract(context.chain, context.key, { address: cfg.storageMarket, token: context.deployment.token })
  const me = privateKeyToAddress(context.key).toLowerCase() as Address
  // Dev chains: fake coins for the collateral of a full capacity's deals.
  if (context.chain.dev) await faucet(context.chain, context.key, context.deployment.token, me, 10n ** 21n)
  const payee = await createPayee(scheme, context)
  const provider = await createStorageProvider({
    transport: c.transport, chain, payee, signer: keySigner(context.key), store: sqliteProviderStore(c.openDb('storage')), clock: offsetClock(c.clock, cfg.clockOffsetMs), rng: c.rng, logger: c.logger, onEvent: c.onEvent,
  }, {
    marketDomain: marketDomain(context.chain.chainId, cfg.storageMarket), unitPrice: cfg.unitPrice, collateralMultiple: cfg.collateralMultiple, capacityBytes: cfg.capacityBytes,
    ingestPricePerChunk: cfg.ingestPricePerChunk, retrievalPricePerChunk: cfg.retrievalPricePerChunk, chunkSize: cfg.chunkSize, minPeriodBlocks: cfg.minPeriodBlocks,
    minWindowBlocks: cfg.minWindowBlocks, maxReplicas: cfg.maxReplicas, behaviour: cfg.behaviour === 'stingy' ? 'honest' : cfg.behaviour, dropFraction: cfg.dropFraction, pollMs: cfg.pollMs,
  })
  c.onEvent({ kind: 'offering', provider: me, unitPrice: cfg.unitPrice, capacityBytes: cfg.capacityBytes, behaviour: cfg.behaviour, ...(cfg.behaviour === 'drop' ? { dropFraction: cfg.dropFraction } : {}) })
  return {
    role: 'provider', provider, payee, chain, ready: Promise.resolve(),
    run: async ({ signal }) => { await provider.run(signal); await untilAborted(signal) },
    async stop() {
      await provider.stop()
      const s = await provider.settle().catch((e: unknown) => { c.logger.warn('could not settle the deals', { reason: (e as Error).message.split('\n')[0] }); return undefined })
      const settle = await payee.settle({ force: true }).catch(() => undefined)
      const e: ServiceEvent = { kind: 'stats', payee: me, stats: provider.stats(), storage: s, settle, payments: payee.stats() }
      c.onEvent(e)
      await payee.close()
      return e
    },
  }
}

async function wireClient(c: RoleComponents, cfg: StorageConfig): Promise<StorageClientHandle> {
  const { scheme, context } = need(c.payments, 'payments', 'client')
  const providerAddr = need(c.bootstrap, 'bootstrap', 'client')
  const chain = storageContract(context.chain, context.key, { address: cfg.storageMarket, token: context.deployment.token })
  const data = cfg.content ?? makeContent(cfg.contentBytes, cfg.contentSeed)
  const chunks = Math.ceil(data.length / cfg.chunkSize)
  // Per-chunk payments (upload and one retrieval), then the escrow of the deal, as fake coins on a dev chain.
  const plan = schemeByName(scheme).plan({ expectedPayments: 4 * chunks, payees: 1, pricePerPayment: cfg.ingestPricePerChunk > cfg.retrievalPricePerChunk ? cfg.ingestPricePerChunk : cfg.retrievalPricePerChunk })
  await fundPayer(scheme, { ...context, options: plan.fundOptions }, { deposit: plan.deposit })
  const me = privateKeyToAddress(context.key).toLowerCase() as Address
  if (context.chain.dev) await faucet(context.chain, context.key, context.deployment.token, me, cfg.maxPricePerPeriod * BigInt(cfg.periods))
  const payer = await createPayer(scheme, { ...context, options: plan.payerOptions })
  const reserve = plan.fundsEachPayee ? (payee: Address) => fundPayer(scheme, context, { deposit: 0n, reserves: [{ payee, amount: 10n ** 20n }] }) : undefined
  const client = await createStorageClient({
    transport: c.transport, chain, payer, signer: keySigner(context.key), clock: offsetClock(c.clock, cfg.clockOffsetMs), rng: c.rng, logger: c.logger, onEvent: c.onEvent, fundProvider: reserve,
  }, {
    marketDomain: marketDomain(context.chain.chainId, cfg.storageMarket), provider: providerAddr, data, replicas: cfg.replicas, periods: cfg.periods,
    periodBlocks: cfg.periodBlocks, windowBlocks: cfg.windowBlocks, challenges: cfg.challenges, activateWithinBlocks: cfg.activateWithinBlocks,
    collateralMultiple: cfg.collateralMultiple, maxPricePerPeriod: cfg.maxPricePerPeriod, chunkSize: cfg.chunkSize, behaviour: cfg.behaviour === 'stingy' ? 'stingy' : 'honest',
    stingyAfterChunks: cfg.stingyAfterChunks, dealMs: cfg.dealMs, pollMs: cfg.pollMs, retrieveAfterPeriods: cfg.retrieveAfterPeriods,
  })
  const ready = client.stored.then(() => {})
  ready.catch(() => {}) // the reason is in result().error; whoever awaits `ready` still sees the rejection
  return {
    role: 'client', client, payer, chain, data, ready, result: () => client.result(),
    run: ({ signal }) => client.run(signal),
    async stop() {
      await client.stop()
      const r = client.result()
      const e: ServiceEvent = { kind: 'stats', stats: r, error: r.error ?? (r.retrieved && !r.retrieved.ok ? `retrieval failed: ${r.retrieved.reason ?? 'the data did not match'}` : undefined) }
      c.onEvent(e)
      await payer.close()
      return e
    },
  }
}

export const storageMarket: ServiceMarket<StorageRole, StorageConfig, StorageHandle> = {
  name: 'storage',
  description: 'file storage: deals with escrow and provider collateral, proofs of storage verified on chain each period, paid upload and retrieval',
  roles: STORAGE_ROLES,
  adversaries: { provider: STORAGE_PROVIDER_BEHAVIOURS, client: STORAGE_CLIENT_BEHAVIOURS },
  paidRoles: STORAGE_ROLES,
  configSchema: StorageConfigSchema as unknown as z.ZodType<StorageConfig, unknown>,
  wire(role, components, config) {
    if (role === 'provider') return wireProvider(components, config)
    if (role === 'client') return wireClient(components, config)
    throw new StorageWiringError(`The storage market has no role ${JSON.stringify(role)}`, { code: 'UNKNOWN_ROLE' })
  },
}

