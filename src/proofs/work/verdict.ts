/**
 * Verdicts: a checker's signed statement that the output a worker claimed for a unit is wrong, as
 * `contracts/WorkMarket.sol`'s `fault` checks them.
 *
 * Spec (/tmp/compute-spec.md § Formats): EIP-712 typed data in the market's domain
 * `{ name: "Souk Market", version: "1", chainId, verifyingContract: WorkMarket }` (MarketDeals'), type
 * `Verdict(bytes32 jobId,uint256 batch,uint256 unit,bytes32 output)`, `output` the outputHash of the claimed leaf.
 * Signatures are 65 bytes r ‖ s ‖ v with a low s and v in {27, 28} (OpenZeppelin's ECDSA refuses any other).
 * A fault needs `quorum` of them from distinct checkers of the job; the digest binds the job, the batch and the
 * unit, so a verdict of another job or unit recovers to some other address and counts for nothing.
 *
 * @example
 * ```ts
 * import { signVerdict, verifyVerdict } from './verdict.js'
 * const domain = { chainId: 31337, verifyingContract: workMarket }
 * const v = { jobId, batch: 2n, unit: 4101n, output: outputHash }
 * const sig = await signVerdict(checkerKey, domain, v)
 * verifyVerdict(domain, v, sig, checkerAddress) // true
 * ```
 */
import { hashTypedData, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { hexToBytes, recoverDigest, type RecoverResult } from '../../crypto/index.js'
import { abytes32 } from './tree.js'
import { WorkProofError } from './errors.js'

export const VERDICT_TYPES = {
  Verdict: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'batch', type: 'uint256' },
    { name: 'unit', type: 'uint256' },
    { name: 'output', type: 'bytes32' },
  ],
} as const

/** "The output `output` claimed for unit `unit` of batch `batch` of job `jobId` is wrong." */
export interface Verdict {
  jobId: Hex
  batch: bigint | number
  unit: bigint | number
  output: Hex
}

/** Where a verdict is checked: the WorkMarket on a chain (name and version are the market's). */
export interface VerdictDomainInput {
  chainId: number
  verifyingContract: Address
}

/** The full EIP-712 domain of a WorkMarket (MarketDeals' "Souk Market" v1). */
export const verdictDomain = (d: VerdictDomainInput) => ({ name: 'Souk Market', version: '1', chainId: d.chainId, verifyingContract: d.verifyingContract }) as const

const U256 = (1n << 256n) - 1n
function normalize(v: Verdict) {
  abytes32(v.jobId, 'jobId')
  abytes32(v.output, 'output')
  const batch = BigInt(v.batch), unit = BigInt(v.unit)
  if (batch < 0n || batch > U256 || unit < 0n || unit > U256) throw new RangeError('batch and unit must be uint256')
  return { jobId: v.jobId.toLowerCase() as Hex, batch, unit, output: v.output.toLowerCase() as Hex }
}

/** The typed data a checker signs (for wallets: `signTypedData(verdictTypedData(domain, v))`). */
export function verdictTypedData(domain: VerdictDomainInput, v: Verdict) {
  return { domain: verdictDomain(domain), types: VERDICT_TYPES, primaryType: 'Verdict' as const, message: normalize(v) }
}

/** The EIP-712 digest of a verdict (the contract's `verdictDigest(jobId, batch, unit, output)`). */
export function verdictDigest(domain: VerdictDomainInput, v: Verdict): Hex {
  return hashTypedData(verdictTypedData(domain, v))
}

/** Signs a verdict with a private key (viem's local account); checks that the signature recovers to the key. */
export async function signVerdict(key: Hex, domain: VerdictDomainInput, v: Verdict): Promise<Hex> {
  const account = privateKeyToAccount(key)
  const sig = await account.signTypedData(verdictTypedData(domain, v))
  const r = recoverVerdictSigner(domain, v, sig)
  if (!r.ok || r.address.toLowerCase() !== account.address.toLowerCase()) throw new WorkProofError('bad-signature', 'signVerdict produced a signature that does not recover to its key')
  return sig
}

/** Who signed a verdict, with the contract's rules (65 bytes, low s, v 27/28). Never throws. */
export function recoverVerdictSigner(domain: VerdictDomainInput, v: Verdict, sig: Hex | Uint8Array): RecoverResult {
  try {
    const s = typeof sig === 'string' ? hexToBytes(sig) : sig
    return recoverDigest(hexToBytes(verdictDigest(domain, v)), s)
  } catch {
    return { ok: false, reason: 'bad-signature' }
  }
}

/** True iff `sig` is `signer`'s valid verdict `v` in `domain`. Never throws. */
export function verifyVerdict(domain: VerdictDomainInput, v: Verdict, sig: Hex | Uint8Array, signer: Address): boolean {
  const r = recoverVerdictSigner(domain, v, sig)
  return r.ok && r.address.toLowerCase() === signer.toLowerCase()
}
