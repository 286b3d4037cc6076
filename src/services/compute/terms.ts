/**
 * Compute terms: their on-chain hash (the market deal's `nonce`, so both parties' deal signatures cover them).
 *
 * @example
 * ```ts
 * deal.nonce = termsNonce(terms) // BigInt(keccak256(abi.encode(terms))), what WorkMarket.termsHash returns
 * ```
 */
import type { Hex } from 'viem'
import { computeTermsHash } from './contract.js'
import type { ComputeTerms } from './protocol.js'

/** keccak256(abi.encode(terms)): what `WorkMarket.termsHash` returns. */
export const termsHash = (t: ComputeTerms): Hex => computeTermsHash(t)

/** The market deal's nonce for these terms. */
export const termsNonce = (t: ComputeTerms): bigint => BigInt(termsHash(t))
