import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { hmacSha256, sha256, sha256Parts } from './sha256.js'

test('sha256, sha256Parts and hmacSha256 match node:crypto for every length 0..200 and return plain Uint8Arrays', () => {
  for (let len = 0; len <= 200; len++) {
    const m = randomBytes(len)
    const want = createHash('sha256').update(m).digest()
    const one = sha256(m)
    assert.equal(Object.getPrototypeOf(one), Uint8Array.prototype)
    assert.deepEqual(Buffer.from(one), want, `sha256 ${len}`)
    assert.deepEqual(Buffer.from(sha256Parts(m.subarray(0, len >> 1), m.subarray(len >> 1))), want, `sha256Parts ${len}`)
    const k = randomBytes(len % 70)
    assert.deepEqual(Buffer.from(hmacSha256(k, m.subarray(0, 5), m.subarray(5))), createHmac('sha256', k).update(m).digest(), `hmac ${len}`)
  }
})
