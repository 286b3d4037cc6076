/**
 * The CAPnet delivery puzzle (protocols.md §4; CAPnet, IEEE CNS 2019): a hash chain over the inner-encrypted chunks
 * c_0..c_{n-1} of a bundle, all `chunkSize` bytes, read in aligned `pieceSize`-byte pieces (P = chunkSize/pieceSize
 * pieces per chunk).
 *
 * ```
 * s        = pieceSize * uniform[0, P)                       (secret start offset, bytes, in c_0)
 * h_0      = SHA-256( u32be(s) || c_0[s .. s+pieceSize) )
 * h_j      = SHA-256( h_{j-1} || piece_{idx_j}(c_{j mod n}) )   for j = 1 .. R*n-1
 * idx_j    = u48be(h_{j-1}[0..6]) mod P                      (piece index; bias <= P/2^48)
 * goal     = h_{R*n-1}
 * secret   = h_{R*n-2}
 * ```
 *
 * The client receives goal, the params and commitment = H(label || secret); it tries s = 0, pieceSize, 2*pieceSize, ...
 * until the chain reproduces goal. Publisher cost: R*n hashes. Solver cost: (P+1)/2 * R*n hashes on average.
 *
 * Implementation: the chain's SHA-256 runs in WebAssembly (wasm-kernels.ts) — generation one step per kernel call
 * (fused with the AES of a lazy inner piece when the source is createInnerPieceSource's), the solver four starts at
 * a time in SIMD lanes — with the JavaScript chain below as the fallback and the reference; both give the same
 * bytes. {@link solvePuzzleParallel} spreads the starts over an injected {@link PuzzleSolverPool}.
 *
 * @example
 * ```ts
 * import { generatePuzzle, solvePuzzle, verifySolution, toChallenge } from './puzzle.js'
 * const puzzle = generatePuzzle({ innerChunks, params, rng })
 * const { secret } = solvePuzzle({ innerChunks, challenge: toChallenge(puzzle) })
 * verifySolution(puzzle, secret) // true
 * ```
 */
import { sha256 } from '../../crypto/sha256.js'
import { sha256Into, sha256PaddedLength, bytesEqual } from './hash.js'
import { randomBelow, type Rng } from '../../crypto/rng.js'
import { secretCommitment, verifySecretCommitment, FUSED_CHAIN, type FusedChain, type PieceSource } from './keys.js'
import { parsePuzzleParams, piecesPerChunk, chainLength, type PuzzleParams } from './params.js'
import { PuzzleUnsolvableError } from './errors.js'
import { A, capnetKernels, freshKernels, type Kernels } from './wasm-kernels.js'

/** The publisher's private record of one puzzle. Never send `secret` or `startOffset`; never log them. */
export interface Puzzle {
  params: PuzzleParams
  /** h_{R*n-1}. */
  goal: Uint8Array
  /** h_{R*n-2}: seals the inner keys and is the caches' proof of service. */
  secret: Uint8Array
  /** s, in bytes (a multiple of pieceSize) into the chunk of slot 0. */
  startOffset: number
  /** secretCommitment(secret). */
  commitment: Uint8Array
}

/** What the client is given (public). */
export interface PuzzleChallenge {
  params: PuzzleParams
  goal: Uint8Array
  commitment: Uint8Array
}

/** Solver result. */
export interface PuzzleSolution {
  secret: Uint8Array
  startOffset: number
  /** Hashes the solver computed, all starts included (the work done). */
  hashesComputed: number
}

/** The public part of a puzzle. */
export function toChallenge(p: Puzzle | PuzzleChallenge): PuzzleChallenge {
  return { params: p.params, goal: p.goal, commitment: p.commitment }
}

/** A source reading pieces straight from whole inner-encrypted chunks (pieces past a short chunk's end are null). */
function chunkSource(chunks: readonly Uint8Array[], pieceSize: number): (slot: number, pieceIndex: number) => Uint8Array | null {
  return (slot, pieceIndex) => {
    const c = chunks[slot]
    const start = pieceIndex * pieceSize
    return start + pieceSize <= c.length ? c.subarray(start, start + pieceSize) : null
  }
}

