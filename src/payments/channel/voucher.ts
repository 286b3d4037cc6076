/**
 * Channel vouchers off chain: the EIP-712 digest (as PaymentChannel.voucherDigest computes it) and signing.
 *
 * @example
 * ```ts
 * import { channelDomain, voucherDigest, signVoucher } from './voucher.js'
 * const sig = signVoucher(channelDomain(31337, channelContract), channelId, 5000n, payerKey)
 * ```
 */
import type { Address, Hex } from 'viem'
import { keccak256 } from '../../crypto/keccak.js'
import { signDigest } from '../../crypto/secp256k1.js'
import { hexToBytes, writeWord } from '../../crypto/bytes.js'
import { eip712Domain, eip712Digest, typeHash } from '../../crypto/eip712.js'

const VOUCHER_TYPEHASH = typeHash('Voucher(bytes32 channelId,uint256 cumulativeAmount)')

/** The EIP-712 domain separator of a PaymentChannel contract. */
export function channelDomain(chainId: number, contract: Address): Uint8Array {
  return eip712Domain('Souk PaymentChannel', '1', chainId, contract)
}

export function voucherDigest(domain: Uint8Array, channelId: Hex, cumulativeAmount: bigint): Uint8Array {
  const s = new Uint8Array(96)
  s.set(VOUCHER_TYPEHASH, 0)
  s.set(hexToBytes(channelId), 32)
  writeWord(s, 64, cumulativeAmount)
  return eip712Digest(domain, keccak256(s))
}

export function signVoucher(domain: Uint8Array, channelId: Hex, cumulativeAmount: bigint, privateKey: Hex): Uint8Array {
  return signDigest(voucherDigest(domain, channelId, cumulativeAmount), hexToBytes(privateKey))
}
