/**
 * A TypeScript reference model of StorageMarket (contracts/StorageMarket.sol) and the token balances it moves. Each
 * method mirrors the Solidity function of the same name, check for check and in the same order, so the model predicts
 * the exact custom error of a reverting call (thrown as `ModelRevert`, see model.ts) and the exact state, balances and
 * events after a successful one. A proof is judged with src/proofs/storage's own `challengePositions` and
 * `verifyMultiProof` (the spec), so the model also checks that the contract verifies exactly what tree.ts does.
 *
 * A reverting call leaves the model half-updated: callers `clone()` first and keep the clone on `ModelRevert`.
 * Transactions execute in block `block + 1`; the views take the block they run at (`at`; eth_call at "latest" on the
 * embedded chain runs at `block` itself).
 *
 * @example
 * ```ts
 * import { StorageModel } from './storage-model.js'
 * const m = new StorageModel({ chainId, market, token, blockHash: (n) => hashes.get(n)! })
 * m.mint(client, 1000n)
 * const id = m.openDeal(client, deal, serverSig, buyerSig, terms) // throws ModelRevert('StorageMarketBadTerms') ...
 * ```
 */
import { bytesToHex, decodeErrorResult, encodeAbiParameters, encodeFunctionData, hexToBytes, keccak256, toHex, type Abi, type Address, type Hex, type TransactionReceipt } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { ChainError, ContractRevertError, findRevertData } from '../../src/chain/index.js'
import { recoverDigest } from '../../src/crypto/index.js'
import { marketDomain, marketHash, signDealBody } from '../../src/market/sign.js'
import type { DealBody } from '../../src/market/schema.js'
import { buildStorageTree, challengePositions, dataLeaf, multiProof, replicatedLeaf, verifyMultiProof, type StorageTree } from '../../src/proofs/storage/index.js'
import { dealTuple, storageDeal, type StorageTermsArg } from '../../src/services/storage/contract.js'
import { deployRaw, MAX_UINT256, setupSouk, TX_GAS, type SoukEnv } from './helpers.js'
import { ModelRevert } from './model.js'

export { ModelRevert }

export const DEAL_STATE = { None: 0, Opened: 1, Active: 2, Cancelled: 3, Finalized: 4 } as const
export const PERIOD_STATE = { None: 0, Pending: 1, Open: 2, Due: 3, Proven: 4, Faulted: 5, Cancelled: 6 } as const
export const SKIP = { UnknownDeal: 0, NotProvider: 1, NotActive: 2, NotInWindow: 3, AlreadyResolved: 4, Cancelled: 5 } as const
export const FAULT = { Missed: 0, BadProof: 1 } as const

const U128 = (1n << 128n) - 1n
const U32 = (1n << 32n) - 1n
const lc = (a: string) => a.toLowerCase() as Address

export interface ModelDeal {
  state: number
  client: Address
  provider: Address
  depth: number
  challenges: number
  openBlock: bigint
  activateWithinBlocks: bigint
  periodBlocks: bigint
  windowBlocks: bigint
  periods: number
  root: Hex
  totalLeaves: number
  start: bigint
  next: number
  proven: number
  faulted: number
  endPeriod: number
  escrowLeft: bigint
  pricePerPeriod: bigint
  collateralLeft: bigint
  collateral: bigint
  faults: number[]
}

/** An event the contract emits, with its arguments normalised (lower-case addresses, bigints). */
export interface ModelEvent { name: string; args: Record<string, unknown> }

export interface ModelProof { dealId: Hex; period: number; leaves: Uint8Array; siblings: Uint8Array }

export interface StorageModelParams {
  chainId: number
  market: Address
  token: Address
  /** The hash of a mined block (the harness fetches the ones the next call needs). */
  blockHash: (n: bigint) => Hex
  /** Whether the EIP-2935 history contract has code (and answers for 8191 blocks). */
  history?: boolean
}

interface State {
  balances: Map<Address, bigint>
  withdrawable: Map<Address, bigint>
  deals: Map<Hex, ModelDeal>
  seeds: Map<string, Hex>
}