function pieceIndexOf(h: Uint8Array, pieces: number): number {
  // u48be(h[0..6]) mod P, exact in doubles (< 2^53).
  const hi = (h[0] << 8) | h[1]
  const lo = ((h[2] << 24) | (h[3] << 16) | (h[4] << 8) | h[5]) >>> 0
  return (hi * 4294967296 + lo) % pieces
}

/**
 * Runs the chain from start offset `s`. Returns h_{L-2} and h_{L-1}, or prev = null when a needed piece is missing
 * (with the hashes computed until then).
 * `buf` is a scratch buffer of sha256PaddedLength(32 + pieceSize) bytes (h_{j-1} || piece, hashed in place: each
 * digest lands where the next step's message starts); `buf0` one of sha256PaddedLength(4 + pieceSize) bytes.
 */
function runChain(
  read: (slot: number, pieceIndex: number) => Uint8Array | null,
  p: PuzzleParams,
  s: number,
  buf: Uint8Array,
  buf0: Uint8Array,
): { prev: Uint8Array; last: Uint8Array; hashes: number } | { prev: null; hashes: number } {
  const n = p.cachesPerRequest
  const P = piecesPerChunk(p)
  const L = chainLength(p)
  const ps = p.pieceSize
  const first = read(0, s / ps)
  if (!first) return { prev: null, hashes: 0 }
  buf0[0] = s >>> 24; buf0[1] = (s >>> 16) & 0xff; buf0[2] = (s >>> 8) & 0xff; buf0[3] = s & 0xff
  for (let i = 0; i < ps; i++) buf0[4 + i] = first[i]
  sha256Into(buf0, 4 + ps, buf, 0) // h_0 -> buf[0..32)
  const prev = new Uint8Array(32)
  for (let j = 1; j < L; j++) {
    const piece = read(j % n, pieceIndexOf(buf, P))
    if (!piece) return { prev: null, hashes: j }
    if (j === L - 1) prev.set(buf.subarray(0, 32))
    for (let i = 0; i < ps; i++) buf[32 + i] = piece[i]
    sha256Into(buf, 32 + ps, buf, 0)
  }
  if (L === 1) prev.set(buf.subarray(0, 32)) // not reachable with R >= 2; keeps prev defined
  return { prev, last: buf.slice(0, 32), hashes: L }
}

/** True while a WebAssembly chain runs (a piece source that generated a puzzle itself would clobber its scratch). */
let chainBusy = false

/** {@link runChain} with the SHA-256 steps in WebAssembly, hashing in place in the kernels' CHAIN scratch. */
function runChainWasm(
  k: Kernels, read: (slot: number, pieceIndex: number) => Uint8Array | null, p: PuzzleParams, s: number,
): { prev: Uint8Array; last: Uint8Array; hashes: number } | { prev: null; hashes: number } {
  const n = p.cachesPerRequest
  const P = piecesPerChunk(p)
  const L = chainLength(p)
  const ps = p.pieceSize
  const M = A.CHAIN
  chainBusy = true
  try {
    const first = read(0, s / ps)
    if (!first) return { prev: null, hashes: 0 }
    let mem = k.u8
    mem[M] = s >>> 24; mem[M + 1] = (s >>> 16) & 0xff; mem[M + 2] = (s >>> 8) & 0xff; mem[M + 3] = s & 0xff
    for (let i = 0; i < ps; i++) mem[M + 4 + i] = first[i]
    k.x.sha256(M, 4 + ps, M)
    let prev: Uint8Array | null = null
    for (let j = 1; j < L; j++) {
      mem = k.u8
      const hi = (mem[M] << 8) | mem[M + 1]
      const lo = ((mem[M + 2] << 24) | (mem[M + 3] << 16) | (mem[M + 4] << 8) | mem[M + 5]) >>> 0
      const piece = read(j % n, (hi * 4294967296 + lo) % P)
      if (!piece) return { prev: null, hashes: j }
      mem = k.u8
      if (j === L - 1) prev = mem.slice(M, M + 32)
      for (let i = 0; i < ps; i++) mem[M + 32 + i] = piece[i]
      k.x.sha256(M, 32 + ps, M)
    }
    return { prev: prev!, last: k.u8.slice(M, M + 32), hashes: L }
  } finally {
    chainBusy = false
  }
}

