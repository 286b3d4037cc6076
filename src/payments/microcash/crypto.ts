/**
 * The hot-path primitives of the microcash scheme: keccak-256 (the shared src/crypto/keccak.ts: native Keccak state,
 * noble fallback), secp256k1 sign and recover through libsecp256k1 (`secp256k1` package, which itself falls back to
 * pure JS), hex/word helpers. Signatures are 65 bytes r ‖ s ‖ v with v ∈ {27, 28} and low s (EIP-2), exactly the
 * encoding OpenZeppelin's ECDSA accepts.
 *
 * @example
 * ```ts
 * import { keccak256, signDigest, recoverDigest } from './crypto.js'
 * const d = keccak256(new TextEncoder().encode('hello'))
 * const sig = signDigest(d, key)              // Uint8Array(65)
 * recoverDigest(d, sig)                       // { ok: true, address: '0x…' }
 * ```
 */
import { keccak256 as sharedKeccak, keccakBackend } from '../../crypto/keccak.js'
import secp from 'secp256k1'
import { getAddress, type Address, type Hex } from 'viem'

/** keccak-256 of `data` (32 bytes): the shared hot-path keccak (native Keccak state, noble fallback). */
export const keccak256: (data: Uint8Array) => Uint8Array = sharedKeccak

/** Which keccak implementation is in use (for benchmarks). */
export const KECCAK_IMPL: 'native' | 'noble' = keccakBackend

/** secp256k1 group order n and n/2 (EIP-2 low-s bound). */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
export const SECP256K1_HALF_N = SECP256K1_N >> 1n

export function hexToBytes(h: string): Uint8Array {
  const s = h.startsWith('0x') ? h.slice(2) : h
  const b = Buffer.from(s, 'hex')
  // Buffer.from stops at the first non-hex pair: a short result means bad input.
  if (s.length % 2 !== 0 || b.length * 2 !== s.length) throw new TypeError(`not a hex string: ${h.slice(0, 20)}`)
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

export function bytesToHex(b: Uint8Array): Hex {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`
}

/** Writes `v` (0 <= v < 2^256) as a big-endian 32-byte word at `off`. */
export function writeWord(buf: Uint8Array, off: number, v: bigint | number): void {
  if (typeof v === 'number') {
    // Fast path for safe integers: only the low 8 bytes can be non-zero.
    buf.fill(0, off, off + 24)
    let x = v
    for (let i = 31; i >= 24; i--) {
      buf[off + i] = x % 256
      x = Math.floor(x / 256)
    }
    return
  }
  let x = v
  for (let i = 31; i >= 0; i--) {
    buf[off + i] = Number(x & 0xffn)
    x >>= 8n
  }
}

/** Writes a 20-byte address right-aligned in a 32-byte word at `off`. */
export function writeAddress(buf: Uint8Array, off: number, a: string): void {
  buf.fill(0, off, off + 12)
  buf.set(hexToBytes(a), off + 12)
}

export function readWord(buf: Uint8Array, off = 0): bigint {
  return BigInt(bytesToHex(buf.subarray(off, off + 32)))
}

/** Signs a 32-byte digest: r ‖ s ‖ v (v = 27 + recovery id), low s. Checks its own output. */
export function signDigest(digest: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const { signature, recid } = secp.ecdsaSign(digest, privateKey)
  const out = new Uint8Array(65)
  out.set(signature, 0)
  out[64] = 27 + recid
  if (readWord(out, 32) > SECP256K1_HALF_N) throw new Error('secp256k1 produced a high-s signature')
  return out
}

export type RecoverResult = { ok: true; address: Address } | { ok: false; reason: 'bad-signature' | 'non-canonical-signature' }

const pubCache = new Map<string, Address>()

/** Recovers the signer of `digest`. Never throws: a malformed, high-s or unrecoverable signature gives ok=false. */
export function recoverDigest(digest: Uint8Array, sig: Uint8Array): RecoverResult {
  if (sig.length !== 65 || digest.length !== 32) return { ok: false, reason: 'bad-signature' }
  const v = sig[64]
  if (v !== 27 && v !== 28) return { ok: false, reason: 'non-canonical-signature' }
  const s = readWord(sig, 32)
  if (s === 0n || s > SECP256K1_HALF_N) return { ok: false, reason: 'non-canonical-signature' }
  const r = readWord(sig, 0)
  if (r === 0n || r >= SECP256K1_N) return { ok: false, reason: 'bad-signature' }
  let pub: Uint8Array
  try {
    pub = secp.ecdsaRecover(sig.subarray(0, 64), v - 27, digest, false)
  } catch {
    return { ok: false, reason: 'bad-signature' }
  }
  const k = Buffer.from(pub).toString('latin1')
  let address = pubCache.get(k)
  if (!address) {
    address = getAddress(bytesToHex(keccak256(pub.subarray(1)).subarray(12)))
    if (pubCache.size > 10_000) pubCache.clear()
    pubCache.set(k, address)
  }
  return { ok: true, address }
}

/** The address of a private key. */
export function addressOf(privateKey: Uint8Array): Address {
  const pub = secp.publicKeyCreate(privateKey, false)
  return getAddress(bytesToHex(keccak256(pub.subarray(1)).subarray(12)))
}
