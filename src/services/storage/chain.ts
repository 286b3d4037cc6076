/**
 * What the storage roles ask of `contracts/StorageMarket.sol`: an interface (so roles take it as a component) and
 * its implementation for one account (`storageContract`), over the typed calls of `contract.ts`.
 *
 * @example
 * ```ts
 * const market = storageContract(chain, key, { address, token })
 * const { dealId } = await market.openDeal({ ...deal, serverSig, buyerSig }, terms) // approves the escrow first
 * ```
 */
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { SoukTokenAbi } from '../../../artifacts/contracts.js'
import type { Chain } from '../../chain/types.js'
import { write } from '../../chain/tx.js'
import type { DealBody } from '../../market/schema.js'
import {
  activateStorageDeal, cancelStorageDeal, deployStorageMarket, faultStoragePeriod, finalizeStorageDeal, openStorageDeal, proveStorage, readPeriodState,
  readStorageBalance, readStorageDeal, readStorageTerms, readTermsHash, terminateStorageDeal, withdrawStorage, type StoragePeriodState,
} from './contract.js'
import type { StorageTerms } from './protocol.js'

/** `pending`: its window has not opened; `open`: it is open, no proof yet; `due`: closed without a proof (anyone may fault it). */
export type PeriodState = StoragePeriodState
export type DealState = 'none' | 'opened' | 'active' | 'cancelled' | 'ended'

export interface OnChainDeal {
  state: DealState
  client: Address
  provider: Address
  /** Activation block (0 before). */
  start: bigint
  openBlock: bigint
  proven: number
  faulted: number
  escrowLeft: bigint
  collateralLeft: bigint
}

export interface ProofEntry { dealId: Hex; period: number; leaves: Uint8Array; siblings: Uint8Array }

/** What one `prove` transaction did, entry by entry (from its events). */
export interface ProveResult { tx: Hex; gasUsed: bigint; proven: { dealId: Hex; period: number }[]; faulted: { dealId: Hex; period: number; reason: string }[]; skipped: { dealId: Hex; period: number; reason: string }[] }

export interface StorageChain {
  readonly address: Address
  /** The account this client sends from. */
  readonly account: Address
  blockNumber(): Promise<bigint>
  /** The hash of block `n` (the seed of a period whose seed block is n). */
  blockHash(n: bigint): Promise<Hex>
  /** Mines nothing, sends: the client opens (and escrows; approves the token first). */
  openDeal(deal: DealBody & { serverSig: Hex; buyerSig: Hex }, terms: StorageTerms): Promise<{ dealId: Hex; tx: Hex }>
  activate(dealId: Hex): Promise<Hex>
  cancel(dealId: Hex): Promise<Hex>
  prove(entries: ProofEntry[]): Promise<ProveResult>
  fault(dealId: Hex, period: number): Promise<Hex>
  terminate(dealId: Hex): Promise<Hex>
  finalize(dealId: Hex): Promise<Hex>
  withdraw(): Promise<{ tx: Hex; amount: bigint }>
  deal(dealId: Hex): Promise<OnChainDeal>
  periodState(dealId: Hex, period: number): Promise<PeriodState>
  balanceOf(who: Address): Promise<bigint>
  termsHash(terms: StorageTerms): Promise<Hex>
}

/** Deploys `StorageMarket` settling in `token`. */
export const deployStorageMarketContract = deployStorageMarket

/** The contract as a {@link StorageChain} for the account of `key` (approves the token for exactly what a call pulls). */
export function storageContract(chain: Chain, key: Hex, at: { address: Address; token: Address }): StorageChain {
  const account = privateKeyToAddress(key).toLowerCase() as Address
  const m = at.address
  const approve = async (amount: bigint) => { if (amount > 0n) await write(chain, chain.wallet(key), { address: at.token, abi: SoukTokenAbi, functionName: 'approve', args: [m, amount] }) }
  return {
    address: m, account,
    blockNumber: () => chain.blockNumber(),
    async blockHash(n) { return (await chain.public.getBlock({ blockNumber: n })).hash! },
    async openDeal(d, t) {
      await approve(t.pricePerPeriod * BigInt(t.periods))
      const r = await openStorageDeal(chain, key, m, { deal: d, serverSig: d.serverSig, buyerSig: d.buyerSig, terms: t })
      return { dealId: r.dealId, tx: r.receipt.transactionHash }
    },
    async activate(dealId) {
      await approve((await readStorageTerms(chain, m, dealId)).collateral)
      return (await activateStorageDeal(chain, key, m, dealId)).transactionHash
    },
    cancel: async (dealId) => (await cancelStorageDeal(chain, key, m, dealId)).transactionHash,
    async prove(entries) {
      const r = await proveStorage(chain, key, m, entries)
      return { tx: r.receipt.transactionHash, gasUsed: r.receipt.gasUsed, proven: r.proven, faulted: r.faulted, skipped: r.skipped }
    },
    fault: async (dealId, period) => (await faultStoragePeriod(chain, key, m, dealId, period)).transactionHash,
    terminate: async (dealId) => (await terminateStorageDeal(chain, key, m, dealId)).transactionHash,
    finalize: async (dealId) => (await finalizeStorageDeal(chain, key, m, dealId)).transactionHash,
    async withdraw() { const r = await withdrawStorage(chain, key, m); return { tx: r.receipt.transactionHash, amount: r.amount } },
    async deal(dealId) {
      const v = await readStorageDeal(chain, m, dealId)
      return {
        state: v.state === 'finalized' ? 'ended' : v.state, client: v.client.toLowerCase() as Address, provider: v.provider.toLowerCase() as Address, start: v.start, openBlock: v.openBlock,
        proven: v.proven, faulted: v.faulted, escrowLeft: v.escrowLeft, collateralLeft: v.collateralLeft,
      }
    },
    periodState: (dealId, period) => readPeriodState(chain, m, dealId, period),
    balanceOf: (who) => readStorageBalance(chain, m, who),
    termsHash: (t) => readTermsHash(chain, m, t),
  }
}