/** Scratch buffers for {@link runChain}. */
function chainBuffers(p: PuzzleParams): [Uint8Array, Uint8Array] {
  return [new Uint8Array(sha256PaddedLength(32 + p.pieceSize)), new Uint8Array(sha256PaddedLength(4 + p.pieceSize))]
}

function checkChunks(chunks: readonly Uint8Array[], p: PuzzleParams, exact: boolean): void {
  if (!Array.isArray(chunks)) throw new TypeError('innerChunks must be an array of Uint8Array')
  if (chunks.length !== p.cachesPerRequest) throw new RangeError(`innerChunks must hold cachesPerRequest = ${p.cachesPerRequest} chunks, got ${chunks.length}`)
  chunks.forEach((c, i) => {
    if (!(c instanceof Uint8Array)) throw new TypeError(`innerChunks[${i}] must be a Uint8Array`)
    if (exact ? c.length !== p.chunkSize : c.length > p.chunkSize) {
      throw new RangeError(`innerChunks[${i}] is ${c.length} bytes; chunks must be ${exact ? '' : 'at most '}chunkSize = ${p.chunkSize} bytes (pad the last chunk of an object)`)
    }
  })
}

/** Arguments of {@link generatePuzzle}: the inner-encrypted chunks, or a piece source computing them lazily. */
export type GeneratePuzzleParameters = {
  /** Difficulty; validated, defaults fill missing fields. */
  params?: Partial<PuzzleParams>
  /**
   * Random bytes for the secret start offset: a CSPRNG for real puzzles (the node passes one); a seeded stream in
   * tests and simulations.
   */
  rng: Rng
} & ({ innerChunks: readonly Uint8Array[]; source?: never } | { source: PieceSource; innerChunks?: never })

/**
 * Generates a puzzle: picks the secret start offset and walks the chain (R*n hashes).
 *
 * @example
 * ```ts
 * const puzzle = generatePuzzle({ innerChunks, params: { rounds: 2, cachesPerRequest: innerChunks.length }, rng: pooledSystemRng })
 * ```
 */
export function generatePuzzle(args: GeneratePuzzleParameters): Puzzle {
  const params = parsePuzzleParams(args.params ?? {})
  let read: (slot: number, pieceIndex: number) => Uint8Array | null
  if (args.innerChunks) {
    checkChunks(args.innerChunks, params, true)
    read = chunkSource(args.innerChunks, params.pieceSize)
  } else if (typeof args.source === 'function') {
    read = args.source
  } else {
    throw new TypeError('generatePuzzle needs innerChunks or a piece source')
  }
  const startOffset = randomBelow(args.rng, piecesPerChunk(params)) * params.pieceSize
  const fused = (read as { [FUSED_CHAIN]?: FusedChain })[FUSED_CHAIN]
  const k = chainBusy ? null : capnetKernels()
  const r = (k && fused?.(params, startOffset)) || (k ? runChainWasm(k, read, params, startOffset) : runChain(read, params, startOffset, ...chainBuffers(params)))
  if (r.prev === null) throw new RangeError('piece source returned no piece')
  return { params, goal: r.last, secret: r.prev, startOffset, commitment: secretCommitment(r.prev) }
}

/** Arguments of {@link solvePuzzle}. */
export interface SolvePuzzleParameters {
  /** The inner-encrypted chunks in bundle order (outer layers removed). A short chunk makes starts that need its missing pieces fail. */
  innerChunks: readonly Uint8Array[]
  challenge: Pick<PuzzleChallenge, 'params' | 'goal'>
  /** Checked every 64 start offsets. */
  signal?: AbortSignal
}

/**
 * Solves a puzzle by trying start offsets 0, pieceSize, 2*pieceSize, ... until the chain reproduces the goal.
 * Throws {@link PuzzleUnsolvableError} when every start fails (a chunk is missing or wrong), or the signal's reason
 * when aborted.
 *
 * @example
 * ```ts
 * const { secret, hashesComputed } = solvePuzzle({ innerChunks, challenge: bundle.puzzle })
 * ```
 */
