/**
 * Typed access to `contracts/WorkMarket.sol`: deploying it next to a Souk deployment's token, one function per call
 * (each takes a `Chain` and the sender's key) and per view, the contract's enums as strings, and the decoding of its
 * events. Reverts arrive as `ContractRevertError` named after the contract's custom error (`WorkMarket*`).
 *
 * @example
 * ```ts
 * import { deployWorkMarket, computeDeal, openComputeJob, claimWork, settleBatches, readJob } from './contract.js'
 * const market = await deployWorkMarket(chain, deployerKey, deployment.token)
 * const deal = computeDeal({ server: worker, buyer: client, terms, startsAt: 0, endsAt: 2 ** 50 })
 * const { jobId } = await openComputeJob(chain, clientKey, market, { deal, serverSig, buyerSig, terms })
 * const { batch } = await claimWork(chain, workerKey, market, { jobId, first: 0, count: 1024, root: tree.root })
 * // after the dispute window:
 * await settleBatches(chain, anyKey, market, jobId, [batch])
 * (await readJob(chain, market, jobId)).settled // 1
 * ```
 */
import { encodeAbiParameters, keccak256, parseEventLogs, type Address, type Hex, type TransactionReceipt } from 'viem'
import { WorkMarketAbi, WorkMarketBytecode } from '../../../artifacts/contracts.js'
import type { Chain } from '../../chain/types.js'
import { deployContract } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import type { DealBody } from '../../market/schema.js'

/** `WorkMarket.ComputeTerms`, field for field. */
export interface ComputeTermsArg {
  token: Address
  checkers: readonly Address[]
  quorum: number
  units: number
  maxBatch: number
  pricePerUnit: bigint
  stake: bigint
  slash: bigint
  checksPerBatch: number
  finderBps: number
  challengeDelay: number
  disputeWindow: number
  responseWindow: number
  claimWithinBlocks: number
  /** keccak256 of the transcoding profile's JSON (recorded only). */
  profile: Hex
}

export const BATCH_STATES = ['none', 'claimed', 'settled', 'faulted'] as const
export type WorkBatchState = (typeof BATCH_STATES)[number]
export const DEMAND_STATES = ['none', 'open', 'answered', 'missed'] as const
export type WorkDemandState = (typeof DEMAND_STATES)[number]
export const SETTLE_SKIP_REASONS = ['unknown-batch', 'settled', 'faulted', 'window-open', 'demand-open'] as const
export type WorkSkipReason = (typeof SETTLE_SKIP_REASONS)[number]
export const WORK_FAULT_REASONS = ['verdict', 'missing'] as const
export type WorkFaultReason = (typeof WORK_FAULT_REASONS)[number]

export interface WorkJobView {
  client: Address
  worker: Address
  finalized: boolean
  openBlock: bigint
  /** The last block a claim is accepted in. */
  claimDeadline: bigint
  units: number
  /** The unit the next claim must start at. */
  nextUnit: number
  batches: number
  settled: number
  faults: number
  /** Batches neither settled nor faulted. */
  unresolved: number
  paidUnits: number
  escrowLeft: bigint
  stakeLeft: bigint
  /** The client's part of the slashes so far (credited at finalize). */
  owedToClient: bigint
}

export interface WorkTermsView {
  units: number
  maxBatch: number
  pricePerUnit: bigint
  stake: bigint
  slash: bigint
  finderFee: bigint
  checksPerBatch: number
  quorum: number
  finderBps: number
  challengeDelay: number
  disputeWindow: number
  responseWindow: number
  profile: Hex
}

export interface WorkBatchView {
  state: WorkBatchState
  root: Hex
  first: number
  count: number
  claimBlock: bigint
  seedBlock: bigint
  /** The last block of its dispute window (an answer may move it later). */
  windowEnd: bigint
  openDemands: number
}

