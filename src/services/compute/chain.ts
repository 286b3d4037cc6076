/**
 * What the compute roles ask of `contracts/WorkMarket.sol`: an interface (so roles take it as a component) and its
 * implementation for one account (`computeContract`), over the typed calls of `contract.ts`.
 *
 * @example
 * ```ts
 * const market = computeContract(chain, key, { address, token })
 * const { jobId } = await market.openJob({ ...deal, serverSig, buyerSig }, terms) // approves the escrow first
 * const { batch } = await market.claimWork(jobId, 0, 8, root)
 * ```
 */
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { SoukTokenAbi, WorkMarketAbi } from '../../../artifacts/contracts.js'
import type { Chain } from '../../chain/types.js'
import { write } from '../../chain/tx.js'
import type { DealBody } from '../../market/schema.js'
import {
  answerDemand, claimWork, deployWorkMarket, demandUnit, faultBatch, faultMissing, finalizeComputeJob, openComputeJob, readBatch, readChallengedUnits, readComputeTerms,
  readDemand, readIsChecker, readJob, readWorkBalance, settleBatches, withdrawCompute,
} from './contract.js'
import type { ComputeTerms } from './protocol.js'

export type OnChainJobState = 'none' | 'open' | 'finalized'
export type OnChainBatchState = 'none' | 'claimed' | 'settled' | 'faulted'

export interface OnChainJob {
  state: OnChainJobState
  client: Address
  worker: Address
  /** The next unit a work claim must start at. */
  nextUnit: number
  batches: number
  /** Batches neither settled nor faulted. */
  unresolved: number
  escrowLeft: bigint
  stakeLeft: bigint
}

export interface OnChainBatch {
  state: OnChainBatchState
  first: number
  count: number
  root: Hex
  claimBlock: bigint
  seedBlock: bigint
  /** The last block a fault (or a demand) is accepted in, answers extending it. */
  disputeEnd: bigint
  /** Challenged indices with an open demand. */
  demands: number
}

export interface SettleResult { tx: Hex; settled: number[]; skipped: { batch: number; reason: string }[] }

export interface ComputeChain {
  readonly address: Address
  readonly account: Address
  blockNumber(): Promise<bigint>
  /** The client opens (approves and escrows units × price; the worker's stake is pulled, the worker approved it). */
  openJob(deal: DealBody & { serverSig: Hex; buyerSig: Hex }, terms: ComputeTerms): Promise<{ jobId: Hex; tx: Hex }>
  /** The worker approves the stake a job will pull when its client opens it. */
  approveStake(amount: bigint): Promise<void>
  claimWork(jobId: Hex, first: number, count: number, root: Hex): Promise<{ batch: number; tx: Hex; gasUsed: bigint }>
  /** The challenged units of a batch (in index order), or undefined while its seed block is not mined. */
  challenged(jobId: Hex, batch: number): Promise<number[] | undefined>
  fault(jobId: Hex, batch: number, index: number, inputHash: Hex, outputHash: Hex, path: readonly Hex[], sigs: readonly Hex[]): Promise<{ tx: Hex; slashed: bigint }>
  demand(jobId: Hex, batch: number, index: number): Promise<Hex>
  answer(jobId: Hex, batch: number, index: number, inputHash: Hex, outputHash: Hex, path: readonly Hex[]): Promise<Hex>
  faultMissing(jobId: Hex, batch: number, index: number): Promise<{ tx: Hex; slashed: bigint }>
  /** Open demands on this account's jobs as worker: (jobId, batch, index) with their deadline block. */
  openDemands(jobId: Hex): Promise<{ batch: number; index: number; deadline: bigint }[]>
  settle(jobId: Hex, batches: readonly number[]): Promise<SettleResult>
  finalize(jobId: Hex): Promise<Hex>
  withdraw(): Promise<{ tx: Hex; amount: bigint }>
  job(jobId: Hex): Promise<OnChainJob>
  batch(jobId: Hex, batch: number): Promise<OnChainBatch>
  balanceOf(who: Address): Promise<bigint>
  /** What a checker needs of a job's terms as the contract recorded them. */
  terms(jobId: Hex): Promise<{ profile: Hex; units: number; quorum: number; slash: bigint }>
  isChecker(jobId: Hex, who: Address): Promise<boolean>
}

/** Deploys `WorkMarket` settling in `token`. */
export const deployWorkMarketContract = deployWorkMarket

