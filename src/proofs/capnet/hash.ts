/**
 * CAPnet's hashing helpers: a SHA-256 and HMAC-SHA-256 for the puzzle's short inputs (in WebAssembly up to 119 bytes,
 * wasm-kernels.ts; the JavaScript below otherwise and where WebAssembly is unavailable),
 * byte helpers and inline asserts (the byte `Rng`s are src/crypto/rng.ts's, re-exported here). Generic SHA-256 / HMAC through node:crypto is
 * src/crypto/sha256.ts's.
 *
 * @example
 * ```ts
 * import { sha256Js, u32be } from './hash.js'
 * sha256Js(u32be(7)).length // 32
 * ```
 */
import * as nodeCrypto from 'node:crypto'
import { A, capnetKernels, type Kernels } from './wasm-kernels.js'

/** Big-endian u32. */
export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4)
  b[0] = n >>> 24; b[1] = n >>> 16; b[2] = n >>> 8; b[3] = n
  return b
}

/** Constant-time equality of two byte strings (false when lengths differ). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && nodeCrypto.timingSafeEqual(a, b)
}

const enc = new TextEncoder()
/** UTF-8 bytes of a domain-separation label. */
export function label(s: string): Uint8Array {
  return enc.encode(s)
}

// The Rng type and generators moved to src/crypto/rng.ts; re-exported here while callers move.
export { type Rng, systemRng, pooledSystemRng, seededRng, forkRng, randomBelow } from '../../crypto/rng.js'

/** Inline assert: `v` is a Uint8Array (of `len` bytes, if given). Returns it. */
export function abytes(v: unknown, title: string, len?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${title} must be a Uint8Array, got ${v === null ? 'null' : typeof v}`)
  if (len !== undefined && v.length !== len) throw new RangeError(`${title} must be ${len} bytes, got ${v.length}`)
  return v
}

/** Inline assert: `v` is an integer in [min, max). Returns it. */
export function aint(v: unknown, title: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${title} must be an integer, got ${String(v)}`)
  if (v < min || v >= max) throw new RangeError(`${title} must be in [${min}, ${max}), got ${v}`)
  return v
}

// ---------------------------------------------------------------------------------------------------------------
// SHA-256 in JavaScript for short inputs (chain steps, IVs, commitments, HMAC key derivations).
//
// Every node:crypto call costs ~1 µs of JS<->native overhead while one SHA-256 compression of a 64-byte block costs a
// few hundred nanoseconds in plain JS on 32-bit integers. For the puzzle's 48-byte steps (one block) this runs ~3x
// faster than one-shot `crypto.hash` (bench/capnet.ts: sha256Js48BPerSecond). Constant-time: only add, xor, and,
// rotate on 32-bit words, no secret-dependent branch or table index. Checked against node:crypto in hash.test.ts.
// ---------------------------------------------------------------------------------------------------------------

const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
])
/** SHA-256 initial state. */
export const SHA256_IV: Readonly<Int32Array> = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])
const W64 = new Int32Array(64)

/** One SHA-256 compression: state (8 words) absorbs the 64-byte block at block[off..off+64). */
export function sha256Compress(state: Int32Array, block: Uint8Array, off: number): void {
  const w = W64
  for (let i = 0; i < 16; i++, off += 4) w[i] = (block[off] << 24) | (block[off + 1] << 16) | (block[off + 2] << 8) | block[off + 3]
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]
    const y = w[i - 2]
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0
  }
  let a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7]
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K256[i] + w[i]) | 0
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g; g = f; f = e; e = (d + t1) | 0
    d = c; c = b; b = a; a = (t1 + t2) | 0
  }
  state[0] = (state[0] + a) | 0; state[1] = (state[1] + b) | 0; state[2] = (state[2] + c) | 0; state[3] = (state[3] + d) | 0
  state[4] = (state[4] + e) | 0; state[5] = (state[5] + f) | 0; state[6] = (state[6] + g) | 0; state[7] = (state[7] + h) | 0
}

/** Bytes a message of `len` bytes occupies once padded (a multiple of 64). */
export function sha256PaddedLength(len: number): number {
  return (((len + 8) >> 6) + 1) << 6
}

const ST = new Int32Array(8)

/**
 * SHA-256 of `buf[0..len)`, continuing from `state` after `prefixBytes` already-absorbed bytes (0 and the IV for a
 * plain hash; 64 and an HMAC pad state for HMAC), written to `out[outOff..outOff+32)` (which may overlap `buf`).
 * Pads in place: `buf` must hold sha256PaddedLength(len) bytes, and the bytes past `len` are overwritten.
 */
export function sha256Into(buf: Uint8Array, len: number, out: Uint8Array, outOff = 0, state: Readonly<Int32Array> = SHA256_IV, prefixBytes = 0): void {
  const padded = sha256PaddedLength(len)
  if (buf.length < padded) throw new RangeError(`sha256Into needs ${padded} bytes of room, got ${buf.length}`)
  buf[len] = 0x80
  buf.fill(0, len + 1, padded - 8)
  const bits = (len + prefixBytes) * 8
  const hi = Math.floor(bits / 4294967296)
  buf[padded - 8] = hi >>> 24; buf[padded - 7] = hi >>> 16; buf[padded - 6] = hi >>> 8; buf[padded - 5] = hi
  buf[padded - 4] = bits >>> 24; buf[padded - 3] = bits >>> 16; buf[padded - 2] = bits >>> 8; buf[padded - 1] = bits
  const st = ST
  st.set(state)
  for (let o = 0; o < padded; o += 64) sha256Compress(st, buf, o)
  for (let i = 0; i < 8; i++, outOff += 4) {
    const x = st[i]
    out[outOff] = x >>> 24; out[outOff + 1] = x >>> 16; out[outOff + 2] = x >>> 8; out[outOff + 3] = x
  }
}

