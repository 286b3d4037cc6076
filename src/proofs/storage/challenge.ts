/**
 * Challenges and sizing of storage proofs (souk.storage v1, as `contracts/StorageMarket.sol` draws them).
 *
 * - Challenge `c` of period `t` of a deal: `keccak256(abi.encode(seed, dealId, t, c)) mod totalLeaves` as a uint256,
 *   where `seed` is the period's seed the contract recorded (a block hash drawn after the deal's commitment) and
 *   `totalLeaves = replicas × leavesPerReplica` (padding is never challenged).
 * - Sizing: with a fraction `f` of the leaves lost, each independent challenge misses the loss with probability
 *   `1 - f`, so `k` challenges a period for `t` periods detect it with `1 - (1 - f)^(k t)`; the `k` that reaches a
 *   confidence `c` is `ceil(ln(1 - c) / ln(1 - f))` in all. A provider who drops `f` saves at most `f` of its storage
 *   cost; it keeps collateral `C` only if undetected, so dropping is unprofitable when `P(detect) · C` exceeds the saving.
 *
 * @example
 * ```ts
 * challengesFor({ lostFraction: 0.01, confidence: 0.99, periods: 30 }) // 16 a period
 * detectionProbability({ lostFraction: 0.01, challenges: 16, periods: 30 }) // 0.992
 * ```
 */
import { keccak256 } from '../../crypto/keccak.js'
import { bytesToHex, hexToBytes, writeWord } from '../../crypto/bytes.js'
import { StorageProofError } from './errors.js'
import type { Hex } from 'viem'

/** The leaf positions challenged in `period` (in draw order; repeats possible, the proof dedupes them). */
export function challengePositions(o: { seed: Hex | Uint8Array; dealId: Hex | Uint8Array; period: number | bigint; challenges: number; totalLeaves: number }): number[] {
  if (!Number.isSafeInteger(o.totalLeaves) || o.totalLeaves < 1) throw new StorageProofError('bad-params', `totalLeaves must be >= 1, got ${o.totalLeaves}`)
  if (!Number.isInteger(o.challenges) || o.challenges < 1 || o.challenges > 256) throw new StorageProofError('bad-params', `challenges must be 1..256, got ${o.challenges}`)
  const seed = typeof o.seed === 'string' ? hexToBytes(o.seed) : o.seed
  const deal = typeof o.dealId === 'string' ? hexToBytes(o.dealId) : o.dealId
  if (seed.length !== 32 || deal.length !== 32) throw new StorageProofError('bad-params', 'seed and dealId are 32 bytes')
  const buf = new Uint8Array(128)
  buf.set(seed, 0)
  buf.set(deal, 32)
  writeWord(buf, 64, BigInt(o.period))
  const n = BigInt(o.totalLeaves)
  const out: number[] = []
  for (let c = 0; c < o.challenges; c++) {
    writeWord(buf, 96, c)
    out.push(Number(BigInt(bytesToHex(keccak256(buf))) % n))
  }
  return out
}

/** P(at least one challenge hits a lost leaf) with `lostFraction` lost, `challenges` a period over `periods`. */
export function detectionProbability(o: { lostFraction: number; challenges: number; periods?: number }): number {
  if (!(o.lostFraction >= 0 && o.lostFraction <= 1)) throw new StorageProofError('bad-params', `lostFraction must be in [0, 1], got ${o.lostFraction}`)
  return 1 - (1 - o.lostFraction) ** (o.challenges * (o.periods ?? 1))
}

/** Challenges a period that detect `lostFraction` with `confidence` within `periods` periods. */
export function challengesFor(o: { lostFraction: number; confidence: number; periods?: number }): number {
  if (!(o.lostFraction > 0 && o.lostFraction < 1)) throw new StorageProofError('bad-params', `lostFraction must be in (0, 1), got ${o.lostFraction}`)
  if (!(o.confidence > 0 && o.confidence < 1)) throw new StorageProofError('bad-params', `confidence must be in (0, 1), got ${o.confidence}`)
  const total = Math.log(1 - o.confidence) / Math.log(1 - o.lostFraction)
  return Math.max(1, Math.ceil(total / (o.periods ?? 1) - 1e-9))
}

/**
 * The least collateral that makes dropping `lostFraction` of the data unprofitable for a rational provider: what it
 * would save (that fraction of its storage cost over the periods it goes undetected, at most `periods`) divided by
 * the probability it is caught within them. `storageCostPerPeriod` in token units.
 */
export function deterringCollateral(o: { lostFraction: number; challenges: number; periods: number; storageCostPerPeriod: bigint }): bigint {
  const p = detectionProbability({ lostFraction: o.lostFraction, challenges: o.challenges, periods: o.periods })
  if (p <= 0) throw new StorageProofError('bad-params', 'nothing is ever detected with these parameters: no collateral deters')
  const saving = Number(o.storageCostPerPeriod) * o.lostFraction * o.periods
  return BigInt(Math.ceil(saving / p))
}