/** A decoded WorkMarket event. */
export type WorkEvent =
  | { name: 'JobOpened'; jobId: Hex; client: Address; worker: Address; units: bigint; escrow: bigint; stake: bigint; profile: Hex }
  | { name: 'WorkClaimed'; jobId: Hex; batch: number; first: number; count: number; root: Hex }
  | { name: 'BatchFaulted'; jobId: Hex; batch: number; finder: Address; reason: WorkFaultReason }
  | { name: 'ChallengeDemanded'; jobId: Hex; batch: number; index: number; unit: number; by: Address; deadline: bigint }
  | { name: 'ChallengeAnswered'; jobId: Hex; batch: number; index: number; unit: number; inputHash: Hex; outputHash: Hex; path: readonly Hex[] }
  | { name: 'BatchSettled'; jobId: Hex; batch: number; paid: bigint }
  | { name: 'SettleSkipped'; jobId: Hex; batch: number; reason: WorkSkipReason }
  | { name: 'SeedRecorded'; jobId: Hex; batch: number; seed: Hex }
  | { name: 'JobFinalized'; jobId: Hex; toClient: bigint; toWorker: bigint }
  | { name: 'Withdrawn'; who: Address; amount: bigint }
  | { name: 'DealRecorded'; digest: Hex; server: Address; buyer: Address; service: string }

const TERMS_ABI = [{
  type: 'tuple', components: [
    { name: 'token', type: 'address' }, { name: 'checkers', type: 'address[]' }, { name: 'quorum', type: 'uint8' }, { name: 'units', type: 'uint32' },
    { name: 'maxBatch', type: 'uint32' }, { name: 'pricePerUnit', type: 'uint256' }, { name: 'stake', type: 'uint256' }, { name: 'slash', type: 'uint256' },
    { name: 'checksPerBatch', type: 'uint16' }, { name: 'finderBps', type: 'uint16' }, { name: 'challengeDelay', type: 'uint32' }, { name: 'disputeWindow', type: 'uint32' },
    { name: 'responseWindow', type: 'uint32' }, { name: 'claimWithinBlocks', type: 'uint32' }, { name: 'profile', type: 'bytes32' },
  ],
}] as const

/** keccak256(abi.encode(terms)), what `termsHash` returns; a compute deal's `nonce` is it as a uint256. */
export const computeTermsHash = (t: ComputeTermsArg): Hex => keccak256(encodeAbiParameters(TERMS_ABI, [termsTuple(t)]))

/** The terms as the contract's `ComputeTerms` tuple. */
export const termsTuple = (t: ComputeTermsArg) => ({ ...t, checkers: [...t.checkers] })

/** A market deal body as the contract's `Deal` tuple. */
export function computeDealTuple(d: DealBody) {
  return {
    service: d.service, offer: d.offer, ask: d.ask, server: d.server, buyer: d.buyer,
    price: { kind: d.price.kind, base: d.price.base, rates: d.price.rates.map((r) => ({ usage: r.usage, price: r.price, per: r.per })) },
    usage: { chunks: d.usage.chunks ?? 0n, bytes_: d.usage.bytes ?? 0n, byteSeconds: d.usage.byteSeconds ?? 0n, units: d.usage.units ?? 0n, seconds_: d.usage.seconds ?? 0n },
    collateral: d.collateral, scheme: d.scheme, startsAt: BigInt(d.startsAt), endsAt: BigInt(d.endsAt), nonce: d.nonce,
  }
}

/**
 * A market deal for compute terms: `service: 'compute'`, `nonce` = the terms' hash, `collateral` = the stake (what
 * `openJob` checks), priced per unit. `offer`/`ask` name the market messages it came from (zero when made directly).
 */
export function computeDeal(o: { server: Address; buyer: Address; terms: ComputeTermsArg; startsAt: number; endsAt: number; offer?: Hex; ask?: Hex; scheme?: string; price?: DealBody['price'] }): DealBody {
  const zero = `0x${'00'.repeat(32)}` as Hex
  return {
    type: 'deal', service: 'compute', offer: o.offer ?? zero, ask: o.ask ?? zero, server: o.server, buyer: o.buyer,
    price: o.price ?? { kind: 'linear', base: 0n, rates: [{ usage: 'units', price: o.terms.pricePerUnit, per: 1n }] },
    usage: { units: BigInt(o.terms.units) }, collateral: o.terms.stake, scheme: o.scheme ?? 'escrow',
    startsAt: o.startsAt, endsAt: o.endsAt, nonce: BigInt(computeTermsHash(o.terms)),
  }
}

const M = { abi: WorkMarketAbi } as const
const send = (chain: Chain, key: Hex, market: Address, functionName: string, args: readonly unknown[], gas?: bigint) =>
  write(chain, chain.wallet(key), { ...M, address: market, functionName, args, gas })
const view = <T>(chain: Chain, market: Address, functionName: string, args: readonly unknown[]): Promise<T> =>
  chain.public.readContract({ ...M, address: market, functionName, args } as never) as Promise<T>

