/**
 * Typed access to `contracts/StorageMarket.sol`: deploying it next to a Souk deployment's token, and one function per
 * call (each takes a `Chain` and the sender's key) and per view, with the contract's enums as strings.
 *
 * @example
 * ```ts
 * import { deployStorageMarket, openStorageDeal, proveStorage, readStorageDeal } from './contract.js'
 * const market = await deployStorageMarket(chain, deployerKey, deployment.token)
 * const { dealId } = await openStorageDeal(chain, clientKey, market, { deal, serverSig, buyerSig, terms })
 * await activateStorageDeal(chain, providerKey, market, dealId)
 * await proveStorage(chain, providerKey, market, [{ dealId, period: 0, leaves, siblings }])
 * (await readStorageDeal(chain, market, dealId)).proven // 1
 * ```
 */
import { bytesToHex, encodeAbiParameters, keccak256, parseEventLogs, type Address, type Hex, type TransactionReceipt } from 'viem'
import { StorageMarketAbi, StorageMarketBytecode } from '../../../artifacts/contracts.js'
import type { Chain } from '../../chain/types.js'
import { deployContract } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import type { DealBody } from '../../market/schema.js'

/** `StorageMarket.StorageTerms`, field for field. */
export interface StorageTermsArg {
  root: Hex
  dataRoot: Hex
  salt: Hex
  leavesPerReplica: bigint
  replicas: number
  challenges: number
  periodBlocks: number
  windowBlocks: number
  periods: number
  activateWithinBlocks: number
  pricePerPeriod: bigint
  collateral: bigint
}

export const DEAL_STATES = ['none', 'opened', 'active', 'cancelled', 'finalized'] as const
export type StorageDealState = (typeof DEAL_STATES)[number]
export const PERIOD_STATES = ['none', 'pending', 'open', 'due', 'proven', 'faulted', 'cancelled'] as const
export type StoragePeriodState = (typeof PERIOD_STATES)[number]
export const SKIP_REASONS = ['unknown-deal', 'not-provider', 'not-active', 'not-in-window', 'already-resolved', 'cancelled'] as const
export type StorageSkipReason = (typeof SKIP_REASONS)[number]
export const FAULT_REASONS = ['missed', 'bad-proof'] as const
export type StorageFaultReason = (typeof FAULT_REASONS)[number]

export interface StorageDealView {
  state: StorageDealState
  client: Address
  provider: Address
  openBlock: bigint
  /** Activation block (0 before). */
  start: bigint
  periods: number
  /** Periods from here on are cancelled (== periods unless terminated). */
  endPeriod: number
  /** Periods below are resolved (proven or faulted). */
  next: number
  proven: number
  faulted: number
  escrowLeft: bigint
  collateralLeft: bigint
}

/** One deal's proof of one period (leaves 32 bytes each in sorted-deduplicated position order, siblings 20 bytes each). */
export interface StorageProofArg { dealId: Hex; period: number; leaves: Uint8Array | Hex; siblings: Uint8Array | Hex }

/** What one `prove` transaction did, from its events. */
export interface StorageProveResult {
  receipt: TransactionReceipt
  proven: { dealId: Hex; period: number; paid: bigint }[]
  faulted: { dealId: Hex; period: number; slashed: bigint; reason: StorageFaultReason }[]
  skipped: { dealId: Hex; period: number; reason: StorageSkipReason }[]
}

const TERMS_ABI = [{
  type: 'tuple', components: [
    { name: 'root', type: 'bytes20' }, { name: 'dataRoot', type: 'bytes20' }, { name: 'salt', type: 'bytes32' }, { name: 'leavesPerReplica', type: 'uint64' },
    { name: 'replicas', type: 'uint16' }, { name: 'challenges', type: 'uint16' }, { name: 'periodBlocks', type: 'uint32' }, { name: 'windowBlocks', type: 'uint32' },
    { name: 'periods', type: 'uint32' }, { name: 'activateWithinBlocks', type: 'uint32' }, { name: 'pricePerPeriod', type: 'uint256' }, { name: 'collateral', type: 'uint256' },
  ],
}] as const

/** keccak256(abi.encode(terms)), what `termsHash` returns; a storage deal's `nonce` is it as a uint256. */
export const storageTermsHash = (t: StorageTermsArg): Hex => keccak256(encodeAbiParameters(TERMS_ABI, [t]))

