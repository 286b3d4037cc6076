/**
 * Interfaces of the chain layer. Implementations: `embedded.ts` (in-process EVM), `rpc.ts` (any JSON-RPC URL).
 */
import type { Account, Address, Chain as ViemChain, Hex, PublicClient, Transport, WalletClient } from 'viem'

/** The EIP-1193 request function every provider exposes. */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | Record<string, unknown> }): Promise<unknown>
}

/** Dev-chain controls (embedded chain, or a hardhat/anvil node over RPC). */
export interface DevControls {
  /** Mines `blocks` empty blocks at once. */
  mine(blocks?: number): Promise<void>
  /** Moves the next block's timestamp forward. */
  increaseTime(seconds: number): Promise<void>
  snapshot(): Promise<Hex>
  revert(id: Hex): Promise<void>
  setAutomine(on: boolean): Promise<void>
  setBalance(address: Address, wei: bigint): Promise<void>
}

export type SoukWallet = WalletClient<Transport, ViemChain, Account>

/** One handle on a chain: a provider, a public client, wallets, and dev controls when the chain has them. */
export interface Chain {
  readonly chainId: number
  readonly kind: 'embedded' | 'rpc'
  readonly provider: Eip1193Provider
  readonly viemChain: ViemChain
  readonly public: PublicClient<Transport, ViemChain>
  /** A wallet that signs locally with `privateKey` (nonces managed locally). */
  wallet(privateKey: Hex): SoukWallet
  /** Funded dev keys (embedded chain only; empty on remote chains). */
  readonly devKeys: readonly Hex[]
  readonly dev?: DevControls
  /** Latest block number (cached for `maxAgeMs`, default 0). */
  blockNumber(opts?: { maxAgeMs?: number }): Promise<bigint>
  close(): Promise<void>
}
