/**
 * What the storage roles ask of `contracts/StorageMarket.sol`: an interface (so roles take it as a component and a
 * test can count its calls) and its implementation over a `Chain` and a key (`storageContract`).
 */
import { parseEventLogs, type Address, type Hex, type TransactionReceipt } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { StorageMarketAbi, StorageMarketBytecode, SoukTokenAbi } from '../../../artifacts/contracts.js'
import type { Chain } from '../../chain/types.js'
import { deployContract } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import { bytesToHex } from '../../crypto/bytes.js'
import type { DealBody } from '../../market/schema.js'
import type { StorageTerms } from './protocol.js'

/** `pending`: its window has not opened; `open`: it is open, no proof yet; `due`: closed without a proof (anyone may fault it). */
export type PeriodState = 'none' | 'pending' | 'open' | 'due' | 'proven' | 'faulted' | 'cancelled'
export type DealState = 'none' | 'opened' | 'active' | 'cancelled' | 'ended'
const PERIOD_STATES: PeriodState[] = ['none', 'pending', 'open', 'due', 'proven', 'faulted', 'cancelled']
const DEAL_STATES: DealState[] = ['none', 'opened', 'active', 'cancelled', 'ended']
const SKIP_REASONS = ['unknown-deal', 'not-provider', 'not-active', 'not-in-window', 'already-resolved', 'cancelled']
const FAULT_REASONS = ['missed', 'bad-proof']

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

/** The market Deal as the contract's tuple. */
export const dealTuple = (d: DealBody) => ({
  service: d.service, offer: d.offer, ask: d.ask, server: d.server, buyer: d.buyer,
  price: { kind: d.price.kind, base: d.price.base, rates: d.price.rates.map((r) => ({ usage: r.usage, price: r.price, per: r.per })) },
  usage: { chunks: d.usage.chunks ?? 0n, bytes_: d.usage.bytes ?? 0n, byteSeconds: d.usage.byteSeconds ?? 0n, units: d.usage.units ?? 0n, seconds_: d.usage.seconds ?? 0n },
  collateral: d.collateral, scheme: d.scheme, startsAt: BigInt(d.startsAt), endsAt: BigInt(d.endsAt), nonce: d.nonce,
})

/** Deploys `StorageMarket` settling in `token`. */
export const deployStorageMarketContract = (chain: Chain, key: Hex, token: Address): Promise<Address> =>
  deployContract(chain, key, StorageMarketAbi, StorageMarketBytecode as Hex, [token])

/**
 * The contract as a {@link StorageChain} for the account of `key` (approves the token for exactly what a call pulls).
 *
 * @example
 * ```ts
 * const market = storageContract(chain, key, { address, token })
 * const { dealId } = await market.openDeal({ ...deal, serverSig, buyerSig }, terms)
 * ```
 */
export function storageContract(chain: Chain, key: Hex, at: { address: Address; token: Address }): StorageChain {
  const wallet = chain.wallet(key)
  const account = privateKeyToAddress(key).toLowerCase() as Address
  const call = (functionName: string, args: readonly unknown[]) => write(chain, wallet, { address: at.address, abi: StorageMarketAbi, functionName, args })
  const read = <T>(functionName: string, args: readonly unknown[]) => chain.public.readContract({ address: at.address, abi: StorageMarketAbi, functionName, args } as never) as Promise<T>
  const approve = (amount: bigint) => amount > 0n ? write(chain, wallet, { address: at.token, abi: SoukTokenAbi, functionName: 'approve', args: [at.address, amount] }) : undefined
  const events = (r: TransactionReceipt) => parseEventLogs({ abi: StorageMarketAbi, logs: r.logs })
  return {
    address: at.address, account,
    blockNumber: () => chain.blockNumber(),
    async blockHash(n) { return (await chain.public.getBlock({ blockNumber: n })).hash! },
    async openDeal(d, t) {
      await approve(t.pricePerPeriod * BigInt(t.periods))
      const r = await call('openDeal', [dealTuple(d), d.serverSig, d.buyerSig, t])
      const ev = events(r).find((e) => e.eventName === 'DealOpened') as { args: { dealId: Hex } } | undefined
      return { dealId: ev!.args.dealId, tx: r.transactionHash }
    },
    async activate(dealId) {
      const v = await read<{ collateral: bigint }>('termsOf', [dealId])
      await approve(v.collateral)
      return (await call('activate', [dealId])).transactionHash
    },
    cancel: async (dealId) => (await call('cancel', [dealId])).transactionHash,
    async prove(entries) {
      const r = await call('prove', [entries.map((e) => ({ dealId: e.dealId, period: e.period, leaves: bytesToHex(e.leaves), siblings: bytesToHex(e.siblings) }))])
      const out: ProveResult = { tx: r.transactionHash, gasUsed: r.gasUsed, proven: [], faulted: [], skipped: [] }
      for (const e of events(r) as { eventName: string; args: Record<string, unknown> }[]) {
        const base = { dealId: e.args.dealId as Hex, period: Number(e.args.period) }
        if (e.eventName === 'PeriodProven') out.proven.push(base)
        else if (e.eventName === 'PeriodFaulted') out.faulted.push({ ...base, reason: FAULT_REASONS[Number(e.args.reason)] })
        else if (e.eventName === 'ProofSkipped') out.skipped.push({ ...base, reason: SKIP_REASONS[Number(e.args.reason)] })
      }
      return out
    },
    fault: async (dealId, period) => (await call('fault', [dealId, BigInt(period)])).transactionHash,
    terminate: async (dealId) => (await call('terminate', [dealId])).transactionHash,
    finalize: async (dealId) => (await call('finalize', [dealId])).transactionHash,
    async withdraw() {
      const r = await call('withdraw', [])
      const ev = events(r).find((e) => e.eventName === 'Withdrawn') as { args: { amount: bigint } } | undefined
      return { tx: r.transactionHash, amount: ev?.args.amount ?? 0n }
    },
    async deal(dealId) {
      const v = await read<{ state: number; client: Address; provider: Address; openBlock: bigint; start: bigint; proven: bigint; faulted: bigint; escrowLeft: bigint; collateralLeft: bigint }>('deals', [dealId])
      return {
        state: DEAL_STATES[v.state], client: v.client.toLowerCase() as Address, provider: v.provider.toLowerCase() as Address, start: v.start, openBlock: v.openBlock,
        proven: Number(v.proven), faulted: Number(v.faulted), escrowLeft: v.escrowLeft, collateralLeft: v.collateralLeft,
      }
    },
    periodState: async (dealId, period) => PERIOD_STATES[await read<number>('periodState', [dealId, BigInt(period)])],
    balanceOf: (who) => read<bigint>('balanceOf', [who]),
    termsHash: (t) => read<Hex>('termsHash', [t]),
  }
}