const STORAGE_TERMS_ABI = [{
  type: 'tuple', components: [
    { name: 'root', type: 'bytes20' }, { name: 'dataRoot', type: 'bytes20' }, { name: 'salt', type: 'bytes32' }, { name: 'leavesPerReplica', type: 'uint64' },
    { name: 'replicas', type: 'uint16' }, { name: 'challenges', type: 'uint16' }, { name: 'periodBlocks', type: 'uint32' }, { name: 'windowBlocks', type: 'uint32' },
    { name: 'periods', type: 'uint32' }, { name: 'activateWithinBlocks', type: 'uint32' }, { name: 'pricePerPeriod', type: 'uint256' }, { name: 'collateral', type: 'uint256' },
  ],
}] as const
export const modelTermsHash = (t: StorageTermsArg): Hex => keccak256(encodeAbiParameters(STORAGE_TERMS_ABI, [t]))

export class StorageModel {
  readonly p: StorageModelParams
  /** Latest mined block; a transaction sent now executes in block `block + 1`. */
  block = 0n
  /** Events of the last successful call, in order. */
  events: ModelEvent[] = []
  /** Token movements out of the market made by the last successful call. */
  payouts: { to: Address; amount: bigint }[] = []
  private s: State = { balances: new Map(), withdrawable: new Map(), deals: new Map(), seeds: new Map() }

  constructor(p: StorageModelParams) {
    this.p = { ...p, market: lc(p.market), token: lc(p.token) }
  }

  clone(): StorageModel {
    const m = new StorageModel(this.p)
    m.block = this.block
    m.s = structuredClone(this.s)
    return m
  }

  private get exec() { return this.block + 1n }
  private begin() { this.events = []; this.payouts = [] }
  private emit(name: string, args: Record<string, unknown>) { this.events.push({ name, args }) }

  // ------------------------------------------------------------ token
  mint(to: Address, amount: bigint) { this.s.balances.set(lc(to), this.balanceOf(to) + amount) }
  balanceOf(a: Address): bigint { return this.s.balances.get(lc(a)) ?? 0n }
  private transfer(from: Address, to: Address, amount: bigint) {
    const fb = this.balanceOf(from)
    if (fb < amount) throw new ModelRevert('ERC20InsufficientBalance', [from, fb, amount])
    this.s.balances.set(lc(from), fb - amount)
    this.s.balances.set(lc(to), this.balanceOf(to) + amount)
  }

  // ------------------------------------------------------------ views
  withdrawable(a: Address): bigint { return this.s.withdrawable.get(lc(a)) ?? 0n }
  deal(id: Hex): ModelDeal | undefined { return this.s.deals.get(id) }
  dealIds(): Hex[] { return [...this.s.deals.keys()] }
  /** Σ escrowLeft + Σ collateralLeft + Σ withdrawable: what the market must hold (S1). */
  owed(): bigint {
    let t = 0n
    for (const d of this.s.deals.values()) t += d.escrowLeft + d.collateralLeft
    for (const v of this.s.withdrawable.values()) t += v
    return t
  }

  /** `currentPeriod` at block `at` (default: the next block). */
  currentPeriod(id: Hex, at = this.exec): number {
    const d = this.s.deals.get(id)
    if (!d) throw new ModelRevert('StorageMarketUnknownDeal', [id])
    if (d.start === 0n) throw new ModelRevert('StorageMarketNotActive', [id, d.state])
    return at <= d.start ? 0 : Number((at - d.start - 1n) / d.periodBlocks)
  }

  periodState(id: Hex, t: number, at = this.exec): number {
    const d = this.s.deals.get(id)
    if (!d || d.start === 0n || t >= d.periods) return PERIOD_STATE.None
    if (t >= d.endPeriod) return PERIOD_STATE.Cancelled
    if (t < d.next) return d.faults.includes(t) ? PERIOD_STATE.Faulted : PERIOD_STATE.Proven
    const end = this.periodEnd(d, t)
    if (at > end) return PERIOD_STATE.Due
    if (at > end - d.windowBlocks) return PERIOD_STATE.Open
    return PERIOD_STATE.Pending
  }

  periodEnd(d: ModelDeal, t: number): bigint { return d.start + BigInt(t + 1) * d.periodBlocks }
  seedBlock(d: ModelDeal, t: number): bigint { return this.periodEnd(d, t) - d.windowBlocks }

