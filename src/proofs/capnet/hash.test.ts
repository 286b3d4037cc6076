import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { sha256Js, sha256Into, sha256PaddedLength, hmacSha256Js, hmacKey, pooledSystemRng } from './hash.js'
import { parsePuzzleParams } from './params.js'

test('JavaScript SHA-256 and HMAC-SHA-256 match node:crypto for every length 0..300', () => {
  for (let len = 0; len <= 300; len++) {
    const m = randomBytes(len)
    const want = createHash('sha256').update(m).digest()
    assert.deepEqual(Buffer.from(sha256Js(m.subarray(0, len >> 1), m.subarray(len >> 1))), want, `sha256 ${len}`)
    const buf = new Uint8Array(sha256PaddedLength(len)); buf.set(m)
    const out = new Uint8Array(32); sha256Into(buf, len, out)
    assert.deepEqual(Buffer.from(out), want, `sha256Into ${len}`)
    const k = randomBytes(len % 100)
    const mac = createHmac('sha256', k).update(m).digest()
    assert.deepEqual(Buffer.from(hmacSha256Js(k, m)), mac, `hmac ${len}`)
    assert.deepEqual(Buffer.from(hmacSha256Js(hmacKey(k), m.subarray(0, 3), m.subarray(3))), mac, `hmac schedule ${len}`)
  }
})

test('pooled CSPRNG hands out fresh bytes of the requested length', () => {
  const seen = new Set<string>()
  for (let i = 0; i < 3000; i++) seen.add(Buffer.from(pooledSystemRng(8)).toString('hex'))
  assert.equal(seen.size, 3000)
  assert.equal(pooledSystemRng(5000).length, 5000)
})

test('memoized params: same result as zod, invalid inputs still rejected every time', () => {
  const a = parsePuzzleParams({ rounds: 3, pieceSize: 16, chunkSize: 4096, cachesPerRequest: 2 })
  assert.equal(parsePuzzleParams({ rounds: 3, pieceSize: 16, chunkSize: 4096, cachesPerRequest: 2 }), a)
  assert.deepEqual(parsePuzzleParams({ rounds: undefined, pieceSize: 16, chunkSize: 4096, cachesPerRequest: 4 }), { rounds: 2, pieceSize: 16, chunkSize: 4096, cachesPerRequest: 4 })
  for (let i = 0; i < 2; i++) {
    assert.throws(() => parsePuzzleParams({ rounds: 1, chunkSize: 4096 }), /rounds/)
    assert.throws(() => parsePuzzleParams({ rounds: 2, chunkSize: 4096, extra: 1 }))
    assert.throws(() => parsePuzzleParams({ pieceSize: 16, chunkSize: 4100 }), /multiple/)
  }
  // the memo packs the fields into one number, an absent field as 0: an explicit 0 must not pass for "absent"
  parsePuzzleParams({})
  parsePuzzleParams({ chunkSize: 4096 })
  for (const bad of [{ rounds: 0 }, { pieceSize: 0 }, { cachesPerRequest: 0 }, { chunkSize: 0 }, { rounds: 0, chunkSize: 4096 }, { chunkSize: 2 ** 27 }, { rounds: -2 }]) {
    assert.throws(() => parsePuzzleParams(bad), JSON.stringify(bad))
  }
})