export function solvePuzzle(args: SolvePuzzleParameters): PuzzleSolution {
  const params = parsePuzzleParams(args.challenge.params)
  const goal = args.challenge.goal
  if (!(goal instanceof Uint8Array) || goal.length !== 32) throw new RangeError('challenge.goal must be 32 bytes')
  checkChunks(args.innerChunks, params, false)
  const P = piecesPerChunk(params)
  const r = searchStarts(args.innerChunks, params, goal, 0, P, args.signal)
  if (r.secret) return { secret: r.secret, startOffset: r.start * params.pieceSize, hashesComputed: r.hashes }
  throw new PuzzleUnsolvableError({ startsTried: P, hashesComputed: r.hashes })
}

/**
 * Searches the starts of a puzzle on several threads, processes or machines at once. The pool lives outside the
 * protocol code (Node: `createPuzzleSolverPool` in src/node/capnet-solver-pool.ts, on worker_threads); this
 * interface is all the solver needs.
 */
export interface PuzzleSolverPool {
  /**
   * Searches starts [from, to) over the chunks, params and goal (what {@link searchStarts} does on one thread),
   * sharing the work out as the pool sees fit. Resolves with the start found (the lowest, if its workers found
   * several) and the hashes computed by all of them.
   */
  search(job: { innerChunks: readonly Uint8Array[]; params: PuzzleParams; goal: Uint8Array; from: number; to: number }): Promise<StartSearch>
}

/** Arguments of {@link solvePuzzleParallel}. */
export interface SolvePuzzleParallelParameters extends Omit<SolvePuzzleParameters, 'signal'> {
  pool: PuzzleSolverPool
}

/**
 * {@link solvePuzzle} on a pool: its workers share the P starts (Node's pool hands out batches of starts in
 * ascending order, so the expected time falls by about the number of free cores). Same secret and start offset as
 * solvePuzzle (a goal is reproduced by one start; if several did, the lowest found is returned); `hashesComputed`
 * adds up every worker's. The pool's answer is checked (R*n hashes) before it is returned.
 *
 * @example
 * ```ts
 * const { secret } = await solvePuzzleParallel({ innerChunks, challenge: bundle.puzzle, pool })
 * ```
 */
export async function solvePuzzleParallel(args: SolvePuzzleParallelParameters): Promise<PuzzleSolution> {
  const params = parsePuzzleParams(args.challenge.params)
  const goal = args.challenge.goal
  if (!(goal instanceof Uint8Array) || goal.length !== 32) throw new RangeError('challenge.goal must be 32 bytes')
  checkChunks(args.innerChunks, params, false)
  const P = piecesPerChunk(params)
  const found = await args.pool.search({ innerChunks: args.innerChunks, params, goal, from: 0, to: P })
  if (found.secret) {
    // Checked here (R*n hashes): a pool's answer is taken only if its start reproduces the goal and its secret.
    const again = Number.isInteger(found.start) && found.start >= 0 && found.start < P
      ? runChain(chunkSource(args.innerChunks, params.pieceSize), params, found.start * params.pieceSize, ...chainBuffers(params))
      : null
    if (!again?.prev || !bytesEqual(again.last, goal) || !bytesEqual(again.prev, found.secret)) throw new Error('the solver pool returned a start that does not reproduce the goal')
    return { secret: new Uint8Array(found.secret), startOffset: found.start * params.pieceSize, hashesComputed: found.hashes }
  }
  throw new PuzzleUnsolvableError({ startsTried: P, hashesComputed: found.hashes })
}

/** Result of {@link searchStarts}: the first start in the range that reproduces the goal (secret null: none). */
export interface StartSearch {
  /** Piece index of the start found (startOffset / pieceSize); -1 when none. */
  start: number
  secret: Uint8Array | null
  /** Hashes of the starts tried, from `from` up to the one found (all of them when none). */
  hashes: number
}

/**
 * Tries start offsets `from*pieceSize .. (to-1)*pieceSize` in order (solvePuzzle's loop; `signal` checked every 64
 * starts). Inputs must be checked by the caller. Runs the WebAssembly four-lane solver when it
 * applies (pieceSize a multiple of 4, every chunk full), the JavaScript chain otherwise; both give the same answer
 * and the same hash count.
 */
