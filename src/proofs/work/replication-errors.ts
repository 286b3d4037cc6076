/**
 * Errors of spot-check replication (`replication.ts`): each a {@link ReplicationError} (a {@link SoukError}) with a
 * `reason` a caller can switch on, and one named class per refusal. Details carry addresses and commitments, never
 * salts before they are revealed.
 *
 * @example
 * ```ts
 * import { RevealMismatchError, ReplicationError } from './replication-errors.js'
 * try { round.reveal(checker, { outputHash, salt }) } catch (e) {
 *   if (e instanceof RevealMismatchError) console.log('does not open its commitment', e.details.checker)
 *   else if (e instanceof ReplicationError) console.log(e.reason)
 * }
 * ```
 */
import { SoukError, type SoukErrorOptions } from '../../core/errors.js'

export type ReplicationReason =
  | 'bad-params'
  | 'unknown-checker'
  | 'duplicate-commitment'
  | 'commitment-reused'
  | 'reveal-before-commitments'
  | 'duplicate-reveal'
  | 'reveal-mismatch'
  | 'round-incomplete'

export class ReplicationError extends SoukError {
  override name = 'ReplicationError'
  constructor(readonly reason: ReplicationReason, shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: `REPLICATION_${reason.toUpperCase().replace(/-/g, '_')}`, ...opts })
  }
}

/** Round parameters, an address, a hash or a salt of the wrong shape. */
export class ReplicationParamsError extends ReplicationError {
  override name = 'ReplicationParamsError'
  constructor(shortMessage: string, opts: SoukErrorOptions = {}) {
    super('bad-params', shortMessage, opts)
  }
}

/** A commitment or reveal from an address that is not one of the round's checkers. */
export class UnknownCheckerError extends ReplicationError {
  override name = 'UnknownCheckerError'
  constructor(checker: string) {
    super('unknown-checker', `Not a checker of this round: ${checker}`, { details: { checker }, hints: ['Only the addresses the round was opened with (the terms\' checkers) may commit or reveal.'] })
  }
}

/** A checker committed twice: the first commitment stands. */
export class DuplicateCommitmentError extends ReplicationError {
  override name = 'DuplicateCommitmentError'
  constructor(checker: string) {
    super('duplicate-commitment', `Checker ${checker} has already committed in this round`, { details: { checker } })
  }
}

/**
 * A checker submitted the very commitment another checker already made: a copy. Commitments bind the checker's
 * address, so honest checkers never collide; the copy could not be opened by the copier anyway.
 */
export class CommitmentReusedError extends ReplicationError {
  override name = 'CommitmentReusedError'
  constructor(checker: string, owner: string, commitment: string) {
    super('commitment-reused', `Checker ${checker} submitted the commitment of ${owner}`, { details: { checker, owner, commitment }, hints: ['Each checker must re-execute the unit and commit with its own salt and address.'] })
  }
}

/** A reveal before every checker has committed: revealing early would let the rest copy it. */
export class RevealBeforeCommitmentsError extends ReplicationError {
  override name = 'RevealBeforeCommitmentsError'
  constructor(checker: string, committed: number, expected: number) {
    super('reveal-before-commitments', `Reveal from ${checker} before every commitment is in (${committed} of ${expected})`, { details: { checker, committed, expected }, hints: ['Wait until all k checkers have committed, then reveal.'] })
  }
}

/** A checker revealed twice. */
export class DuplicateRevealError extends ReplicationError {
  override name = 'DuplicateRevealError'
  constructor(checker: string) {
    super('duplicate-reveal', `Checker ${checker} has already revealed in this round`, { details: { checker } })
  }
}

/** A reveal that does not open the checker's commitment (other value, salt, checker or round), or of the wrong kind. */
export class RevealMismatchError extends ReplicationError {
  override name = 'RevealMismatchError'
  constructor(checker: string, commitment: string, detail: string) {
    super('reveal-mismatch', `Reveal from ${checker} does not match its commitment: ${detail}`, { details: { checker, commitment } })
  }
}

/** A tally asked for before the round can be tallied (commitments or reveals missing). */
export class RoundIncompleteError extends ReplicationError {
  override name = 'RoundIncompleteError'
  constructor(detail: string, details: Record<string, unknown>) {
    super('round-incomplete', `Replication round incomplete: ${detail}`, { details, hints: ['Tally once every checker has revealed, or pass { allowMissing: true } after the reveal deadline (missing reveals escalate).'] })
  }
}
