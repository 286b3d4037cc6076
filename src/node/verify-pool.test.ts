/** The worker-thread signature verifier: the same verdicts as the inline check, batched, across workers. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { recoverPublicKey, signDigest, verifyWithPublicKey } from '../crypto/secp256k1.js'
import { createVerifierPool } from './verify-pool.js'

test('createVerifierPool: 2,000 checks asked at once (valid, forged, another key, another digest, high s, short) get the inline verdicts, spread over 2 workers', async () => {
  const pool = createVerifierPool({ workers: 2, maxBatch: 300 })
  try {
    await pool.ready()
    assert.deepEqual(pool.stats(), { messages: 0, signatures: 0 }, 'ready() sends no signature')
    const k1 = randomBytes(32), k2 = randomBytes(32)
    const d0 = randomBytes(32)
    const pub1 = recoverPublicKey(d0, signDigest(d0, k1))!
    const cases = Array.from({ length: 2000 }, (_, i) => {
      const digest = randomBytes(32)
      let sig = signDigest(digest, i % 5 === 1 ? k2 : k1)
      let d = digest
      if (i % 5 === 2) { sig = Uint8Array.from(sig); sig[10]! ^= 1 }
      if (i % 5 === 3) d = randomBytes(32)
      if (i % 5 === 4 && i % 10 === 4) sig = sig.subarray(0, 64)
      return { d, sig, want: sig.length === 65 && verifyWithPublicKey(d, sig, pub1) }
    })
    const got = await Promise.all(cases.map((c) => pool.verify(c.d, c.sig, pub1)))
    assert.deepEqual(got, cases.map((c) => c.want))
    assert.ok(cases.filter((c) => c.want).length > 300 && cases.filter((c) => !c.want).length > 1000, 'both verdicts occur')
    // One more round after the first: the workers are reused.
    assert.equal(await pool.verify(cases[0]!.d, cases[0]!.sig, pub1), cases[0]!.want)
  } finally {
    await pool.close()
  }
})

test('createVerifierPool: close() fails what is still queued, and the pool starts again when used after it', async () => {
  const pool = createVerifierPool({ workers: 1 })
  const k = randomBytes(32), d = randomBytes(32)
  const sig = signDigest(d, k)
  const pub = recoverPublicKey(d, sig)!
  const refused = assert.rejects(pool.verify(d, sig, pub), /closed/)
  await pool.close()
  await refused
  assert.equal(await pool.verify(d, sig, pub), true)
  await pool.close()
})