  /** `seedOf` as seen by a transaction (or a view) executing at block `at`. */
  seedOf(id: Hex, t: number, at = this.exec): Hex {
    const d = this.s.deals.get(id)
    if (!d) throw new ModelRevert('StorageMarketUnknownDeal', [id])
    if (d.start === 0n) throw new ModelRevert('StorageMarketNotActive', [id, d.state])
    if (t >= d.periods) throw new ModelRevert('StorageMarketPeriodOutOfRange', [id, t])
    return this.seed(id, t, this.seedBlock(d, t), at)
  }

  private seed(id: Hex, t: number, sb: bigint, at: bigint): Hex {
    const rec = this.s.seeds.get(`${id}|${t}`)
    if (rec) return rec
    if (sb >= at) throw new ModelRevert('StorageMarketSeedNotYet', [id, t, sb])
    if (at - sb <= 256n) return this.p.blockHash(sb)
    if (this.p.history && at - sb <= 8191n) return this.p.blockHash(sb)
    throw new ModelRevert('StorageMarketSeedUnavailable', [id, t, sb])
  }

  /** The seed blocks a `prove`/`recordSeed` at the next block may read (for the harness to fetch). */
  seedBlockOf(id: Hex, t: number): bigint | undefined {
    const d = this.s.deals.get(id)
    if (!d || d.start === 0n) return undefined
    const sb = this.seedBlock(d, t)
    return sb >= 0n && sb <= this.block ? sb : undefined
  }

  // ------------------------------------------------------------ calls
  openDeal(sender: Address, d: DealBody, serverSig: Hex, buyerSig: Hex, t: StorageTermsArg): Hex {
    this.begin()
    if (lc(sender) !== lc(d.buyer)) throw new ModelRevert('StorageMarketNotClient', [d.buyer, sender])
    if (d.service !== 'storage') throw new ModelRevert('StorageMarketNotStorageDeal', [d.service])
    if (d.nonce !== BigInt(modelTermsHash(t))) throw new ModelRevert('StorageMarketTermsMismatch', ['nonce'])
    if (d.collateral !== t.collateral) throw new ModelRevert('StorageMarketTermsMismatch', ['collateral'])
    // _checkTerms
    const bad = (f: string) => new ModelRevert('StorageMarketBadTerms', [f])
    if (t.collateral === 0n) throw bad('collateral')
    if (t.periods === 0) throw bad('periods')
    if (t.replicas === 0) throw bad('replicas')
    if (t.leavesPerReplica === 0n) throw bad('leavesPerReplica')
    if (t.challenges === 0 || t.challenges > 64) throw bad('challenges')
    if (t.windowBlocks === 0 || t.windowBlocks > t.periodBlocks || t.windowBlocks > 256) throw bad('windowBlocks')
    if (t.activateWithinBlocks === 0) throw bad('activateWithinBlocks')
    const total = BigInt(t.replicas) * t.leavesPerReplica
    if (total > 1n << 40n) throw bad('depth')
    let depth = 0
    while (1n << BigInt(depth) < total) depth++
    if (t.collateral > U128 || t.pricePerPeriod > U128) throw bad('amount')
    const escrow = t.pricePerPeriod * BigInt(t.periods)
    if (escrow > U128) throw bad('amount')
    if (this.exec + BigInt(t.activateWithinBlocks) + BigInt(t.periods) * BigInt(t.periodBlocks) > U32) throw bad('duration')
    // _verifyDeal
    const digest = marketHash(marketDomain(this.p.chainId, this.p.market), d)
    const rs = recoverDigest(hexToBytes(digest), hexToBytes(serverSig))
    if (!rs.ok || lc(rs.address) !== lc(d.server)) throw new ModelRevert('MarketDealsBadSignature', [digest, 'server'])
    const rb = recoverDigest(hexToBytes(digest), hexToBytes(buyerSig))
    if (!rb.ok || lc(rb.address) !== lc(d.buyer)) throw new ModelRevert('MarketDealsBadSignature', [digest, 'buyer'])
    if (this.s.deals.has(digest)) throw new ModelRevert('StorageMarketDealExists', [digest])
    this.s.deals.set(digest, {
      state: DEAL_STATE.Opened, client: lc(sender), provider: lc(d.server), depth, challenges: t.challenges, openBlock: this.exec,
      activateWithinBlocks: BigInt(t.activateWithinBlocks), periodBlocks: BigInt(t.periodBlocks), windowBlocks: BigInt(t.windowBlocks), periods: t.periods,
      root: t.root.toLowerCase() as Hex, totalLeaves: Number(total), start: 0n, next: 0, proven: 0, faulted: 0, endPeriod: t.periods, escrowLeft: escrow,
      pricePerPeriod: t.pricePerPeriod, collateralLeft: 0n, collateral: t.collateral, faults: [],
    })
    this.emit('DealOpened', { dealId: digest, client: lc(sender), provider: lc(d.server), escrow, collateral: t.collateral, periods: BigInt(t.periods) })
    if (escrow !== 0n) this.transfer(sender, this.p.market, escrow)
    return digest
  }

