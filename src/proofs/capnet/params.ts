/**
 * Puzzle difficulty parameters, their defaults and their validation (zod at the trust boundary).
 *
 * Difficulty: a solver tries on average `(chunkSize / pieceSize) / 2` start offsets, each costing `rounds * cachesPerRequest`
 * hashes; the publisher pays `rounds * cachesPerRequest` hashes once. See docs/capnet.md for measured figures.
 *
 * @example
 * ```ts
 * import { parsePuzzleParams } from './params.js'
 * const p = parsePuzzleParams({ rounds: 2, cachesPerRequest: 4 }) // defaults fill pieceSize and chunkSize
 * ```
 */
import { z } from 'zod'
import { CapnetParamsError } from './errors.js'

/** Smallest and largest piece a hash step reads, in bytes. */
export const CAPNET_PIECE_SIZE_MIN = 8
export const CAPNET_PIECE_SIZE_MAX = 64
/**
 * Fewest rounds. The secret h_{R*n-2} must depend on every chunk, because anything sealed under it (the inner keys)
 * or committed to it lets a client test a candidate secret without computing the goal: so steps 0..R*n-2 must read
 * all n slots, i.e. R*n - 1 >= n, i.e. R >= 2. (protocols.md allows R = 1; we deliberately do not.)
 */
export const CAPNET_ROUNDS_MIN = 2
/** Caches per request (chunks per bundle). */
export const CAPNET_CACHES_MAX = 64
/** Rounds cap: keeps generation cost bounded for a publisher that validates client-supplied params. */
export const CAPNET_ROUNDS_MAX = 1024
/** Chunk size cap (64 MiB): piece indices stay far below 2^32 and a chunk fits comfortably in memory. */
export const CAPNET_CHUNK_SIZE_MAX = 64 * 1024 * 1024

/**
 * Default difficulty, chosen by measurement on the reference machine (2 cores, Node 20, node:crypto sha256; see
 * docs/capnet.md and bench/capnet.ts): 8 192 start offsets per 128 KiB chunk, R*n = 8 hashes per try, so a client
 * computes ~32 800 hashes per 512 KiB bundle (~0.84 s of 5 Mbit/s video; ~3-4 ms on the WebAssembly solver, ~20-50 ms
 * in plain JavaScript) and the publisher 8 hashes.
 */
export const CAPNET_DEFAULT_PARAMS = Object.freeze({
  rounds: 2,
  pieceSize: 16,
  chunkSize: 128 * 1024,
  cachesPerRequest: 4,
}) satisfies PuzzleParams

const int = (name: string) => z.number({ error: `${name} must be a number` }).int({ error: `${name} must be an integer` })

/** zod schema of {@link PuzzleParams}; missing fields take {@link CAPNET_DEFAULT_PARAMS}. */
export const PuzzleParamsSchema = z
  .object({
    rounds: int('rounds').min(CAPNET_ROUNDS_MIN, { error: 'rounds (R) must be >= 2: with R = 1 the secret (second-to-last hash) never reads the last chunk, so a client could skip it and test candidate secrets against the sealed inner keys' }).max(CAPNET_ROUNDS_MAX, { error: `rounds (R) must be <= ${CAPNET_ROUNDS_MAX}` }).default(CAPNET_DEFAULT_PARAMS.rounds),
    pieceSize: int('pieceSize')
      .min(CAPNET_PIECE_SIZE_MIN, { error: `pieceSize must be in [${CAPNET_PIECE_SIZE_MIN}, ${CAPNET_PIECE_SIZE_MAX}]` })
      .max(CAPNET_PIECE_SIZE_MAX, { error: `pieceSize must be in [${CAPNET_PIECE_SIZE_MIN}, ${CAPNET_PIECE_SIZE_MAX}]` })
      .default(CAPNET_DEFAULT_PARAMS.pieceSize),
    chunkSize: int('chunkSize').min(1, { error: 'chunkSize must be positive' }).max(CAPNET_CHUNK_SIZE_MAX, { error: `chunkSize must be <= ${CAPNET_CHUNK_SIZE_MAX}` }).default(CAPNET_DEFAULT_PARAMS.chunkSize),
    cachesPerRequest: int('cachesPerRequest').min(1, { error: 'cachesPerRequest (n) must be in [1, 64]' }).max(CAPNET_CACHES_MAX, { error: 'cachesPerRequest (n) must be in [1, 64]' }).default(CAPNET_DEFAULT_PARAMS.cachesPerRequest),
  })
  .strict()
  .check((ctx) => {
    const p = ctx.value
    if (p.chunkSize % p.pieceSize !== 0) {
      ctx.issues.push({ code: 'custom', input: p.chunkSize, path: ['chunkSize'], message: `chunkSize (${p.chunkSize}) must be a multiple of pieceSize (${p.pieceSize})` })
    }
  })

