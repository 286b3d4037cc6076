/**
 * secp256k1 signature checks on the hot path. Uses libsecp256k1 through the `secp256k1` package (~25x
 * @noble/curves here) and falls back to noble where its binary does not load; both give the same answers (tested).
 * Only canonical signatures pass: 65 bytes r ‖ s ‖ v with v ∈ {27, 28} and s ≤ n/2 (low-s), exactly what the
 * contracts accept, so a signature has one encoding and one lottery draw.
 *
 * `SignerCache` remembers the public key behind each address after one recovery, so later checks compare a recovered
 * key with it (no keccak). Not a plain verify: verify ignores v, and a signature with v flipped verifies against the
 * key but recovers another address on chain (a lottery ticket the broker would refuse).
 *
 * @example
 * ```ts
 * import { createSignerCache } from './secp256k1.js'
 * const signers = createSignerCache()
 * signers.verify(digest, sig65, '0xf39f…') // true / false, never throws
 * ```
 */
import { createRequire } from 'node:module'
import { secp256k1 as nobleSecp } from '@noble/curves/secp256k1.js'
import { getAddress, type Address } from 'viem'
import { keccak256 } from './keccak.js'

/** secp256k1 group order n and n/2 (EIP-2 low-s bound). */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
export const SECP256K1_HALF_N = SECP256K1_N >> 1n
const N = SECP256K1_N
const HALF_N = SECP256K1_HALF_N

interface NativeSecp {
  ecdsaVerify(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean
  ecdsaRecover(sig: Uint8Array, recid: number, msg: Uint8Array, compressed: boolean): Uint8Array
  ecdsaSign(msg: Uint8Array, priv: Uint8Array): { signature: Uint8Array; recid: number }
  publicKeyCreate(priv: Uint8Array, compressed: boolean): Uint8Array
}

function loadNative(): NativeSecp | undefined {
  try {
    const require = createRequire(import.meta.url)
    const m = require('secp256k1') as NativeSecp
    // Prove it works (the package silently falls back to a slow JS build when the binary is missing).
    const probe = require('secp256k1/bindings') as unknown
    return probe ? m : undefined
  } catch {
    return undefined
  }
}

const loaded = loadNative()
let native = loaded
/** Which implementation is in use: 'native' (libsecp256k1) or 'noble' (see `selectCryptoBackends` in backend.ts). */
export let secpBackend: 'native' | 'noble' = native ? 'native' : 'noble'

/** @internal For backend.ts: uses libsecp256k1 where it loaded (`native`) or noble. Returns what is in use. */
export function useSecpBackend(choice: 'native' | 'noble'): 'native' | 'noble' {
  native = choice === 'native' ? loaded : undefined
  secpBackend = native ? 'native' : 'noble'
  return secpBackend
}

const N_BYTES = Buffer.from(N.toString(16).padStart(64, '0'), 'hex')
const HALF_N_BYTES = Buffer.from(HALF_N.toString(16).padStart(64, '0'), 'hex')

function isZero(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + 32; i++) if (b[i] !== 0) return false
  return true
}