  private known(id: Hex): ModelDeal {
    const d = this.s.deals.get(id)
    if (!d) throw new ModelRevert('StorageMarketUnknownDeal', [id])
    return d
  }

  activate(sender: Address, id: Hex) {
    this.begin()
    const d = this.known(id)
    if (lc(sender) !== d.provider) throw new ModelRevert('StorageMarketNotProvider', [d.provider, sender])
    if (d.state !== DEAL_STATE.Opened) throw new ModelRevert('StorageMarketNotOpened', [id, d.state])
    const deadline = d.openBlock + d.activateWithinBlocks
    if (this.exec > deadline) throw new ModelRevert('StorageMarketActivationExpired', [id, deadline])
    d.state = DEAL_STATE.Active
    d.start = this.exec
    d.collateralLeft = d.collateral
    this.emit('DealActivated', { dealId: id, start: this.exec, collateral: d.collateral })
    this.transfer(sender, this.p.market, d.collateral)
  }

  cancel(sender: Address, id: Hex) {
    this.begin()
    const d = this.known(id)
    if (lc(sender) !== d.client) throw new ModelRevert('StorageMarketNotClient', [d.client, sender])
    if (d.state !== DEAL_STATE.Opened) throw new ModelRevert('StorageMarketNotOpened', [id, d.state])
    const deadline = d.openBlock + d.activateWithinBlocks
    if (this.exec <= deadline) throw new ModelRevert('StorageMarketActivationPending', [id, deadline])
    const refund = d.escrowLeft
    d.escrowLeft = 0n
    d.state = DEAL_STATE.Cancelled
    this.credit(sender, refund)
    this.emit('DealCancelled', { dealId: id, refunded: refund })
  }

  terminate(sender: Address, id: Hex) {
    this.begin()
    const d = this.known(id)
    const byProvider = lc(sender) === d.provider
    if (!byProvider && lc(sender) !== d.client) throw new ModelRevert('StorageMarketNotParty', [sender])
    if (d.state !== DEAL_STATE.Active) throw new ModelRevert('StorageMarketNotActive', [id, d.state])
    const from = this.currentPeriod(id) + 1
    if (from >= d.endPeriod) throw new ModelRevert('StorageMarketNothingToCancel', [id])
    const refunded = BigInt(d.endPeriod - from) * d.pricePerPeriod
    let forfeited = 0n
    if (byProvider) {
      for (let j = from; j < d.endPeriod; j++) forfeited += this.share(d, j)
      d.collateralLeft -= forfeited
    }
    d.escrowLeft -= refunded
    d.endPeriod = from
    this.credit(d.client, refunded + forfeited)
    this.emit('DealTerminated', { dealId: id, by: lc(sender), cancelledFrom: BigInt(from), refunded, forfeited })
  }

  fault(_sender: Address, id: Hex, t: number) {
    this.begin()
    const d = this.known(id)
    if (d.state !== DEAL_STATE.Active) throw new ModelRevert('StorageMarketNotActive', [id, d.state])
    if (t >= d.periods) throw new ModelRevert('StorageMarketPeriodOutOfRange', [id, t])
    if (t >= d.endPeriod) throw new ModelRevert('StorageMarketPeriodCancelled', [id, t])
    if (t < d.next) throw new ModelRevert('StorageMarketPeriodResolved', [id, t])
    const end = this.periodEnd(d, t)
    if (this.exec <= end) throw new ModelRevert('StorageMarketWindowOpen', [id, t, end])
    this.faultThrough(id, d, t + 1, FAULT.Missed)
  }

