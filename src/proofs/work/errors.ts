/**
 * Errors of the work proofs (`src/proofs/work`), each a {@link SoukError}: `WorkProofError` with a `reason` a caller
 * can switch on, and `InsufficientDeterrenceError`, the twin of the contract's
 * `WorkMarketInsufficientDeterrence(required, given)` (a check rate and slash that do not make skipping work a loss).
 * Malformed arguments (a non-byte value, a hash of the wrong length, a non-integer unit) are programming errors and
 * throw TypeError / RangeError from the inline asserts, noble style; details never carry unit data.
 *
 * @example
 * ```ts
 * import { WorkProofError } from './errors.js'
 * try { batchDepth(2 ** 21) } catch (e) { if (e instanceof WorkProofError) console.log(e.reason) } // 'bad-size'
 * ```
 */
import { SoukError, type SoukErrorOptions } from '../../core/errors.js'

export type WorkProofReason = 'bad-size' | 'bad-unit' | 'bad-params' | 'bad-path' | 'bad-signature' | 'commitment-mismatch'

export class WorkProofError extends SoukError {
  override name = 'WorkProofError'
  constructor(readonly reason: WorkProofReason, shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: `WORK_${reason.toUpperCase().replace(/-/g, '_')}`, ...opts })
  }
}

/**
 * A check rate and slash that do not deter skipping work: `slash × checksPerBatch >= pricePerUnit × maxBatch` and
 * `stake >= slash` must hold. `required` and `given` are the two sides of the rule that failed, as the contract's
 * `WorkMarketInsufficientDeterrence(required, given)` carries them.
 */
export class InsufficientDeterrenceError extends SoukError {
  override name = 'InsufficientDeterrenceError'
  constructor(readonly required: bigint, readonly given: bigint, opts: SoukErrorOptions = {}) {
    super(`insufficient deterrence: ${given} given where the rule requires ${required}`, {
      code: 'WORK_INSUFFICIENT_DETERRENCE',
      hints: ['Raise the slash or the checks per batch (slash × checksPerBatch >= pricePerUnit × maxBatch), or lower maxBatch; the stake must cover one slash.'],
      ...opts,
      details: { required, given, ...(opts.details ?? {}) },
    })
  }
}