/** Compares the 32-byte word at `b[off..]` with `ref`: -1, 0 or 1. */
function compare(b: Uint8Array, off: number, ref: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const x = b[off + i]
    const y = ref[i]
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/** Splits a 65-byte signature; undefined when it is not canonical (length, v, s range). */
export function parseCanonicalSignature(sig: Uint8Array): { rs: Uint8Array; recid: number } | undefined {
  if (sig.length !== 65) return undefined
  const v = sig[64]
  if (v !== 27 && v !== 28) return undefined
  // Byte-wise range checks (no bigint on the hot path): 0 < r < n, 0 < s <= n/2.
  if (isZero(sig, 0) || compare(sig, 0, N_BYTES) >= 0 || isZero(sig, 32) || compare(sig, 32, HALF_N_BYTES) > 0) return undefined
  return { rs: sig.subarray(0, 64), recid: v - 27 }
}

/** Ethereum address (lowercase hex) of an uncompressed 65-byte public key. */
export function addressOfPublicKey(pub: Uint8Array): string {
  return '0x' + Buffer.from(keccak256(pub.subarray(1))).subarray(12).toString('hex')
}

/** Recovers the uncompressed public key of a canonical signature over a 32-byte digest, or undefined. */
export function recoverPublicKey(digest: Uint8Array, sig: Uint8Array): Uint8Array | undefined {
  const p = parseCanonicalSignature(sig)
  if (!p) return undefined
  try {
    if (native) return native.ecdsaRecover(p.rs, p.recid, digest, false)
    const s = nobleSecp.Signature.fromBytes(p.rs, 'compact').addRecoveryBit(p.recid)
    return s.recoverPublicKey(digest).toBytes(false)
  } catch {
    return undefined
  }
}

/**
 * Verifies a canonical signature against a known uncompressed public key. Never throws. It does not check v (which
 * of the two points with x = r was meant): for what a contract's ecrecover accepts, recover and compare.
 */
export function verifyWithPublicKey(digest: Uint8Array, sig: Uint8Array, pub: Uint8Array): boolean {
  const p = parseCanonicalSignature(sig)
  if (!p) return false
  try {
    if (native) return native.ecdsaVerify(p.rs, digest, pub)
    return nobleSecp.verify(p.rs, digest, pub, { prehash: false, lowS: true, format: 'compact' })
  } catch {
    return false
  }
}

/** Signs a 32-byte digest; returns a canonical 65-byte signature (v = 27 + recid). Checks its own output. */
export function signDigest(digest: Uint8Array, privateKey: Uint8Array): Uint8Array {
  let rs: Uint8Array
  let recid: number
  if (native) {
    const s = native.ecdsaSign(digest, privateKey)
    rs = s.signature
    recid = s.recid
  } else {
    const s = nobleSecp.sign(digest, privateKey, { prehash: false, lowS: true, format: 'recovered' })
    recid = s[0]
    rs = s.subarray(1)
  }
  const out = new Uint8Array(65)
  out.set(rs, 0)
  out[64] = 27 + recid
  if (!parseCanonicalSignature(out)) throw new Error('signDigest produced a non-canonical signature')
  return out
}

export type RecoverResult = { ok: true; address: Address } | { ok: false; reason: 'bad-signature' | 'non-canonical-signature' }

const addressCache = new Map<string, Address>()

/** The checksummed address of an uncompressed public key, cached (recovering payees see few signers). */
function cachedAddress(pub: Uint8Array): Address {
  const k = Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('latin1')
  let address = addressCache.get(k)
  if (!address) {
    address = getAddress(addressOfPublicKey(pub))
    if (addressCache.size > 10_000) addressCache.clear()
    addressCache.set(k, address)
  }
  return address
}

/**
 * Recovers the (checksummed) signer of a 32-byte `digest`. Never throws: a wrong length or an unrecoverable
 * signature gives `bad-signature`; a v other than 27/28, s = 0 or a high s gives `non-canonical-signature` (checked
 * before r, as the contracts do).
 */
export function recoverDigest(digest: Uint8Array, sig: Uint8Array): RecoverResult {
  if (sig.length !== 65 || digest.length !== 32) return { ok: false, reason: 'bad-signature' }
  const v = sig[64]
  if (v !== 27 && v !== 28) return { ok: false, reason: 'non-canonical-signature' }
  if (isZero(sig, 32) || compare(sig, 32, HALF_N_BYTES) > 0) return { ok: false, reason: 'non-canonical-signature' }
  const pub = recoverPublicKey(digest, sig)
  if (!pub) return { ok: false, reason: 'bad-signature' }
  return { ok: true, address: cachedAddress(pub) }
}

/** The checksummed address of a private key. */
export function addressOf(privateKey: Uint8Array): Address {
  const pub = native ? native.publicKeyCreate(privateKey, false) : nobleSecp.getPublicKey(privateKey, false)
  return getAddress(addressOfPublicKey(pub))
}

export interface SignerCache {
  /** True iff `sig` is a canonical signature of `digest` by `address`. Never throws. */
  verify(digest: Uint8Array, sig: Uint8Array, address: string): boolean
  /**
   * True iff `sig`'s (r, s) is a canonical signature of `digest` by `address`'s key, whatever its v (27 or 28): one
   * verify against the cached key, ~1.25x cheaper than a recovery. An address seen for the first time is recovered
   * (its key is not known yet), and then v must be right. The v the chain needs comes from {@link verify}.
   */
  verifyIgnoringV(digest: Uint8Array, sig: Uint8Array, address: string): boolean
  /** The public key (65 bytes, uncompressed) cached for `address`, if it was seen. */
  publicKeyOf(address: string): Uint8Array | undefined
  readonly size: number
}

/**
 * Checks (r, s) of canonical signatures against known public keys, as {@link verifyWithPublicKey} does, possibly off
 * the calling thread (src/node's `createVerifierPool` verifies on worker threads, batching what is asked at once).
 */
export interface SignatureVerifier {
  verify(digest: Uint8Array, sig: Uint8Array, pub: Uint8Array): Promise<boolean>
}

/**
 * Checks by recovery, as ecrecover does (v included): the first time an address is seen against the address, then
 * against its cached public key. (A plain verify with the cached key would pass a signature whose v is flipped.)
 */
export function createSignerCache(maxEntries = 100_000): SignerCache {
  const keys = new Map<string, Uint8Array>()
  return {
    verify(digest, sig, address) {
      const a = address.toLowerCase()
      const pub = keys.get(a)
      const rec = recoverPublicKey(digest, sig)
      if (pub) return rec !== undefined && Buffer.compare(rec, pub) === 0
      if (!rec || addressOfPublicKey(rec) !== a) return false
      if (keys.size >= maxEntries) keys.delete(keys.keys().next().value as string)
      keys.set(a, rec)
      return true
    },
    verifyIgnoringV(digest, sig, address) {
      const pub = keys.get(address.toLowerCase())
      if (!pub) return this.verify(digest, sig, address)
      return verifyWithPublicKey(digest, sig, pub)
    },
    publicKeyOf: (address) => keys.get(address.toLowerCase()),
    get size() { return keys.size },
  }
}
