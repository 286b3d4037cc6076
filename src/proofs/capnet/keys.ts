/**
 * Keys and the two encryption layers of a CAPnet bundle.
 *
 * - Outer key k_out[i] = HMAC-SHA256(cacheSecret, "souk/capnet/outer-key/v1" || requestId || chunkIndex): the cache and
 *   the publisher both derive it from the secret shared when the cache was hired, so no per-request key travels.
 *   The cache releases it to the client after the first payment message.
 * - Inner key k_in[i] = HMAC-SHA256(publisherSecret, "souk/capnet/inner-key/v1" || requestId || chunkIndex) (or any
 *   32 random bytes). The publisher hands it to cache i inside a *cache ticket* sealed under a third key derived from
 *   cacheSecret; the client gets all inner keys only by solving the puzzle (they are sealed under the puzzle secret).
 * - Each layer is AES-256-CTR with a deterministic IV = sha256("souk/capnet/iv/v1" || layer || requestId || chunkIndex)[0..16],
 *   so the publisher computes inner-encrypted bytes without the cache — and, CTR being random-access, only the
 *   pieces the puzzle reads ({@link createInnerPieceSource}, on the constant-time WebAssembly AES-256 of
 *   wasm-kernels.ts where available). AES-256-CTR was chosen by measurement over node:crypto ChaCha20 (~1.0 vs
 *   ~0.85 GB/s on 1 MiB on the reference machine; bench/capnet.ts).
 * - Sealed boxes are AES-256-GCM with a synthetic nonce (HMAC of key, context and plaintext): deterministic, and a
 *   nonce repeats only for the very same message.
 *
 * Keys and secrets are never logged or put in error details.
 *
 * @example
 * ```ts
 * import { deriveOuterKey, encryptLayer, decryptLayer } from './keys.js'
 * const key = deriveOuterKey(cacheSecret, requestId, 7)
 * const spec = { key, requestId, chunkIndex: 7, layer: 'outer' } as const
 * decryptLayer(encryptLayer(chunk, spec), spec) // equals chunk
 * ```
 */
import { createCipheriv, createDecipheriv, type Cipher } from 'node:crypto'
import { hmacKey, hmacSha256Js, sha256Into, sha256Js, sha256PaddedLength, u32be, label, abytes, aint, bytesEqual, type HmacKey } from './hash.js'
import { CapnetOpenError } from './errors.js'
import { A, ROUND_KEY_STRIDE, SLOT_IV, capnetKernels, type Kernels } from './wasm-kernels.js'

/** Bytes of every key and secret. */
export const CAPNET_KEY_BYTES = 32
/** Request ids are 8..64 bytes (16 random bytes is plenty). */
export const CAPNET_REQUEST_ID_MIN = 8
export const CAPNET_REQUEST_ID_MAX = 64
const AEAD_NONCE_BYTES = 12
const AEAD_TAG_BYTES = 16
const AES_BLOCK = 16

const L_OUTER = label('souk/capnet/outer-key/v1')
const L_INNER = label('souk/capnet/inner-key/v1')
const L_TICKET = label('souk/capnet/ticket-key/v1')
const L_IV = label('souk/capnet/iv/v1')
const L_SEAL = label('souk/capnet/seal-key/v1')
const L_NONCE = label('souk/capnet/aead-nonce/v1')
const L_COMMIT = label('souk/capnet/commitment/v1')
const L_AAD_KEYS = label('souk/capnet/inner-keys/v1')
const L_AAD_TICKET = label('souk/capnet/cache-ticket/v1')

/** Which encryption layer: `inner` (publisher key, opened by solving the puzzle) or `outer` (cache key). */
export type Layer = 'inner' | 'outer'

/** Everything that fixes one layer's keystream. */
export interface LayerSpec {
  key: Uint8Array
  requestId: Uint8Array
  /** Index of the chunk in the object (not its slot in the bundle). */
  chunkIndex: number
  layer: Layer
}

