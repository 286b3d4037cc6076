/**
 * Errors of the CAPnet delivery puzzle (`src/proofs/capnet`). All extend {@link SoukError}, so callers can catch
 * `SoukError` and read `code`, `hints` and `details`. Details never carry keys, secrets or chunk bytes.
 *
 * @example
 * ```ts
 * import { PuzzleUnsolvableError } from './errors.js'
 * try { solvePuzzle(args) } catch (e) { if (e instanceof PuzzleUnsolvableError) console.log(e.details.startsTried) }
 * ```
 */
import { SoukError, type SoukErrorOptions } from '../../core/errors.js'

/** Base of every CAPnet error. */
export class CapnetError extends SoukError {
  override name = 'CapnetError'
  constructor(shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: 'CAPNET', ...opts })
  }
}

/** Puzzle parameters (rounds, piece size, chunk size, caches per request) failed validation. */
export class CapnetParamsError extends CapnetError {
  override name = 'CapnetParamsError'
  constructor(shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: 'CAPNET_PARAMS', ...opts })
  }
}

/**
 * No start offset reproduces the goal: the solver tried every one. With honest inputs this means at least one
 * inner-encrypted chunk is missing, truncated or garbled (or the outer layer was peeled with the wrong key).
 */
export class PuzzleUnsolvableError extends CapnetError {
  override name = 'PuzzleUnsolvableError'
  constructor(details: { startsTried: number; hashesComputed: number }, opts: SoukErrorOptions = {}) {
    super('Puzzle unsolvable: no start offset reproduces the goal', {
      code: 'CAPNET_PUZZLE_UNSOLVABLE',
      hints: [
        'Check that every chunk of the bundle was downloaded in full from its cache.',
        'Check that each outer layer was removed with the outer key released by that chunk\'s cache.',
      ],
      details,
      ...opts,
    })
  }
}

/** A sealed box (the inner keys, or a cache ticket) did not authenticate: wrong secret/key, or tampered bytes. */
export class CapnetOpenError extends CapnetError {
  override name = 'CapnetOpenError'
  constructor(what: string, opts: SoukErrorOptions = {}) {
    super(`Cannot open ${what}: authentication failed`, {
      code: 'CAPNET_OPEN_FAILED',
      hints: ['Use the secret obtained by solving this bundle\'s puzzle (or the right cache secret).', 'The sealed bytes may have been tampered with in transit.'],
      ...opts,
    })
  }
}

/** A chunk's plaintext did not match the publisher's Merkle root. */
export class ChunkIntegrityError extends CapnetError {
  override name = 'ChunkIntegrityError'
  constructor(chunkIndex: number, opts: SoukErrorOptions = {}) {
    super(`Chunk ${chunkIndex} does not match the content Merkle root`, {
      code: 'CAPNET_CHUNK_INTEGRITY',
      hints: ['Fetch the chunk again, or from another cache, and report the cache that served it.'],
      details: { chunkIndex },
      ...opts,
    })
  }
}