let scratch = new Uint8Array(256)
function scratchFor(len: number): Uint8Array {
  const need = sha256PaddedLength(len)
  if (scratch.length < need) scratch = new Uint8Array(need)
  return scratch
}

/** Longest message the WebAssembly SHA-256 takes (it pads in place in a 192-byte scratch: two blocks). */
export const SHA256_WASM_MAX = 119

/**
 * SHA-256 of the concatenation of `parts` without a native call: in WebAssembly (wasm-kernels.ts) up to 119 bytes,
 * in JavaScript otherwise or where WebAssembly is unavailable. Returns a fresh array.
 */
export function sha256Js(...parts: Uint8Array[]): Uint8Array {
  let len = 0
  for (const p of parts) len += p.length
  const k = len <= SHA256_WASM_MAX ? capnetKernels() : null
  if (k) {
    const mem = k.u8
    let o = A.MSG1
    for (const p of parts) { for (let i = 0; i < p.length; i++) mem[o + i] = p[i]; o += p.length }
    k.x.sha256(A.MSG1, len, A.OUT1)
    mem.fill(0, A.MSG1, A.MSG1 + 128)
    return mem.slice(A.OUT1, A.OUT1 + 32)
  }
  const buf = scratchFor(len)
  let o = 0
  for (const p of parts) { buf.set(p, o); o += p.length }
  const out = new Uint8Array(32)
  sha256Into(buf, len, out)
  buf.fill(0, 0, len)
  return out
}

/** Precomputed HMAC-SHA-256 key: the states after the inner and outer pad blocks. */
export interface HmacKey {
  readonly inner: Int32Array
  readonly outer: Int32Array
}

/** state = IV compressed with the 64-byte block (key ^ x) (zero-padded key), in WebAssembly. */
function padState(kern: Kernels, key: Uint8Array, x: number, state: Int32Array): void {
  const mem = kern.u8, w = kern.i32, S = A.ST1 >> 2
  const n = key.length
  for (let i = 0; i < 64; i++) mem[A.MSG1 + i] = (i < n ? key[i] : 0) ^ x
  for (let i = 0; i < 8; i++) w[S + i] = state[i]
  kern.x.compress1(A.ST1, A.MSG1)
  for (let i = 0; i < 8; i++) { state[i] = w[S + i]; w[S + i] = 0 }
}

/** HMAC-SHA-256 key schedule (two compressions); reuse it for several messages under the same key. */
export function hmacKey(key: Uint8Array): HmacKey {
  const k = key.length > 64 ? sha256Js(key) : key
  const inner = new Int32Array(SHA256_IV)
  const outer = new Int32Array(SHA256_IV)
  const kern = capnetKernels()
  if (kern) {
    // The two pad blocks compressed in WebAssembly from the IV.
    padState(kern, k, 0x36, inner)
    padState(kern, k, 0x5c, outer)
    kern.u8.fill(0, A.MSG1, A.MSG1 + 64)
    return { inner, outer }
  }
  const pad = new Uint8Array(64)
  for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ 0x36
  sha256Compress(inner, pad, 0)
  for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ 0x5c
  sha256Compress(outer, pad, 0)
  pad.fill(0)
  return { inner, outer }
}

const HMAC_OUTER_BUF = new Uint8Array(64)
/** HMAC-SHA-256 in JavaScript over the concatenation of `parts` (same result as src/crypto/sha256.ts hmacSha256). */
export function hmacSha256Js(key: Uint8Array | HmacKey, ...parts: Uint8Array[]): Uint8Array {
  const hk = key instanceof Uint8Array ? hmacKey(key) : key
  let len = 0
  for (const p of parts) len += p.length
  const kern = len <= SHA256_WASM_MAX ? capnetKernels() : null
  if (kern) {
    // Both hashes in WebAssembly, from the pad states: inner over the message, outer over the inner digest.
    const mem = kern.u8, w = kern.i32, H = A.HST >> 2
    for (let i = 0; i < 8; i++) { w[H + i] = hk.inner[i]; w[H + 8 + i] = hk.outer[i] }
    let o = A.MSG1
    for (const p of parts) { for (let i = 0; i < p.length; i++) mem[o + i] = p[i]; o += p.length }
    kern.x.sha256_from(A.HST, A.MSG1, len, 64, A.MSG1)
    kern.x.sha256_from(A.HST + 32, A.MSG1, 32, 64, A.OUT1)
    mem.fill(0, A.MSG1, A.MSG1 + 128)
    w.fill(0, H, H + 16)
    const out = mem.slice(A.OUT1, A.OUT1 + 32)
    for (let i = 0; i < 32; i++) mem[A.OUT1 + i] = 0 // an HMAC here is usually a derived key
    return out
  }
  const buf = scratchFor(len)
  let o = 0
  for (const p of parts) { buf.set(p, o); o += p.length }
  const ob = HMAC_OUTER_BUF
  sha256Into(buf, len, ob, 0, hk.inner, 64)
  buf.fill(0, 0, len)
  const out = new Uint8Array(32)
  sha256Into(ob, 32, out, 0, hk.outer, 64)
  ob.fill(0)
  return out
}
