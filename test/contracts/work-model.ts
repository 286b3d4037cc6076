/**
 * A TypeScript reference model of WorkMarket (contracts/WorkMarket.sol) and the token balances it moves. Each method
 * mirrors the Solidity function of the same name, check for check and in the same order, so the model predicts the
 * exact custom error of a reverting call (thrown as `ModelRevert`, see model.ts) and the exact state, balances and
 * events after a successful one. Challenges, leaves, paths and verdict signatures are judged with src/proofs/work
 * (`challengedUnit`, `verifyWorkUnit`, `recoverVerdictSigner`), so the model also checks that the contract verifies
 * exactly what the TypeScript side computes.
 *
 * A reverting call leaves the model half-updated: callers `clone()` first and keep the clone on `ModelRevert`.
 * Transactions execute in block `block + 1`.
 *
 * @example
 * ```ts
 * import { WorkModel } from './work-model.js'
 * const m = new WorkModel({ chainId, market, token, blockHash: (n) => hashes.get(n)! })
 * m.mint(client, 1000n)
 * const id = m.openJob(client, deal, serverSig, buyerSig, terms) // throws ModelRevert('WorkMarketBadTerms') ...
 * ```
 */
import { decodeErrorResult, encodeFunctionData, hexToBytes, keccak256, toHex, type Abi, type Address, type Hex, type TransactionReceipt } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { ChainError, ContractRevertError, findRevertData } from '../../src/chain/index.js'
import { recoverDigest } from '../../src/crypto/index.js'
import { marketDomain, marketHash, signDealBody } from '../../src/market/sign.js'
import type { DealBody } from '../../src/market/schema.js'
import { buildWorkTree, challengedUnit, recoverVerdictSigner, verifyWorkUnit, type WorkTree } from '../../src/proofs/work/index.js'
import { computeDeal, computeDealTuple, computeTermsHash, termsTuple, type ComputeTermsArg } from '../../src/services/compute/contract.js'
import { deployRaw, MAX_UINT256, setupSouk, TX_GAS, type SoukEnv } from './helpers.js'
import { ModelRevert } from './model.js'

export { ModelRevert }

export const BATCH = { None: 0, Claimed: 1, Settled: 2, Faulted: 3 } as const
export const DEMAND = { None: 0, Open: 1, Answered: 2, Missed: 3 } as const
export const SKIP = { UnknownBatch: 0, Settled: 1, Faulted: 2, WindowOpen: 3, DemandOpen: 4 } as const
export const FAULT = { Verdict: 0, Missing: 1 } as const

const U32 = (1n << 32n) - 1n
const U96 = (1n << 96n) - 1n
const U128 = (1n << 128n) - 1n
const lc = (a: string) => a.toLowerCase() as Address
const ZERO32 = `0x${'00'.repeat(32)}` as Hex

export interface ModelBatch { root: Hex; first: number; count: number; seedBlock: bigint; windowEnd: bigint; state: number; openDemands: number }
export interface ModelJob {
  client: Address
  worker: Address
  finalized: boolean
  openBlock: bigint
  units: number
  maxBatch: number
  claimDeadline: bigint
  challengeDelay: bigint
  cap: number
  disputeWindow: bigint
  responseWindow: bigint
  finderFee: bigint
  checks: number
  quorum: number
  faults: number
  price: bigint
  stake: bigint
  slash: bigint
  paidUnits: number
  nextUnit: number
  settled: number
  checkers: Address[]
  batches: ModelBatch[]
}

/** An event the contract emits, with its arguments normalised (lower-case addresses, bigints). */
export interface ModelEvent { name: string; args: Record<string, unknown> }

export interface WorkModelParams {
  chainId: number
  market: Address
  token: Address
  /** The hash of a mined block (the harness fetches the ones the next call needs). */
  blockHash: (n: bigint) => Hex
}

interface State {
  balances: Map<Address, bigint>
  withdrawable: Map<Address, bigint>
  jobs: Map<Hex, ModelJob>
  demands: Map<string, { deadline: bigint; state: number }>
  seeds: Map<string, Hex>
}