function checkRequest(requestId: Uint8Array, chunkIndex: number): void {
  abytes(requestId, 'requestId')
  if (requestId.length < CAPNET_REQUEST_ID_MIN || requestId.length > CAPNET_REQUEST_ID_MAX) {
    throw new RangeError(`requestId must be ${CAPNET_REQUEST_ID_MIN}..${CAPNET_REQUEST_ID_MAX} bytes, got ${requestId.length}`)
  }
  aint(chunkIndex, 'chunkIndex', 0, 2 ** 32)
}

function requestContext(requestId: Uint8Array, chunkIndex: number): Uint8Array[] {
  checkRequest(requestId, chunkIndex)
  return [u32be(requestId.length), requestId, u32be(chunkIndex)]
}

/** Writes u32be(x) at out[o..o+4). */
function putU32(out: Uint8Array, o: number, x: number): void {
  out[o] = x >>> 24; out[o + 1] = x >>> 16; out[o + 2] = x >>> 8; out[o + 3] = x
}

function secretKey(k: Uint8Array, title: string): Uint8Array {
  abytes(k, title)
  if (k.length < 16) throw new RangeError(`${title} must be at least 16 bytes, got ${k.length}`)
  return k
}

/**
 * HMAC key schedules of long-lived secrets (publisherSecret, cacheSecret), cached per Uint8Array object: every
 * request derives several keys from the same secret, and the schedule (two compressions) is half of each HMAC. The
 * entry keeps a copy of the bytes it was made from and is rebuilt if the caller changed them in place.
 */
const SCHEDULES = new WeakMap<Uint8Array, { bytes: Uint8Array; key: HmacKey }>()
function scheduleOf(secret: Uint8Array): HmacKey {
  const e = SCHEDULES.get(secret)
  if (e && e.bytes.length === secret.length) {
    let diff = 0
    for (let i = 0; i < secret.length; i++) diff |= e.bytes[i] ^ secret[i]
    if (diff === 0) return e.key
  }
  const key = hmacKey(secret)
  SCHEDULES.set(secret, { bytes: secret.slice(), key })
  return key
}

/** HMAC-SHA256(secret, label || u32be(|requestId|) || requestId || u32be(chunkIndex)): the per-request key derivation. */
function deriveKey(secret: Uint8Array, lbl: Uint8Array, requestId: Uint8Array, chunkIndex: number): Uint8Array {
  return hmacSha256Js(scheduleOf(secret), lbl, ...requestContext(requestId, chunkIndex))
}

/**
 * Outer key of chunk `chunkIndex` for request `requestId`, known to the cache (which holds `cacheSecret`) and the publisher.
 *
 * @example
 * ```ts
 * const kOut = deriveOuterKey(cacheSecret, requestId, 3) // 32 bytes
 * ```
 */
export function deriveOuterKey(cacheSecret: Uint8Array, requestId: Uint8Array, chunkIndex: number): Uint8Array {
  return deriveKey(secretKey(cacheSecret, 'cacheSecret'), L_OUTER, requestId, chunkIndex)
}

/**
 * Inner key of chunk `chunkIndex` for request `requestId`, derived from a publisher-only secret (stateless publisher).
 *
 * @example
 * ```ts
 * const kIn = deriveInnerKey(publisherSecret, requestId, 3)
 * ```
 */
export function deriveInnerKey(publisherSecret: Uint8Array, requestId: Uint8Array, chunkIndex: number): Uint8Array {
  return deriveKey(secretKey(publisherSecret, 'publisherSecret'), L_INNER, requestId, chunkIndex)
}

/**
 * The 16-byte initial counter block of a layer: deterministic in (layer, requestId, chunkIndex).
 *
 * @example
 * ```ts
 * layerIv(requestId, 0, 'inner').length // 16
 * ```
 */