  finalize(_sender: Address, id: Hex) {
    this.begin()
    const d = this.known(id)
    if (d.state !== DEAL_STATE.Active) throw new ModelRevert('StorageMarketNotActive', [id, d.state])
    const endBlock = d.start + BigInt(d.endPeriod) * d.periodBlocks
    if (this.exec <= endBlock) throw new ModelRevert('StorageMarketNotEnded', [id, endBlock])
    if (d.next < d.endPeriod) this.faultThrough(id, d, d.endPeriod, FAULT.Missed)
    const collateral = d.collateralLeft
    const escrow = d.escrowLeft
    d.escrowLeft = 0n
    d.collateralLeft = 0n
    d.state = DEAL_STATE.Finalized
    this.credit(d.provider, collateral)
    this.credit(d.client, escrow)
    if (escrow !== 0n) throw new Error(`model: escrow ${escrow} left at finalize`)
    this.emit('DealFinalized', { dealId: id, collateralReturned: collateral })
  }

  recordSeed(_sender: Address, id: Hex, t: number): Hex {
    this.begin()
    const seed = this.seedOf(id, t)
    const k = `${id}|${t}`
    if (!this.s.seeds.has(k)) {
      this.s.seeds.set(k, seed)
      this.emit('SeedRecorded', { dealId: id, period: BigInt(t), seed })
    }
    return seed
  }

  withdraw(sender: Address) {
    this.begin()
    const amount = this.withdrawable(sender)
    if (amount === 0n) throw new ModelRevert('StorageMarketNothingToWithdraw', [sender])
    this.s.withdrawable.set(lc(sender), 0n)
    this.emit('Withdrawn', { who: lc(sender), amount })
    this.transfer(this.p.market, sender, amount)
    this.payouts.push({ to: lc(sender), amount })
  }

  /** `prove`: returns how many entries were settled and, per entry, what happened. */
  prove(sender: Address, proofs: readonly ModelProof[]): { settled: number; outcome: ('proven' | 'faulted' | number)[] } {
    this.begin()
    if (proofs.length === 0) throw new ModelRevert('StorageMarketEmptyBatch')
    let pay = 0n
    let settled = 0
    let first: [Hex, number, number] | undefined
    const outcome: ('proven' | 'faulted' | number)[] = []
    for (const pr of proofs) {
      const r = this.proveOne(sender, pr)
      outcome.push(r.done ? (r.paid === undefined ? 'faulted' : 'proven') : r.why)
      if (!r.done) {
        this.emit('ProofSkipped', { dealId: pr.dealId, period: BigInt(pr.period), reason: r.why })
        first ??= [pr.dealId, pr.period, r.why]
        continue
      }
      settled++
      pay += r.paid ?? 0n
    }
    if (settled === 0) throw new ModelRevert('StorageMarketNothingProven', first!)
    this.credit(sender, pay)
    return { settled, outcome }
  }

  private proveOne(sender: Address, pr: ModelProof): { done: false; why: number } | { done: true; paid?: bigint } {
    const id = pr.dealId
    const d = this.s.deals.get(id)
    if (!d) return { done: false, why: SKIP.UnknownDeal }
    if (lc(sender) !== d.provider) return { done: false, why: SKIP.NotProvider }
    if (d.state !== DEAL_STATE.Active) return { done: false, why: SKIP.NotActive }
    const t = pr.period
    if (t >= d.periods) return { done: false, why: SKIP.NotInWindow }
    if (t >= d.endPeriod) return { done: false, why: SKIP.Cancelled }
    if (t < d.next) return { done: false, why: SKIP.AlreadyResolved }
    const end = this.periodEnd(d, t)
    const sb = end - d.windowBlocks
    if (this.exec <= sb || this.exec > end) return { done: false, why: SKIP.NotInWindow }
    if (t > d.next) this.faultThrough(id, d, t, FAULT.Missed)
    const seed = this.seed(id, t, sb, this.exec)
    if (this.verifies(d, id, t, seed, pr)) {
      d.next = t + 1
      d.proven++
      d.escrowLeft -= d.pricePerPeriod
      this.emit('PeriodProven', { dealId: id, period: BigInt(t), paid: d.pricePerPeriod })
      return { done: true, paid: d.pricePerPeriod }
    }
    this.faultThrough(id, d, t + 1, FAULT.BadProof)
    return { done: true }
  }