/** Puzzle difficulty: R, piece size, chunk size and n (caches per request = chunks per bundle). */
export interface PuzzleParams {
  /** R: each chunk is read `rounds` times along the hash chain (chain length R*n). */
  rounds: number
  /** Bytes read per hash step; pieces are aligned to multiples of `pieceSize`. */
  pieceSize: number
  /** Bytes per chunk (a multiple of `pieceSize`); the last chunk of an object is zero-padded to it. */
  chunkSize: number
  /** n: chunks per bundle, each served by a different cache. */
  cachesPerRequest: number
}

/** Frozen results of parsePuzzleParams: parsing them again is free (puzzle generation is a hot path). */
const VALIDATED = new WeakSet<object>()

/**
 * Valid results by the values of a plain {rounds, pieceSize, chunkSize, cachesPerRequest} input (fields numbers or
 * undefined, no other key), so that createBundle's fresh params object skips zod after the first request. Inputs
 * of any other shape (and every invalid one) always go through zod.
 */
const MEMO = new Map<number, PuzzleParams>()
const MEMO_MAX = 256
const PARAM_KEYS = new Set(['rounds', 'pieceSize', 'chunkSize', 'cachesPerRequest'])
/** A field as a memo digit: 0 when undefined, the value when in 1..max, -1 (no memo) otherwise (0 itself is invalid). */
function digit(v: unknown, max: number): number {
  if (v === undefined) return 0
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max ? v : -1
}
/** The memo key of a plain params object: the four fields packed in one exact integer (< 2^52), or undefined. */
function memoKeyOf(input: unknown): number | undefined {
  if (typeof input !== 'object' || input === null || Object.getPrototypeOf(input) !== Object.prototype) return undefined
  const o = input as Record<string, unknown>
  for (const k in o) if (!PARAM_KEYS.has(k) || !Object.prototype.hasOwnProperty.call(o, k)) return undefined
  const r = digit(o.rounds, CAPNET_ROUNDS_MAX), ps = digit(o.pieceSize, 127), cs = digit(o.chunkSize, 2 ** 27 - 1), n = digit(o.cachesPerRequest, 127)
  if (r < 0 || ps < 0 || cs < 0 || n < 0) return undefined
  return ((r * 128 + ps) * 2 ** 27 + cs) * 128 + n
}

/**
 * Validates and completes puzzle parameters. Throws {@link CapnetParamsError} naming every bad field.
 *
 * @example
 * ```ts
 * parsePuzzleParams({ pieceSize: 16, chunkSize: 1000 }) // throws: chunkSize (1000) must be a multiple of pieceSize (16)
 * ```
 */
export function parsePuzzleParams(input: unknown = {}): PuzzleParams {
  if (typeof input === 'object' && input !== null && VALIDATED.has(input)) return input as PuzzleParams
  const memoKey = memoKeyOf(input)
  const hit = memoKey === undefined ? undefined : MEMO.get(memoKey)
  if (hit) return hit
  const r = PuzzleParamsSchema.safeParse(input ?? {})
  if (r.success) {
    const p = Object.freeze(r.data)
    VALIDATED.add(p)
    if (memoKey !== undefined) {
      if (MEMO.size >= MEMO_MAX) MEMO.clear()
      MEMO.set(memoKey, p)
    }
    return p
  }
  const issues = r.error.issues.map((i) => `${i.message}${i.path.length ? ` at \`${i.path.join('.')}\`` : ''}`)
  throw new CapnetParamsError(`Invalid puzzle parameters - ${issues.join('; ')}`, {
    details: { issues },
    hints: ['Defaults: ' + JSON.stringify(CAPNET_DEFAULT_PARAMS)],
  })
}

/** Number of aligned pieces in a chunk (= number of possible start offsets). */
export function piecesPerChunk(p: Pick<PuzzleParams, 'chunkSize' | 'pieceSize'>): number {
  return p.chunkSize / p.pieceSize
}

/** Hash-chain length R*n: hashes the publisher computes to generate a puzzle. */
export function chainLength(p: Pick<PuzzleParams, 'rounds' | 'cachesPerRequest'>): number {
  return p.rounds * p.cachesPerRequest
}

/** Expected hashes a solver computes: ((P+1)/2) * R*n, P = pieces per chunk (uniform secret start). */
export function expectedSolveHashes(p: PuzzleParams): number {
  return ((piecesPerChunk(p) + 1) / 2) * chainLength(p)
}