/** A market deal body as the contract's `Deal` tuple. */
export function dealTuple(d: DealBody) {
  return {
    service: d.service, offer: d.offer, ask: d.ask, server: d.server, buyer: d.buyer,
    price: { kind: d.price.kind, base: d.price.base, rates: d.price.rates.map((r) => ({ usage: r.usage, price: r.price, per: r.per })) },
    usage: { chunks: d.usage.chunks ?? 0n, bytes_: d.usage.bytes ?? 0n, byteSeconds: d.usage.byteSeconds ?? 0n, units: d.usage.units ?? 0n, seconds_: d.usage.seconds ?? 0n },
    collateral: d.collateral, scheme: d.scheme, startsAt: BigInt(d.startsAt), endsAt: BigInt(d.endsAt), nonce: d.nonce,
  }
}

/**
 * A market deal for storage terms: `service: 'storage'`, `nonce` = the terms' hash, `collateral` = theirs (what
 * `openDeal` checks). `offer`/`ask` name the market messages it came from (zero when made directly).
 */
export function storageDeal(o: { server: Address; buyer: Address; terms: StorageTermsArg; startsAt: number; endsAt: number; offer?: Hex; ask?: Hex; scheme?: string; price?: DealBody['price'] }): DealBody {
  const zero = `0x${'00'.repeat(32)}` as Hex
  return {
    type: 'deal', service: 'storage', offer: o.offer ?? zero, ask: o.ask ?? zero, server: o.server, buyer: o.buyer,
    price: o.price ?? { kind: 'linear', base: 0n, rates: [{ usage: 'units', price: o.terms.pricePerPeriod, per: 1n }] },
    usage: { units: BigInt(o.terms.periods) }, collateral: o.terms.collateral, scheme: o.scheme ?? 'escrow',
    startsAt: o.startsAt, endsAt: o.endsAt, nonce: BigInt(storageTermsHash(o.terms)),
  }
}

const hexOf = (b: Uint8Array | Hex): Hex => (typeof b === 'string' ? b : bytesToHex(b))
/** A proof as the contract's `Proof` tuple. */
export const proofTuple = (p: StorageProofArg) => ({ dealId: p.dealId, period: p.period, leaves: hexOf(p.leaves), siblings: hexOf(p.siblings) })

const M = { abi: StorageMarketAbi } as const
const send = (chain: Chain, key: Hex, market: Address, functionName: string, args: readonly unknown[], gas?: bigint) =>
  write(chain, chain.wallet(key), { ...M, address: market, functionName, args, gas })
const view = <T>(chain: Chain, market: Address, functionName: string, args: readonly unknown[]): Promise<T> =>
  chain.public.readContract({ ...M, address: market, functionName, args } as never) as Promise<T>

/** Deploys a StorageMarket paying in `token` (the deployment's SoukToken); returns its address. */
export function deployStorageMarket(chain: Chain, key: Hex, token: Address): Promise<Address> {
  return deployContract(chain, key, StorageMarketAbi, StorageMarketBytecode, [token])
}

/** The client opens a deal both sides signed (the client must have approved `pricePerPeriod × periods`). */
export async function openStorageDeal(chain: Chain, key: Hex, market: Address, o: { deal: DealBody; serverSig: Hex; buyerSig: Hex; terms: StorageTermsArg }): Promise<{ dealId: Hex; receipt: TransactionReceipt }> {
  const receipt = await send(chain, key, market, 'openDeal', [dealTuple(o.deal), o.serverSig, o.buyerSig, o.terms])
  const ev = parseEventLogs({ abi: StorageMarketAbi, logs: receipt.logs, eventName: 'DealOpened' })[0]
  return { dealId: ev!.args.dealId, receipt }
}

/** The provider activates (it must have approved the collateral). */
export const activateStorageDeal = (chain: Chain, key: Hex, market: Address, dealId: Hex) => send(chain, key, market, 'activate', [dealId])
/** The client cancels a deal the provider did not activate in time. */
export const cancelStorageDeal = (chain: Chain, key: Hex, market: Address, dealId: Hex) => send(chain, key, market, 'cancel', [dealId])
/** Anyone faults period `t` (and the unresolved ones before it) after its window. */
export const faultStoragePeriod = (chain: Chain, key: Hex, market: Address, dealId: Hex, t: number) => send(chain, key, market, 'fault', [dealId, BigInt(t)])
/** The client or the provider ends the deal after the current period. */
export const terminateStorageDeal = (chain: Chain, key: Hex, market: Address, dealId: Hex) => send(chain, key, market, 'terminate', [dealId])
/** Anyone settles the deal after its last window. */
export const finalizeStorageDeal = (chain: Chain, key: Hex, market: Address, dealId: Hex) => send(chain, key, market, 'finalize', [dealId])
/** Anyone keeps period `t`'s seed in storage. */
export const recordStorageSeed = (chain: Chain, key: Hex, market: Address, dealId: Hex, t: number) => send(chain, key, market, 'recordSeed', [dealId, BigInt(t)])