  /** The spec's verdict (src/proofs/storage): challenges drawn from the seed, then verifyMultiProof. */
  verifies(d: Pick<ModelDeal, 'challenges' | 'totalLeaves' | 'depth' | 'root'>, id: Hex, t: number, seed: Hex, pr: Pick<ModelProof, 'leaves' | 'siblings'>): boolean {
    const positions = challengePositions({ seed, dealId: id, period: t, challenges: d.challenges, totalLeaves: d.totalLeaves })
    return verifyMultiProof({ root: hexToBytes(d.root), depth: d.depth, positions, leaves: pr.leaves, siblings: pr.siblings })
  }

  private faultThrough(id: Hex, d: ModelDeal, to: number, why: number) {
    let slashed = 0n
    let refunded = 0n
    for (let j = d.next; j < to; j++) {
      const s = this.share(d, j)
      slashed += s
      refunded += d.pricePerPeriod
      d.faults.push(j)
      this.emit('PeriodFaulted', { dealId: id, period: BigInt(j), slashed: s, reason: j + 1 === to ? why : FAULT.Missed })
    }
    d.faulted += to - d.next
    d.next = to
    d.escrowLeft -= refunded
    d.collateralLeft -= slashed
    this.credit(d.client, slashed + refunded)
  }

  share(d: Pick<ModelDeal, 'collateral' | 'periods'>, j: number): bigint {
    const n = BigInt(d.periods)
    return j + 1 === d.periods ? d.collateral / n + (d.collateral % n) : d.collateral / n
  }

  private credit(who: Address, amount: bigint) {
    if (amount === 0n) return
    this.s.withdrawable.set(lc(who), this.withdrawable(who) + amount)
  }
}


// ------------------------------------------------------------------ harness fixtures (shared by the storage tests)
const SM_ABIS = [...C.StorageMarketAbi, ...C.SoukTokenAbi] as unknown as Abi

/** Decodes StorageMarket / token revert data into a ContractRevertError. */
export function decodeStorageRevert(data: Hex | undefined, what: string): ChainError {
  if (data && data.length >= 10) {
    try {
      const d = decodeErrorResult({ abi: SM_ABIS, data })
      return new ContractRevertError(d.errorName, d.args ?? [])
    } catch { /* unknown selector */ }
  }
  return new ChainError(`${what} reverted without decodable data (${data ?? 'none'})`)
}

/** Sends a StorageMarket (or token) call from a dev key through the node's signer; throws the decoded revert. */
export async function smSend(env: SoukEnv, key: Hex, address: Address, functionName: string, args: readonly unknown[] = [], abi: Abi | readonly unknown[] = C.StorageMarketAbi): Promise<TransactionReceipt> {
  const data = encodeFunctionData({ abi: abi as Abi, functionName, args } as never)
  let hash: Hex
  try {
    hash = (await env.chain.provider.request({ method: 'eth_sendTransaction', params: [{ from: env.addr(key), to: address, data, gas: toHex(TX_GAS) }] })) as Hex
  } catch (e) {
    throw decodeStorageRevert(findRevertData(e), functionName)
  }
  const r = await env.chain.public.getTransactionReceipt({ hash })
  if (r.status !== 'success') throw new ChainError(`${functionName} reverted (no error thrown by the node)`)
  return r
}

export async function smRead<T>(env: SoukEnv, market: Address, functionName: string, args: readonly unknown[] = []): Promise<T> {
  try {
    return (await env.chain.public.readContract({ address: market, abi: C.StorageMarketAbi, functionName, args } as never)) as T
  } catch (e) {
    throw decodeStorageRevert(findRevertData(e), functionName)
  }
}

export interface StorageEnv {
  env: SoukEnv
  market: Address
  token: Address
}

