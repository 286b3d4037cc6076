import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createPuzzleSolverPool } from './capnet-solver-pool.js'
import { generatePuzzle, solvePuzzle, solvePuzzleParallel, searchStarts, type PuzzleSolverPool } from '../proofs/capnet/puzzle.js'
import { seededRng } from '../crypto/rng.js'
import { PuzzleUnsolvableError } from '../proofs/capnet/errors.js'
import type { PuzzleParams } from '../proofs/capnet/params.js'

const chunksFor = (p: PuzzleParams, seed: string) => {
  const rng = seededRng(seed)
  return Array.from({ length: p.cachesPerRequest }, () => rng(p.chunkSize))
}

test('solving across worker threads finds the same secret and start as the single-thread solver', async () => {
  const pool = createPuzzleSolverPool({ workers: 2 })
  try {
    const cases: PuzzleParams[] = [
      { rounds: 2, pieceSize: 16, chunkSize: 16 * 1024, cachesPerRequest: 4 }, // wasm four-lane path
      { rounds: 3, pieceSize: 10, chunkSize: 10 * 300, cachesPerRequest: 3 }, // JavaScript path (pieceSize % 4 != 0)
      { rounds: 2, pieceSize: 64, chunkSize: 64 * 7, cachesPerRequest: 1 }, // P = 7 < 2 * 4 lanes
    ]
    for (const p of cases) {
      const chunks = chunksFor(p, JSON.stringify(p))
      for (let i = 0; i < 6; i++) {
        const puzzle = generatePuzzle({ innerChunks: chunks, params: p, rng: seededRng(`${i}`) })
        const one = solvePuzzle({ innerChunks: chunks, challenge: puzzle })
        const many = await solvePuzzleParallel({ innerChunks: chunks, challenge: puzzle, pool })
        assert.deepEqual(many.secret, one.secret)
        assert.equal(many.startOffset, one.startOffset)
        assert.ok(many.hashesComputed >= p.rounds * p.cachesPerRequest)
      }
    }
  } finally {
    await pool.close()
  }
})

test('worker pool: concurrent puzzles, an unsolvable one, a short chunk, and reuse after close', async () => {
  const pool = createPuzzleSolverPool({ workers: 2 })
  try {
    const p = { rounds: 2, pieceSize: 16, chunkSize: 16 * 256, cachesPerRequest: 4 }
    const chunks = chunksFor(p, 'concurrent')
    const puzzles = Array.from({ length: 5 }, (_, i) => generatePuzzle({ innerChunks: chunks, params: p, rng: seededRng(`c${i}`) }))
    const sols = await Promise.all(puzzles.map((pz) => solvePuzzleParallel({ innerChunks: chunks, challenge: pz, pool })))
    sols.forEach((s, i) => assert.deepEqual(s.secret, puzzles[i].secret))
    const goal = new Uint8Array(puzzles[0].goal)
    goal[0] ^= 1
    await assert.rejects(solvePuzzleParallel({ innerChunks: chunks, challenge: { params: p, goal }, pool }), (e: unknown) => e instanceof PuzzleUnsolvableError && e.details.hashesComputed === 256 * 8 && e.details.startsTried === 256)
    const short = chunks.map((c, i) => (i === 2 ? c.subarray(0, 1000) : c))
    const one: unknown = (() => { try { return solvePuzzle({ innerChunks: short, challenge: puzzles[1] }) } catch (e) { return e } })()
    const many: unknown = await solvePuzzleParallel({ innerChunks: short, challenge: puzzles[1], pool }).catch((e: unknown) => e)
    if (one instanceof Error) assert.ok(many instanceof PuzzleUnsolvableError)
    else assert.deepEqual((many as { secret: Uint8Array }).secret, (one as { secret: Uint8Array }).secret)
    await pool.close()
    const again = await solvePuzzleParallel({ innerChunks: chunks, challenge: puzzles[2], pool })
    assert.deepEqual(again.secret, puzzles[2].secret)
  } finally {
    await pool.close()
  }
})