export function layerIv(requestId: Uint8Array, chunkIndex: number, layer: Layer): Uint8Array {
  // One contiguous buffer, hashed in WebAssembly or JavaScript (one or two compressions): this runs n times per
  // generated puzzle.
  const len = L_IV.length + 1 + 8 + requestId.length
  const k = capnetKernels()
  if (k) {
    checkRequest(requestId, chunkIndex)
    // The message straight into the kernels' scratch (at most 17 + 1 + 8 + 64 = 90 bytes).
    ivMessage(k.u8, A.MSG1, requestId, chunkIndex, layer)
    k.x.sha256(A.MSG1, len, A.OUT1)
    return k.u8.slice(A.OUT1, A.OUT1 + 16)
  }
  const ctx = requestContext(requestId, chunkIndex)
  const buf = new Uint8Array(sha256PaddedLength(len))
  buf.set(L_IV, 0)
  buf[L_IV.length] = layer === 'inner' ? 1 : 2
  let o = L_IV.length + 1
  for (const part of ctx) { buf.set(part, o); o += part.length }
  const out = new Uint8Array(32)
  sha256Into(buf, len, out)
  return out.subarray(0, 16)
}

/** Writes layerIv's message for (requestId, chunkIndex, layer) at mem[M..): label || layer || u32be(|id|) || id || u32be(chunk). */
function ivMessage(mem: Uint8Array, M: number, requestId: Uint8Array, chunkIndex: number, layer: Layer): void {
  for (let i = 0; i < L_IV.length; i++) mem[M + i] = L_IV[i]
  let o = M + L_IV.length
  mem[o++] = layer === 'inner' ? 1 : 2
  putU32(mem, o, requestId.length)
  o += 4
  for (let i = 0; i < requestId.length; i++) mem[o + i] = requestId[i]
  putU32(mem, o + requestId.length, chunkIndex)
}

/**
 * The inner-layer IVs of slots 0..n-1 (chunks `chunkIndices`, already checked) into the kernels' slot areas
 * (ROUND_KEYS + 256 slot + 240): four at a time in the lanes of one SIMD SHA-256, the rest one by one.
 */
function writeSlotIvs(k: Kernels, requestId: Uint8Array, chunkIndices: readonly number[]): void {
  const len = L_IV.length + 1 + 8 + requestId.length
  const n = chunkIndices.length
  let c = 0
  for (; c + 4 <= n; c += 4) {
    for (let l = 0; l < 4; l++) ivMessage(k.u8, A.MSG4 + 128 * l, requestId, chunkIndices[c + l], 'inner')
    k.x.sha256x4(len)
    const mem = k.u8
    for (let l = 0; l < 4; l++) {
      const from = A.OUT4 + 32 * l, to = A.ROUND_KEYS + (c + l) * ROUND_KEY_STRIDE + SLOT_IV
      for (let i = 0; i < 16; i++) mem[to + i] = mem[from + i]
    }
  }
  for (; c < n; c++) {
    ivMessage(k.u8, A.MSG1, requestId, chunkIndices[c], 'inner')
    k.x.sha256(A.MSG1, len, A.OUT1)
    const mem = k.u8
    const to = A.ROUND_KEYS + c * ROUND_KEY_STRIDE + SLOT_IV
    for (let i = 0; i < 16; i++) mem[to + i] = mem[A.OUT1 + i]
  }
}

/**
 * Applies one AES-256-CTR layer (encryption and decryption are the same operation).
 *
 * @example
 * ```ts
 * const served = encryptLayer(encryptLayer(chunk, innerSpec), outerSpec) // E_out(E_in(chunk))
 * ```
 */