/** Decodes the WorkMarket events of a receipt (logs of other contracts are ignored). */
export function decodeWorkEvents(receipt: Pick<TransactionReceipt, 'logs'>, market: Address): WorkEvent[] {
  const logs = receipt.logs.filter((l) => l.address.toLowerCase() === market.toLowerCase())
  const out: WorkEvent[] = []
  for (const e of parseEventLogs({ abi: WorkMarketAbi, logs })) {
    const a = e.args as Record<string, unknown>
    const n = (k: string) => Number(a[k] as bigint)
    switch (e.eventName) {
      case 'JobOpened': out.push({ name: e.eventName, jobId: a.jobId as Hex, client: a.client as Address, worker: a.worker as Address, units: a.units as bigint, escrow: a.escrow as bigint, stake: a.stake as bigint, profile: a.profile as Hex }); break
      case 'WorkClaimed': out.push({ name: e.eventName, jobId: a.jobId as Hex, batch: n('batch'), first: n('first'), count: n('count'), root: a.root as Hex }); break
      case 'BatchFaulted': out.push({ name: e.eventName, jobId: a.jobId as Hex, batch: n('batch'), finder: a.finder as Address, reason: WORK_FAULT_REASONS[Number(a.reason)]! }); break
      case 'ChallengeDemanded': out.push({ name: e.eventName, jobId: a.jobId as Hex, batch: n('batch'), index: n('index'), unit: n('unit'), by: a.by as Address, deadline: a.deadline as bigint }); break
      case 'ChallengeAnswered': out.push({ name: e.eventName, jobId: a.jobId as Hex, batch: n('batch'), index: n('index'), unit: n('unit'), inputHash: a.inputHash as Hex, outputHash: a.outputHash as Hex, path: a.path as readonly Hex[] }); break
      case 'BatchSettled': out.push({ name: e.eventName, jobId: a.jobId as Hex, batch: n('batch'), paid: a.paid as bigint }); break
      case 'SettleSkipped': out.push({ name: e.eventName, jobId: a.jobId as Hex, batch: n('batch'), reason: SETTLE_SKIP_REASONS[Number(a.reason)]! }); break
      case 'SeedRecorded': out.push({ name: e.eventName, jobId: a.jobId as Hex, batch: n('batch'), seed: a.seed as Hex }); break
      case 'JobFinalized': out.push({ name: e.eventName, jobId: a.jobId as Hex, toClient: a.toClient as bigint, toWorker: a.toWorker as bigint }); break
      case 'Withdrawn': out.push({ name: e.eventName, who: a.who as Address, amount: a.amount as bigint }); break
      case 'DealRecorded': out.push({ name: e.eventName, digest: a.digest as Hex, server: a.server as Address, buyer: a.buyer as Address, service: a.service as string }); break
    }
  }
  return out
}

const only = <N extends WorkEvent['name']>(evs: WorkEvent[], name: N) => evs.filter((e): e is Extract<WorkEvent, { name: N }> => e.name === name)

// ------------------------------------------------------------------ calls
/** Deploys a WorkMarket paying in `token` (the deployment's SoukToken); returns its address. */
export function deployWorkMarket(chain: Chain, key: Hex, token: Address): Promise<Address> {
  return deployContract(chain, key, WorkMarketAbi, WorkMarketBytecode, [token])
}

/** The client opens a job both sides signed (it approved units × price, the worker approved the stake). */
export async function openComputeJob(chain: Chain, key: Hex, market: Address, o: { deal: DealBody; serverSig: Hex; buyerSig: Hex; terms: ComputeTermsArg }): Promise<{ jobId: Hex; receipt: TransactionReceipt }> {
  const receipt = await send(chain, key, market, 'openJob', [computeDealTuple(o.deal), o.serverSig, o.buyerSig, termsTuple(o.terms)])
  return { jobId: only(decodeWorkEvents(receipt, market), 'JobOpened')[0]!.jobId, receipt }
}

/**
 * The worker claims units [first, first + count) with their tree's root; returns the batch number and its seed
 * block (the claim's block + challengeDelay, read back with `batchOf`).
 */
export async function claimWork(chain: Chain, key: Hex, market: Address, o: { jobId: Hex; first: number; count: number; root: Hex }): Promise<{ batch: number; seedBlock: bigint; receipt: TransactionReceipt }> {
  const receipt = await send(chain, key, market, 'claimWork', [o.jobId, BigInt(o.first), BigInt(o.count), o.root])
  const ev = only(decodeWorkEvents(receipt, market), 'WorkClaimed')[0]!
  return { batch: ev.batch, seedBlock: (await readBatch(chain, market, o.jobId, ev.batch)).seedBlock, receipt }
}

