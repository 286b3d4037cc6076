/** The signer cache: full recovery (v checked) and the cheaper (r, s)-only check the lottery payee's hot path uses. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { addressOf, createSignerCache, signDigest } from './secp256k1.js'
import { selectCryptoBackends } from './backend.js'

const flipV = (s: Uint8Array) => { const o = Uint8Array.from(s); o[64] = o[64] === 27 ? 28 : 27; return o }
const key = (seed: number) => { const k = new Uint8Array(32); k[31] = seed; k[0] = 1; return k }

for (const backend of ['native', 'noble'] as const) {
  test(`signer cache (${backend}): verify needs the right v; verifyIgnoringV takes either v once the key is known, never another key, a high s or another digest`, () => {
    selectCryptoBackends(backend)
    try {
      fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (digest, other) => {
        fc.pre(Buffer.compare(digest, other) !== 0)
        const c = createSignerCache()
        const a = addressOf(key(1))
        const b = addressOf(key(2))
        const sig = signDigest(digest, key(1))
        // First sight of an address: its key is recovered, so v must be right even for verifyIgnoringV.
        assert.equal(c.verifyIgnoringV(digest, flipV(sig), a), false)
        assert.equal(c.verifyIgnoringV(digest, sig, a), true)
        assert.equal(c.verify(digest, sig, a), true)
        assert.equal(c.verify(digest, flipV(sig), a), false, 'a flipped v recovers another key')
        assert.equal(c.verifyIgnoringV(digest, flipV(sig), a), true, 'known key: v is not looked at')
        assert.equal(c.verifyIgnoringV(digest, sig, b), false, 'another signer')
        assert.equal(c.verifyIgnoringV(other, sig, a), false, 'another digest')
        const high = Uint8Array.from(sig)
        // n - s: the other, non-canonical encoding of the same signature.
        const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
        const s = BigInt(`0x${Buffer.from(sig.subarray(32, 64)).toString('hex')}`)
        high.set(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'), 32)
        assert.equal(c.verifyIgnoringV(digest, high, a), false, 'high s')
        assert.equal(c.verifyIgnoringV(digest, flipV(high), a), false, 'high s, v flipped')
        const bad = Uint8Array.from(sig)
        bad[64] = 1
        assert.equal(c.verifyIgnoringV(digest, bad, a), false, 'v outside 27/28')
      }), { numRuns: 50 })
    } finally {
      selectCryptoBackends('native')
    }
  })
}
