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

/**
 * The chain's JSON-RPC endpoint does not answer (connection refused, reset, timed out, HTTP error): the chain
 * process is gone or unreachable. Nothing was sent; what depends on a chain read must stop, not guess.
 */
export class ChainUnreachableError extends ChainError {
  override name = 'ChainUnreachableError'
  constructor(readonly url: string, opts: SoukErrorOptions = {}) {
    super(`The chain at ${url} does not answer`, {
      code: 'CHAIN_UNREACHABLE',
      hints: ['Check that the chain process is running and the URL is right; Souk retries on the next call.'],
      ...opts,
    })
  }
}

/** Converts a viem error into a ContractRevertError when it carries a decoded custom error; else a ChainError. */
export function toChainError(e: unknown, what: string): SoukError {
  if (e instanceof SoukError) return e
  // A provider that could not reach the chain (wrapped by viem on the way up): say so, whatever the call was.
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) if (c instanceof ChainUnreachableError) return c
  if (e instanceof BaseError) {
    const revert = e.walk((x) => x instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null
    if (revert?.data?.errorName) return new ContractRevertError(revert.data.errorName, revert.data.args ?? [], { cause: e, details: { call: what } })
    return new ChainError(`${what} failed: ${e.shortMessage}`, { cause: e })
  }
  return new ChainError(`${what} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e })
}