/** A verdict fault: challenged index `index`'s leaf, its path, and quorum checkers' verdict signatures. */
export interface WorkFaultArg { jobId: Hex; batch: number; index: number; inputHash: Hex; outputHash: Hex; path: readonly Hex[]; sigs: readonly Hex[] }

/** Anyone faults a batch with verdicts (the sender is the finder and is credited the finder's fee). */
export async function faultBatch(chain: Chain, key: Hex, market: Address, f: WorkFaultArg, opts: { gas?: bigint } = {}): Promise<{ receipt: TransactionReceipt; finder: Address }> {
  const receipt = await send(chain, key, market, 'fault', [f.jobId, BigInt(f.batch), BigInt(f.index), f.inputHash, f.outputHash, [...f.path], [...f.sigs]], opts.gas)
  return { receipt, finder: only(decodeWorkEvents(receipt, market), 'BatchFaulted')[0]!.finder }
}

/** The client or a checker demands challenged index `index`'s leaf; returns the answer's deadline block. */
export async function demandUnit(chain: Chain, key: Hex, market: Address, jobId: Hex, batch: number, index: number): Promise<{ unit: number; deadline: bigint; receipt: TransactionReceipt }> {
  const receipt = await send(chain, key, market, 'demand', [jobId, BigInt(batch), BigInt(index)])
  const ev = only(decodeWorkEvents(receipt, market), 'ChallengeDemanded')[0]!
  return { unit: ev.unit, deadline: ev.deadline, receipt }
}

/** The worker answers a demand with the unit's leaf and path. */
export const answerDemand = (chain: Chain, key: Hex, market: Address, o: { jobId: Hex; batch: number; index: number; inputHash: Hex; outputHash: Hex; path: readonly Hex[] }) =>
  send(chain, key, market, 'answer', [o.jobId, BigInt(o.batch), BigInt(o.index), o.inputHash, o.outputHash, [...o.path]])

/** Anyone faults a batch whose demand for `index` went unanswered past its deadline. */
export const faultMissing = (chain: Chain, key: Hex, market: Address, jobId: Hex, batch: number, index: number) =>
  send(chain, key, market, 'faultMissing', [jobId, BigInt(batch), BigInt(index)])

/** What one `settle` transaction did. */
export interface WorkSettleResult {
  receipt: TransactionReceipt
  settled: { batch: number; paid: bigint }[]
  skipped: { batch: number; reason: WorkSkipReason }[]
}

/** Decodes a `settle` receipt. */
export function settleOutcome(receipt: TransactionReceipt, market: Address): WorkSettleResult {
  const evs = decodeWorkEvents(receipt, market)
  return {
    receipt,
    settled: only(evs, 'BatchSettled').map((e) => ({ batch: e.batch, paid: e.paid })),
    skipped: only(evs, 'SettleSkipped').map((e) => ({ batch: e.batch, reason: e.reason })),
  }
}

/** Anyone pays the worker for batches past their window (reverts WorkMarketNothingSettled if every entry is skipped). */
export async function settleBatches(chain: Chain, key: Hex, market: Address, jobId: Hex, batches: readonly number[], opts: { gas?: bigint } = {}): Promise<WorkSettleResult> {
  return settleOutcome(await send(chain, key, market, 'settle', [jobId, batches.map(BigInt)], opts.gas), market)
}

/** Anyone ends a resolved job: unused escrow and the client's slash shares to the client, the stake left to the worker. */
export async function finalizeComputeJob(chain: Chain, key: Hex, market: Address, jobId: Hex): Promise<{ toClient: bigint; toWorker: bigint; receipt: TransactionReceipt }> {
  const receipt = await send(chain, key, market, 'finalize', [jobId])
  const ev = only(decodeWorkEvents(receipt, market), 'JobFinalized')[0]!
  return { toClient: ev.toClient, toWorker: ev.toWorker, receipt }
}

/** Anyone keeps a batch's seed in storage. */
export const recordWorkSeed = (chain: Chain, key: Hex, market: Address, jobId: Hex, batch: number) => send(chain, key, market, 'recordSeed', [jobId, BigInt(batch)])

/** Pulls the sender's whole withdrawable balance; returns the amount. */
export async function withdrawCompute(chain: Chain, key: Hex, market: Address): Promise<{ amount: bigint; receipt: TransactionReceipt }> {
  const receipt = await send(chain, key, market, 'withdraw', [])
  return { amount: only(decodeWorkEvents(receipt, market), 'Withdrawn')[0]!.amount, receipt }
}

