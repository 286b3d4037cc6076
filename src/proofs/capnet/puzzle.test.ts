import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generatePuzzle, solvePuzzle, verifySolution, verifySecretAgainstGoal, toChallenge, lastStepSlot } from './puzzle.js'
import { parsePuzzleParams, expectedSolveHashes, piecesPerChunk, CAPNET_DEFAULT_PARAMS, type PuzzleParams } from './params.js'
import { createInnerPieceSource, encryptLayer, sealInnerKeys, openInnerKeys } from './keys.js'
import { createHash } from 'node:crypto'
import { seededRng } from './hash.js'
import { PuzzleUnsolvableError, CapnetParamsError } from './errors.js'

const small: PuzzleParams = { rounds: 2, pieceSize: 16, chunkSize: 4096, cachesPerRequest: 4 } // P = 256 starts
const chunksFor = (p: PuzzleParams, seed: string) => {
  const rng = seededRng(seed)
  return Array.from({ length: p.cachesPerRequest }, () => rng(p.chunkSize))
}

test('params: defaults, and a clear error for every bad field', () => {
  assert.deepEqual(parsePuzzleParams({}), { ...CAPNET_DEFAULT_PARAMS })
  assert.deepEqual(parsePuzzleParams({ rounds: 3 }).rounds, 3)
  const bad: [unknown, RegExp][] = [
    [{ rounds: 0 }, /rounds \(R\) must be >= 2.* at `rounds`/],
    [{ rounds: 1 }, /never reads the last chunk/],
    [{ rounds: 1.5 }, /rounds must be an integer/],
    [{ pieceSize: 4 }, /pieceSize must be in \[8, 64\]/],
    [{ pieceSize: 128, chunkSize: 1024 }, /pieceSize must be in \[8, 64\]/],
    [{ chunkSize: 1000, pieceSize: 16 }, /chunkSize \(1000\) must be a multiple of pieceSize \(16\)/],
    [{ cachesPerRequest: 0 }, /cachesPerRequest \(n\) must be in \[1, 64\]/],
    [{ cachesPerRequest: 65 }, /cachesPerRequest \(n\) must be in \[1, 64\]/],
    [{ rounds: '2' }, /rounds must be a number/],
    [{ difficulty: 3 }, /Unrecognized key/i],
  ]
  for (const [input, re] of bad) {
    assert.throws(() => parsePuzzleParams(input), (e: unknown) => e instanceof CapnetParamsError && e.code === 'CAPNET_PARAMS' && re.test(e.message), JSON.stringify(input))
  }
})

test('generate then solve recovers the secret, and the solution verifies', () => {
  const innerChunks = chunksFor(small, 'solve')
  const puzzle = generatePuzzle({ innerChunks, params: small, rng: seededRng('r1') })
  assert.equal(puzzle.startOffset % small.pieceSize, 0)
  const sol = solvePuzzle({ innerChunks, challenge: toChallenge(puzzle) })
  assert.deepEqual(sol.secret, puzzle.secret)
  assert.equal(sol.startOffset, puzzle.startOffset)
  // Sequential search: exactly (start index + 1) chains of R*n hashes.
  assert.equal(sol.hashesComputed, (puzzle.startOffset / small.pieceSize + 1) * small.rounds * small.cachesPerRequest)
  assert.equal(verifySolution(puzzle, sol.secret), true)
  assert.equal(verifySolution(toChallenge(puzzle), sol.secret), true)
  assert.equal(verifySecretAgainstGoal(puzzle, sol.secret, innerChunks[lastStepSlot(small)]), true)
})

test('generation is deterministic under a seeded rng, and equal via the lazy piece source', () => {
  const rng = seededRng('lazy')
  const plainChunks = chunksFor(small, 'plain')
  const innerKeys = plainChunks.map(() => rng(32))
  const requestId = rng(16)
  const chunkIndices = [4, 5, 6, 7]
  const innerChunks = plainChunks.map((c, i) => encryptLayer(c, { key: innerKeys[i], requestId, chunkIndex: chunkIndices[i], layer: 'inner' }))
  const a = generatePuzzle({ innerChunks, params: small, rng: seededRng('same') })
  const b = generatePuzzle({ innerChunks, params: small, rng: seededRng('same') })
  const c = generatePuzzle({ source: createInnerPieceSource({ plainChunks, innerKeys, requestId, chunkIndices, pieceSize: 16 }), params: small, rng: seededRng('same') })
  assert.deepEqual(a, b)
  assert.deepEqual(c, a)
  const d = generatePuzzle({ innerChunks, params: small, rng: seededRng('other') })
  assert.notEqual(d.startOffset === a.startOffset && Buffer.compare(d.goal, a.goal) === 0, true)
})