export class WorkModel {
  readonly p: WorkModelParams
  /** Latest mined block; a transaction sent now executes in block `block + 1`. */
  block = 0n
  events: ModelEvent[] = []
  payouts: { to: Address; amount: bigint }[] = []
  private s: State = { balances: new Map(), withdrawable: new Map(), jobs: new Map(), demands: new Map(), seeds: new Map() }

  constructor(p: WorkModelParams) {
    this.p = { ...p, market: lc(p.market), token: lc(p.token) }
  }

  clone(): WorkModel {
    const m = new WorkModel(this.p)
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
  job(id: Hex): ModelJob | undefined { return this.s.jobs.get(id) }
  jobIds(): Hex[] { return [...this.s.jobs.keys()] }
  demand(id: Hex, b: number, i: number) { return this.s.demands.get(`${id}|${b}|${i}`) ?? { deadline: 0n, state: DEMAND.None } }
  /** What the jobs hold: escrow left + stake left + the client's pending slash shares, until finalize (W1). */
  held(j: ModelJob): bigint {
    if (j.finalized) return 0n
    const f = BigInt(j.faults)
    return BigInt(j.units - j.paidUnits) * j.price + (j.stake - f * j.slash) + f * (j.slash - j.finderFee)
  }
  owed(): bigint {
    let t = 0n
    for (const j of this.s.jobs.values()) t += this.held(j)
    for (const v of this.s.withdrawable.values()) t += v
    return t
  }

  private seedAt(id: Hex, b: number, sb: bigint, at: bigint): Hex {
    const rec = this.s.seeds.get(`${id}|${b}`)
    if (rec) return rec
    if (sb >= at) throw new ModelRevert('WorkMarketSeedNotYet', [id, b, sb])
    if (at - sb <= 256n) return this.p.blockHash(sb)
    throw new ModelRevert('WorkMarketSeedUnavailable', [id, b, sb])
  }

  /** The seed block a call on batch b may read (for the harness to fetch its hash), if mined. */
  seedBlockOf(id: Hex, b: number): bigint | undefined {
    const bt = this.s.jobs.get(id)?.batches[b]
    return bt && bt.seedBlock <= this.block ? bt.seedBlock : undefined
  }

  private batchOf(id: Hex, b: number): ModelBatch {
    const j = this.s.jobs.get(id)
    const bt = j?.batches[b]
    if (!bt) {
      if (!j) throw new ModelRevert('WorkMarketUnknownJob', [id])
      throw new ModelRevert('WorkMarketUnknownBatch', [id, b])
    }
    return bt
  }

  seedOf(id: Hex, b: number, at = this.exec): Hex {
    const bt = this.batchOf(id, b)
    return this.seedAt(id, b, bt.seedBlock, at)
  }

  challengedUnits(id: Hex, b: number, at = this.exec): number[] {
    const bt = this.batchOf(id, b)
    const seed = this.seedAt(id, b, bt.seedBlock, at)
    const k = Math.min(this.s.jobs.get(id)!.checks, bt.count)
    return Array.from({ length: k }, (_, i) => challengedUnit(seed, id, b, bt.first, bt.count, i))
  }

  // ------------------------------------------------------------ calls
  openJob(sender: Address, d: DealBody, serverSig: Hex, buyerSig: Hex, t: ComputeTermsArg): Hex {
    this.begin()
    if (lc(sender) !== lc(d.buyer)) throw new ModelRevert('WorkMarketNotClient', [d.buyer, sender])
    if (d.service !== 'compute') throw new ModelRevert('WorkMarketNotComputeDeal', [d.service])
    if (d.nonce !== BigInt(computeTermsHash(t))) throw new ModelRevert('WorkMarketTermsMismatch', ['nonce'])
    if (d.collateral !== t.stake) throw new ModelRevert('WorkMarketTermsMismatch', ['collateral'])
    const bad = (f: string) => new ModelRevert('WorkMarketBadTerms', [f])
    if (lc(t.token) !== this.p.token) throw bad('token')
    if (t.units === 0) throw bad('units')
    if (t.maxBatch === 0 || t.maxBatch > 2 ** 20) throw bad('maxBatch')
    if (t.checksPerBatch === 0 || t.checksPerBatch > 64) throw bad('checksPerBatch')
    const n = t.checkers.length
    if (n === 0 || n > 16) throw bad('checkers')
    for (let i = 0; i < n; i++) {
      if (BigInt(t.checkers[i]!) === 0n) throw bad('checkers')
      for (let k = 0; k < i; k++) if (lc(t.checkers[k]!) === lc(t.checkers[i]!)) throw bad('checkers')
    }
    if (t.quorum === 0 || t.quorum > n) throw bad('quorum')
    if (t.finderBps > 10_000) throw bad('finderBps')
    if (t.challengeDelay === 0) throw bad('challengeDelay')
    if (t.disputeWindow === 0 || t.disputeWindow > 256) throw bad('disputeWindow')
    if (t.responseWindow === 0) throw bad('responseWindow')
    if (t.claimWithinBlocks === 0) throw bad('claimWithinBlocks')
    if (t.slash === 0n) throw bad('slash')
    if (t.slash > U96 || t.pricePerUnit > U96 || t.stake > U128) throw bad('amount')
    const escrow = t.pricePerUnit * BigInt(t.units)
    if (escrow > U128) throw bad('amount')
    const required = t.pricePerUnit * BigInt(t.maxBatch), given = t.slash * BigInt(t.checksPerBatch)
    if (given < required) throw new ModelRevert('WorkMarketInsufficientDeterrence', [required, given])
    if (t.stake < t.slash) throw new ModelRevert('WorkMarketInsufficientDeterrence', [t.slash, t.stake])
    const last = this.exec + BigInt(t.claimWithinBlocks) + BigInt(t.challengeDelay) + 65n * (BigInt(t.disputeWindow) + BigInt(t.responseWindow))
    if (last > U32) throw bad('duration')
    const digest = marketHash(marketDomain(this.p.chainId, this.p.market), d)
    const rs = recoverDigest(hexToBytes(digest), hexToBytes(serverSig))
    if (!rs.ok || lc(rs.address) !== lc(d.server)) throw new ModelRevert('MarketDealsBadSignature', [digest, 'server'])
    const rb = recoverDigest(hexToBytes(digest), hexToBytes(buyerSig))
    if (!rb.ok || lc(rb.address) !== lc(d.buyer)) throw new ModelRevert('MarketDealsBadSignature', [digest, 'buyer'])
    if (this.s.jobs.has(digest)) throw new ModelRevert('WorkMarketJobExists', [digest])
    const cap = t.stake / t.slash
    this.s.jobs.set(digest, {
      client: lc(sender), worker: lc(d.server), finalized: false, openBlock: this.exec, units: t.units, maxBatch: t.maxBatch,
      claimDeadline: this.exec + BigInt(t.claimWithinBlocks), challengeDelay: BigInt(t.challengeDelay), cap: Number(cap > U32 ? U32 : cap),
      disputeWindow: BigInt(t.disputeWindow), responseWindow: BigInt(t.responseWindow), finderFee: (t.slash * BigInt(t.finderBps)) / 10_000n,
      checks: t.checksPerBatch, quorum: t.quorum, faults: 0, price: t.pricePerUnit, stake: t.stake, slash: t.slash, paidUnits: 0, nextUnit: 0, settled: 0,
      checkers: t.checkers.map(lc), batches: [],
    })
    this.emit('JobOpened', { jobId: digest, client: lc(sender), worker: lc(d.server), units: BigInt(t.units), escrow, stake: t.stake, profile: t.profile })
    if (escrow !== 0n) this.transfer(sender, this.p.market, escrow)
    this.transfer(d.server, this.p.market, t.stake)
    return digest
  }

  claimWork(sender: Address, id: Hex, first: number, count: number, root: Hex): number {
    this.begin()
    const j = this.s.jobs.get(id)
    if (!j) throw new ModelRevert('WorkMarketUnknownJob', [id])
    if (lc(sender) !== j.worker) throw new ModelRevert('WorkMarketNotWorker', [j.worker, sender])
    if (j.finalized) throw new ModelRevert('WorkMarketJobFinalized', [id])
    if (this.exec > j.claimDeadline) throw new ModelRevert('WorkMarketClaimClosed', [id, j.claimDeadline])
    if (first !== j.nextUnit) throw new ModelRevert('WorkMarketUnitsOutOfOrder', [id, first, j.nextUnit])
    if (first + count > j.units) throw new ModelRevert('WorkMarketUnitsOutOfRange', [id, first, count, j.units])
    if (count === 0 || count > j.maxBatch) throw new ModelRevert('WorkMarketBadBatchSize', [id, count, j.maxBatch])
    if (BigInt(root) === 0n) throw new ModelRevert('WorkMarketZeroRoot', [id])
    const batch = j.batches.length
    if (batch !== 0 && j.batches[batch - 1]!.root === root.toLowerCase()) throw new ModelRevert('WorkMarketRootAlreadyPosted', [id, root])
    const unsettled = batch - j.settled
    if (unsettled + 1 > j.cap) {
      const unresolved = BigInt(unsettled - j.faults)
      throw new ModelRevert('WorkMarketStakeTooLow', [id, j.slash * (unresolved + 1n), j.stake - BigInt(j.faults) * j.slash])
    }
    const seedBlock = this.exec + j.challengeDelay
    j.nextUnit = first + count
    j.batches.push({ root: root.toLowerCase() as Hex, first, count, seedBlock, windowEnd: seedBlock + j.disputeWindow, state: BATCH.Claimed, openDemands: 0 })
    this.emit('WorkClaimed', { jobId: id, batch: BigInt(batch), first: BigInt(first), count: BigInt(count), root })
    return batch
  }

  /** The shared checks of fault and demand; returns the challenged unit. */
  private challenged(id: Hex, b: number, i: number): { j: ModelJob; bt: ModelBatch; unit: number } {
    const bt = this.batchOf(id, b)
    if (bt.state !== BATCH.Claimed) throw new ModelRevert('WorkMarketBatchResolved', [id, b, bt.state])
    if (this.exec <= bt.seedBlock || this.exec > bt.windowEnd) throw new ModelRevert('WorkMarketNotInWindow', [id, b, bt.seedBlock, bt.windowEnd])
    const j = this.s.jobs.get(id)!
    const k = Math.min(j.checks, bt.count)
    if (i >= k) throw new ModelRevert('WorkMarketIndexOutOfRange', [id, b, i, k])
    const seed = this.s.seeds.get(`${id}|${b}`) ?? this.seedAt(id, b, bt.seedBlock, this.exec)
    return { j, bt, unit: challengedUnit(seed, id, b, bt.first, bt.count, i) }
  }

  fault(sender: Address, id: Hex, b: number, i: number, inputHash: Hex, outputHash: Hex, path: readonly Hex[], sigs: readonly Hex[]) {
    this.begin()
    const { j, bt, unit } = this.challenged(id, b, i)
    if (!verifyWorkUnit({ root: bt.root, first: bt.first, count: bt.count, unit, inputHash, outputHash, path })) throw new ModelRevert('WorkMarketBadProof', [id, b, unit])
    if (sigs.length < j.quorum) throw new ModelRevert('WorkMarketQuorumNotMet', [id, sigs.length, j.quorum])
    const seen: Address[] = []
    const domain = { chainId: this.p.chainId, verifyingContract: this.p.market }
    sigs.forEach((sig, s) => {
      const r = recoverVerdictSigner(domain, { jobId: id, batch: b, unit, output: outputHash }, sig)
      if (!r.ok) throw new ModelRevert('WorkMarketBadSignature', [s])
      const a = lc(r.address)
      if (!j.checkers.includes(a)) throw new ModelRevert('WorkMarketNotChecker', [id, a])
      if (seen.includes(a)) throw new ModelRevert('WorkMarketDuplicateSigner', [a])
      seen.push(a)
    })
    bt.state = BATCH.Faulted
    this.slash(sender, id, j, b, FAULT.Verdict)
  }

  private slash(sender: Address, id: Hex, j: ModelJob, b: number, why: number) {
    j.faults++
    this.credit(sender, j.finderFee)
    this.emit('BatchFaulted', { jobId: id, batch: BigInt(b), finder: lc(sender), reason: why })
  }

  demandUnit(sender: Address, id: Hex, b: number, i: number) {
    this.begin()
    const { j, bt, unit } = this.challenged(id, b, i)
    if (lc(sender) !== j.client && !j.checkers.includes(lc(sender))) throw new ModelRevert('WorkMarketNotClientOrChecker', [id, sender])
    const key = `${id}|${b}|${i}`
    if ((this.s.demands.get(key)?.state ?? DEMAND.None) !== DEMAND.None) throw new ModelRevert('WorkMarketAlreadyDemanded', [id, b, i])
    const deadline = this.exec + j.responseWindow
    this.s.demands.set(key, { deadline, state: DEMAND.Open })
    bt.openDemands++
    if (!this.s.seeds.has(`${id}|${b}`)) {
      const seed = this.seedAt(id, b, bt.seedBlock, this.exec)
      this.s.seeds.set(`${id}|${b}`, seed)
      this.emit('SeedRecorded', { jobId: id, batch: BigInt(b), seed })
    }
    this.emit('ChallengeDemanded', { jobId: id, batch: BigInt(b), index: BigInt(i), unit: BigInt(unit), by: lc(sender), deadline })
  }

  answer(sender: Address, id: Hex, b: number, i: number, inputHash: Hex, outputHash: Hex, path: readonly Hex[]) {
    this.begin()
    const bt = this.batchOf(id, b)
    const j = this.s.jobs.get(id)!
    if (lc(sender) !== j.worker) throw new ModelRevert('WorkMarketNotWorker', [j.worker, sender])
    if (bt.state !== BATCH.Claimed) throw new ModelRevert('WorkMarketBatchResolved', [id, b, bt.state])
    const d = this.s.demands.get(`${id}|${b}|${i}`)
    if (!d || d.state !== DEMAND.Open) throw new ModelRevert('WorkMarketNoOpenDemand', [id, b, i])
    if (this.exec > d.deadline) throw new ModelRevert('WorkMarketResponseLate', [id, b, i, d.deadline])
    const unit = challengedUnit(this.seedAt(id, b, bt.seedBlock, this.exec), id, b, bt.first, bt.count, i)
    if (!verifyWorkUnit({ root: bt.root, first: bt.first, count: bt.count, unit, inputHash, outputHash, path })) throw new ModelRevert('WorkMarketBadProof', [id, b, unit])
    d.state = DEMAND.Answered
    bt.openDemands--
    const until = this.exec + j.disputeWindow
    if (until > bt.windowEnd) bt.windowEnd = until
    this.emit('ChallengeAnswered', { jobId: id, batch: BigInt(b), index: BigInt(i), unit: BigInt(unit), inputHash, outputHash })
  }

  faultMissing(sender: Address, id: Hex, b: number, i: number) {
    this.begin()
    const bt = this.batchOf(id, b)
    if (bt.state !== BATCH.Claimed) throw new ModelRevert('WorkMarketBatchResolved', [id, b, bt.state])
    const d = this.s.demands.get(`${id}|${b}|${i}`)
    if (!d || d.state !== DEMAND.Open) throw new ModelRevert('WorkMarketNoOpenDemand', [id, b, i])
    if (this.exec <= d.deadline) throw new ModelRevert('WorkMarketResponsePending', [id, b, i, d.deadline])
    d.state = DEMAND.Missed
    bt.openDemands--
    bt.state = BATCH.Faulted
    this.slash(sender, id, this.s.jobs.get(id)!, b, FAULT.Missing)
  }

  settle(_sender: Address, id: Hex, batches: readonly number[]): number {
    this.begin()
    if (batches.length === 0) throw new ModelRevert('WorkMarketEmptySettle')
    const j = this.s.jobs.get(id)
    if (!j) throw new ModelRevert('WorkMarketUnknownJob', [id])
    let units = 0, paid = 0
    let first: [Hex, number, number] | undefined
    for (const bi of batches) {
      const bt = j.batches[bi]
      let why: number | undefined
      if (!bt) why = SKIP.UnknownBatch
      else if (bt.state === BATCH.Settled) why = SKIP.Settled
      else if (bt.state === BATCH.Faulted) why = SKIP.Faulted
      else if (this.exec <= bt.windowEnd) why = SKIP.WindowOpen
      else if (bt.openDemands !== 0) why = SKIP.DemandOpen
      if (why === undefined) {
        bt!.state = BATCH.Settled
        units += bt!.count
        paid++
        this.emit('BatchSettled', { jobId: id, batch: BigInt(bi), paid: BigInt(bt!.count) * j.price })
        continue
      }
      this.emit('SettleSkipped', { jobId: id, batch: BigInt(bi), reason: why })
      first ??= [id, bi, why]
    }
    if (paid === 0) throw new ModelRevert('WorkMarketNothingSettled', first!)
    j.settled += paid
    j.paidUnits += units
    this.credit(j.worker, BigInt(units) * j.price)
    return paid
  }

  finalize(_sender: Address, id: Hex) {
    this.begin()
    const j = this.s.jobs.get(id)
    if (!j) throw new ModelRevert('WorkMarketUnknownJob', [id])
    if (j.finalized) throw new ModelRevert('WorkMarketJobFinalized', [id])
    if (j.nextUnit < j.units && this.exec <= j.claimDeadline) throw new ModelRevert('WorkMarketJobRunning', [id, j.claimDeadline])
    const unresolved = j.batches.length - j.settled - j.faults
    if (unresolved !== 0) throw new ModelRevert('WorkMarketBatchesUnresolved', [id, unresolved])
    const f = BigInt(j.faults)
    const toClient = BigInt(j.units - j.paidUnits) * j.price + f * (j.slash - j.finderFee)
    const toWorker = j.stake - f * j.slash
    j.finalized = true
    this.credit(j.client, toClient)
    this.credit(j.worker, toWorker)
    this.emit('JobFinalized', { jobId: id, toClient, toWorker })
  }

  recordSeed(_sender: Address, id: Hex, b: number): Hex {
    this.begin()
    const seed = this.seedOf(id, b)
    const k = `${id}|${b}`
    if (!this.s.seeds.has(k)) {
      this.s.seeds.set(k, seed)
      this.emit('SeedRecorded', { jobId: id, batch: BigInt(b), seed })
    }
    return seed
  }

  withdraw(sender: Address) {
    this.begin()
    const amount = this.withdrawable(sender)
    if (amount === 0n) throw new ModelRevert('WorkMarketNothingToWithdraw', [sender])
    this.s.withdrawable.set(lc(sender), 0n)
    this.emit('Withdrawn', { who: lc(sender), amount })
    this.transfer(this.p.market, sender, amount)
    this.payouts.push({ to: lc(sender), amount })
  }

  private credit(who: Address, amount: bigint) {
    if (amount === 0n) return
    this.s.withdrawable.set(lc(who), this.withdrawable(who) + amount)
  }
}

// ------------------------------------------------------------------ harness fixtures (shared by the work tests)
const WM_ABIS = [...C.WorkMarketAbi, ...C.SoukTokenAbi] as unknown as Abi

/** Decodes WorkMarket / token revert data into a ContractRevertError. */
export function decodeWorkRevert(data: Hex | undefined, what: string): ChainError {
  if (data && data.length >= 10) {
    try {
      const d = decodeErrorResult({ abi: WM_ABIS, data })
      return new ContractRevertError(d.errorName, d.args ?? [])
    } catch { /* unknown selector */ }
  }
  return new ChainError(`${what} reverted without decodable data (${data ?? 'none'})`)
}

/** Sends a WorkMarket (or token) call from a dev key through the node's signer; throws the decoded revert. */
export async function wmSend(env: SoukEnv, key: Hex, address: Address, functionName: string, args: readonly unknown[] = [], abi: Abi | readonly unknown[] = C.WorkMarketAbi): Promise<TransactionReceipt> {
  const data = encodeFunctionData({ abi: abi as Abi, functionName, args } as never)
  let hash: Hex
  try {
    hash = (await env.chain.provider.request({ method: 'eth_sendTransaction', params: [{ from: env.addr(key), to: address, data, gas: toHex(TX_GAS) }] })) as Hex
  } catch (e) {
    throw decodeWorkRevert(findRevertData(e), functionName)
  }
  const r = await env.chain.public.getTransactionReceipt({ hash })
  if (r.status !== 'success') throw new ChainError(`${functionName} reverted (no error thrown by the node)`)
  return r
}

export async function wmRead<T>(env: SoukEnv, market: Address, functionName: string, args: readonly unknown[] = []): Promise<T> {
  try {
    return (await env.chain.public.readContract({ address: market, abi: C.WorkMarketAbi, functionName, args } as never)) as T
  } catch (e) {
    throw decodeWorkRevert(findRevertData(e), functionName)
  }
}

export interface WorkEnv { env: SoukEnv; market: Address; token: Address }

/** A fresh embedded chain with Souk's token and a WorkMarket; `fund` keys get `tokens` and approve the market. */
export async function setupWork(o: { accounts?: number; fund?: number; tokens?: bigint } = {}): Promise<WorkEnv> {
  const env = await setupSouk({ accounts: o.accounts ?? 8 })
  const market = await deployRaw(env, env.keys[0]!, C.WorkMarketAbi, C.WorkMarketBytecode, [env.d.token])
  for (const k of env.keys.slice(1, 1 + (o.fund ?? env.keys.length - 1))) {
    await wmSend(env, env.keys[0]!, env.d.token, 'faucet', [env.addr(k), o.tokens ?? 1_000_000n], C.SoukTokenAbi)
    await wmSend(env, k, env.d.token, 'approve', [market, MAX_UINT256], C.SoukTokenAbi)
  }
  return { env, market, token: env.d.token }
}

/** Deterministic unit hashes of units [first, first + count) under `tag` (a lazy worker uses another tag). */
export function unitHashes(tag: string, first: number, count: number): { inputHash: Hex; outputHash: Hex }[] {
  return Array.from({ length: count }, (_, i) => ({ inputHash: keccak256(toHex(`in:${first + i}`)), outputHash: keccak256(toHex(`${tag}:out:${first + i}`)) }))
}

/** A batch as the worker builds it: its units' hashes and tree. */
export interface WorkBatch { first: number; count: number; units: { inputHash: Hex; outputHash: Hex }[]; tree: WorkTree }
export function makeBatch(tag: string, first: number, count: number): WorkBatch {
  const units = unitHashes(tag, first, count)
  return { first, count, units, tree: buildWorkTree(first, units) }
}

export function workTermsFor(we: WorkEnv, checkers: Address[], o: Partial<ComputeTermsArg> = {}): ComputeTermsArg {
  return {
    token: we.token, checkers, quorum: 1, units: 64, maxBatch: 16, pricePerUnit: 10n, stake: 1000n, slash: 100n, checksPerBatch: 4, finderBps: 1000,
    challengeDelay: 2, disputeWindow: 10, responseWindow: 5, claimWithinBlocks: 200, profile: keccak256(toHex('profile:720p')), ...o,
  }
}

/** A compute job between `serverKey` and `buyerKey` over `terms`, signed by both (or by `forge` in place of a side). */
export function signedJob(we: WorkEnv, serverKey: Hex, buyerKey: Hex, terms: ComputeTermsArg, o: { offer?: Hex; forgeServer?: Hex; forgeBuyer?: Hex } = {}) {
  const deal = computeDeal({ server: lc(we.env.addr(serverKey)), buyer: lc(we.env.addr(buyerKey)), terms, startsAt: 0, endsAt: 2 ** 50, offer: o.offer })
  const domain = marketDomain(we.env.chain.chainId, we.market)
  return { deal, serverSig: signDealBody(deal, o.forgeServer ?? serverKey, domain), buyerSig: signDealBody(deal, o.forgeBuyer ?? buyerKey, domain), terms }
}

/** `openJob`'s arguments. */
export const openJobArgs = (x: { deal: DealBody; serverSig: Hex; buyerSig: Hex; terms: ComputeTermsArg }) => [computeDealTuple(x.deal), x.serverSig, x.buyerSig, termsTuple(x.terms)] as const

export { ZERO32 }
