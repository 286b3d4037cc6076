/**
 * SHA-256 and HMAC-SHA-256 through node:crypto (any input length; the hot paths of CAPnet's puzzle chain use its
 * short-input JavaScript SHA-256 in src/proofs/capnet/hash.ts instead).
 *
 * Chosen by measurement (bench/capnet.ts, 2-core reference machine, Node 20.20): for the 48-byte inputs of a chain
 * step, one-shot `crypto.hash('sha256', ..)` runs ~1.0 M hashes/s vs ~0.6 M/s for `@noble/hashes` and ~0.5 M/s for
 * `createHash().update().digest()`; in bulk (1 MiB) node:crypto does ~1.3-1.7 GB/s vs ~0.12-0.16 GB/s pure JS.
 * `crypto.hash` exists from Node 20.12; older runtimes fall back to `createHash`.
 *
 * @example
 * ```ts
 * import { sha256, sha256Parts } from './sha256.js'
 * sha256(new Uint8Array([1, 2, 3])).length // 32
 * sha256Parts(new Uint8Array([1]), new Uint8Array([2, 3])) // the same digest
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
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length)
}

/** SHA-256 of the concatenation of several buffers (no copy). */
export function sha256Parts(...parts: Uint8Array[]): Uint8Array {
  const h = nodeCrypto.createHash('sha256')
  for (const p of parts) h.update(p)
  return plain(h.digest())
}

/** HMAC-SHA-256 over the concatenation of `parts`. */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = nodeCrypto.createHmac('sha256', key)
  for (const p of parts) h.update(p)
  return plain(h.digest())
}
