import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  deriveOuterKey, deriveInnerKey, layerIv, encryptLayer, decryptLayer, createInnerPieceSource, sealInnerKeys, openInnerKeys,
  sealCacheTicket, openCacheTicket, secretCommitment, verifySecretCommitment, type LayerSpec,
} from './keys.js'
import { seededRng, randomBelow } from './hash.js'
import { CapnetOpenError } from './errors.js'
import { SoukError } from '../../core/errors.js'

const rng = seededRng('keys.test')
const cacheSecret = rng(32)
const requestId = rng(16)

test('key derivation is deterministic and separated by cache, request, chunk and role', () => {
  const k = deriveOuterKey(cacheSecret, requestId, 3)
  assert.equal(k.length, 32)
  assert.deepEqual(deriveOuterKey(cacheSecret, requestId, 3), k)
  const others = [
    deriveOuterKey(rng(32), requestId, 3), deriveOuterKey(cacheSecret, rng(16), 3), deriveOuterKey(cacheSecret, requestId, 4),
    deriveInnerKey(cacheSecret, requestId, 3),
  ]
  for (const o of others) assert.notDeepEqual(o, k)
  assert.notDeepEqual(layerIv(requestId, 3, 'inner'), layerIv(requestId, 3, 'outer'))
  assert.throws(() => deriveOuterKey(cacheSecret, new Uint8Array(4), 0), RangeError) // request id too short
  assert.throws(() => deriveOuterKey(new Uint8Array(8), requestId, 0), RangeError) // weak secret
  assert.throws(() => deriveOuterKey(cacheSecret, requestId, -1), RangeError)
})

test('two layers round-trip and commute with neither key alone', () => {
  const chunk = rng(5000)
  const inner: LayerSpec = { key: deriveInnerKey(rng(32), requestId, 9), requestId, chunkIndex: 9, layer: 'inner' }
  const outer: LayerSpec = { key: deriveOuterKey(cacheSecret, requestId, 9), requestId, chunkIndex: 9, layer: 'outer' }
  const served = encryptLayer(encryptLayer(chunk, inner), outer)
  assert.notDeepEqual(served, chunk)
  assert.deepEqual(decryptLayer(decryptLayer(served, outer), inner), chunk)
  assert.notDeepEqual(decryptLayer(served, outer), chunk)
  assert.ok(!(served instanceof Buffer))
  assert.throws(() => encryptLayer(chunk, { ...inner, key: new Uint8Array(16) }), RangeError)
})

test('the lazy piece source equals whole-chunk AES-CTR for every piece size', () => {
  for (const pieceSize of [8, 16, 24, 40, 64]) {
    const chunkSize = pieceSize * 40
    const n = 3
    const plainChunks = Array.from({ length: n }, () => rng(chunkSize))
    const innerKeys = Array.from({ length: n }, () => rng(32))
    const chunkIndices = [7, 2, 100_000]
    const src = createInnerPieceSource({ plainChunks, innerKeys, requestId, chunkIndices, pieceSize })
    const full = plainChunks.map((c, i) => encryptLayer(c, { key: innerKeys[i], requestId, chunkIndex: chunkIndices[i], layer: 'inner' }))
    for (let t = 0; t < 60; t++) {
      const slot = randomBelow(rng, n)
      const p = randomBelow(rng, chunkSize / pieceSize)
      assert.deepEqual(src(slot, p), full[slot].subarray(p * pieceSize, (p + 1) * pieceSize), `pieceSize ${pieceSize} slot ${slot} piece ${p}`)
    }
  }
})

test('inner keys open with the right secret and context only', () => {
  const keys = [rng(32), rng(32), rng(32)]
  const secret = rng(32)
  const sealed = sealInnerKeys(keys, secret, requestId)
  assert.equal(sealed.length, 12 + 3 * 32 + 16)
  assert.deepEqual(openInnerKeys(sealed, secret, requestId), keys)
  assert.deepEqual(sealInnerKeys(keys, secret, requestId), sealed, 'deterministic')
  assert.throws(() => openInnerKeys(sealed, rng(32), requestId), CapnetOpenError)
  assert.throws(() => openInnerKeys(sealed, secret, rng(16)), CapnetOpenError)
  const tampered = new Uint8Array(sealed)
  tampered[20] ^= 1
  assert.throws(() => openInnerKeys(tampered, secret, requestId), (e: unknown) => e instanceof SoukError && (e as SoukError).code === 'CAPNET_OPEN_FAILED')
  assert.throws(() => openInnerKeys(sealed.subarray(0, 20), secret, requestId), CapnetOpenError)
  assert.throws(() => openInnerKeys(sealed.subarray(0, sealed.length - 32), secret, requestId), CapnetOpenError)
})

test('a cache ticket opens only for its cache, request and chunk', () => {
  const innerKey = rng(32)
  const ticket = sealCacheTicket(innerKey, cacheSecret, requestId, 5)
  assert.deepEqual(openCacheTicket(ticket, cacheSecret, requestId, 5), innerKey)
  assert.throws(() => openCacheTicket(ticket, rng(32), requestId, 5), CapnetOpenError)
  assert.throws(() => openCacheTicket(ticket, cacheSecret, requestId, 6), CapnetOpenError)
  assert.throws(() => openCacheTicket(ticket, cacheSecret, rng(16), 5), CapnetOpenError)
})

test('secret commitments verify and never throw on bad data', () => {
  const s = rng(32)
  const c = secretCommitment(s)
  assert.equal(verifySecretCommitment(c, s), true)
  assert.equal(verifySecretCommitment(c, rng(32)), false)
  assert.equal(verifySecretCommitment(c, s.subarray(0, 31)), false)
  assert.equal(verifySecretCommitment(null as unknown as Uint8Array, s), false)
  assert.equal(verifySecretCommitment(c, 'x' as unknown as Uint8Array), false)
})