test('anti-collusion: a client missing, truncating or faking any one chunk cannot solve', () => {
  const innerChunks = chunksFor(small, 'collude')
  const puzzle = generatePuzzle({ innerChunks, params: small, rng: seededRng('c1') })
  const P = piecesPerChunk(small)
  for (let slot = 0; slot < small.cachesPerRequest; slot++) {
    const variants: [string, Uint8Array][] = [
      ['missing', new Uint8Array(0)],
      ['fake', seededRng(`fake${slot}`)(small.chunkSize)],
      ['zeros', new Uint8Array(small.chunkSize)],
    ]
    for (const [what, replacement] of variants) {
      const chunks = innerChunks.slice()
      chunks[slot] = replacement
      assert.throws(
        () => solvePuzzle({ innerChunks: chunks, challenge: toChallenge(puzzle) }),
        (e: unknown) => e instanceof PuzzleUnsolvableError && e.details.startsTried === P,
        `slot ${slot} ${what}`,
      )
    }
  }
})

test('a client holding only half of one chunk fails for most puzzles (success ~ 1/2^R)', () => {
  const p: PuzzleParams = { ...small, rounds: 3, chunkSize: 1024 }
  let solved = 0
  const trials = 40
  for (let t = 0; t < trials; t++) {
    const innerChunks = chunksFor(p, `half${t}`)
    const puzzle = generatePuzzle({ innerChunks, params: p, rng: seededRng(`h${t}`) })
    const chunks = innerChunks.slice()
    chunks[1] = chunks[1].subarray(0, p.chunkSize / 2)
    try { solvePuzzle({ innerChunks: chunks, challenge: puzzle }); solved++ } catch (e) { assert.ok(e instanceof PuzzleUnsolvableError) }
  }
  assert.ok(solved <= trials / 3, `solved ${solved}/${trials}`) // expected 1/8 = 5
})

test('wrong secrets are rejected and verification never throws', () => {
  const innerChunks = chunksFor(small, 'wrong')
  const puzzle = generatePuzzle({ innerChunks, params: small, rng: seededRng('w') })
  const wrong = new Uint8Array(puzzle.secret)
  wrong[31] ^= 1
  assert.equal(verifySolution(puzzle, wrong), false)
  assert.equal(verifySolution(toChallenge(puzzle), wrong), false)
  assert.equal(verifySolution(toChallenge(puzzle), puzzle.goal), false)
  assert.equal(verifySecretAgainstGoal(puzzle, wrong, innerChunks[lastStepSlot(small)]), false)
  assert.equal(verifySecretAgainstGoal(puzzle, puzzle.secret, innerChunks[0]), false)
  for (const junk of [null, undefined, 42, 'x', {}, new Uint8Array(0)]) {
    assert.equal(verifySolution(puzzle, junk as Uint8Array), false)
    assert.equal(verifySolution(junk as never, puzzle.secret), false)
    assert.equal(verifySecretAgainstGoal(puzzle, junk as Uint8Array, innerChunks[3]), false)
    assert.equal(verifySecretAgainstGoal(junk as never, puzzle.secret, innerChunks[3]), false)
  }
})

test('input checks: chunk count and size', () => {
  const innerChunks = chunksFor(small, 'checks')
  assert.throws(() => generatePuzzle({ innerChunks: innerChunks.slice(1), params: small, rng: seededRng('checks') }), /must hold cachesPerRequest = 4 chunks/)
  assert.throws(() => generatePuzzle({ innerChunks: [...innerChunks.slice(1), new Uint8Array(10)], params: small, rng: seededRng('checks') }), /chunks must be chunkSize = 4096/)
  const puzzle = generatePuzzle({ innerChunks, params: small, rng: seededRng('checks') })
  assert.throws(() => solvePuzzle({ innerChunks: [...innerChunks.slice(1), new Uint8Array(5000)], challenge: puzzle }), RangeError)
  assert.throws(() => solvePuzzle({ innerChunks, challenge: { ...puzzle, goal: new Uint8Array(3) } }), RangeError)
})

