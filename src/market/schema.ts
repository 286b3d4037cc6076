/**
 * One schema family for every service market: an **Offer** (a server sells), an **Ask** (a buyer wants) and a
 * **Deal** (both signed the same terms). Each is a zod schema (the trust boundary: every message from a peer is
 * parsed by it), an EIP-712 type (`sign.ts`: a contract can verify a deal) and a TypeScript type.
 *
 * Spec:
 * - A **resource vector** says how much: `bytes` (stored or served), `bandwidthBps`, `durationSec`, `computeUnits`.
 *   An offer states its capacity, an ask its need; an ask fits an offer when every component fits.
 * - A **usage vector** says what is billed: `chunks`, `bytes`, `byteSeconds`, `units`, `seconds` (bigint counts).
 * - A **price model** is linear over the usage vector: `base + Σ ceil(rate.price × usage[rate.usage] / rate.per)`.
 *   `per` keeps prices integral (e.g. a price per GiB-month is `{ usage: 'byteSeconds', price, per: 2^30 × 2592000 }`).
 *   Its `kind` names the common shapes and is checked against its rates: `per-chunk` (only `chunks`),
 *   `per-byte-time` (only `byteSeconds`), `per-unit` (only `units`), `linear` (any, each usage at most once).
 * - Offers and asks carry the signer's **sequence number**: a peer keeps the highest it has seen per signer and
 *   service, and refuses a lower or equal one as replayed (a newer offer replaces an older one). Both **expire**
 *   (`expiresAt`, unix ms): an expired one is refused and nothing is reserved for it.
 * - A **deal** names the offer and ask it came from by their EIP-712 hashes, the agreed price model and usage, the
 *   collateral, the payment scheme, its time span, and a nonce; it is valid only with both signatures.
 *
 * Bounds (`LIMITS`) refuse absurd values at parse time: a price or collateral above 2^128, more than 16 addresses,
 * a region or capability string over 32 characters, an expiry more than a year ahead of `now` (checked in
 * `check.ts`, where the clock is).
 *
 * @example
 * ```ts
 * import { OfferSchema, priceOf } from './schema.js'
 * const offer = OfferSchema.parse(messageFromPeer)           // throws on anything malformed
 * priceOf(offer.price, { chunks: 100n })                     // what 100 chunks cost at this offer
 * ```
 */
import { z } from 'zod'
import type { Address, Hex } from 'viem'
import { zAddress, zSig } from '../payments/schemas.js'

export const LIMITS = {
  /** Largest price, rate, collateral or usage count (2^128 - 1): far above any real value, far below overflow. */
  maxAmount: (1n << 128n) - 1n,
  maxAddresses: 16,
  maxCapabilities: 32,
  maxRegions: 32,
  maxSchemes: 8,
  maxStringLength: 32,
  /** Longest time to expiry accepted for an offer or ask (ms). */
  maxLifetimeMs: 365 * 24 * 3600 * 1000,
  /** Most servers one ask may ask for. */
  maxServers: 1024,
} as const

export const USAGE_KEYS = ['chunks', 'bytes', 'byteSeconds', 'units', 'seconds'] as const
export type UsageKey = (typeof USAGE_KEYS)[number]
export type Usage = Partial<Record<UsageKey, bigint>>

const amount = z.bigint().nonnegative().max(LIMITS.maxAmount)
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const label = z.string().regex(/^[a-z0-9][a-z0-9._:/-]{0,31}$/, 'a lowercase label of 1..32 characters')
const service = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a service name such as cdn, storage or compute')

export const ResourcesSchema = z.object({
  bytes: count,
  bandwidthBps: count,
  durationSec: count,
  computeUnits: count,
})
export type Resources = z.infer<typeof ResourcesSchema>
export const NO_RESOURCES: Resources = { bytes: 0, bandwidthBps: 0, durationSec: 0, computeUnits: 0 }

export const UsageSchema = z.object(Object.fromEntries(USAGE_KEYS.map((k) => [k, amount.optional()])) as Record<UsageKey, z.ZodOptional<typeof amount>>)

export const RateSchema = z.object({ usage: z.enum(USAGE_KEYS), price: amount, per: amount.min(1n) })
export type Rate = z.infer<typeof RateSchema>

const ONLY: Record<string, UsageKey | undefined> = { 'per-chunk': 'chunks', 'per-byte-time': 'byteSeconds', 'per-unit': 'units', linear: undefined }
export const PriceModelSchema = z
  .object({ kind: z.enum(['per-chunk', 'per-byte-time', 'per-unit', 'linear']), base: amount, rates: z.array(RateSchema).max(USAGE_KEYS.length) })
  .superRefine((m, ctx) => {
    const seen = new Set<string>()
    for (const r of m.rates) {
      if (seen.has(r.usage)) ctx.addIssue({ code: 'custom', message: `usage ${r.usage} is priced twice`, path: ['rates'] })
      seen.add(r.usage)
    }
    const only = ONLY[m.kind]
    if (only && (m.rates.length !== 1 || m.rates[0].usage !== only)) ctx.addIssue({ code: 'custom', message: `a ${m.kind} price has exactly one rate, over ${only}`, path: ['rates'] })
  })
