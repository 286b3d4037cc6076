/**
 * Errors of the storage proofs (`src/proofs/storage`). Each is a {@link SoukError} with a `reason` a caller can
 * switch on; details never carry data bytes.
 *
 * @example
 * ```ts
 * import { StorageProofError } from './errors.js'
 * try { treeDepth(0) } catch (e) { if (e instanceof StorageProofError) console.log(e.reason) } // 'bad-size'
 * ```
 */
import { SoukError, type SoukErrorOptions } from '../../core/errors.js'

export type StorageProofReason = 'bad-leaf' | 'bad-size' | 'bad-position' | 'bad-params' | 'bad-proof' | 'commitment-mismatch'

export class StorageProofError extends SoukError {
  override name = 'StorageProofError'
  constructor(readonly reason: StorageProofReason, shortMessage: string, opts: SoukErrorOptions = {}) {
    super(shortMessage, { code: `STORAGE_${reason.toUpperCase().replace(/-/g, '_')}`, ...opts })
  }
}