export function encryptLayer(data: Uint8Array, spec: LayerSpec): Uint8Array {
  abytes(data, 'data')
  abytes(spec.key, 'key', CAPNET_KEY_BYTES)
  const c = createCipheriv('aes-256-ctr', spec.key, layerIv(spec.requestId, spec.chunkIndex, spec.layer))
  const out = c.update(data)
  c.final()
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

/** Removes one layer; identical to {@link encryptLayer} (CTR mode). */
export const decryptLayer: (data: Uint8Array, spec: LayerSpec) => Uint8Array = encryptLayer

/** Reads piece `pieceIndex` (aligned, `pieceSize` bytes) of the chunk in bundle slot `slot`. */
export type PieceSource = (slot: number, pieceIndex: number) => Uint8Array

/**
 * Random-access reader of *inner-encrypted* pieces computed straight from the padded plaintext chunks, without
 * encrypting whole chunks: each piece costs one AES block or two (CTR keystream = AES-ECB of IV + block number).
 * This is what makes puzzle generation cheap for the publisher.
 *
 * @example
 * ```ts
 * const source = createInnerPieceSource({ plainChunks, innerKeys, requestId, chunkIndices, pieceSize: 16 })
 * generatePuzzle({ source, params, rng })
 * ```
 */
export function createInnerPieceSource(args: {
  /** Padded plaintext chunk of each bundle slot. */
  plainChunks: readonly Uint8Array[]
  innerKeys: readonly Uint8Array[]
  requestId: Uint8Array
  /** Object chunk index of each bundle slot. */
  chunkIndices: readonly number[]
  pieceSize: number
}): PieceSource {
  const { plainChunks, innerKeys, requestId, chunkIndices, pieceSize } = args
  const n = plainChunks.length
  if (innerKeys.length !== n || chunkIndices.length !== n) throw new RangeError('plainChunks, innerKeys and chunkIndices must have the same length')
  for (let i = 0; i < n; i++) checkRequest(requestId, chunkIndices[i])
  for (let i = 0; i < n; i++) {
    const key = innerKeys[i]
    if (!(key instanceof Uint8Array) || key.length !== CAPNET_KEY_BYTES) abytes(key, `innerKeys[${i}]`, CAPNET_KEY_BYTES)
  }
  const kernels = capnetKernels()
  if (kernels && n <= WASM_SOURCE_SLOTS) return wasmPieceSource(kernels, plainChunks, innerKeys, requestId, chunkIndices, pieceSize)
  const ivs = chunkIndices.map((ci) => layerIv(requestId, ci, 'inner'))
  const ciphers: (Cipher | undefined)[] = new Array(n)
  // Counter blocks of one piece (at most ceil(pieceSize/16) + 1 blocks), reused across reads.
  const counters = Buffer.alloc((Math.ceil(pieceSize / AES_BLOCK) + 1) * AES_BLOCK)
  return (slot, pieceIndex) => {
    let ecb = ciphers[slot]
    if (!ecb) {
      ecb = createCipheriv('aes-256-ecb', innerKeys[slot], null)
      ecb.setAutoPadding(false)
      ciphers[slot] = ecb
    }
    const start = pieceIndex * pieceSize
    const firstBlock = Math.floor(start / AES_BLOCK)
    const lastBlock = Math.floor((start + pieceSize - 1) / AES_BLOCK)
    const bytes = (lastBlock - firstBlock + 1) * AES_BLOCK
    for (let b = firstBlock, o = 0; b <= lastBlock; b++, o += AES_BLOCK) addCounter(ivs[slot], b, counters, o)
    const ks = ecb.update(bytes === counters.length ? counters : counters.subarray(0, bytes))
    const plain = plainChunks[slot]
    const skip = start - firstBlock * AES_BLOCK
    const out = new Uint8Array(pieceSize)
    for (let i = 0; i < pieceSize; i++) out[i] = plain[start + i] ^ ks[skip + i]
    return out
  }
}

/** Slots whose round keys fit the kernels' key area. */
const WASM_SOURCE_SLOTS = 64
/** The piece source whose round keys and IVs are in the kernels' slot areas now (another's reads put theirs back). */
let slotsOwner: object | null = null

/**
 * {@link createInnerPieceSource} on the WebAssembly AES-256 (wasm-kernels.ts): n key expansions (~0.1 µs each)
 * instead of n `createCipheriv` (~1.5 µs), one block encryption per 16 bytes (~0.15 µs) instead of an `update`
 * call (~0.9 µs). Same bytes.
 */
function wasmPieceSource(
  k: Kernels, plainChunks: readonly Uint8Array[], innerKeys: readonly Uint8Array[], requestId: Uint8Array, chunkIndices: readonly number[], pieceSize: number,
): PieceSource {
  // One closure per source, the rest module-level functions over this state (closures cost on a ~7 µs hot path).
  const st: WasmSource = { k, plainChunks, innerKeys, requestId, chunkIndices, pieceSize, token: {} }
  claimSlots(st)
  const read = ((slot: number, pieceIndex: number) => readWasmPiece(st, slot, pieceIndex)) as PieceSource & { [FUSED_CHAIN]?: FusedChain }
  read[FUSED_CHAIN] = (p, s) => fusedChain(st, p, s)
  return read
}

interface WasmSource {
  k: Kernels
  plainChunks: readonly Uint8Array[]
  innerKeys: readonly Uint8Array[]
  requestId: Uint8Array
  chunkIndices: readonly number[]
  pieceSize: number
  /** Identifies the source holding the kernels' slot areas. */
  token: object
}

/**
 * Puts the source's round keys and IVs in the kernels' slot areas, unless they are there already (another source
 * was made or read since: rare; ~0.1 µs a key).
 */
function claimSlots(st: WasmSource): void {
  if (slotsOwner === st.token) return
  const { k, innerKeys } = st
  const mem = k.u8
  for (let i = 0; i < innerKeys.length; i++) {
    const rk = A.ROUND_KEYS + i * ROUND_KEY_STRIDE
    const key = innerKeys[i]
    for (let b = 0; b < CAPNET_KEY_BYTES; b++) mem[rk + b] = key[b]
  }
  let i = 0
  for (; i + 4 <= innerKeys.length; i += 4) k.x.aes_expand4(A.ROUND_KEYS + i * ROUND_KEY_STRIDE)
  for (; i < innerKeys.length; i++) k.x.aes_expand(A.ROUND_KEYS + i * ROUND_KEY_STRIDE)
  writeSlotIvs(k, st.requestId, st.chunkIndices)
  slotsOwner = st.token
}

function readWasmPiece(st: WasmSource, slot: number, pieceIndex: number): Uint8Array {
  claimSlots(st)
  const { k, pieceSize } = st
  const start = pieceIndex * pieceSize
  const first = Math.floor(start / AES_BLOCK)
  k.x.ctr_enc(A.ROUND_KEYS + slot * ROUND_KEY_STRIDE, first, Math.floor((start + pieceSize - 1) / AES_BLOCK) - first + 1)
  const mem = k.u8
  const plain = st.plainChunks[slot]
  const ks = A.CTR + start - first * AES_BLOCK
  const out = new Uint8Array(pieceSize)
  for (let i = 0; i < pieceSize; i++) out[i] = plain[start + i] ^ mem[ks + i]
  return out
}

/** One chain step in one kernel call: plaintext piece to CHAIN+dst, then counters, AES, XOR, SHA-256 in place; the next index. */
function fusedStep(st: WasmSource, slot: number, pieceIndex: number, dst: number, P: number): number {
  const { k, pieceSize } = st
  const start = pieceIndex * pieceSize
  const first = Math.floor(start / AES_BLOCK)
  const mem = k.u8
  const plain = st.plainChunks[slot]
  const M = A.CHAIN + dst
  for (let i = 0; i < pieceSize; i++) mem[M + i] = plain[start + i]
  const blocks = Math.floor((start + pieceSize - 1) / AES_BLOCK) - first + 1
  return k.x.gen_step(A.ROUND_KEYS + slot * ROUND_KEY_STRIDE, first, blocks, start - first * AES_BLOCK, dst, dst + pieceSize, P)
}

function fusedChain(st: WasmSource, p: Parameters<FusedChain>[0], s: number): ReturnType<FusedChain> {
  const n = st.plainChunks.length
  if (p.pieceSize !== st.pieceSize || p.cachesPerRequest !== n) return null
  claimSlots(st)
  const P = p.chunkSize / p.pieceSize
  const L = p.rounds * n
  const M = A.CHAIN
  putU32(st.k.u8, M, s)
  let idx = fusedStep(st, 0, s / p.pieceSize, 4, P)
  let prev: Uint8Array | null = null
  for (let j = 1; j < L; j++) {
    if (j === L - 1) prev = st.k.u8.slice(M, M + 32)
    idx = fusedStep(st, j % n, idx, 32, P)
  }
  return { prev: prev!, last: st.k.u8.slice(M, M + 32) }
}

/**
 * A whole puzzle chain (params `p`, start offset `s` in bytes) over a WebAssembly piece source, every step in one
 * kernel call: h_{L-2} and h_{L-1}, or null when the params do not match the source (the caller reads piece by piece).
 */
export type FusedChain = (p: { rounds: number; pieceSize: number; chunkSize: number; cachesPerRequest: number }, s: number) => { prev: Uint8Array; last: Uint8Array } | null
/** Where a piece source made by {@link createInnerPieceSource} on the kernels keeps its {@link FusedChain}. */
export const FUSED_CHAIN = Symbol('capnet.fusedChain')

/** out[o..o+16) = (iv + n) mod 2^128, big-endian, as OpenSSL's CTR mode increments the whole counter block. */
function addCounter(iv: Uint8Array, n: number, out: Uint8Array, o: number): void {
  // n < 2^32 (chunks <= 64 MiB): add it to the low word, then ripple the carry up byte by byte.
  const low = ((iv[12] << 24) | (iv[13] << 16) | (iv[14] << 8) | iv[15]) >>> 0
  const sum = low + (n >>> 0)
  if (sum <= 0xffffffff) {
    // no carry out of the low word (all but ~n / 2^32 of the IVs): copy the rest
    for (let i = 0; i < 12; i++) out[o + i] = iv[i]
    putU32(out, o + 12, sum)
    return
  }
  let carry = n >>> 0
  for (let i = 15; i >= 0; i--) {
    const s = iv[i] + (carry & 0xff)
    out[o + i] = s & 0xff
    carry = (carry >>> 8) + (s >> 8)
  }
}

function aeadSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array[]): Uint8Array {
  const nonce = hmacSha256Js(key, L_NONCE, ...aad, plaintext).subarray(0, AEAD_NONCE_BYTES)
  const c = createCipheriv('aes-256-gcm', key, nonce)
  for (const a of aad) c.setAAD(a)
  const ct = Buffer.concat([c.update(plaintext), c.final()])
  const out = new Uint8Array(AEAD_NONCE_BYTES + ct.length + AEAD_TAG_BYTES)
  out.set(nonce, 0)
  out.set(ct, AEAD_NONCE_BYTES)
  out.set(c.getAuthTag(), AEAD_NONCE_BYTES + ct.length)
  return out
}

function aeadOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array[]): Uint8Array | null {
  // Stryker disable next-line ConditionalExpression,LogicalOperator,ArithmeticOperator: equivalent, a box this guard stops fails to authenticate below (null) (docs/testing.md)
  if (!(sealed instanceof Uint8Array) || sealed.length < AEAD_NONCE_BYTES + AEAD_TAG_BYTES) return null
  try {
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, AEAD_NONCE_BYTES))
    d.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES))
    // GCM concatenates successive AADs, so passing them in parts matches the sealer.
    for (const a of aad) d.setAAD(a)
    const pt = Buffer.concat([d.update(sealed.subarray(AEAD_NONCE_BYTES, sealed.length - AEAD_TAG_BYTES)), d.final()])
    return new Uint8Array(pt.buffer, pt.byteOffset, pt.length)
  } catch {
    return null
  }
}

function sealKeyOf(secret: Uint8Array): Uint8Array {
  abytes(secret, 'secret', CAPNET_KEY_BYTES)
  return hmacSha256Js(secret, L_SEAL)
}

/**
 * Seals the inner keys of a bundle under the puzzle secret (AES-256-GCM, key = HMAC(secret, label)). `context`
 * (normally the request id) is authenticated, so a box cannot be moved to another request.
 *
 * @example
 * ```ts
 * const sealed = sealInnerKeys(innerKeys, puzzle.secret, requestId)
 * openInnerKeys(sealed, puzzle.secret, requestId) // innerKeys
 * ```
 */
