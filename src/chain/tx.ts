/**
 * Sending contract transactions: simulate-free write, wait for the receipt, decode reverts into
 * `ContractRevertError` (named after the Solidity custom error).
 *
 * @example
 * ```ts
 * import { write } from './tx.js'
 * const receipt = await write(chain, wallet, { address: token, abi: SoukTokenAbi, functionName: 'faucet', args: [me, 10n] })
 * receipt.gasUsed // bigint
 * ```
 */
import { encodeFunctionData, type Abi, type Address, type Hash, type TransactionReceipt, decodeErrorResult, type Hex } from 'viem'
import type { Chain, SoukWallet } from './types.js'
import { ContractRevertError, ChainError, toChainError } from './errors.js'

export interface WriteParams {
  address: Address
  abi: Abi | readonly unknown[]
  functionName: string
  args?: readonly unknown[]
  /** Explicit gas limit: skips estimation (faster, and needed to see a revert in a mined tx). */
  gas?: bigint
}

const sendQueues = new WeakMap<SoukWallet, Promise<unknown>>()

/**
 * Runs `send` after every earlier send of the same wallet has reached the node: concurrent callers of one account
 * get consecutive nonces in order (a node mining at once rejects a nonce that arrives before its predecessor).
 * Only the submission is serialized; receipts are awaited in parallel.
 */
export function serialSend<T>(wallet: SoukWallet, send: () => Promise<T>): Promise<T> {
  const prev = sendQueues.get(wallet) ?? Promise.resolve()
  const next = prev.then(send, send)
  sendQueues.set(wallet, next.catch(() => {}))
  return next
}

/** Sends a contract call, waits for its receipt, and throws a decoded error if it reverts. */
export async function write(chain: Chain, wallet: SoukWallet, p: WriteParams, opts: { signal?: AbortSignal } = {}): Promise<TransactionReceipt> {
  let hash: Hash
  try {
    hash = await serialSend(wallet, () => wallet.writeContract({ address: p.address, abi: p.abi as Abi, functionName: p.functionName, args: p.args ?? [], gas: p.gas } as never))
  } catch (e) {
    throw toChainError(e, `${p.functionName}`)
  }
  return waitReceipt(chain, hash, p, opts)
}

/** Waits for a receipt (polls fast: dev chains mine at once). Throws on a reverted transaction. */
export async function waitReceipt(chain: Chain, hash: Hash, p?: Pick<WriteParams, 'abi' | 'functionName' | 'address'>, opts: { signal?: AbortSignal } = {}): Promise<TransactionReceipt> {
  for (let i = 0; ; i++) {
    opts.signal?.throwIfAborted()
    const r = await chain.public.getTransactionReceipt({ hash }).catch(() => null)
    if (r) {
      if (r.status === 'reverted') throw await explainRevert(chain, r, p)
      return r
    }
    await new Promise((res) => setTimeout(res, Math.min(1000, 5 * 2 ** Math.min(i, 8))))
  }
}

async function explainRevert(chain: Chain, r: TransactionReceipt, p?: Pick<WriteParams, 'abi' | 'functionName' | 'address'>) {
  // Replay the call at the receipt's block to get the revert data.
  try {
    const tx = await chain.public.getTransaction({ hash: r.transactionHash })
    await chain.provider.request({ method: 'eth_call', params: [{ from: tx.from, to: tx.to, data: tx.input, value: `0x${tx.value.toString(16)}` }, `0x${(r.blockNumber - 1n).toString(16)}`] })
  } catch (e) {
    const data = findRevertData(e)
    if (data && p?.abi) {
      try {
        const d = decodeErrorResult({ abi: p.abi as Abi, data })
        return new ContractRevertError(d.errorName, d.args ?? [], { details: { tx: r.transactionHash } })
      } catch { /* fall through */ }
    }
  }
  return new ChainError(`${p?.functionName ?? 'transaction'} reverted`, { details: { tx: r.transactionHash } })
}

/** The revert data carried somewhere in an error's cause chain (providers nest it differently), or undefined. */
export function findRevertData(e: unknown): Hex | undefined {
  let x: unknown = e
  for (let i = 0; i < 10 && x; i++) {
    const d = (x as { data?: unknown }).data
    if (typeof d === 'string' && d.startsWith('0x')) return d as Hex
    if (d && typeof d === 'object' && typeof (d as { data?: unknown }).data === 'string') return (d as { data: Hex }).data
    x = (x as { cause?: unknown }).cause
  }
  return undefined
}

/** ABI-encodes a call (for batching raw transactions). */
export function encodeCall(p: WriteParams): Hex {
  return encodeFunctionData({ abi: p.abi as Abi, functionName: p.functionName, args: p.args ?? [] } as never)
}
