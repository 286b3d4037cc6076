import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createCipheriv, createHmac } from 'node:crypto'
import fc from 'fast-check'
import { A, capnetKernels, freshKernels, kernelModuleBytes, setCapnetKernelsEnabled } from './wasm-kernels.js'
import { generatePuzzle, solvePuzzle, searchStarts } from './puzzle.js'
import { seededRng, sha256Js, hmacSha256Js, hmacKey } from './hash.js'
import { createInnerPieceSource, encryptLayer, layerIv } from './keys.js'
import { describeContent } from './content.js'
import { createBundle } from './bundle.js'
import { PuzzleUnsolvableError } from './errors.js'
import type { PuzzleParams } from './params.js'

const kernels = () => {
  const k = capnetKernels()
  assert.ok(k, 'WebAssembly SIMD is available on Node 20')
  return k
}

test('the module is deterministic and compiles', () => {
  assert.deepEqual(kernelModuleBytes(), kernelModuleBytes())
  assert.ok(new WebAssembly.Module(kernelModuleBytes() as BufferSource))
})

test('wasm SHA-256 equals node:crypto for every length 0..119 and random messages', () => {
  const k = kernels()
  const check = (m: Uint8Array) => {
    k.u8.set(m, A.MSG1)
    k.x.sha256(A.MSG1, m.length, A.OUT1)
    assert.equal(Buffer.from(k.u8.subarray(A.OUT1, A.OUT1 + 32)).toString('hex'), createHash('sha256').update(m).digest('hex'), `length ${m.length}`)
  }
  const rng = seededRng('wasm-sha')
  for (let len = 0; len < 120; len++) check(rng(len))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 119 }), check), { numRuns: 300 })
})

test('four-lane wasm SHA-256 (sha256x4) equals node:crypto on each lane, one and two blocks', () => {
  const k = kernels()
  fc.assert(fc.property(fc.integer({ min: 0, max: 119 }), fc.uint8Array({ minLength: 4 * 119, maxLength: 4 * 119 }), (len, bytes) => {
    const msgs = [0, 1, 2, 3].map((l) => bytes.subarray(119 * l, 119 * l + len))
    msgs.forEach((m, l) => k.u8.set(m, A.MSG4 + 128 * l))
    k.x.sha256x4(len)
    msgs.forEach((m, l) => assert.equal(Buffer.from(k.u8.subarray(A.OUT4 + 32 * l, A.OUT4 + 32 * l + 32)).toString('hex'), createHash('sha256').update(m).digest('hex'), `lane ${l}, ${len} bytes`))
  }), { numRuns: 200 })
})

test('wasm SHA-256 writing its digest over its own message (the chain hashes in place)', () => {
  const k = kernels()
  const m = seededRng('in-place')(48)
  k.u8.set(m, A.MSG1)
  k.x.sha256(A.MSG1, 48, A.MSG1)
  assert.deepEqual(Buffer.from(k.u8.subarray(A.MSG1, A.MSG1 + 32)), createHash('sha256').update(m).digest())
})

test('wasm AES-256 key expansion and ECB equal node:crypto (random keys and blocks)', () => {
  const k = kernels()
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 16, maxLength: 80 }), (key, data) => {
    const blocks = data.length >> 4
    const pt = data.subarray(0, blocks * 16)
    k.u8.set(key, A.ROUND_KEYS)
    k.x.aes_expand(A.ROUND_KEYS)
    k.u8.set(pt, A.CTR)
    k.x.aes_enc(A.ROUND_KEYS, A.CTR, blocks)
    const e = createCipheriv('aes-256-ecb', key, null)
    e.setAutoPadding(false)
    assert.deepEqual(Buffer.from(k.u8.subarray(A.CTR, A.CTR + pt.length)), e.update(pt))
  }), { numRuns: 300 })
})

