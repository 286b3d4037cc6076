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
import { hexToBytes, writeAddress, writeWord } from '../../crypto/bytes.js'

const enc = new TextEncoder()
const VOUCHER_TYPEHASH = keccak256(enc.encode('Voucher(bytes32 channelId,uint256 cumulativeAmount)'))
const DOMAIN_TYPEHASH = keccak256(enc.encode('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'))

export function channelDomain(chainId: number, contract: Address): Uint8Array {
  const b = new Uint8Array(160)
  b.set(DOMAIN_TYPEHASH, 0)
  b.set(keccak256(enc.encode('Souk PaymentChannel')), 32)
  b.set(keccak256(enc.encode('1')), 64)
  writeWord(b, 96, BigInt(chainId))
  writeAddress(b, 128, contract)
  return keccak256(b)
}

export function voucherDigest(domain: Uint8Array, channelId: Hex, cumulativeAmount: bigint): Uint8Array {
  const s = new Uint8Array(96)
  s.set(VOUCHER_TYPEHASH, 0)
  s.set(hexToBytes(channelId), 32)
  writeWord(s, 64, cumulativeAmount)
  const d = new Uint8Array(66)
  d[0] = 0x19
  d[1] = 0x01
  d.set(domain, 2)
  d.set(keccak256(s), 34)
  return keccak256(d)
}

export function signVoucher(domain: Uint8Array, channelId: Hex, cumulativeAmount: bigint, privateKey: Hex): Uint8Array {
  return signDigest(voucherDigest(domain, channelId, cumulativeAmount), hexToBytes(privateKey))
}
