/**
 * CAPnet's verify/open side, check by check at its boundary: what a client, a cache or the publisher runs on bytes
 * it did not make (bundles from the network, served chunks, tickets, claimed secrets, params). Each test fails if
 * the check it names is removed or moved by one (docs/testing.md, `npm run mutate -- capnet`).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, createHash, createHmac } from 'node:crypto'
import {
  describeContent, createBundle, serveChunk, deriveOuterKey, deriveInnerKey, peelOuterLayer, solveBundle, openBundle, parseBundle,
  encryptLayer, sealInnerKeys, openInnerKeys, sealCacheTicket, openCacheTicket, secretCommitment, verifySecretCommitment,
  generatePuzzle, solvePuzzle, verifySolution, verifySecretAgainstGoal, toChallenge, lastStepSlot, parsePuzzleParams, chunkLength,
  seededRng, CapnetError, CapnetOpenError, CapnetParamsError, ChunkIntegrityError, PuzzleUnsolvableError,
  type Bundle, type CacheAssignment, type PuzzleParams,
} from './index.js'
import { abytes, aint, bytesEqual } from './hash.js'

const chunkSize = 1024
const rng = seededRng('verify.mutation.test')
const video = rng(5 * chunkSize + 100) // 6 chunks, the last one 100 bytes
const content = describeContent(video, chunkSize)
const caches: CacheAssignment[] = ['cache-a', 'cache-b', 'cache-c', 'cache-d'].map((cacheId) => ({ cacheId, cacheSecret: rng(32) }))
const publisherSecret = rng(32)
const params = { rounds: 2, pieceSize: 16 }

function makeBundle(chunkIndices: number[], requestId = rng(16)) {
  const { bundle, record } = createBundle({ content, chunkIndices, caches: caches.slice(0, chunkIndices.length), requestId, publisherSecret, params, rng })
  const inner = bundle.entries.map((e, i) =>
    peelOuterLayer(
      serveChunk({ chunk: content.chunks[e.chunkIndex], chunkSize, cacheSecret: caches[i].cacheSecret, requestId, chunkIndex: e.chunkIndex, cacheTicket: e.cacheTicket }),
      deriveOuterKey(caches[i].cacheSecret, requestId, e.chunkIndex), requestId, e.chunkIndex,
    ))
  return { bundle, record, inner, requestId }
}
const badBundle = (re: RegExp) => (e: unknown) => e instanceof CapnetError && e.code === 'CAPNET_BAD_BUNDLE' && re.test(e.message)

describe('a proof is tied to its chunk index', () => {
  test('parseBundle refuses an entry carrying the Merkle proof of another chunk', () => {
    const { bundle } = makeBundle([0, 1, 2])
    const other = { ...bundle.entries[0], merkleProof: content.tree.proof(4) } // chunk 4's valid proof on chunk 0's entry
    assert.throws(() => parseBundle({ ...bundle, entries: [other, ...bundle.entries.slice(1)] }), badBundle(/merkle proof of chunk 0 does not match it/))
    const swapped = bundle.entries.map((e, i, all) => ({ ...e, merkleProof: all[(i + 1) % all.length].merkleProof }))
    assert.throws(() => parseBundle({ ...bundle, entries: swapped }), badBundle(/merkle proof of chunk 1 does not match it/))
    const wrongCount = { ...bundle.entries[1], merkleProof: { ...bundle.entries[1].merkleProof, leafCount: content.manifest.chunkCount + 1 } }
    assert.throws(() => parseBundle({ ...bundle, entries: [bundle.entries[0], wrongCount, bundle.entries[2]] }), badBundle(/merkle proof of chunk 1 does not match it/))
    assert.deepEqual(parseBundle(bundle), bundle)
  })

  test('why: a bundle that passed another chunk\'s proof off would deliver that chunk as this one', () => {
    // A dishonest publisher encrypts chunk 4 under chunk 0's inner key and ships chunk 4's proof on chunk 0's entry:
    // openBundle checks the plaintext against the proof it was given, so only parseBundle's tie catches the swap.
    const requestId = rng(16)
    const { bundle, record } = createBundle({ content, chunkIndices: [0, 1], caches: caches.slice(0, 2), requestId, publisherSecret, params, rng })
    const forged: Bundle = { ...bundle, entries: [{ ...bundle.entries[0], merkleProof: content.tree.proof(4) }, bundle.entries[1]] }
    const innerOf = (ci: number, plain: Uint8Array, key: Uint8Array) => encryptLayer(plain, { key, requestId, chunkIndex: ci, layer: 'inner' })
    const inner = [innerOf(0, content.chunks[4], record.innerKeys[0]), innerOf(1, content.chunks[1], record.innerKeys[1])]
    const opened = openBundle({ bundle: forged, innerChunks: inner, secret: record.puzzle.secret })
    assert.deepEqual(opened[0], content.chunks[4], 'openBundle alone accepts the swap')
    assert.throws(() => parseBundle(forged), badBundle(/merkle proof of chunk 0 does not match it/))
  })
})

describe('parseBundle', () => {
  const { bundle } = makeBundle([0, 1, 5])
  const bad: [string, unknown, RegExp][] = [
    ['chunkSize differs from the params', { ...bundle, manifest: { ...bundle.manifest, chunkSize: 2048, chunkCount: 3 } }, /puzzle.params.chunkSize must equal manifest.chunkSize/],
    ['chunkCount is not ceil(length / size)', { ...bundle, manifest: { ...bundle.manifest, chunkCount: 7 } }, /chunkCount must be ceil\(contentLength \/ chunkSize\)/],
    ['entry past the last chunk', { ...bundle, manifest: { ...bundle.manifest, contentLength: 5 * chunkSize, chunkCount: 5 } }, /entry chunkIndex 5 out of range/],
    ['short request id', { ...bundle, requestId: rng(7) }, /requestId length out of range/],
    ['long request id', { ...bundle, requestId: rng(65) }, /requestId length out of range/],
    ['empty cache id', { ...bundle, entries: bundle.entries.map((e, i) => (i ? e : { ...e, cacheId: '' })) }, /at `entries.0.cacheId`/],
    ['cache id of 257 chars', { ...bundle, entries: bundle.entries.map((e, i) => (i ? e : { ...e, cacheId: 'x'.repeat(257) })) }, /at `entries.0.cacheId`/],
    ['short ticket', { ...bundle, entries: bundle.entries.map((e, i) => (i ? e : { ...e, cacheTicket: e.cacheTicket.subarray(1) })) }, /expected 60 bytes at `entries.0.cacheTicket`/],
    ['too many siblings', { ...bundle, entries: bundle.entries.map((e, i) => (i ? e : { ...e, merkleProof: { ...e.merkleProof, siblings: Array.from({ length: 33 }, () => rng(32)) } })) }, /entries.0.merkleProof.siblings/],
    ['no entries', { ...bundle, entries: [] }, /at `entries`/],
    ['bytes that are not bytes', { ...bundle, requestId: 'abcdefgh' }, /expected bytes at `requestId`/],
    ['negative content length', { ...bundle, manifest: { ...bundle.manifest, contentLength: -1 } }, /manifest.contentLength/],
    ['sealed keys one byte long', { ...bundle, sealedInnerKeys: new Uint8Array([...bundle.sealedInnerKeys, 0]) }, /sealedInnerKeys has the wrong length/],
  ]
  for (const [what, input, re] of bad) {
    test(`refuses: ${what}`, () => { assert.throws(() => parseBundle(input), badBundle(re)) })
  }

  test('accepts the boundaries: request ids of 8 and 64 bytes, a 256-char cache id, 32 siblings', () => {
    for (const len of [8, 64]) {
      const { bundle: b } = makeBundle([0, 1], rng(len))
      assert.equal(parseBundle(b).requestId.length, len)
    }
    const long = { ...bundle, entries: bundle.entries.map((e, i) => (i ? e : { ...e, cacheId: 'x'.repeat(256) })) }
    assert.equal(parseBundle(long).entries[0].cacheId.length, 256)
    const many = { ...bundle, entries: bundle.entries.map((e, i) => (i ? e : { ...e, merkleProof: { ...e.merkleProof, siblings: Array.from({ length: 32 }, () => rng(32)) } })) }
    assert.equal(parseBundle(many).entries[0].merkleProof.siblings.length, 32)
  })

  test('lists every problem it found', () => {
    const input = { ...bundle, requestId: rng(7), entries: bundle.entries.map((e) => ({ ...e, cacheId: 'same' })) }
    assert.throws(() => parseBundle(input), (e: unknown) => e instanceof CapnetError && /^Invalid bundle - requestId length out of range at `requestId`; entries must name different caches$/.test(e.message.split('\n')[0]) && (e.details as { issues: string[] }).issues.length === 2)
    const both = { ...bundle, entries: bundle.entries.map((e) => ({ ...e, cacheId: 'same' })), sealedInnerKeys: bundle.sealedInnerKeys.subarray(1) }
    assert.throws(() => parseBundle(both), (e: unknown) => e instanceof CapnetError && (e.details as { issues: string[] }).issues.length === 2 && /wrong length; entries must name different caches$/.test(e.message.split('\n')[0]))
  })
})

describe('openBundle', () => {
  test('returns each chunk at its real length: the short last chunk without its padding', () => {
    const { bundle, inner, record } = makeBundle([5, 0])
    const out = openBundle({ bundle, innerChunks: inner, secret: record.puzzle.secret })
    assert.equal(out[0].length, 100)
    assert.deepEqual(out[0], content.chunks[5])
    assert.deepEqual(out[1], content.chunks[0])
  })

  test('padding that is not zero is an integrity failure (the Merkle proof covers only the real bytes)', () => {
    const { bundle, inner, record } = makeBundle([5, 0])
    const tampered = inner.map((c) => new Uint8Array(c))
    tampered[0][chunkSize - 1] ^= 1 // CTR: flips the last padding byte of chunk 5
    assert.throws(() => openBundle({ bundle, innerChunks: tampered, secret: record.puzzle.secret }), (e: unknown) => e instanceof ChunkIntegrityError && e.details.chunkIndex === 5)
    const body = inner.map((c) => new Uint8Array(c))
    body[1][0] ^= 1
    assert.throws(() => openBundle({ bundle, innerChunks: body, secret: record.puzzle.secret }), (e: unknown) => e instanceof ChunkIntegrityError && e.details.chunkIndex === 0)
  })

  test('the inner chunk count must match the entries, and so must the sealed keys', () => {
    const { bundle, inner, record } = makeBundle([0, 1, 2])
    assert.throws(() => openBundle({ bundle, innerChunks: inner.slice(1), secret: record.puzzle.secret }), (e: unknown) => e instanceof RangeError && /expected 3 inner chunks, got 2/.test(e.message))
    const fewer = { ...bundle, sealedInnerKeys: sealInnerKeys(record.innerKeys.slice(1), record.puzzle.secret, bundle.requestId) }
    assert.throws(() => openBundle({ bundle: fewer, innerChunks: inner, secret: record.puzzle.secret }), (e: unknown) => e instanceof CapnetError && e.code === 'CAPNET_BAD_BUNDLE')
    assert.throws(() => openBundle({ bundle, innerChunks: [inner[0], 'x' as never, inner[2]], secret: record.puzzle.secret }), (e: unknown) => e instanceof TypeError && /innerChunks\[1\]/.test(e.message))
  })

  test('each chunk is decrypted under its own key and chunk index', () => {
    const { bundle, inner, record } = makeBundle([2, 3])
    assert.throws(() => openBundle({ bundle, innerChunks: [inner[1], inner[0]], secret: record.puzzle.secret }), ChunkIntegrityError)
  })
})

describe('serveChunk and tickets', () => {
  test('a cache serves E_out(E_in(padded chunk)) under the keys of that request and chunk', () => {
    const requestId = rng(16)
    const { bundle, record } = createBundle({ content, chunkIndices: [5, 1], caches: caches.slice(0, 2), requestId, publisherSecret, params, rng })
    const e = bundle.entries[0]
    const served = serveChunk({ chunk: content.chunks[5], chunkSize, cacheSecret: caches[0].cacheSecret, requestId, chunkIndex: 5, cacheTicket: e.cacheTicket })
    const padded = new Uint8Array(chunkSize)
    padded.set(content.chunks[5])
    const innerSpec = { key: record.innerKeys[0], requestId, chunkIndex: 5, layer: 'inner' } as const
    const outerSpec = { key: deriveOuterKey(caches[0].cacheSecret, requestId, 5), requestId, chunkIndex: 5, layer: 'outer' } as const
    assert.deepEqual(served, encryptLayer(encryptLayer(padded, innerSpec), outerSpec))
    assert.deepEqual(record.innerKeys[0], deriveInnerKey(publisherSecret, requestId, 5))
    assert.throws(() => serveChunk({ chunk: content.chunks[1], chunkSize, cacheSecret: caches[0].cacheSecret, requestId, chunkIndex: 1, cacheTicket: e.cacheTicket }), CapnetOpenError)
  })

  test('a ticket that authenticates but does not hold a 32-byte key is refused', () => {
    // The ticket format of keys.ts, sealed by hand around a 16-byte key (only the ticket key's holder can do this).
    const cacheSecret = rng(32)
    const requestId = rng(16)
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
    const ctx = [u32(requestId.length), requestId, u32(3)]
    const hmac = createHmac('sha256', cacheSecret)
    for (const p of [Buffer.from('souk/capnet/ticket-key/v1'), ...ctx]) hmac.update(p)
    const key = hmac.digest()
    const seal = (pt: Uint8Array) => {
      const nonce = rng(12)
      const c = createCipheriv('aes-256-gcm', key, nonce)
      for (const a of [Buffer.from('souk/capnet/cache-ticket/v1'), ...ctx]) c.setAAD(a)
      const ct = Buffer.concat([c.update(pt), c.final()])
      return new Uint8Array(Buffer.concat([nonce, ct, c.getAuthTag()]))
    }
    const good = rng(32)
    assert.deepEqual(openCacheTicket(seal(good), cacheSecret, requestId, 3), good, 'the hand-made format is the real one')
    assert.throws(() => openCacheTicket(seal(rng(16)), cacheSecret, requestId, 3), (e: unknown) => e instanceof CapnetOpenError && e.details.chunkIndex === 3)
    assert.throws(() => openCacheTicket(seal(rng(33)), cacheSecret, requestId, 3), CapnetOpenError)
  })

  test('request ids are 8..64 bytes and chunk indices u32; secrets at least 16 bytes', () => {
    const cacheSecret = rng(32)
    for (const len of [8, 64]) assert.equal(deriveOuterKey(cacheSecret, rng(len), 0).length, 32)
    for (const len of [7, 65]) assert.throws(() => deriveOuterKey(cacheSecret, rng(len), 0), (e: unknown) => e instanceof RangeError && new RegExp(`requestId must be 8\\.\\.64 bytes, got ${len}`).test(e.message))
    assert.throws(() => deriveOuterKey(cacheSecret, 'x'.repeat(16) as never, 0), TypeError)
    assert.equal(deriveOuterKey(cacheSecret, rng(16), 2 ** 32 - 1).length, 32)
    assert.throws(() => deriveOuterKey(cacheSecret, rng(16), 2 ** 32), RangeError)
    assert.throws(() => deriveOuterKey(cacheSecret, rng(16), -1), RangeError)
    assert.equal(deriveOuterKey(rng(16), rng(16), 0).length, 32)
    assert.throws(() => deriveOuterKey(rng(15), rng(16), 0), (e: unknown) => e instanceof RangeError && /cacheSecret must be at least 16 bytes, got 15/.test(e.message))
    assert.throws(() => deriveInnerKey(rng(15), rng(16), 0), (e: unknown) => e instanceof RangeError && /publisherSecret must be at least 16 bytes/.test(e.message))
    assert.throws(() => openCacheTicket(new Uint8Array(60), rng(15), rng(16), 0), RangeError)
    // the derivation reads the whole context: request ids that differ only in their last byte give different keys
    const a = rng(16), b = new Uint8Array(a)
    b[15] ^= 1
    assert.notDeepEqual(deriveOuterKey(cacheSecret, a, 0), deriveOuterKey(cacheSecret, b, 0))
    assert.notDeepEqual(deriveOuterKey(cacheSecret, a, 0), deriveOuterKey(cacheSecret, a, 1))
  })

  test('a ticket for one request or chunk does not open for another, nor truncated', () => {
    const cacheSecret = rng(32)
    const requestId = rng(16)
    const t = sealCacheTicket(rng(32), cacheSecret, requestId, 0)
    assert.throws(() => openCacheTicket(t.subarray(0, 27), cacheSecret, requestId, 0), CapnetOpenError)
    assert.throws(() => openCacheTicket(t.subarray(0, 28), cacheSecret, requestId, 0), CapnetOpenError)
    assert.throws(() => openCacheTicket('t' as never, cacheSecret, requestId, 0), CapnetOpenError)
  })
})

describe('sealed inner keys', () => {
  test('an empty set of keys seals to 28 bytes and opens to none', () => {
    const secret = rng(32)
    const ctx = rng(16)
    const sealed = sealInnerKeys([], secret, ctx)
    assert.equal(sealed.length, 28)
    assert.deepEqual(openInnerKeys(sealed, secret, ctx), [])
  })

  test('the key count is authenticated: a box cut to fewer keys does not open', () => {
    const secret = rng(32)
    const ctx = rng(16)
    const sealed = sealInnerKeys([rng(32), rng(32)], secret, ctx)
    assert.deepEqual(openInnerKeys(sealInnerKeys([], secret, ctx), secret, ctx), [])
    const cut = new Uint8Array([...sealed.subarray(0, 12 + 32), ...sealed.subarray(sealed.length - 16)])
    assert.throws(() => openInnerKeys(cut, secret, ctx), CapnetOpenError)
    assert.throws(() => openInnerKeys(sealed.subarray(0, 27), secret, ctx), CapnetOpenError)
    assert.throws(() => openInnerKeys(sealed, rng(31), ctx), RangeError)
    assert.throws(() => openInnerKeys(new Uint8Array([...sealed, 1]), secret, ctx), CapnetOpenError)
  })

  test('the default context is empty, and a context given at sealing is required at opening', () => {
    const secret = rng(32)
    const keys = [rng(32)]
    assert.deepEqual(openInnerKeys(sealInnerKeys(keys, secret), secret), keys)
    assert.deepEqual(openInnerKeys(sealInnerKeys(keys, secret, new Uint8Array(0)), secret), keys)
    assert.throws(() => openInnerKeys(sealInnerKeys(keys, secret, rng(16)), secret), CapnetOpenError)
    assert.throws(() => openInnerKeys(sealInnerKeys(keys, secret), secret, rng(16)), CapnetOpenError)
  })
})

describe('commitments and solutions', () => {
  const small: PuzzleParams = { rounds: 2, pieceSize: 16, chunkSize: 1024, cachesPerRequest: 3 }
  const chunks = (seed: string, p = small) => { const r = seededRng(seed); return Array.from({ length: p.cachesPerRequest }, () => r(p.chunkSize)) }

  test('the commitment is sha256(label || secret), and only a 32-byte secret has one', () => {
    const s = rng(32)
    const ref = createHash('sha256').update('souk/capnet/commitment/v1').update(s).digest()
    assert.deepEqual(secretCommitment(s), new Uint8Array(ref))
    assert.throws(() => secretCommitment(rng(31)), RangeError)
    assert.equal(verifySecretCommitment(secretCommitment(s), s), true)
    const c = secretCommitment(s)
    assert.equal(verifySecretCommitment(c.subarray(0, 31), s), false)
    assert.equal(verifySecretCommitment(Array.from(c) as never, s), false)
  })

  test('verifySolution: the commitment, then the publisher\'s secret when it has one', () => {
    const innerChunks = chunks('vs')
    const puzzle = generatePuzzle({ innerChunks, params: small, rng: seededRng('vs') })
    assert.equal(verifySolution(puzzle, puzzle.secret), true)
    assert.equal(verifySolution({ commitment: puzzle.commitment }, puzzle.secret), true)
    const other = rng(32)
    assert.equal(verifySolution({ commitment: secretCommitment(other), secret: puzzle.secret }, other), false, 'publisher record: exact match required')
    assert.equal(verifySolution({ commitment: puzzle.commitment, secret: Array.from(puzzle.secret) as never }, puzzle.secret), false)
    assert.equal(verifySolution({ commitment: puzzle.commitment, secret: undefined }, puzzle.secret), true)
    assert.equal(verifySolution(undefined as never, puzzle.secret), false)
    assert.equal(verifySolution({ get commitment(): Uint8Array { throw new Error('boom') } }, puzzle.secret), false)
  })

  test('verifySecretAgainstGoal: the true secret and last chunk only, never throwing', () => {
    for (const p of [small, { ...small, cachesPerRequest: 1 }, { ...small, rounds: 3, cachesPerRequest: 4, pieceSize: 32 }]) {
      const innerChunks = chunks(`vg${p.cachesPerRequest}`, p)
      const puzzle = generatePuzzle({ innerChunks, params: p, rng: seededRng('vg') })
      const last = innerChunks[lastStepSlot(p)]
      assert.equal(lastStepSlot(p), p.cachesPerRequest - 1)
      assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret, last), true)
      assert.equal(verifySecretAgainstGoal(toChallenge(puzzle), puzzle.secret, last), true)
      const flipped = new Uint8Array(last)
      for (let i = 0; i < flipped.length; i++) flipped[i] ^= 0xff
      assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret, flipped), false)
      assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret, last.subarray(0, p.chunkSize - 1)), false)
      assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret, new Uint8Array([...last, 0])), false)
      assert.equal(verifySecretAgainstGoal(puzzle, new Uint8Array([...puzzle.secret, 0]), last), false)
      assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret.subarray(0, 31), last), false)
      assert.equal(verifySecretAgainstGoal(puzzle, Array.from(puzzle.secret) as never, last), false)
      assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret, Array.from(last) as never), false)
      assert.equal(verifySecretAgainstGoal({ ...puzzle, params: { ...p, rounds: 1 } }, puzzle.secret, last), false)
    }
  })

  test('the verifier reads the piece the secret selects, no other', () => {
    const innerChunks = chunks('piece')
    const puzzle = generatePuzzle({ innerChunks, params: small, rng: seededRng('piece') })
    const last = innerChunks[lastStepSlot(small)]
    const h = puzzle.secret
    const idx = (((h[0] << 8) | h[1]) * 2 ** 32 + (((h[2] << 24) | (h[3] << 16) | (h[4] << 8) | h[5]) >>> 0)) % (small.chunkSize / small.pieceSize)
    for (const at of [idx * 16, idx * 16 + 15]) {
      const t = new Uint8Array(last)
      t[at] ^= 1
      assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret, t), false, `byte ${at} of the selected piece`)
    }
    for (const at of [idx * 16 - 1, idx * 16 + 16].filter((x) => x >= 0 && x < small.chunkSize)) {
      const t = new Uint8Array(last)
      t[at] ^= 1
      assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret, t), true, `byte ${at} is outside the piece`)
    }
  })
})

describe('solvePuzzle input checks', () => {
  const small: PuzzleParams = { rounds: 2, pieceSize: 16, chunkSize: 256, cachesPerRequest: 2 }
  const r = seededRng('solve-checks')
  const innerChunks = [r(256), r(256)]
  const zeroStart = (n: number) => new Uint8Array(n) // randomBelow(...) = 0: start offset 0
  const puzzle = generatePuzzle({ innerChunks, params: small, rng: zeroStart })

  test('a solution at the very first start is found, and an aborted signal stops even that', () => {
    assert.equal(puzzle.startOffset, 0)
    const sol = solvePuzzle({ innerChunks, challenge: puzzle })
    assert.equal(sol.startOffset, 0)
    assert.equal(sol.hashesComputed, 4)
    assert.deepEqual(sol.secret, puzzle.secret)
    const ac = new AbortController()
    ac.abort(new Error('stop now'))
    assert.throws(() => solvePuzzle({ innerChunks, challenge: puzzle, signal: ac.signal }), /stop now/)
  })

  test('the signal is checked again every 64 starts', () => {
    const last = generatePuzzle({ innerChunks, params: small, rng: () => new Uint8Array([0, 0, 0, 15]) })
    assert.equal(last.startOffset, 15 * 16)
    let reads = 0
    const signal = { throwIfAborted() { reads++ } } as unknown as AbortSignal
    solvePuzzle({ innerChunks, challenge: last, signal })
    assert.equal(reads, 1, 'starts 0..15: one check, at start 0')
  })

  test('chunks: an array of at most chunkSize bytes each, as many as the params say', () => {
    assert.throws(() => solvePuzzle({ innerChunks: 'ab' as never, challenge: puzzle }), (e: unknown) => e instanceof TypeError && /innerChunks must be an array/.test(e.message))
    assert.throws(() => solvePuzzle({ innerChunks: [innerChunks[0], [1, 2] as never], challenge: puzzle }), (e: unknown) => e instanceof TypeError && /innerChunks\[1\] must be a Uint8Array/.test(e.message))
    assert.throws(() => solvePuzzle({ innerChunks: [innerChunks[0]], challenge: puzzle }), (e: unknown) => e instanceof RangeError && /must hold cachesPerRequest = 2 chunks, got 1/.test(e.message))
    assert.throws(() => solvePuzzle({ innerChunks: [innerChunks[0], new Uint8Array(257)], challenge: puzzle }), (e: unknown) => e instanceof RangeError && /innerChunks\[1\] is 257 bytes; chunks must be at most chunkSize = 256/.test(e.message))
    assert.throws(() => generatePuzzle({ innerChunks: [innerChunks[0], new Uint8Array(255)], params: small, rng }), (e: unknown) => e instanceof RangeError && /innerChunks\[1\] is 255 bytes; chunks must be chunkSize = 256/.test(e.message))
    assert.throws(() => solvePuzzle({ innerChunks, challenge: { ...puzzle, goal: Array.from(puzzle.goal) as never } }), RangeError)
    assert.throws(() => solvePuzzle({ innerChunks, challenge: { ...puzzle, goal: new Uint8Array(33) } }), /challenge.goal must be 32 bytes/)
  })

  test('a wrong chunk: every start is tried, and the hashes of each are counted', () => {
    const wrong = [innerChunks[0], r(256)]
    assert.throws(() => solvePuzzle({ innerChunks: wrong, challenge: puzzle }), (e: unknown) => e instanceof PuzzleUnsolvableError && e.details.startsTried === 16 && e.details.hashesComputed === 16 * 4)
  })

  test('a goal equal in its first two bytes only is not a solution', () => {
    const g = new Uint8Array(puzzle.goal)
    g[31] ^= 1
    assert.throws(() => solvePuzzle({ innerChunks, challenge: { ...puzzle, goal: g } }), PuzzleUnsolvableError)
    for (const k of [0, 1]) {
      const h = new Uint8Array(puzzle.goal)
      h[k] ^= 1
      assert.throws(() => solvePuzzle({ innerChunks, challenge: { ...puzzle, goal: h } }), PuzzleUnsolvableError)
    }
  })
})

describe('params parsing at the boundary', () => {
  test('results are frozen, reused, and parsing a result again returns it', () => {
    const p = parsePuzzleParams({ rounds: 3, pieceSize: 32, chunkSize: 4096, cachesPerRequest: 2 })
    assert.ok(Object.isFrozen(p))
    assert.equal(parsePuzzleParams(p), p)
    assert.equal(parsePuzzleParams({ rounds: 3, pieceSize: 32, chunkSize: 4096, cachesPerRequest: 2 }), p)
    assert.equal(parsePuzzleParams({ cachesPerRequest: 2, chunkSize: 4096, pieceSize: 32, rounds: 3 }), p)
    assert.notEqual(parsePuzzleParams({ rounds: 3, pieceSize: 32, chunkSize: 4096, cachesPerRequest: 3 }), p)
  })

  test('the memo never lets an input of another shape through', () => {
    parsePuzzleParams({}) // the defaults are now memoised
    parsePuzzleParams({ rounds: 2 })
    const bad = (input: unknown, what: string) => assert.throws(() => parsePuzzleParams(input), CapnetParamsError, what)
    bad({ rounds: '2' }, 'a string that prints like a memoised number')
    bad({ rounds: 2, extra: 1 }, 'an unknown key')
    bad(new (class { get rounds() { return 1 } })(), 'a class instance whose getter for..in does not see')
    bad(Object.assign(Object.create({ rounds: 1 }), {}), 'an inherited field')
    bad(Object.assign(Object.create({ pieceSize: 3 }), { rounds: 2 }), 'an inherited field next to an own one')
    bad('rounds', 'a string')
    assert.deepEqual(parsePuzzleParams(undefined), parsePuzzleParams({}))
    assert.deepEqual(parsePuzzleParams(null), parsePuzzleParams({}), 'null reads as no params')
  })

  test('each bound, inclusive', () => {
    const ok = (input: Partial<PuzzleParams>) => assert.doesNotThrow(() => parsePuzzleParams(input), JSON.stringify(input))
    const no = (input: Partial<PuzzleParams>, re: RegExp) => assert.throws(() => parsePuzzleParams(input), (e: unknown) => e instanceof CapnetParamsError && re.test(e.message), JSON.stringify(input))
    ok({ rounds: 2 }); ok({ rounds: 1024 }); no({ rounds: 1025 }, /rounds \(R\) must be <= 1024 at `rounds`/)
    ok({ pieceSize: 8, chunkSize: 1024 }); ok({ pieceSize: 64, chunkSize: 1024 }); no({ pieceSize: 65, chunkSize: 65 * 16 }, /pieceSize must be in \[8, 64\]/)
    no({ pieceSize: 7, chunkSize: 7 * 16 }, /pieceSize must be in \[8, 64\]/)
    ok({ chunkSize: 16, pieceSize: 16 }); ok({ chunkSize: 64 * 1024 * 1024 }); no({ chunkSize: 64 * 1024 * 1024 + 16 }, /chunkSize must be <= 67108864/)
    no({ chunkSize: 0 }, /chunkSize must be positive/)
    ok({ cachesPerRequest: 1 }); ok({ cachesPerRequest: 64 })
    no({ pieceSize: 16.5 } as never, /pieceSize must be an integer/)
    no({ chunkSize: '1' } as never, /chunkSize must be a number/)
    no({ cachesPerRequest: 2.5 } as never, /cachesPerRequest must be an integer/)
  })

  test('errors name every bad field and give the defaults', () => {
    assert.throws(() => parsePuzzleParams({ rounds: 0, cachesPerRequest: 0 }), (e: unknown) =>
      e instanceof CapnetParamsError && /^Invalid puzzle parameters - rounds \(R\) must be >= 2[^;]* at `rounds`; cachesPerRequest \(n\) must be in \[1, 64\] at `cachesPerRequest`/.test(e.message) &&
      (e.details as { issues: string[] }).issues.length === 2 && e.hints.some((h) => h.startsWith('Defaults: {"rounds":2')))
    assert.throws(() => parsePuzzleParams(5), (e: unknown) => e instanceof CapnetParamsError && /^Invalid puzzle parameters - [^`]+$/.test(e.message.split('\n')[0]))
  })
})

describe('small checks', () => {
  test('bytesEqual: same bytes only, false (not a throw) on different lengths', () => {
    assert.equal(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true)
    assert.equal(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false)
    assert.equal(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])), false)
    assert.equal(bytesEqual(new Uint8Array(0), new Uint8Array(0)), true)
  })

  test('abytes and aint: types, lengths and half-open ranges', () => {
    const b = new Uint8Array(3)
    assert.equal(abytes(b, 'b'), b)
    assert.equal(abytes(b, 'b', 3), b)
    assert.throws(() => abytes(b, 'b', 4), (e: unknown) => e instanceof RangeError && e.message === 'b must be 4 bytes, got 3')
    assert.throws(() => abytes(null, 'b'), (e: unknown) => e instanceof TypeError && e.message === 'b must be a Uint8Array, got null')
    assert.throws(() => abytes([1], 'b'), (e: unknown) => e instanceof TypeError && e.message === 'b must be a Uint8Array, got object')
    assert.equal(aint(0, 'i', 0, 2), 0)
    assert.equal(aint(1, 'i', 0, 2), 1)
    assert.throws(() => aint(2, 'i', 0, 2), (e: unknown) => e instanceof RangeError && e.message === 'i must be in [0, 2), got 2')
    assert.throws(() => aint(-1, 'i', 0, 2), RangeError)
    assert.throws(() => aint(1.5, 'i', 0, 2), (e: unknown) => e instanceof TypeError && e.message === 'i must be an integer, got 1.5')
    assert.throws(() => aint('1', 'i', 0, 2), TypeError)
  })

  test('chunkLength: full chunks, the short last one, nothing past it', () => {
    const m = content.manifest
    assert.equal(chunkLength(m, 0), chunkSize)
    assert.equal(chunkLength(m, 4), chunkSize)
    assert.equal(chunkLength(m, 5), 100)
    assert.throws(() => chunkLength(m, 6), RangeError)
    assert.throws(() => chunkLength(m, -1), RangeError)
  })

  test('a bundle round trip still solves and verifies (sanity for the checks above)', () => {
    const { bundle, inner, record } = makeBundle([3, 4, 5, 0])
    const { secret } = solveBundle({ bundle, innerChunks: inner })
    assert.deepEqual(secret, record.puzzle.secret)
    assert.equal(verifySolution(bundle.puzzle, secret), true)
  })
})