test('aes_expand4 gives each of its four keys the round keys aes_expand gives it', () => {
  const k = kernels()
  fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 4, maxLength: 4 }), (keys) => {
    keys.forEach((key, i) => k.u8.set(key, A.ROUND_KEYS + 256 * i))
    k.x.aes_expand4(A.ROUND_KEYS)
    const four = keys.map((_, i) => k.u8.slice(A.ROUND_KEYS + 256 * i, A.ROUND_KEYS + 256 * i + 240))
    keys.forEach((key, i) => {
      k.u8.set(key, A.ROUND_KEYS)
      k.x.aes_expand(A.ROUND_KEYS)
      assert.deepEqual(four[i], k.u8.slice(A.ROUND_KEYS, A.ROUND_KEYS + 240), `key ${i}`)
    })
  }), { numRuns: 100 })
})

test('ctr: 128-bit big-endian counter blocks, carries across the low word and the 64-bit halves included', () => {
  const k = kernels()
  const ivs = fc.oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 4, max: 16 })).map(([head, ones]) => {
      const iv = new Uint8Array(16).fill(0xff) // 0xff.. tails: every carry path
      iv.set(head.subarray(0, 16 - ones), 0)
      return iv
    }),
  )
  fc.assert(fc.property(ivs, fc.integer({ min: 0, max: 2 ** 32 - 8 }), fc.integer({ min: 1, max: 5 }), (iv, first, blocks) => {
    const slot = A.ROUND_KEYS + 256 * 3
    k.u8.set(iv, slot + 240)
    k.x.ctr(slot, first, blocks)
    const base = BigInt('0x' + Buffer.from(iv).toString('hex'))
    for (let b = 0; b < blocks; b++) {
      const want = ((base + BigInt(first + b)) % (1n << 128n)).toString(16).padStart(32, '0')
      assert.equal(Buffer.from(k.u8.subarray(A.CTR + 16 * b, A.CTR + 16 * b + 16)).toString('hex'), want)
    }
  }), { numRuns: 300 })
})