export function sealInnerKeys(keys: readonly Uint8Array[], secret: Uint8Array, context: Uint8Array = new Uint8Array(0)): Uint8Array {
  const pt = new Uint8Array(keys.length * CAPNET_KEY_BYTES)
  keys.forEach((k, i) => pt.set(abytes(k, `keys[${i}]`, CAPNET_KEY_BYTES), i * CAPNET_KEY_BYTES))
  return aeadSeal(sealKeyOf(secret), pt, [L_AAD_KEYS, u32be(keys.length), abytes(context, 'context')])
}

/**
 * Opens {@link sealInnerKeys}. Throws {@link CapnetOpenError} for a wrong secret, a wrong context or tampered bytes.
 *
 * @example
 * ```ts
 * const innerKeys = openInnerKeys(bundle.sealedInnerKeys, solution.secret, bundle.requestId)
 * ```
 */
export function openInnerKeys(sealed: Uint8Array, secret: Uint8Array, context: Uint8Array = new Uint8Array(0)): Uint8Array[] {
  const key = sealKeyOf(secret)
  const count = (sealed.length - AEAD_NONCE_BYTES - AEAD_TAG_BYTES) / CAPNET_KEY_BYTES
  const pt = Number.isInteger(count) && count >= 0 ? aeadOpen(key, sealed, [L_AAD_KEYS, u32be(count), context]) : null
  if (!pt) throw new CapnetOpenError('inner keys')
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) out.push(pt.slice(i * CAPNET_KEY_BYTES, (i + 1) * CAPNET_KEY_BYTES))
  return out
}