/** A fresh embedded chain with Souk's token and a StorageMarket; `fund` keys get `tokens` and approve the market. */
export async function setupStorage(o: { accounts?: number; fund?: number; tokens?: bigint } = {}): Promise<StorageEnv> {
  const env = await setupSouk({ accounts: o.accounts ?? 8 })
  const market = await deployRaw(env, env.keys[0]!, C.StorageMarketAbi, C.StorageMarketBytecode, [env.d.token])
  for (const k of env.keys.slice(1, 1 + (o.fund ?? env.keys.length - 1))) {
    await smSend(env, env.keys[0]!, env.d.token, 'faucet', [env.addr(k), o.tokens ?? 1_000_000n], C.SoukTokenAbi)
    await smSend(env, k, env.d.token, 'approve', [market, MAX_UINT256], C.SoukTokenAbi)
  }
  return { env, market, token: env.d.token }
}

/** Deterministic bytes from a seed (keccak in counter mode). */
export function seededBytes(seed: string, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i * 32 < n; i++) out.set(hexToBytes(keccak256(toHex(`${seed}:${i}`))).subarray(0, Math.min(32, n - i * 32)), i * 32)
  return out
}

/** A dataset in a deal: its replicated tree (`replicas` × `leavesPerReplica` leaves) and what the terms commit to. */
export interface Dataset { data: Uint8Array; salt: Uint8Array; leavesPerReplica: number; replicas: number; tree: StorageTree; dataRoot: Hex }

export function makeDataset(seed: string, leavesPerReplica: number, replicas: number): Dataset {
  const data = seededBytes(`data:${seed}`, leavesPerReplica * 32 - (leavesPerReplica > 1 ? 7 : 0))
  const salt = seededBytes(`salt:${seed}`, 32)
  const tree = buildStorageTree(replicas * leavesPerReplica, (g) => replicatedLeaf(data, salt, leavesPerReplica, g))
  const plain = buildStorageTree(leavesPerReplica, (i) => dataLeaf(data, i))
  return { data, salt, leavesPerReplica, replicas, tree, dataRoot: bytesToHex(plain.root) }
}

export function termsFor(ds: Dataset, o: Partial<StorageTermsArg> = {}): StorageTermsArg {
  return {
    root: bytesToHex(ds.tree.root), dataRoot: ds.dataRoot, salt: bytesToHex(ds.salt), leavesPerReplica: BigInt(ds.leavesPerReplica), replicas: ds.replicas,
    challenges: 5, periodBlocks: 20, windowBlocks: 8, periods: 4, activateWithinBlocks: 10, pricePerPeriod: 100n, collateral: 1000n, ...o,
  }
}

/** A storage deal between `serverKey` and `buyerKey` over `terms`, signed by both (or by `forge` in place of a side). */
export function signedStorageDeal(se: StorageEnv, serverKey: Hex, buyerKey: Hex, terms: StorageTermsArg, o: { offer?: Hex; forgeServer?: Hex; forgeBuyer?: Hex } = {}) {
  const deal = storageDeal({ server: se.env.addr(serverKey).toLowerCase() as Address, buyer: se.env.addr(buyerKey).toLowerCase() as Address, terms, startsAt: 0, endsAt: 2 ** 50, offer: o.offer })
  const domain = marketDomain(se.env.chain.chainId, se.market)
  return { deal, serverSig: signDealBody(deal, o.forgeServer ?? serverKey, domain), buyerSig: signDealBody(deal, o.forgeBuyer ?? buyerKey, domain), terms }
}

/** The honest proof of period `t` from the seed: the challenged positions' leaves and siblings. */
export function honestProof(ds: Dataset, seed: Hex, dealId: Hex, t: number, challenges: number) {
  const positions = challengePositions({ seed, dealId, period: t, challenges, totalLeaves: ds.replicas * ds.leavesPerReplica })
  return { positions, ...multiProof(ds.tree, positions) }
}

/** The deal tuple + signatures + terms as `openDeal`'s arguments. */
export const openArgs = (x: { deal: DealBody; serverSig: Hex; buyerSig: Hex; terms: StorageTermsArg }) => [dealTuple(x.deal), x.serverSig, x.buyerSig, x.terms] as const
