import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addressOf, bytesToHex, keccak256, keccakBackend, recoverDigest, secpBackend, selectCryptoBackends, signDigest } from './index.js'

const sample = () => {
  const key = keccak256(new TextEncoder().encode('key'))
  const digest = keccak256(new TextEncoder().encode('digest'))
  const sig = signDigest(digest, key)
  return { keccakBackend, secpBackend, key: bytesToHex(key), sig: bytesToHex(sig), address: addressOf(key), recovered: recoverDigest(digest, sig) }
}

test("selectCryptoBackends('noble') selects the noble backends, which sign, recover and derive addresses as the native ones do", () => {
  const dflt = sample()
  try {
    assert.deepEqual(selectCryptoBackends('noble'), { keccak: 'noble', secp256k1: 'noble' })
    const pure = sample()
    assert.equal(pure.keccakBackend, 'noble')
    assert.equal(pure.secpBackend, 'noble')
    assert.equal(pure.key, dflt.key)
    assert.equal(pure.sig, dflt.sig)
    assert.equal(pure.address, dflt.address)
    assert.deepEqual(pure.recovered, dflt.recovered)
    assert.deepEqual(pure.recovered, { ok: true, address: dflt.address })
  } finally {
    // Back to the default: native wherever the native builds loaded (the reference machine has both).
    selectCryptoBackends('native')
  }
  assert.deepEqual(sample(), dflt)
  assert.throws(() => selectCryptoBackends('wasm' as never), TypeError)
})