test('solvePuzzleParallel checks what a pool returns', async () => {
  const p = { rounds: 2, pieceSize: 16, chunkSize: 16 * 64, cachesPerRequest: 2 }
  const chunks = chunksFor(p, 'liar')
  const puzzle = generatePuzzle({ innerChunks: chunks, params: p, rng: seededRng('l') })
  const liar: PuzzleSolverPool = { search: async () => ({ start: 3, secret: new Uint8Array(32), hashes: 1 }) }
  await assert.rejects(solvePuzzleParallel({ innerChunks: chunks, challenge: puzzle, pool: liar }), /does not reproduce the goal/)
  const outOfRange: PuzzleSolverPool = { search: async () => ({ start: 64, secret: puzzle.secret, hashes: 1 }) }
  await assert.rejects(solvePuzzleParallel({ innerChunks: chunks, challenge: puzzle, pool: outOfRange }), /does not reproduce the goal/)
  const inline: PuzzleSolverPool = { search: async ({ innerChunks, params, goal, from, to }) => searchStarts(innerChunks, params, goal, from, to) }
  const sol = await solvePuzzleParallel({ innerChunks: chunks, challenge: puzzle, pool: inline })
  assert.deepEqual(sol.secret, puzzle.secret)
  assert.equal(sol.startOffset, puzzle.startOffset)
})

test('workers share batches from one counter: a tiny batch size, more workers than cores, same answers', async () => {
  const pool = createPuzzleSolverPool({ workers: 3, batch: 4 })
  try {
    const p = { rounds: 2, pieceSize: 16, chunkSize: 16 * 300, cachesPerRequest: 3 }
    const chunks = chunksFor(p, 'batches')
    for (let i = 0; i < 8; i++) {
      const puzzle = generatePuzzle({ innerChunks: chunks, params: p, rng: seededRng(`b${i}`) })
      const r = await pool.search({ innerChunks: chunks, params: p, goal: puzzle.goal, from: 0, to: 300 })
      assert.equal(r.start, puzzle.startOffset / 16)
      assert.deepEqual(r.secret, puzzle.secret)
      // batches are claimed in ascending order and searched whole: every start below the answer was tried
      assert.ok(r.hashes >= (r.start + 1) * 6, `${r.hashes} hashes`)
    }
    const puzzle = generatePuzzle({ innerChunks: chunks, params: p, rng: seededRng('sub') })
    const s = puzzle.startOffset / 16
    assert.equal((await pool.search({ innerChunks: chunks, params: p, goal: puzzle.goal, from: s, to: s + 1 })).start, s)
    const none = await pool.search({ innerChunks: chunks, params: p, goal: puzzle.goal, from: s + 1, to: 300 })
    assert.deepEqual([none.start, none.secret, none.hashes], [-1, null, (300 - s - 1) * 6])
  } finally {
    await pool.close()
  }
})

test('closing the pool mid-job rejects the job instead of leaving it pending; the pool works again afterwards', async () => {
  const pool = createPuzzleSolverPool({ workers: 2 })
  try {
    const p = { rounds: 2, pieceSize: 16, chunkSize: 16 * 4096, cachesPerRequest: 4 }
    const chunks = chunksFor(p, 'close')
    const puzzle = generatePuzzle({ innerChunks: chunks, params: p, rng: seededRng('close') })
    const goal = new Uint8Array(puzzle.goal)
    goal[5] ^= 1 // unsolvable: every worker runs through all its starts
    const job = pool.search({ innerChunks: chunks, params: p, goal, from: 0, to: 4096 })
    const settled = assert.rejects(job, /closed/)
    await pool.close()
    await settled
    const sol = await solvePuzzleParallel({ innerChunks: chunks, challenge: puzzle, pool })
    assert.deepEqual(sol.secret, puzzle.secret)
  } finally {
    await pool.close()
  }
})