/**
 * Seals the inner key of one chunk for the cache that serves it (key derived from the cache's hiring secret).
 * The client forwards the ticket with its request; only that cache can open it.
 *
 * @example
 * ```ts
 * const ticket = sealCacheTicket(innerKey, cacheSecret, requestId, chunkIndex)
 * ```
 */
export function sealCacheTicket(innerKey: Uint8Array, cacheSecret: Uint8Array, requestId: Uint8Array, chunkIndex: number): Uint8Array {
  const ctx = requestContext(requestId, chunkIndex)
  const key = deriveKey(secretKey(cacheSecret, 'cacheSecret'), L_TICKET, requestId, chunkIndex)
  return aeadSeal(key, abytes(innerKey, 'innerKey', CAPNET_KEY_BYTES), [L_AAD_TICKET, ...ctx])
}

/**
 * Opens a {@link sealCacheTicket} on the cache. Throws {@link CapnetOpenError} if it was not made for this cache,
 * request and chunk.
 *
 * @example
 * ```ts
 * const innerKey = openCacheTicket(entry.cacheTicket, cacheSecret, bundle.requestId, entry.chunkIndex)
 * ```
 */
export function openCacheTicket(ticket: Uint8Array, cacheSecret: Uint8Array, requestId: Uint8Array, chunkIndex: number): Uint8Array {
  const ctx = requestContext(requestId, chunkIndex)
  const key = deriveKey(secretKey(cacheSecret, 'cacheSecret'), L_TICKET, requestId, chunkIndex)
  const pt = aeadOpen(key, ticket, [L_AAD_TICKET, ...ctx])
  if (!pt || pt.length !== CAPNET_KEY_BYTES) throw new CapnetOpenError('cache ticket', { details: { chunkIndex } })
  return pt
}

/**
 * Public commitment to a puzzle secret: sha256("souk/capnet/commitment/v1" || secret). Put in the bundle (and in
 * payment messages) so a cache can check a client's proof of service by itself.
 *
 * @example
 * ```ts
 * bytesEqual(secretCommitment(claimedSecret), bundle.commitment)
 * ```
 */
export function secretCommitment(secret: Uint8Array): Uint8Array {
  return sha256Js(L_COMMIT, abytes(secret, 'secret', CAPNET_KEY_BYTES))
}

/**
 * True when `secret` opens `commitment`. Never throws.
 *
 * @example
 * ```ts
 * verifySecretCommitment(bundle.commitment, claimedSecret) // cache-side proof-of-service check
 * ```
 */
export function verifySecretCommitment(commitment: Uint8Array, secret: Uint8Array): boolean {
  try {
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, the catch-all below returns the same false for whatever these guards stop (docs/testing.md)
    return commitment instanceof Uint8Array && secret instanceof Uint8Array && secret.length === CAPNET_KEY_BYTES && bytesEqual(secretCommitment(secret), commitment)
  } catch {
    return false
  }
}
