/**
 * The embedded chain: hardhat 2's in-process EVM (EDR) behind Souk's own EIP-1193 interface. Each call makes an
 * independent chain, so tests can run many side by side.
 *
 * @example
 * ```ts
 * import { createEmbeddedProvider } from './embedded.js'
 * const p = await createEmbeddedProvider({ chainId: 31337 })
 * await p.request({ method: 'eth_blockNumber' }) // '0x0'
 * ```
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { keccak256, toHex, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Eip1193Provider } from './types.js'

const require = createRequire(import.meta.url)

export interface EmbeddedChainOptions {
  chainId?: number
  /** Number of funded dev keys, derived from `seed`. */
  accounts?: number
  /** Seed of the dev keys (same seed, same keys). */
  seed?: string
  /** Ether given to each dev key, in wei. */
  balanceWei?: bigint
  /** Mine a block per transaction (default) or only when asked. */
  automine?: boolean
  /** Block gas limit. */
  blockGasLimit?: number
  /** The genesis block's time (default: now). A fixed date makes block hashes repeatable (the simulator). */
  initialDate?: Date
}

export const DEFAULT_CHAIN_ID = 31337
export const EVM_HARDFORK = 'cancun'

/** Deterministic dev keys: keccak256("souk-dev:<seed>:<i>"). Never use them where value is at stake. */
export function devKeys(count: number, seed = 'souk'): Hex[] {
  return Array.from({ length: count }, (_, i) => keccak256(toHex(`souk-dev:${seed}:${i}`)))
}

export async function createEmbeddedProvider(opts: EmbeddedChainOptions = {}): Promise<Eip1193Provider & { keys: Hex[] }> {
  const keys = devKeys(opts.accounts ?? 20, opts.seed)
  const { resolveConfig } = require('hardhat/internal/core/config/config-resolution') as {
    resolveConfig(path: string, user: unknown): unknown
  }
  const { createProvider } = require('hardhat/internal/core/providers/construction') as {
    createProvider(config: unknown, network: string): Promise<Eip1193Provider>
  }
  const config = resolveConfig(fileURLToPath(new URL('./hardhat.config.cjs', import.meta.url)), {
    networks: {
      hardhat: {
        chainId: opts.chainId ?? DEFAULT_CHAIN_ID,
        hardfork: EVM_HARDFORK,
        loggingEnabled: false,
        blockGasLimit: opts.blockGasLimit ?? 60_000_000,
        allowUnlimitedContractSize: false,
        mining: { auto: opts.automine ?? true, interval: 0 },
        ...(opts.initialDate ? { initialDate: opts.initialDate.toISOString() } : {}),
        accounts: keys.map((privateKey) => ({ privateKey, balance: (opts.balanceWei ?? 10n ** 24n).toString() })),
      },
    },
  })
  const inner = await createProvider(config, 'hardhat')
  return {
    keys,
    async request(args) {
      try {
        return await inner.request(args)
      } catch (e) {
        // In-process errors lack the JSON-RPC code viem needs to decode custom errors from revert data.
        const err = e as { code?: number; data?: unknown }
        if (err && typeof err === 'object' && err.code === undefined && err.data !== undefined) err.code = 3
        throw e
      }
    },
  }
}

/** Addresses of the dev keys. */
export function devAddresses(keys: readonly Hex[]) {
  return keys.map((k) => privateKeyToAddress(k))
}