/** The contract as a {@link ComputeChain} for the account of `key` (approves the token for exactly what a call pulls). */
export function computeContract(chain: Chain, key: Hex, at: { address: Address; token: Address }): ComputeChain {
  const account = privateKeyToAddress(key).toLowerCase() as Address
  const m = at.address
  const approve = async (amount: bigint) => { if (amount > 0n) await write(chain, chain.wallet(key), { address: at.token, abi: SoukTokenAbi, functionName: 'approve', args: [m, amount] }) }
  let staking: Promise<void> = Promise.resolve()
  const slashOf = async (jobId: Hex, before: bigint) => before - (await readJob(chain, m, jobId)).stakeLeft
  return {
    address: m, account,
    blockNumber: () => chain.blockNumber(),
    async openJob(d, t) {
      await approve(t.pricePerUnit * BigInt(t.units))
      const r = await openComputeJob(chain, key, m, { deal: d, serverSig: d.serverSig, buyerSig: d.buyerSig, terms: t })
      return { jobId: r.jobId, tx: r.receipt.transactionHash }
    },
    // Adds to what is approved (a job not yet opened keeps its stake's allowance), one approval at a time.
    approveStake(amount) {
      const next = staking.then(async () => {
        const left = (await chain.public.readContract({ address: at.token, abi: SoukTokenAbi, functionName: 'allowance', args: [account, m] })) as bigint
        await approve(left + amount)
      })
      staking = next.catch(() => {})
      return next
    },
    async claimWork(jobId, first, count, root) {
      const r = await claimWork(chain, key, m, { jobId, first, count, root })
      return { batch: r.batch, tx: r.receipt.transactionHash, gasUsed: r.receipt.gasUsed }
    },
    async challenged(jobId, batch) {
      const b = await readBatch(chain, m, jobId, batch)
      if (b.state === 'none' || (await chain.blockNumber()) <= b.seedBlock) return undefined
      return readChallengedUnits(chain, m, jobId, batch)
    },
    async fault(jobId, batch, index, inputHash, outputHash, path, sigs) {
      const before = (await readJob(chain, m, jobId)).stakeLeft
      const r = await faultBatch(chain, key, m, { jobId, batch, index, inputHash, outputHash, path, sigs })
      return { tx: r.receipt.transactionHash, slashed: await slashOf(jobId, before) }
    },
    demand: async (jobId, batch, index) => (await demandUnit(chain, key, m, jobId, batch, index)).receipt.transactionHash,
    answer: async (jobId, batch, index, inputHash, outputHash, path) => (await answerDemand(chain, key, m, { jobId, batch, index, inputHash, outputHash, path })).transactionHash,
    async faultMissing(jobId, batch, index) {
      const before = (await readJob(chain, m, jobId)).stakeLeft
      const r = await faultMissing(chain, key, m, jobId, batch, index)
      return { tx: r.transactionHash, slashed: await slashOf(jobId, before) }
    },
    async openDemands(jobId) {
      const evs = (await chain.public.getContractEvents({ address: m, abi: WorkMarketAbi, eventName: 'ChallengeDemanded', args: { jobId }, fromBlock: 0n } as never)) as unknown as { args: { batch: bigint; index: bigint } }[]
      const out: { batch: number; index: number; deadline: bigint }[] = []
      for (const e of evs) {
        const d = await readDemand(chain, m, jobId, Number(e.args.batch), Number(e.args.index))
        if (d.state === 'open') out.push({ batch: Number(e.args.batch), index: Number(e.args.index), deadline: d.deadline })
      }
      return out
    },
    async settle(jobId, batches) {
      const r = await settleBatches(chain, key, m, jobId, batches)
      return { tx: r.receipt.transactionHash, settled: r.settled.map((x) => x.batch), skipped: r.skipped }
    },
    finalize: async (jobId) => (await finalizeComputeJob(chain, key, m, jobId)).receipt.transactionHash,
    async withdraw() { const r = await withdrawCompute(chain, key, m); return { tx: r.receipt.transactionHash, amount: r.amount } },
    async job(jobId) {
      const v = await readJob(chain, m, jobId)
      const none = v.client === '0x0000000000000000000000000000000000000000'
      return {
        state: none ? 'none' : v.finalized ? 'finalized' : 'open', client: v.client.toLowerCase() as Address, worker: v.worker.toLowerCase() as Address,
        nextUnit: v.nextUnit, batches: v.batches, unresolved: v.unresolved, escrowLeft: v.escrowLeft, stakeLeft: v.stakeLeft,
      }
    },
    async batch(jobId, batch) {
      const b = await readBatch(chain, m, jobId, batch)
      return { state: b.state, first: b.first, count: b.count, root: b.root, claimBlock: b.claimBlock, seedBlock: b.seedBlock, disputeEnd: b.windowEnd, demands: b.openDemands }
    },
    balanceOf: (who) => readWorkBalance(chain, m, who),
    async terms(jobId) { const t = await readComputeTerms(chain, m, jobId); return { profile: t.profile, units: t.units, quorum: t.quorum, slash: t.slash } },
    isChecker: (jobId, who) => readIsChecker(chain, m, jobId, who),
  }
}