export function searchStarts(
  innerChunks: readonly Uint8Array[], params: PuzzleParams, goal: Uint8Array, from: number, to: number, signal?: AbortSignal,
): StartSearch {
  const search = startSearcher(innerChunks, params, goal)
  let hashes = 0
  for (let k = from; k < to; k += 64) {
    signal?.throwIfAborted()
    const r = search(k, Math.min(k + 64, to))
    hashes += r.hashes
    if (r.secret) return { start: r.start, secret: r.secret, hashes }
  }
  return { start: -1, secret: null, hashes }
}

/**
 * {@link searchStarts} over batches handed out by `claim` (a pool's worker: its next batch of `batch` starts from
 * a counter the workers share, -1 once none is left or another found the goal), up to start `to`. The chunks are
 * loaded once for every batch.
 */
export function searchClaimedStarts(
  innerChunks: readonly Uint8Array[], params: PuzzleParams, goal: Uint8Array, to: number, batch: number, claim: () => number,
): StartSearch {
  const search = startSearcher(innerChunks, params, goal)
  let hashes = 0
  for (let k = claim(); k >= 0 && k < to; k = claim()) {
    const r = search(k, Math.min(k + batch, to))
    hashes += r.hashes
    if (r.secret) return { start: r.start, secret: r.secret, hashes }
  }
  return { start: -1, secret: null, hashes }
}

/**
 * A search over any range of starts of one puzzle, set up once: the WebAssembly four-lane solver when it applies
 * (pieceSize a multiple of 4, every chunk full; chunks copied into its memory here), the JavaScript chain otherwise.
 */
function startSearcher(innerChunks: readonly Uint8Array[], params: PuzzleParams, goal: Uint8Array): (from: number, to: number) => StartSearch {
  const fast = wasmSolverFor(innerChunks, params, goal)
  const L = chainLength(params)
  if (fast) {
    return (from, to) => {
      for (let k = from; k < to; k += 64) {
        const found = fast.x.solve(k, Math.min(k + 64, to))
        if (found >= 0) return { start: found, secret: laneSecret(fast, (found - k) & 3), hashes: (found - from + 1) * L }
      }
      return { start: -1, secret: null, hashes: (to - from) * L }
    }
  }
  const read = chunkSource(innerChunks, params.pieceSize)
  const [buf, buf0] = chainBuffers(params)
  return (from, to) => {
    let hashes = 0
    for (let k = from; k < to; k++) {
      const r = runChain(read, params, k * params.pieceSize, buf, buf0)
      hashes += r.hashes
      if (r.prev === null) continue
      if (r.last[0] === goal[0] && r.last[1] === goal[1] && bytesEqual(r.last, goal)) return { start: k, secret: new Uint8Array(r.prev), hashes }
    }
    return { start: -1, secret: null, hashes }
  }
}

/** Chunks above this many bytes get a WebAssembly instance of their own (its memory is dropped with it). */
const SHARED_SOLVER_BYTES = 64 * 1024 * 1024
const MAX_SOLVER_BYTES = 2 ** 31 - A.SOLVE_CHUNKS

/**
 * Loads the chunks, params and goal into a kernels instance for `solve`, or returns null when the WebAssembly
 * solver does not apply (no WebAssembly SIMD, pieceSize not a multiple of 4, a short chunk, too much data).
 */
