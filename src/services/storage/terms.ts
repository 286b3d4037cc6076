/**
 * Storage terms: their on-chain hash (the market deal's `nonce`, so both parties' deal signatures cover them), the
 * price of a deal from a provider's offer, and the chunk ↔ leaf arithmetic shared by upload, proving and retrieval.
 *
 * Price model: a provider's offer is `perUnit(price)` where a unit is one MiB of one replica kept one period, so
 * a deal of `bytes` bytes, `replicas` replicas and `periods` periods buys `ceil(bytes / MiB) · replicas · periods`
 * units and pays `pricePerPeriod = ceil(bytes / MiB) · replicas · price` each proven period.
 *
 * @example
 * ```ts
 * const t = { ...terms, pricePerPeriod: pricePerPeriod(offer, bytes, replicas) }
 * deal.nonce = termsNonce(t)
 * ```
 */
import type { Hex } from 'viem'
import { storageTermsHash } from './contract.js'
import { LEAF_BYTES, leafCount } from '../../proofs/storage/index.js'
import type { Offer } from '../../market/schema.js'
import type { StorageTerms } from './protocol.js'

export const MIB = 1024 * 1024

/** keccak256(abi.encode(terms)): what `StorageMarket.termsHash` returns. */
export const termsHash = (t: StorageTerms): Hex => storageTermsHash(t)

/** The market deal's nonce for these terms. */
export const termsNonce = (t: StorageTerms): bigint => BigInt(termsHash(t))

/** Units a deal buys (one MiB of one replica for one period). */
export const dealUnits = (bytes: number, replicas: number, periods: number): bigint => BigInt(Math.max(1, Math.ceil(bytes / MIB))) * BigInt(replicas) * BigInt(periods)

/** What a period of the deal costs at the offer's unit price. */
export function pricePerPeriod(offer: Pick<Offer, 'price'>, bytes: number, replicas: number): bigint {
  const rate = offer.price.rates.find((r) => r.usage === 'units')
  if (!rate) throw new TypeError('a storage offer prices per unit (one MiB-replica-period)')
  return (BigInt(Math.max(1, Math.ceil(bytes / MIB))) * BigInt(replicas) * rate.price) / rate.per
}

/** Leaves in one chunk of `chunkSize` bytes. */
export const leavesPerChunk = (chunkSize: number): number => chunkSize / LEAF_BYTES

/** Chunks of a file of `bytes` bytes. */
export const chunkCount = (bytes: number, chunkSize: number): number => Math.max(1, Math.ceil(leafCount(bytes) / leavesPerChunk(chunkSize)))

/** The leaf positions of chunk `c` (clipped to the file's `n` leaves). */
export function chunkPositions(c: number, chunkSize: number, n: number): number[] {
  const per = leavesPerChunk(chunkSize)
  const out: number[] = []
  for (let i = c * per; i < Math.min(n, (c + 1) * per); i++) out.push(i)
  return out
}

/** Chunk `c` of `data`, zero-padded to whole leaves. */
export function dataChunk(data: Uint8Array, c: number, chunkSize: number): Uint8Array {
  const start = c * chunkSize
  const end = Math.min(data.length, start + chunkSize)
  const len = Math.max(LEAF_BYTES, Math.ceil((end - start) / LEAF_BYTES) * LEAF_BYTES)
  const out = new Uint8Array(len)
  if (end > start) out.set(data.subarray(start, end))
  return out
}
