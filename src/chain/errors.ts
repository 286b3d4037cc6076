/** Errors of the chain layer. */
import { BaseError, ContractFunctionRevertedError } from 'viem'
import { SoukError, type SoukErrorOptions } from '../core/errors.js'

export class ChainError extends SoukError {
  override name = 'ChainError'
  constructor(msg: string, opts: SoukErrorOptions = {}) {
    super(msg, { code: 'CHAIN', ...opts })
  }
}

/**
 * A contract call reverted with a named custom error (the TypeScript twin of every Solidity `error`):
 * `errorName` is e.g. `TicketBrokerNonceUsed` and `args` its decoded values.
 */
export class ContractRevertError extends ChainError {
  override name = 'ContractRevertError'
  constructor(readonly errorName: string, readonly args: readonly unknown[], opts: SoukErrorOptions = {}) {
    super(`Contract reverted: ${errorName}(${args.map((a) => String(a)).join(', ')})`, { code: 'CONTRACT_REVERT', ...opts })
  }
}

/** Converts a viem error into a ContractRevertError when it carries a decoded custom error; else a ChainError. */
export function toChainError(e: unknown, what: string): SoukError {
  if (e instanceof SoukError) return e
  if (e instanceof BaseError) {
    const revert = e.walk((x) => x instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null
    if (revert?.data?.errorName) return new ContractRevertError(revert.data.errorName, revert.data.args ?? [], { cause: e, details: { call: what } })
    return new ChainError(`${what} failed: ${e.shortMessage}`, { cause: e })
  }
  return new ChainError(`${what} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e })
}
