/**
 * The challenged units of a batch, drawn as `contracts/WorkMarket.sol` draws them (souk.work v1).
 *
 * Spec (/tmp/compute-spec.md § Formats):
 * - The **seed** of batch b is blockhash(seedBlock), seedBlock = claimBlock + challengeDelay: a block mined after the
 *   root was posted, so the worker cannot know which units will be checked when it commits to them.
 * - **Challenged index** i (0 <= i < k, k = min(checksPerBatch, count)) is the unit
 *   `first + uint256(keccak256(abi.encode(bytes32 seed, bytes32 jobId, uint256 batch, uint256 i))) % count`;
 *   two indices may name the same unit (a repeat adds no check).
 *
 * @example
 * ```ts
 * import { challengedUnits } from './challenge.js'
 * challengedUnits(seed, jobId, 3, 4096, 1024, 8) // eight units in [4096, 5120), index order, as `challengedUnits(jobId, 3)` on chain
 * ```
 */
import { keccak256 } from '../../crypto/keccak.js'
import { writeWord } from '../../crypto/bytes.js'
import { abytes32, aint, batchDepth, MAX_UNIT, type Bytes32 } from './tree.js'
import { WorkProofError } from './errors.js'

/** Most checks a batch may carry (`checksPerBatch` is at most this on chain). */
export const MAX_CHECKS_PER_BATCH = 64

/** k: the number of challenged indices of a batch of `count` units, min(checksPerBatch, count). */
export function challengeCount(checksPerBatch: number, count: number): number {
  aint(checksPerBatch, 'checksPerBatch', 1, MAX_CHECKS_PER_BATCH)
  batchDepth(count)
  return Math.min(checksPerBatch, count)
}

const buf = new Uint8Array(128)

/** The unit challenged by index `i` of a batch [first, first + count). */
export function challengedUnit(seed: Bytes32, jobId: Bytes32, batch: number | bigint, first: number, count: number, i: number): number {
  buf.set(abytes32(seed, 'seed'), 0)
  buf.set(abytes32(jobId, 'jobId'), 32)
  return draw(batch, first, count, i)
}

function draw(batch: number | bigint, first: number, count: number, i: number): number {
  batchDepth(count)
  aint(first, 'first', 0, MAX_UNIT)
  if (first + count - 1 > MAX_UNIT) throw new WorkProofError('bad-unit', `units [${first}, ${first + count}) pass the last unit ${MAX_UNIT}`)
  const b = typeof batch === 'bigint' ? batch : BigInt(aint(batch, 'batch', 0, Number.MAX_SAFE_INTEGER))
  if (b < 0n || b >= 1n << 256n) throw new RangeError(`batch must be a uint256, got ${b}`)
  aint(i, 'i', 0, MAX_CHECKS_PER_BATCH - 1)
  writeWord(buf, 64, b)
  writeWord(buf, 96, i)
  const h = keccak256(buf)
  return first + Number(BigInt(`0x${Buffer.from(h.buffer, h.byteOffset, 32).toString('hex')}`) % BigInt(count))
}

/**
 * The units challenged in batch `batch` [first, first + count) of job `jobId` under `seed`, by index 0..k'-1 with
 * k' = min(k, count) (what the contract's `challengedUnits(jobId, batch)` returns for k = checksPerBatch).
 */
export function challengedUnits(seed: Bytes32, jobId: Bytes32, batch: number | bigint, first: number, count: number, k: number): number[] {
  const n = challengeCount(k, count)
  buf.set(abytes32(seed, 'seed'), 0)
  buf.set(abytes32(jobId, 'jobId'), 32)
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(draw(batch, first, count, i))
  return out
}

/** The probability that k independent checks of a batch of `count` units all miss `skipped` bad units. */
export function missProbability(o: { count: number; skipped: number; k: number }): number {
  batchDepth(o.count)
  aint(o.skipped, 'skipped', 0, o.count)
  const k = challengeCount(o.k, o.count)
  return (1 - o.skipped / o.count) ** k
}