export type PriceModel = z.infer<typeof PriceModelSchema>

/** A price of `price` per chunk (the CDN's model). */
export const perChunk = (price: bigint): PriceModel => ({ kind: 'per-chunk', base: 0n, rates: [{ usage: 'chunks', price, per: 1n }] })
/** A price of `price` per `perBytes` bytes held for `perSeconds` seconds (storage). */
export const perByteTime = (price: bigint, perBytes: bigint, perSeconds: bigint): PriceModel => ({ kind: 'per-byte-time', base: 0n, rates: [{ usage: 'byteSeconds', price, per: perBytes * perSeconds }] })
/** A price of `price` per work unit (compute: one segment). */
export const perUnit = (price: bigint): PriceModel => ({ kind: 'per-unit', base: 0n, rates: [{ usage: 'units', price, per: 1n }] })

/** What `usage` costs under `m`: base + Σ ceil(price × usage / per). */
export function priceOf(m: PriceModel, usage: Usage): bigint {
  let total = m.base
  for (const r of m.rates) {
    const u = usage[r.usage] ?? 0n
    total += (r.price * u + r.per - 1n) / r.per
  }
  return total
}

/** True when `need` fits in `capacity`, component by component. */
export function fits(need: Resources, capacity: Resources): boolean {
  return need.bytes <= capacity.bytes && need.bandwidthBps <= capacity.bandwidthBps && need.durationSec <= capacity.durationSec && need.computeUnits <= capacity.computeUnits
}

const scheme = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a payment scheme name')
const peer = z.string().min(1).max(128)

export const OfferBodySchema = z.object({
  type: z.literal('offer'),
  service,
  /** The server's payee address: it signs the offer and is paid. */
  server: zAddress,
  peer,
  /** What it can give (capacity). */
  resources: ResourcesSchema,
  price: PriceModelSchema,
  /** Collateral it will lock per deal (token units). */
  collateral: amount,
  /** Payment schemes it accepts, in order of preference. */
  schemes: z.array(scheme).min(1).max(LIMITS.maxSchemes),
  region: label,
  /** Its own estimate of round-trip latency to its region (ms). */
  latencyMs: count,
  addresses: z.array(z.string().max(512)).max(LIMITS.maxAddresses),
  capabilities: z.array(label).max(LIMITS.maxCapabilities),
  expiresAt: count,
  seq: amount,
})
export const OfferSchema = OfferBodySchema.extend({ sig: zSig })
export type OfferBody = z.infer<typeof OfferBodySchema>
export type Offer = z.infer<typeof OfferSchema>

export const AskBodySchema = z.object({
  type: z.literal('ask'),
  service,
  /** The buyer's payer address: it signs the ask and pays. */
  buyer: zAddress,
  peer,
  /** What it needs of each server (a server must fit it). */
  resources: ResourcesSchema,
  /** The usage it expects to buy from each server: offers are compared by `priceOf(offer.price, usage)`. */
  usage: UsageSchema,
  /** The most it pays a server for `usage` (the price cap). */
  maxPrice: amount,
  minCollateral: amount,
  schemes: z.array(scheme).min(1).max(LIMITS.maxSchemes),
  /** Accepted regions; empty: any. */
  regions: z.array(label).max(LIMITS.maxRegions),
  /** Most latency accepted (ms); 0: any. */
  maxLatencyMs: count,
  /** Capabilities a server must have. */
  capabilities: z.array(label).max(LIMITS.maxCapabilities),
  /** How many servers it wants. */
  servers: z.number().int().min(1).max(LIMITS.maxServers),
  expiresAt: count,
  seq: amount,
})
export const AskSchema = AskBodySchema.extend({ sig: zSig })
export type AskBody = z.infer<typeof AskBodySchema>
export type Ask = z.infer<typeof AskSchema>

export const DealBodySchema = z.object({
  type: z.literal('deal'),
  service,
  /** EIP-712 hashes of the offer and the ask the deal came from. */
  offer: z.string().regex(/^0x[0-9a-f]{64}$/) as unknown as z.ZodType<Hex>,
  ask: z.string().regex(/^0x[0-9a-f]{64}$/) as unknown as z.ZodType<Hex>,
  server: zAddress,
  buyer: zAddress,
  price: PriceModelSchema,
  usage: UsageSchema,
  collateral: amount,
  scheme,
  startsAt: count,
  endsAt: count,
  /** Any uint256 (a storage deal's is the hash of its storage terms, so both signatures cover them). */
  nonce: z.bigint().nonnegative().max((1n << 256n) - 1n),
})
export const DealSchema = DealBodySchema.extend({ serverSig: zSig, buyerSig: zSig })
export type DealBody = z.infer<typeof DealBodySchema>
export type Deal = z.infer<typeof DealSchema>

export type { Address, Hex }