test('solving honours an abort signal', () => {
  const innerChunks = chunksFor(small, 'abort')
  const puzzle = generatePuzzle({ innerChunks, params: small, rng: seededRng('abort') })
  const ac = new AbortController()
  ac.abort(new Error('stop'))
  assert.throws(() => solvePuzzle({ innerChunks, challenge: puzzle, signal: ac.signal }), /stop/)
})

test('solving cost ~ (P+1)/2 x R*n hashes on average, for several difficulties', () => {
  const cases: PuzzleParams[] = [
    { rounds: 2, pieceSize: 16, chunkSize: 2048, cachesPerRequest: 1 },
    { rounds: 2, pieceSize: 32, chunkSize: 4096, cachesPerRequest: 3 },
    { rounds: 3, pieceSize: 8, chunkSize: 1024, cachesPerRequest: 4 },
  ]
  for (const p of cases) {
    const innerChunks = chunksFor(p, `cost${p.rounds}${p.cachesPerRequest}`)
    const rng = seededRng(`cost-rng${p.rounds}${p.cachesPerRequest}`)
    const trials = 60
    let total = 0
    for (let t = 0; t < trials; t++) {
      const puzzle = generatePuzzle({ innerChunks, params: p, rng })
      total += solvePuzzle({ innerChunks, challenge: puzzle }).hashesComputed
    }
    const ratio = total / trials / expectedSolveHashes(p)
    // Mean of a uniform start: relative std error ~ 0.58/sqrt(60) ~ 7.5%; allow 4 sigma.
    assert.ok(ratio > 0.7 && ratio < 1.3, `params ${JSON.stringify(p)}: mean/expected = ${ratio.toFixed(3)}`)
  }
})

/** Reference model of the chain, written from the spec in puzzle.ts (no validation: it also runs R = 1). */
function refChain(chunks: Uint8Array[], p: PuzzleParams, s: number): Uint8Array[] {
  const P = p.chunkSize / p.pieceSize
  const H = (...parts: Uint8Array[]) => { const h = createHash('sha256'); for (const x of parts) h.update(x); return new Uint8Array(h.digest()) }
  const piece = (slot: number, idx: number) => chunks[slot].subarray(idx * p.pieceSize, (idx + 1) * p.pieceSize)
  const u32 = Buffer.alloc(4)
  u32.writeUInt32BE(s)
  const hs = [H(u32, piece(0, s / p.pieceSize))]
  for (let j = 1; j < p.rounds * p.cachesPerRequest; j++) {
    const prev = hs[j - 1]
    const idx = Number(Buffer.from(prev.subarray(0, 6)).readUIntBE(0, 6) % P)
    hs.push(H(prev, piece(j % p.cachesPerRequest, idx)))
  }
  return hs
}

test('the implementation matches the reference chain (goal = last hash, secret = second-to-last)', () => {
  for (const p of [small, { ...small, rounds: 3, cachesPerRequest: 5, pieceSize: 24, chunkSize: 2400 }]) {
    const innerChunks = chunksFor(p, 'ref')
    const puzzle = generatePuzzle({ innerChunks, params: p, rng: seededRng('ref') })
    const hs = refChain(innerChunks, p, puzzle.startOffset)
    assert.deepEqual(puzzle.goal, hs[hs.length - 1])
    assert.deepEqual(puzzle.secret, hs[hs.length - 2])
  }
})

test('why R >= 2: with R = 1 the sealed inner keys let a client skip the last chunk; with R = 2 they do not', () => {
  const attack = (p: PuzzleParams) => {
    const innerChunks = chunksFor(p, `oracle${p.rounds}`)
    const s = 17 * p.pieceSize
    const secret = refChain(innerChunks, p, s).at(-2)!
    const sealed = sealInnerKeys([new Uint8Array(32)], secret)
    const withoutLast = innerChunks.slice()
    withoutLast[p.cachesPerRequest - 1] = new Uint8Array(p.chunkSize) // never downloaded
    for (let k = 0; k < p.chunkSize / p.pieceSize; k++) {
      const candidate = refChain(withoutLast, p, k * p.pieceSize).at(-2)!
      try { openInnerKeys(sealed, candidate); return true } catch { /* wrong candidate */ }
    }
    return false
  }
  assert.equal(attack({ ...small, rounds: 1 }), true, 'R = 1 is broken, hence rejected by the params schema')
  assert.equal(attack({ ...small, rounds: 2 }), false)
})