// ------------------------------------------------------------------ views
export async function readJob(chain: Chain, market: Address, jobId: Hex): Promise<WorkJobView> {
  const v = await view<Record<string, bigint> & { client: Address; worker: Address; finalized: boolean }>(chain, market, 'jobs', [jobId])
  const batches = Number(v.batches!), settled = Number(v.settled!), faults = Number(v.faults!)
  return {
    client: v.client, worker: v.worker, finalized: v.finalized, openBlock: v.openBlock!, claimDeadline: v.claimDeadline!, units: Number(v.units!),
    nextUnit: Number(v.nextUnit!), batches, settled, faults, unresolved: batches - settled - faults, paidUnits: Number(v.paidUnits!),
    escrowLeft: v.escrowLeft!, stakeLeft: v.stakeLeft!, owedToClient: v.owedToClient!,
  }
}

export async function readComputeTerms(chain: Chain, market: Address, jobId: Hex): Promise<WorkTermsView> {
  const v = await view<Record<string, bigint> & { profile: Hex }>(chain, market, 'termsOf', [jobId])
  return {
    units: Number(v.units!), maxBatch: Number(v.maxBatch!), pricePerUnit: v.pricePerUnit!, stake: v.stake!, slash: v.slash!, finderFee: v.finderFee!,
    checksPerBatch: Number(v.checksPerBatch!), quorum: Number(v.quorum!), finderBps: Number(v.finderBps!), challengeDelay: Number(v.challengeDelay!),
    disputeWindow: Number(v.disputeWindow!), responseWindow: Number(v.responseWindow!), profile: v.profile,
  }
}

export async function readBatch(chain: Chain, market: Address, jobId: Hex, batch: number): Promise<WorkBatchView> {
  const v = await view<{ state: number; root: Hex; first: bigint; count: bigint; claimBlock: bigint; seedBlock: bigint; windowEnd: bigint; openDemands: bigint }>(chain, market, 'batchOf', [jobId, BigInt(batch)])
  return { state: BATCH_STATES[v.state]!, root: v.root, first: Number(v.first), count: Number(v.count), claimBlock: v.claimBlock, seedBlock: v.seedBlock, windowEnd: v.windowEnd, openDemands: Number(v.openDemands) }
}

export async function readDemand(chain: Chain, market: Address, jobId: Hex, batch: number, index: number): Promise<{ state: WorkDemandState; deadline: bigint }> {
  const [state, deadline] = await view<readonly [number, bigint]>(chain, market, 'demandOf', [jobId, BigInt(batch), BigInt(index)])
  return { state: DEMAND_STATES[state]!, deadline }
}

/** A batch's challenged units by index (reverts WorkMarketSeedNotYet before its seed block is mined). */
export const readChallengedUnits = async (chain: Chain, market: Address, jobId: Hex, batch: number): Promise<number[]> =>
  (await view<readonly bigint[]>(chain, market, 'challengedUnits', [jobId, BigInt(batch)])).map(Number)
/** A batch's seed (recorded, BLOCKHASH or EIP-2935; reverts WorkMarketSeedNotYet / WorkMarketSeedUnavailable). */
export const readWorkSeed = (chain: Chain, market: Address, jobId: Hex, batch: number): Promise<Hex> => view<Hex>(chain, market, 'seedOf', [jobId, BigInt(batch)])
export const readWorkBalance = (chain: Chain, market: Address, who: Address): Promise<bigint> => view<bigint>(chain, market, 'balanceOf', [who])
export const readIsChecker = (chain: Chain, market: Address, jobId: Hex, who: Address): Promise<boolean> => view<boolean>(chain, market, 'isChecker', [jobId, who])
export const readComputeTermsHash = (chain: Chain, market: Address, t: ComputeTermsArg): Promise<Hex> => view<Hex>(chain, market, 'termsHash', [termsTuple(t)])
/** The contract's EIP-712 digest of a verdict (equal to src/proofs/work's `verdictDigest`). */
export const readVerdictDigest = (chain: Chain, market: Address, v: { jobId: Hex; batch: bigint | number; unit: bigint | number; output: Hex }): Promise<Hex> =>
  view<Hex>(chain, market, 'verdictDigest', [v.jobId, BigInt(v.batch), BigInt(v.unit), v.output])
