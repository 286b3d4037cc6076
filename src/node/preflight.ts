/**
 * The pre-flight before a command sends transactions: does the account hold the ETH they cost? A chain answers a
 * sender with no ETH with "Missing or invalid parameters" or "insufficient funds" somewhere in a node's log; this
 * names the account, what it has and about what it needs at the current gas price, before anything is sent.
 *
 * @example
 * ```ts
 * import { preflightFunds, DEPLOY_GAS } from './preflight.js'
 * await preflightFunds(chain, { address, gas: DEPLOY_GAS, action: 'deploying' })
 * // InsufficientFundsError: account 0xabc… has 0 ETH; deploying needs about 0.014 ETH at the current gas price: fund it or pass --key
 * ```
 */
import { formatEther, type Address } from 'viem'
import type { Chain } from '../chain/types.js'
import { SoukError } from '../core/errors.js'

/** Gas of `deploySouk` (the token and every scheme's contracts: 4 transactions, 7.09 M gas measured), with headroom. */
export const DEPLOY_GAS = 7_500_000n
/**
 * Gas a paid node role needs to start and keep working: a payer's funding (faucet, approve, deposit, a reserve per
 * server: ~60 k each) or a payee's first redemption batches (~60 k a ticket alone, ~115 k for two in a batch).
 */
export const NODE_GAS = 600_000n

/** The account cannot pay for the transactions it is about to send. */
export class InsufficientFundsError extends SoukError {
  override name = 'InsufficientFundsError'
}

/** `v` wei as ETH with at most 4 significant digits (0, 0.0142, 1.5, 12.35). */
export function formatEth(v: bigint): string {
  if (v === 0n) return '0'
  const n = Number(formatEther(v))
  return n >= 1000 ? Math.round(n).toString() : String(Number(n.toPrecision(4)))
}

/**
 * Throws an `InsufficientFundsError` unless `address` holds the ETH of `gas` at the chain's gas price now (with 25 %
 * headroom for the price moving). Returns what it read, for a progress line.
 */
export async function preflightFunds(chain: Chain, o: { address: Address; gas: bigint; action: string; flag?: string }): Promise<{ balance: bigint; needed: bigint; gasPrice: bigint }> {
  const [balance, gasPrice] = await Promise.all([chain.public.getBalance({ address: o.address }), chain.public.getGasPrice()])
  const needed = (o.gas * gasPrice * 5n) / 4n
  if (balance < needed) {
    throw new InsufficientFundsError(`account ${o.address} has ${formatEth(balance)} ETH; ${o.action} needs about ${formatEth(needed)} ETH at the current gas price: fund it or pass ${o.flag ?? '--key'}`, {
      code: 'INSUFFICIENT_FUNDS',
      details: { account: o.address, balanceWei: balance, neededWei: needed, gas: o.gas, gasPriceWei: gasPrice, chainId: chain.chainId },
      hints: [`Send at least ${formatEth(needed - balance)} ETH to ${o.address}, or pass --key <keystore|hex> (or set SOUK_PRIVATE_KEY) for a funded account.`],
    })
  }
  return { balance, needed, gasPrice }
}