function wasmSolverFor(chunks: readonly Uint8Array[], p: PuzzleParams, goal: Uint8Array): Kernels | null {
  const ps = p.pieceSize
  const total = p.cachesPerRequest * p.chunkSize
  if (ps % 4 !== 0 || total > MAX_SOLVER_BYTES || chunks.some((c) => c.length !== p.chunkSize)) return null
  const k = total <= SHARED_SOLVER_BYTES ? capnetKernels() : freshKernels()
  if (!k) return null
  k.ensure(A.SOLVE_CHUNKS + total)
  chunks.forEach((c, i) => k.u8.set(c, A.SOLVE_CHUNKS + i * p.chunkSize))
  const P = piecesPerChunk(p)
  const blocks = (len: number) => ((len + 8) >> 6) + 1
  const prm = [P, p.cachesPerRequest, chainLength(p), ps, p.chunkSize, blocks(4 + ps), blocks(32 + ps), (P & (P - 1)) === 0 ? P - 1 : -1, A.SOLVE_CHUNKS]
  k.i32.set(prm, A.PARAMS >> 2)
  for (let w = 0; w < 8; w++) k.i32[(A.GOAL >> 2) + w] = (goal[4 * w] << 24) | (goal[4 * w + 1] << 16) | (goal[4 * w + 2] << 8) | goal[4 * w + 3]
  // Constant padding of both four-lane messages: 0x80 right after the message, the bit length in the last word.
  const pad = (base: number, msgWords: number, bytes: number) => {
    k.i32.fill(0, base >> 2, (base >> 2) + 128)
    const lane = (word: number, v: number) => k.i32.fill(v, (base >> 2) + 4 * word, (base >> 2) + 4 * word + 4)
    lane(msgWords, 0x80000000 | 0)
    lane(blocks(bytes) * 16 - 1, bytes * 8)
  }
  pad(A.MSG0X, 1 + ps / 4, 4 + ps)
  pad(A.MSGJX, 8 + ps / 4, 32 + ps)
  return k
}

/** Lane `lane`'s state before the last chain step, as 32 big-endian bytes. */
function laneSecret(k: Kernels, lane: number): Uint8Array {
  const out = new Uint8Array(32)
  for (let w = 0; w < 8; w++) {
    const x = k.i32[(A.PREV >> 2) + 4 * w + lane]
    out[4 * w] = x >>> 24; out[4 * w + 1] = x >>> 16; out[4 * w + 2] = x >>> 8; out[4 * w + 3] = x
  }
  return out
}

/**
 * Checks a claimed secret against a puzzle: against its commitment (what a cache holds), and against the secret
 * itself when the publisher's record is given. Returns false on any bad data; never throws.
 *
 * @example
 * ```ts
 * verifySolution(bundle.puzzle, claimedSecret)   // cache: commitment check
 * verifySolution(publisherRecord, claimedSecret) // publisher: also exact match
 * ```
 */
export function verifySolution(puzzle: Pick<PuzzleChallenge, 'commitment'> & { secret?: Uint8Array }, secret: Uint8Array): boolean {
  try {
    if (!puzzle || !verifySecretCommitment(puzzle.commitment, secret)) return false
    if (puzzle.secret !== undefined) return puzzle.secret instanceof Uint8Array && bytesEqual(puzzle.secret, secret)
    return true
  } catch {
    return false
  }
}

/**
 * Checks that `secret` is the second-to-last hash of the chain ending at `goal`, given the inner-encrypted chunk read by
 * the last step (slot (R*n-1) mod n). A cache serving that slot knows that chunk (it holds the inner key), so it can
 * bind the secret to the goal without trusting the commitment. Never throws.
 *
 * @example
 * ```ts
 * verifySecretAgainstGoal(bundle.puzzle, secret, myInnerEncryptedChunk)
 * ```
 */
export function verifySecretAgainstGoal(challenge: Pick<PuzzleChallenge, 'params' | 'goal'>, secret: Uint8Array, lastStepChunk: Uint8Array): boolean {
  try {
    const p = parsePuzzleParams(challenge.params)
    if (!(secret instanceof Uint8Array) || secret.length !== 32 || !(lastStepChunk instanceof Uint8Array) || lastStepChunk.length !== p.chunkSize) return false
    const idx = pieceIndexOf(secret, piecesPerChunk(p))
    const piece = lastStepChunk.subarray(idx * p.pieceSize, (idx + 1) * p.pieceSize)
    const buf = new Uint8Array(32 + p.pieceSize)
    buf.set(secret, 0)
    buf.set(piece, 32)
    return bytesEqual(sha256(buf), challenge.goal)
  } catch {
    return false
  }
}

/** The bundle slot whose chunk the last chain step reads: (R*n - 1) mod n = n - 1. */
export function lastStepSlot(p: Pick<PuzzleParams, 'rounds' | 'cachesPerRequest'>): number {
  return (chainLength(p) - 1) % p.cachesPerRequest
}

