/**
 * `createChain` — one handle on the embedded EVM or on any JSON-RPC chain, used through viem.
 *
 * @example
 * ```ts
 * import { createChain } from './chain.js'
 * const chain = await createChain({ kind: 'embedded' })
 * const bob = chain.wallet(chain.devKeys[1])
 * await chain.dev!.mine(10)
 * console.log(await chain.blockNumber()) // 10n
 * await chain.close()
 * ```
 */
import { createPublicClient, createWalletClient, custom, defineChain, http, HttpRequestError, TimeoutError as ViemTimeoutError, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createNonceManager, jsonRpc } from 'viem/nonce'
import { redactUrl } from '../core/errors.js'
import { ChainError, ChainUnreachableError } from './errors.js'
import { createEmbeddedProvider, DEFAULT_CHAIN_ID, type EmbeddedChainOptions } from './embedded.js'
import type { Chain, DevControls, Eip1193Provider, SoukWallet } from './types.js'

export type ChainOptions =
  | ({ kind: 'embedded' } & EmbeddedChainOptions)
  | { kind: 'rpc'; url: string; /** Treat as a dev chain (hardhat/anvil or a Souk testnet) with `evm_*` controls. */ dev?: boolean; devKeys?: Hex[]; timeoutMs?: number }

/** Wraps an EIP-1193 provider into a `Chain` handle. */
export async function chainFromProvider(
  provider: Eip1193Provider,
  opts: {
    kind: Chain['kind']; devKeys?: readonly Hex[]; dev?: boolean; close?: () => Promise<void>
    /** Milliseconds for the block-number cache's age (default `performance.now`; the simulator passes its clock). */
    now?: () => number
  },
): Promise<Chain> {
  const clockNow = opts.now ?? (() => performance.now())
  const chainId = Number(BigInt((await provider.request({ method: 'eth_chainId' })) as string))
  const viemChain = defineChain({
    id: chainId,
    name: chainId === DEFAULT_CHAIN_ID ? 'Souk dev chain' : `chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: ['http://127.0.0.1'] } },
  })
  // retryCount 0: viem's retries with backoff cost ~1 s a call on providers that reject a method.
  const transport = custom(provider, { retryCount: 0 })
  const pub = createPublicClient({ chain: viemChain, transport, pollingInterval: 50, cacheTime: 0 })
  const wallets = new Map<string, SoukWallet>()
  // One nonce manager per chain handle (viem's global one is keyed by address and chain id only, so two embedded
  // chains in one process, or an evm_revert, would leave it with stale nonces). Reset on revert.
  let nonces = createNonceManager({ source: jsonRpc() })
  let cached: { at: number; n: bigint } | undefined
  const dev: DevControls | undefined = opts.dev
    ? {
        async mine(blocks = 1) {
          await provider.request({ method: 'hardhat_mine', params: [`0x${blocks.toString(16)}`] })
          cached = undefined
        },
        async increaseTime(seconds) { await provider.request({ method: 'evm_increaseTime', params: [seconds] }) },
        async snapshot() { return (await provider.request({ method: 'evm_snapshot' })) as Hex },
        async revert(id) {
          const ok = await provider.request({ method: 'evm_revert', params: [id] })
          if (ok !== true) throw new ChainError(`Snapshot ${id} could not be restored`, { hints: ['A snapshot can be reverted to only once; take a new one after reverting.'] })
          cached = undefined
          nonces = createNonceManager({ source: jsonRpc() })
          wallets.clear()
        },
        async setAutomine(on) { await provider.request({ method: 'evm_setAutomine', params: [on] }) },
        async setBalance(address, wei) { await provider.request({ method: 'hardhat_setBalance', params: [address, `0x${wei.toString(16)}`] }) },
      }
    : undefined
  return {
    chainId,
    kind: opts.kind,
    provider,
    viemChain,
    public: pub as Chain['public'],
    devKeys: opts.devKeys ?? [],
    dev,
    wallet(privateKey) {
      let w = wallets.get(privateKey)
      if (!w) {
        w = createWalletClient({ account: privateKeyToAccount(privateKey, { nonceManager: nonces }), chain: viemChain, transport }) as SoukWallet
        wallets.set(privateKey, w)
      }
      return w
    },
    async blockNumber(o = {}) {
      const now = clockNow()
      if (cached && o.maxAgeMs && now - cached.at <= o.maxAgeMs) return cached.n
      const n = BigInt((await provider.request({ method: 'eth_blockNumber' })) as string)
      cached = { at: now, n }
      return n
    },
    close: opts.close ?? (async () => {}),
  }
}

/** Creates a chain handle: the embedded EVM (default) or a JSON-RPC URL. */
export async function createChain(opts: ChainOptions = { kind: 'embedded' }): Promise<Chain> {
  if (opts.kind === 'embedded') {
    const p = await createEmbeddedProvider(opts)
    return chainFromProvider(p, { kind: 'embedded', devKeys: p.keys, dev: true })
  }
  let url: URL
  try {
    url = new URL(opts.url)
  } catch (e) {
    throw new ChainError(`Not a valid RPC URL: ${redactUrl(opts.url)}`, { hints: ['Pass an http(s) URL such as http://127.0.0.1:8545.'], cause: e })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ChainError(`Unsupported RPC URL scheme ${url.protocol}`, { hints: ['Use an http:// or https:// JSON-RPC endpoint.'] })
  }
  const t = http(opts.url, { retryCount: 0, timeout: opts.timeoutMs ?? 30_000 })({ chain: undefined })
  const where = redactUrl(opts.url)
  // A dead or unreachable endpoint is one typed error (ChainUnreachableError), not viem's "HTTP request failed.".
  const provider: Eip1193Provider = {
    async request(a) {
      try {
        return await t.request(a as never)
      } catch (e) {
        if (e instanceof HttpRequestError || e instanceof ViemTimeoutError) throw new ChainUnreachableError(where, { cause: e, details: { method: (a as { method: string }).method } })
        throw e
      }
    },
  }
  try {
    return await chainFromProvider(provider, { kind: 'rpc', dev: opts.dev, devKeys: opts.devKeys })
  } catch (e) {
    throw new ChainError(`Could not reach the chain at ${redactUrl(opts.url)}`, {
      hints: ['Check that the node is running and the URL is right.', 'For a local testnet, start one with `souk testnet`.'],
      cause: e,
    })
  }
}