test('AES-256 FIPS 197 Appendix C.3 vector', () => {
  const k = kernels()
  k.u8.set(Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex'), A.ROUND_KEYS)
  k.x.aes_expand(A.ROUND_KEYS)
  k.u8.set(Buffer.from('00112233445566778899aabbccddeeff', 'hex'), A.CTR)
  k.x.aes_enc(A.ROUND_KEYS, A.CTR, 1)
  assert.equal(Buffer.from(k.u8.subarray(A.CTR, A.CTR + 16)).toString('hex'), '8ea2b7ca516745bfeafc49904b496089')
})

/** Solves with the kernels on and off; both must agree with each other and with the publisher's record. */
function bothWays(chunks: Uint8Array[], p: PuzzleParams, seed: string): void {
  const puzzle = generatePuzzle({ innerChunks: chunks, params: p, rng: seededRng(seed) })
  const fast = solvePuzzle({ innerChunks: chunks, challenge: puzzle })
  const was = setCapnetKernelsEnabled(false)
  let slow
  try { slow = solvePuzzle({ innerChunks: chunks, challenge: puzzle }) } finally { setCapnetKernelsEnabled(was) }
  assert.deepEqual(fast, slow)
  assert.deepEqual(fast.secret, puzzle.secret)
  assert.equal(fast.startOffset, puzzle.startOffset)
  assert.equal(fast.hashesComputed, (puzzle.startOffset / p.pieceSize + 1) * p.rounds * p.cachesPerRequest)
}

test('four-lane wasm solver: same secret, start and hash count as the JavaScript solver (random params)', () => {
  fc.assert(fc.property(
    fc.record({
      rounds: fc.integer({ min: 2, max: 5 }),
      pieceSize: fc.integer({ min: 2, max: 16 }).map((x) => 4 * x), // 8..64, multiples of 4 (the wasm path)
      pieces: fc.integer({ min: 1, max: 70 }),
      cachesPerRequest: fc.integer({ min: 1, max: 6 }),
    }),
    fc.string({ maxLength: 8 }),
    ({ rounds, pieceSize, pieces, cachesPerRequest }, seed) => {
      const p = { rounds, pieceSize, chunkSize: pieces * pieceSize, cachesPerRequest }
      const rng = seededRng(`chunks/${seed}`)
      bothWays(Array.from({ length: cachesPerRequest }, () => rng(p.chunkSize)), p, `start/${seed}`)
    },
  ), { numRuns: 120 })
})

test('wasm solver: every start of a small puzzle, a non-power-of-two P, and an unsolvable goal', () => {
  const p = { rounds: 2, pieceSize: 12, chunkSize: 12 * 13, cachesPerRequest: 3 } // P = 13
  const rng = seededRng('all-starts')
  const chunks = Array.from({ length: 3 }, () => rng(p.chunkSize))
  for (let i = 0; i < 40; i++) bothWays(chunks, p, `s${i}`)
  const puzzle = generatePuzzle({ innerChunks: chunks, params: p, rng })
  const goal = new Uint8Array(puzzle.goal)
  goal[31] ^= 1
  assert.throws(() => solvePuzzle({ innerChunks: chunks, challenge: { params: p, goal } }), (e: unknown) => e instanceof PuzzleUnsolvableError && e.details.hashesComputed === 13 * 6)
})

test('searchStarts over sub-ranges finds the same start as one whole search (how workers split the work)', () => {
  const p = { rounds: 2, pieceSize: 16, chunkSize: 16 * 100, cachesPerRequest: 4 }
  const rng = seededRng('ranges')
  const chunks = Array.from({ length: 4 }, () => rng(p.chunkSize))
  for (let i = 0; i < 10; i++) {
    const puzzle = generatePuzzle({ innerChunks: chunks, params: p, rng })
    const s = puzzle.startOffset / 16
    for (const [from, to] of [[0, 100], [s, s + 1], [Math.max(0, s - 5), Math.min(100, s + 3)], [s - (s % 7), 100]]) {
      const r = searchStarts(chunks, p, puzzle.goal, from, to)
      assert.equal(r.start, s)
      assert.deepEqual(r.secret, puzzle.secret)
      assert.equal(r.hashes, (s - from + 1) * 8)
    }
    if (s > 0) assert.deepEqual(searchStarts(chunks, p, puzzle.goal, 0, s), { start: -1, secret: null, hashes: s * 8 })
  }
})

test('a fresh kernels instance has its own memory', () => {
  const a = freshKernels()
  const b = freshKernels()
  assert.ok(a && b)
  a.u8[A.MSG1] = 1
  assert.equal(b.u8[A.MSG1], 0)
  a.ensure(A.SOLVE_CHUNKS + 200_000)
  assert.ok(a.u8.length >= A.SOLVE_CHUNKS + 200_000)
})

/** Runs `fn` with the kernels off (the JavaScript / node:crypto paths). */
function withoutKernels<T>(fn: () => T): T {
  const was = setCapnetKernelsEnabled(false)
  try { return fn() } finally { setCapnetKernelsEnabled(was) }
}

test('with and without the kernels: same IVs, short hashes, piece sources, puzzles and bundles', () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 8, maxLength: 64 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom<'inner' | 'outer'>('inner', 'outer'),
    fc.uint8Array({ maxLength: 200 }),
    (requestId, chunkIndex, layer, msg) => {
      assert.deepEqual(layerIv(requestId, chunkIndex, layer), withoutKernels(() => layerIv(requestId, chunkIndex, layer)))
      assert.deepEqual(sha256Js(msg.subarray(0, 7), msg.subarray(7)), withoutKernels(() => sha256Js(msg)))
      assert.equal(Buffer.from(sha256Js(msg)).toString('hex'), createHash('sha256').update(msg).digest('hex'))
      const key = msg.subarray(0, (chunkIndex % 100) + 16)
      assert.deepEqual(hmacSha256Js(key, msg.subarray(3), requestId), withoutKernels(() => hmacSha256Js(key, msg.subarray(3), requestId)))
      assert.deepEqual(hmacKey(key), withoutKernels(() => hmacKey(key)))
      assert.equal(Buffer.from(hmacSha256Js(hmacKey(key), requestId)).toString('hex'), createHmac('sha256', key).update(requestId).digest('hex'))
    },
  ), { numRuns: 200 })
  const rng = seededRng('both-ways')
  for (const pieceSize of [8, 12, 16, 20, 24, 33, 48, 64]) {
    const p = { rounds: 3, pieceSize, chunkSize: pieceSize * 64, cachesPerRequest: 3 }
    const plainChunks = Array.from({ length: 3 }, () => rng(p.chunkSize))
    const args = { plainChunks, innerKeys: Array.from({ length: 3 }, () => rng(32)), requestId: rng(16), chunkIndices: [4, 0, 9], pieceSize }
    const fast = createInnerPieceSource(args)
    const slow = withoutKernels(() => createInnerPieceSource(args))
    for (let slot = 0; slot < 3; slot++) for (let i = 0; i < 64; i++) assert.deepEqual(fast(slot, i), slow(slot, i), `piece ${slot}/${i} of ${pieceSize}`)
    const a = generatePuzzle({ source: createInnerPieceSource(args), params: p, rng: seededRng(`p${pieceSize}`) })
    const b = withoutKernels(() => generatePuzzle({ source: createInnerPieceSource(args), params: p, rng: seededRng(`p${pieceSize}`) }))
    assert.deepEqual(a, b)
  }
  const content = describeContent(rng(4 * 4096 - 100), 4096)
  const caches = [0, 1, 2, 3].map((i) => ({ cacheId: `c${i}`, cacheSecret: rng(32) }))
  const bundleArgs = { content, chunkIndices: [3, 1, 0, 2], caches, requestId: rng(16), publisherSecret: rng(32), params: { pieceSize: 16 } }
  assert.deepEqual(createBundle({ ...bundleArgs, rng: seededRng('b') }), withoutKernels(() => createBundle({ ...bundleArgs, rng: seededRng('b') })))
  // piece sources of 1..9 slots (IVs four at a time plus the rest; keys expanded four at a time plus the rest)
  for (let n = 1; n <= 9; n++) {
    const args = { plainChunks: Array.from({ length: n }, () => rng(64)), innerKeys: Array.from({ length: n }, () => rng(32)), requestId: rng(8 + 6 * n), chunkIndices: Array.from({ length: n }, (_, i) => 3 * i + 1), pieceSize: 16 }
    const fast = createInnerPieceSource(args), slow = withoutKernels(() => createInnerPieceSource(args))
    for (let slot = 0; slot < n; slot++) for (let i = 0; i < 4; i++) assert.deepEqual(fast(slot, i), slow(slot, i), `${n} slots: piece ${slot}/${i}`)
  }
})

test('piece sources read interleaved keep their own keys (the kernels hold one source\'s round keys at a time)', () => {
  const rng = seededRng('interleaved')
  const mk = () => ({ plainChunks: [rng(256), rng(256)], innerKeys: [rng(32), rng(32)], requestId: rng(16), chunkIndices: [0, 1], pieceSize: 16 })
  const a = mk(), b = mk()
  const sa = createInnerPieceSource(a), sb = createInnerPieceSource(b)
  for (let i = 0; i < 16; i++) {
    const slot = i & 1
    const want = (x: typeof a) => encryptLayer(x.plainChunks[slot], { key: x.innerKeys[slot], requestId: x.requestId, chunkIndex: slot, layer: 'inner' }).subarray(16 * i, 16 * i + 16)
    assert.deepEqual(sa(slot, i), want(a))
    assert.deepEqual(sb(slot, i), want(b))
  }
})
