/**
 * EIP-712 over raw bytes with the native keccak (hot paths): the domain separator of a contract and the final
 * digest `keccak256(0x19 0x01 ‖ domain ‖ structHash)`. Matches OpenZeppelin's `EIP712._hashTypedDataV4`.
 *
 * @example
 * ```ts
 * import { eip712Domain, eip712Digest } from './eip712.js'
 * const domain = eip712Domain('Souk TicketBroker', '1', 31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3')
 * const digest = eip712Digest(domain, structHash)
 * ```
 */
import { keccak256 } from './keccak.js'
import { writeAddress, writeWord } from './bytes.js'

const enc = new TextEncoder()
const DOMAIN_TYPEHASH = keccak256(enc.encode('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'))

/** keccak256 of a type string, e.g. `Voucher(bytes32 channelId,uint256 cumulativeAmount)`. */
export function typeHash(type: string): Uint8Array {
  return keccak256(enc.encode(type))
}

/** The domain separator of `(name, version, chainId, verifyingContract)`. */
export function eip712Domain(name: string, version: string, chainId: number, verifyingContract: string): Uint8Array {
  const b = new Uint8Array(160)
  b.set(DOMAIN_TYPEHASH, 0)
  b.set(keccak256(enc.encode(name)), 32)
  b.set(keccak256(enc.encode(version)), 64)
  writeWord(b, 96, BigInt(chainId))
  writeAddress(b, 128, verifyingContract)
  return keccak256(b)
}

/** Returns a function `structHash ↦ digest` for one domain (reuses one buffer). */
export function eip712Digester(domain: Uint8Array): (structHash: Uint8Array) => Uint8Array {
  const d = new Uint8Array(66)
  d[0] = 0x19
  d[1] = 0x01
  d.set(domain, 2)
  return (structHash) => {
    d.set(structHash, 34)
    return keccak256(d)
  }
}

/** `keccak256(0x19 0x01 ‖ domain ‖ structHash)`. */
export function eip712Digest(domain: Uint8Array, structHash: Uint8Array): Uint8Array {
  return eip712Digester(domain)(structHash)
}
