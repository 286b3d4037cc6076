/**
 * EIP-712 signing of offers, asks and deals, so that a contract (the storage market's, the compute market's) can
 * verify a deal with `ECDSA.recover(_hashTypedDataV4(structHash), sig)`. The domain is
 * `{ name: 'Souk Market', version: '1', chainId, verifyingContract }` (the zero address for off-chain use).
 * A message's **hash** is its EIP-712 digest: it names the message (a deal names its offer and ask by it).
 *
 * @example
 * ```ts
 * import { marketDomain, signOffer, recoverSigner } from './sign.js'
 * const domain = marketDomain(31337)
 * const offer = signOffer(body, privateKey, domain)
 * recoverSigner(domain, offer)                // { ok: true, address } — the server named in it, or not
 * ```
 */
import { hashTypedData, zeroAddress, type Address, type Hex, type TypedDataDomain } from 'viem'
import { addressOf, bytesToHex, hexToBytes, recoverDigest, signDigest, type RecoverResult } from '../crypto/index.js'
import { USAGE_KEYS, type Ask, type AskBody, type Deal, type DealBody, type Offer, type OfferBody, type Usage } from './schema.js'

export const MARKET_TYPES = {
  Resources: [
    { name: 'bytes', type: 'uint64' }, { name: 'bandwidthBps', type: 'uint64' }, { name: 'durationSec', type: 'uint64' }, { name: 'computeUnits', type: 'uint64' },
  ],
  Rate: [{ name: 'usage', type: 'string' }, { name: 'price', type: 'uint256' }, { name: 'per', type: 'uint256' }],
  PriceModel: [{ name: 'kind', type: 'string' }, { name: 'base', type: 'uint256' }, { name: 'rates', type: 'Rate[]' }],
  Usage: USAGE_KEYS.map((name) => ({ name, type: 'uint256' })),
  Offer: [
    { name: 'service', type: 'string' }, { name: 'server', type: 'address' }, { name: 'peer', type: 'string' },
    { name: 'resources', type: 'Resources' }, { name: 'price', type: 'PriceModel' }, { name: 'collateral', type: 'uint256' },
    { name: 'schemes', type: 'string[]' }, { name: 'region', type: 'string' }, { name: 'latencyMs', type: 'uint64' },
    { name: 'addresses', type: 'string[]' }, { name: 'capabilities', type: 'string[]' }, { name: 'expiresAt', type: 'uint64' },
    { name: 'seq', type: 'uint256' },
  ],
  Ask: [
    { name: 'service', type: 'string' }, { name: 'buyer', type: 'address' }, { name: 'peer', type: 'string' },
    { name: 'resources', type: 'Resources' }, { name: 'usage', type: 'Usage' }, { name: 'maxPrice', type: 'uint256' },
    { name: 'minCollateral', type: 'uint256' }, { name: 'schemes', type: 'string[]' }, { name: 'regions', type: 'string[]' },
    { name: 'maxLatencyMs', type: 'uint64' }, { name: 'capabilities', type: 'string[]' }, { name: 'servers', type: 'uint32' },
    { name: 'expiresAt', type: 'uint64' }, { name: 'seq', type: 'uint256' },
  ],
  Deal: [
    { name: 'service', type: 'string' }, { name: 'offer', type: 'bytes32' }, { name: 'ask', type: 'bytes32' },
    { name: 'server', type: 'address' }, { name: 'buyer', type: 'address' }, { name: 'price', type: 'PriceModel' },
    { name: 'usage', type: 'Usage' }, { name: 'collateral', type: 'uint256' }, { name: 'scheme', type: 'string' },
    { name: 'startsAt', type: 'uint64' }, { name: 'endsAt', type: 'uint64' }, { name: 'nonce', type: 'uint256' },
  ],
} as const

export type MarketDomain = { name: 'Souk Market'; version: '1'; chainId: number; verifyingContract: Address }

/** The market's EIP-712 domain on `chainId`, verified by `verifyingContract` (default: none, the zero address). */
export function marketDomain(chainId: number, verifyingContract: Address = zeroAddress): MarketDomain {
  return { name: 'Souk Market', version: '1', chainId, verifyingContract }
}

const fullUsage = (u: Usage) => Object.fromEntries(USAGE_KEYS.map((k) => [k, u[k] ?? 0n]))
const strip = <T extends { type: string }>(m: T) => { const { type: _t, ...rest } = m as T & { sig?: unknown; serverSig?: unknown; buyerSig?: unknown }; delete rest.sig; delete rest.serverSig; delete rest.buyerSig; return rest }

/** The EIP-712 digest of an offer, ask or deal body (signatures, if present, are ignored). */
export function marketHash(domain: MarketDomain, m: OfferBody | AskBody | DealBody): Hex {
  const d = domain as TypedDataDomain
  switch (m.type) {
    case 'offer': return hashTypedData({ domain: d, types: MARKET_TYPES, primaryType: 'Offer', message: strip(m) as never })
    case 'ask': return hashTypedData({ domain: d, types: MARKET_TYPES, primaryType: 'Ask', message: { ...strip(m), usage: fullUsage(m.usage) } as never })
    case 'deal': return hashTypedData({ domain: d, types: MARKET_TYPES, primaryType: 'Deal', message: { ...strip(m), usage: fullUsage(m.usage) } as never })
  }
}

/**
 * What signs market messages: a role is given one (`keySigner(key)` on a node) and never holds the key itself.
 * `sign` takes a 32-byte EIP-712 digest and returns a canonical 65-byte signature r‖s‖v.
 */
export interface MarketSigner {
  readonly address: Address
  sign(digest: Hex): Hex
}

/** A signer over a raw secp256k1 key. */
export function keySigner(key: Hex): MarketSigner {
  const k = hexToBytes(key)
  return { address: addressOf(k).toLowerCase() as Address, sign: (digest) => bytesToHex(signDigest(hexToBytes(digest), k)) as Hex }
}

const asSigner = (s: Hex | MarketSigner): MarketSigner => (typeof s === 'string' ? keySigner(s) : s)
const sign = (domain: MarketDomain, m: OfferBody | AskBody | DealBody, signer: Hex | MarketSigner): Hex => asSigner(signer).sign(marketHash(domain, m))

export function signOffer(body: OfferBody, signer: Hex | MarketSigner, domain: MarketDomain): Offer {
  return { ...body, sig: sign(domain, body, signer) }
}
export function signAsk(body: AskBody, signer: Hex | MarketSigner, domain: MarketDomain): Ask {
  return { ...body, sig: sign(domain, body, signer) }
}
/** One side's signature over a deal body (the server's or the buyer's). */
export function signDealBody(body: DealBody, signer: Hex | MarketSigner, domain: MarketDomain): Hex {
  return sign(domain, body, signer)
}

/**
 * Who signed `m`: for an offer or ask, its `sig`; for a deal, `side`'s signature. Never throws; the caller compares
 * the address with the one the message names.
 */
export function recoverSigner(domain: MarketDomain, m: Offer | Ask): RecoverResult
export function recoverSigner(domain: MarketDomain, m: Deal, side: 'server' | 'buyer'): RecoverResult
export function recoverSigner(domain: MarketDomain, m: Offer | Ask | Deal, side?: 'server' | 'buyer'): RecoverResult {
  const sig = m.type === 'deal' ? (side === 'buyer' ? m.buyerSig : m.serverSig) : m.sig
  return recoverDigest(hexToBytes(marketHash(domain, m)), hexToBytes(sig))
}