/** Pulls the sender's whole withdrawable balance; returns the amount. */
export async function withdrawStorage(chain: Chain, key: Hex, market: Address): Promise<{ amount: bigint; receipt: TransactionReceipt }> {
  const receipt = await send(chain, key, market, 'withdraw', [])
  const ev = parseEventLogs({ abi: StorageMarketAbi, logs: receipt.logs, eventName: 'Withdrawn' })[0]
  return { amount: ev!.args.amount, receipt }
}

/** Decodes a `prove` receipt's events. */
export function proveOutcome(receipt: TransactionReceipt, market: Address): StorageProveResult {
  const logs = receipt.logs.filter((l) => l.address.toLowerCase() === market.toLowerCase())
  const out: StorageProveResult = { receipt, proven: [], faulted: [], skipped: [] }
  for (const e of parseEventLogs({ abi: StorageMarketAbi, logs })) {
    if (e.eventName === 'PeriodProven') out.proven.push({ dealId: e.args.dealId, period: Number(e.args.period), paid: e.args.paid })
    else if (e.eventName === 'PeriodFaulted') out.faulted.push({ dealId: e.args.dealId, period: Number(e.args.period), slashed: e.args.slashed, reason: FAULT_REASONS[e.args.reason]! })
    else if (e.eventName === 'ProofSkipped') out.skipped.push({ dealId: e.args.dealId, period: Number(e.args.period), reason: SKIP_REASONS[e.args.reason]! })
  }
  return out
}

/** The provider proves several deals and periods in one transaction (reverts StorageMarketNothingProven if every entry is skipped). */
export async function proveStorage(chain: Chain, key: Hex, market: Address, proofs: readonly StorageProofArg[], opts: { gas?: bigint } = {}): Promise<StorageProveResult> {
  const receipt = await send(chain, key, market, 'prove', [proofs.map(proofTuple)], opts.gas)
  return proveOutcome(receipt, market)
}

export async function readStorageDeal(chain: Chain, market: Address, dealId: Hex): Promise<StorageDealView> {
  const v = await view<{ state: number; client: Address; provider: Address; openBlock: bigint; start: bigint; periods: bigint; endPeriod: bigint; next: bigint; proven: bigint; faulted: bigint; escrowLeft: bigint; collateralLeft: bigint }>(chain, market, 'deals', [dealId])
  return {
    state: DEAL_STATES[v.state]!, client: v.client, provider: v.provider, openBlock: v.openBlock, start: v.start, periods: Number(v.periods), endPeriod: Number(v.endPeriod),
    next: Number(v.next), proven: Number(v.proven), faulted: Number(v.faulted), escrowLeft: v.escrowLeft, collateralLeft: v.collateralLeft,
  }
}

export async function readPeriodState(chain: Chain, market: Address, dealId: Hex, t: number): Promise<StoragePeriodState> {
  return PERIOD_STATES[await view<number>(chain, market, 'periodState', [dealId, BigInt(t)])]!
}

export const readCurrentPeriod = async (chain: Chain, market: Address, dealId: Hex): Promise<number> => Number(await view<bigint>(chain, market, 'currentPeriod', [dealId]))
export const readStorageBalance = (chain: Chain, market: Address, who: Address): Promise<bigint> => view<bigint>(chain, market, 'balanceOf', [who])
/** Period `t`'s seed (recorded, BLOCKHASH or EIP-2935; reverts StorageMarketSeedNotYet / StorageMarketSeedUnavailable). */
export const readSeed = (chain: Chain, market: Address, dealId: Hex, t: number): Promise<Hex> => view<Hex>(chain, market, 'seedOf', [dealId, BigInt(t)])
/** Period `t`'s challenged positions, sorted and deduplicated. */
export const readChallengedLeaves = async (chain: Chain, market: Address, dealId: Hex, t: number): Promise<number[]> =>
  (await view<readonly bigint[]>(chain, market, 'challengedLeaves', [dealId, BigInt(t)])).map(Number)
export const readTermsHash = (chain: Chain, market: Address, t: StorageTermsArg): Promise<Hex> => view<Hex>(chain, market, 'termsHash', [t])
/** The terms a deal was opened with, as the contract keeps them. */
export const readStorageTerms = (chain: Chain, market: Address, dealId: Hex) =>
  view<{ root: Hex; totalLeaves: bigint; depth: bigint; challenges: bigint; periodBlocks: bigint; windowBlocks: bigint; activateWithinBlocks: bigint; pricePerPeriod: bigint; collateral: bigint }>(chain, market, 'termsOf', [dealId])
