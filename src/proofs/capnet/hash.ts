/**
 * The hash of the puzzle chain, the Merkle tree and the commitments: SHA-256 through node:crypto.
 *
 * Chosen by measurement (bench/capnet.ts, 2-core reference machine, Node 20.20): for the 48-byte inputs of a chain
 * step, one-shot `crypto.hash('sha256', ..)` runs ~1.0 M hashes/s vs ~0.6 M/s for `@noble/hashes` and ~0.5 M/s for
 * `createHash().update().digest()`; in bulk (1 MiB) node:crypto does ~1.3-1.7 GB/s vs ~0.12-0.16 GB/s pure JS.
 * `crypto.hash` exists from Node 20.12; older runtimes fall back to `createHash`.
 *
 * @example
 * ```ts
 * import { sha256 } from './hash.js'
 * sha256(new Uint8Array([1, 2, 3])).length // 32
 * ```
 */
import * as nodeCrypto from 'node:crypto'

type OneShot = (alg: string, data: Uint8Array, enc: 'buffer') => Buffer
const oneShot = (nodeCrypto as unknown as { hash?: OneShot }).hash

/** SHA-256 of one buffer (the fast one-shot path). */
export const sha256: (data: Uint8Array) => Uint8Array = oneShot
  ? (data) => plain(oneShot('sha256', data, 'buffer'))
  : (data) => plain(nodeCrypto.createHash('sha256').update(data).digest())

/** A plain Uint8Array view of a Buffer (public results are never Buffers). */
export function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

/** SHA-256 of the concatenation of several buffers (no copy). */
export function sha256Parts(...parts: Uint8Array[]): Uint8Array {
  const h = nodeCrypto.createHash('sha256')
  for (const p of parts) h.update(p)
  return plain(h.digest())
}

/** HMAC-SHA-256, used as the PRF of every key derivation. */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = nodeCrypto.createHmac('sha256', key)
  for (const p of parts) h.update(p)
  return plain(h.digest())
}

/** Big-endian u32. */
export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0)
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

/** A source of random bytes: `rng(n)` returns `n` fresh bytes. Inject a seeded one for tests and simulations. */
export type Rng = (byteLength: number) => Uint8Array

/** The default {@link Rng}: node:crypto's CSPRNG. */
export const systemRng: Rng = (n) => new Uint8Array(nodeCrypto.randomBytes(n))

/**
 * A deterministic {@link Rng} (SHA-256 in counter mode over `seed`). For tests and the simulator only: never for
 * real puzzles, whose secret start offset must be unpredictable.
 *
 * @example
 * ```ts
 * const rng = seededRng('test-1'); rng(4) // same 4 bytes on every run
 * ```
 */
export function seededRng(seed: string | Uint8Array): Rng {
  const s = typeof seed === 'string' ? label(seed) : seed
  let counter = 0
  let pool: Uint8Array = new Uint8Array(0)
  return (n) => {
    const out = new Uint8Array(n)
    let off = 0
    while (off < n) {
      if (pool.length === 0) pool = sha256Parts(label('souk/capnet/seeded-rng/v1'), s, u32be(counter++))
      const take = Math.min(pool.length, n - off)
      out.set(pool.subarray(0, take), off)
      pool = pool.subarray(take)
      off += take
    }
    return out
  }
}

/** Uniform integer in [0, bound) from an {@link Rng}, by rejection sampling (no modulo bias). */
export function randomBelow(rng: Rng, bound: number): number {
  if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 32) throw new RangeError(`bound must be an integer in [1, 2^32], got ${bound}`)
  const limit = 2 ** 32 - (2 ** 32 % bound)
  for (;;) {
    const b = rng(4)
    const x = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0
    if (x < limit) return x % bound
  }
}

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
