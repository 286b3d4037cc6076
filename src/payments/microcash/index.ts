/**
 * The `microcash` payment scheme: concurrent probabilistic micropayments from one ConcurrentLottery escrow, with
 * batch-signed tickets, a fixed number of winners per draw and a penalty deposit that compensates the servers harmed
 * by a duplicated sequence number (V each from a pool of half of it; the other half is burned). See docs/microcash.md.
 * `microcashScheme` is its `PaymentScheme`.
 *
 * Context mapping: the contract is `ctx.deployment.contracts.microcash.concurrentLottery`; the stores (store.ts) are
 * SQLite at `ctx.storePath`, memory stores without it; the server takes `ctx.clock` and `ctx.logger`, the issuer `ctx.rng` (ticket
 * salts); `ctx.options` takes the payee/payer options of scheme.ts plus, for the
 * payer, `escrowId` (default: the newest escrow owned by `ctx.key`). `fund` opens an escrow: `deposit` is its
 * balance, the sum of `reserves` its penalty deposit, and `options.escrow` overrides the default schedule.
 *
 * @example
 * ```ts
 * await fundPayer('microcash', payerCtx, { deposit: 10n ** 21n, reserves: [{ payee, amount: 10n ** 20n }] })
 * const payee = await createPayee('microcash', payeeCtx)
 * const session = await (await createPayer('microcash', payerCtx)).open(await payee.terms(payer, price))
 * ```
 */
import { parseAbiItem, type Address } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../../chain/types.js'
import { PaymentError } from '../errors.js'
import { addPaid, deployedAt, formatSouk, type PaymentLoad, type PaymentPlan, type PaymentScheme, type FundContext, type SchemeContracts } from '../scheme.js'
import { ConcurrentLotteryAbi, createEscrow, deployConcurrentLottery, type EscrowParams } from './contract.js'
import { createMicrocashPayee, createMicrocashPayer } from './scheme.js'
import { drawBlockOf, roundAt } from './ticket.js'
import { microcashServerStore, sequenceStore } from './store.js'

export {
  createMicrocashPayer, createMicrocashPayee, toWire, MICROCASH_SCHEME,
  type MicrocashPayer, type MicrocashPayee, type MicrocashPayerOptions, type MicrocashPayeeOptions, type MicrocashPayerAdversary,
} from './scheme.js'
export {
  createMicrocashServer, ticketExpectedValue, MicrocashBodySchema, WireTicketSchema, MAX_TICKETS_PER_PAYMENT, MAX_PROOF_LENGTH,
  DEFAULT_REDEEM_BATCH, REDEEM_MAX_DELAY_BLOCKS, type MicrocashLoss, type MicrocashLossReason, type MicrocashSettleReport,
  type MicrocashServer, type MicrocashServerOptions, type WireTicket, type MicrocashBody,
} from './server.js'
export { createIssuer, createSequenceAllocator, ScheduleExhaustedError, DEFAULT_RESERVE_SIZE, type Issuer, type IssuerOptions, type SequenceAllocator } from './issuer.js'
export {
  deployConcurrentLottery, getEscrow, createEscrow, topUp, unlockEscrow, withdrawEscrow, redeemWinners, redeemWinnersPacked, packRedemption, unpackRedemption, PACKED_MAX_NODES, proveDuplicate, proveDuplicateCall, isRedeemed, isPaidTo, recordDraw, seedOf, toBundles, BURN_ADDRESS,
  ConcurrentLotteryAbi, type EscrowParams, type EscrowState, type SignedTicket,
} from './contract.js'
export {
  microcashDomain, ticketHash, ticketDigest, batchDigest, buildTree, proofOf, processProof, hashPair, roundAt, drawBlockOf, drawKey, permute,
  winnerRank, winnersOf, feistelHalfBits, type MicroTicket, type MerkleTree,
} from './ticket.js'
export { sizeMicrocash, type SizingInput, type SizingResult } from './sizing.js'
export * from './store.js'

/** Schedule used by `fundPayer('microcash', …)` unless `options.escrow` overrides it. */
export const DEFAULT_ESCROW_SCHEDULE: Omit<EscrowParams, 'ticketValue'> = {
  ticketsPerRound: 1 << 16, winnersPerRound: 16, roundLengthBlocks: 10, drawDelayBlocks: 3, rounds: 100, redeemWindowBlocks: 200,
}

/** `deployment.contracts.microcash`. */
export interface MicrocashContracts extends SchemeContracts {
  concurrentLottery: Address
}

function lotteryOf(ctx: FundContext): Address {
  const a = ctx.deployment.contracts?.microcash?.concurrentLottery
  if (!a) throw new PaymentError('No ConcurrentLottery in this deployment', { hints: ['Deploy it with deploySouk(chain, key), or deployConcurrentLottery(chain, key, token) into deployment.contracts.microcash.'] })
  return a
}

/** The newest escrow owned by `owner`, from the contract's EscrowCreated events. */
export async function latestEscrowOf(ctx: FundContext, owner: Address): Promise<bigint | undefined> {
  const logs = await ctx.chain.public.getLogs({
    address: lotteryOf(ctx),
    event: parseAbiItem('event EscrowCreated(uint256 indexed escrowId, address indexed owner, uint256 balance, uint256 penalty, uint64 startRound, uint64 endRound, uint64 expiryBlock)'),
    args: { owner },
    fromBlock: 0n,
  })
  return logs.length ? logs[logs.length - 1].args.escrowId : undefined
}

/** A microcash escrow sized for one run of a payer paying many payees (see `planEscrow`). */
export interface MicrocashEscrowPlan {
  /** `fundPayer('microcash', { options: { escrow } })`. */
  escrow: EscrowParams
  /** Payer option `bundleSize`: tickets signed at once per payee (unused ones of a round are wasted numbers). */
  bundleSize: number
  /** Escrow balance the schedule commits (W · V · rounds). */
  balance: bigint
  /** Winners to expect if `expectedPayments` tickets are paid in one round. */
  expectedWinners: number
}

const pow2Ceil = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)))
const pow2Floor = (x: number) => 2 ** Math.floor(Math.log2(Math.max(1, x)))

/**
 * A microcash escrow schedule for a short run on a dev chain, so that a run shows a handful of winners.
 *
 * The default schedule (`DEFAULT_ESCROW_SCHEDULE`: 65 536 tickets, 16 winners per round) is sized for a sponsor
 * paying ~65k chunks per round: with a few hundred tickets the expected number of winners is ~0.05. Here
 * `ticketsPerRound` N is ~4x the payments the run is expected to make in a round (a power of 2 with headroom:
 * bundles leave unused numbers, runs vary), `winnersPerRound` W is chosen so that about `targetWinners` (default 6)
 * of the paid tickets win, and `ticketValue` V = price · N / W makes a ticket's expected value V·W/N exactly one
 * payment's price (one ticket per payment). N and W are powers of 2, W ≤ N/2 (the contract's rule).
 *
 * @example
 * ```ts
 * const plan = planEscrow({ expectedPayments: 16, payees: 2, pricePerPayment: 2n * 10n ** 14n })
 * plan.escrow.ticketsPerRound // 64; winnersPerRound 32; expectedWinners 8
 * ```
 */
export function planEscrow(o: PaymentLoad & { targetWinners?: number; rounds?: number }): MicrocashEscrowPlan {
  const chunks = Math.max(1, Math.ceil(o.expectedPayments))
  const target = o.targetWinners ?? 6
  const ticketsPerRound = Math.min(2 ** 30, pow2Ceil(Math.max(4 * chunks, 4 * target, 16)))
  const winnersPerRound = Math.min(ticketsPerRound / 2, 2 ** Math.round(Math.log2(Math.max(1, (target * ticketsPerRound) / chunks))))
  const ticketValue = o.pricePerPayment * BigInt(ticketsPerRound / winnersPerRound)
  const rounds = o.rounds ?? 20
  return {
    escrow: { ticketValue, ticketsPerRound, winnersPerRound, roundLengthBlocks: 10, drawDelayBlocks: 5, rounds, redeemWindowBlocks: 200 },
    bundleSize: Math.min(64, pow2Floor(ticketsPerRound / (4 * Math.max(1, o.payees)))),
    balance: ticketValue * BigInt(winnersPerRound * rounds),
    expectedWinners: (Math.min(chunks, ticketsPerRound) * winnersPerRound) / ticketsPerRound,
  }
}

/** An `EscrowParams` as `PaymentPlan.facts` carry it (JSON-safe: the ticket value as a decimal string). */
export interface EscrowFacts { ticketValue: string; ticketsPerRound: number; winnersPerRound: number; roundLengthBlocks: number; drawDelayBlocks: number }

/** The plan's escrow from `PaymentPlan.facts` in either form (bigint before reporting, string after). */
function escrowFacts(facts: Record<string, unknown> | undefined): EscrowFacts | undefined {
  const e = facts?.escrow as (Omit<EscrowFacts, 'ticketValue'> & { ticketValue: string | bigint }) | undefined
  return e && { ...e, ticketValue: String(e.ticketValue) }
}

/**
 * Dev chains only: mines empty blocks until the draw block of the current round has passed, so every ticket issued
 * so far (rounds ≤ the current one) is drawn and winners can be redeemed. Returns the blocks mined (0 if none).
 * Needs `chain.dev` (the embedded chain, or a dev node): never call it against a real chain.
 */
export async function minePastCurrentDraw(chain: Chain, schedule: Pick<EscrowParams, 'roundLengthBlocks' | 'drawDelayBlocks'>): Promise<number> {
  if (!chain.dev) throw new Error('minePastCurrentDraw needs a dev chain (chain.dev)')
  const b = Number(await chain.blockNumber())
  const draw = drawBlockOf(roundAt(b, schedule.roundLengthBlocks), schedule.roundLengthBlocks, schedule.drawDelayBlocks)
  const n = draw + 1 - b
  if (n > 0) await chain.dev.mine(n)
  return Math.max(0, n)
}

export interface MicrocashSummary {
  ticketsIssued: number; draws: number; winners: number; redeemed: number; pending: number; redeemTransactions: number
  /** The run's escrow schedule and the winners it should give if every expected chunk is paid. */
  ticketsPerRound: number; winnersPerRound: number; ticketValue: string; expectedWinners: number
  /** Empty blocks the testnet mined on the embedded chain to pass the draw blocks (0 with --rpc). */
  minedBlocks: number
}

export const microcashScheme: PaymentScheme<'microcash', MicrocashContracts, object, MicrocashSummary> = {
  name: 'microcash',
  description: 'concurrent lottery tickets from one ConcurrentLottery escrow, a fixed number of winners per draw',
  contractName: 'ConcurrentLottery',
  async deploy(chain, key, p) {
    const concurrentLottery = await deployConcurrentLottery(chain, key, p.token)
    return { concurrentLottery, blockNumber: await deployedAt(chain) }
  },
  async payee(ctx) {
    return createMicrocashPayee({ ...(ctx.options ?? {}), chain: ctx.chain, lottery: lotteryOf(ctx), privateKey: ctx.key, store: microcashServerStore(ctx.storePath), clock: ctx.clock, logger: ctx.logger })
  },
  async payer(ctx) {
    const me = privateKeyToAddress(ctx.key)
    const escrowId = (ctx.options?.escrowId as bigint | undefined) ?? (await latestEscrowOf(ctx, me))
    if (escrowId === undefined) throw new PaymentError(`No microcash escrow owned by ${me}`, { hints: ["Open one with fundPayer('microcash', ctx, { deposit, reserves }) or createEscrow()."] })
    return createMicrocashPayer({ ...(ctx.options ?? {}), chain: ctx.chain, lottery: lotteryOf(ctx), privateKey: ctx.key, escrowId, store: sequenceStore(ctx.storePath), rng: ctx.rng })
  },
  async fund(ctx, f) {
    const s = { ...DEFAULT_ESCROW_SCHEDULE, ...((ctx.options?.escrow as Partial<EscrowParams> | undefined) ?? {}) }
    const ticketValue = s.ticketValue ?? f.deposit / BigInt(s.winnersPerRound * s.rounds)
    if (ticketValue <= 0n) throw new PaymentError('deposit too small for the schedule', { details: { deposit: f.deposit, winnersPerRound: s.winnersPerRound, rounds: s.rounds } })
    const penalty = (f.reserves ?? []).reduce((a, r) => a + r.amount, 0n)
    await createEscrow(ctx.chain, ctx.key, { lottery: lotteryOf(ctx), token: ctx.deployment.token, params: { ...s, ticketValue }, balance: f.deposit, penalty })
  },
  // An escrow whose schedule fits the run (a handful of winners), not the 65 536-ticket default.
  plan(load): PaymentPlan {
    const p = planEscrow(load)
    return { deposit: p.balance, fundOptions: { escrow: p.escrow }, payerOptions: { bundleSize: p.bundleSize }, facts: { escrow: p.escrow, expectedWinners: p.expectedWinners } }
  },
  // On a dev chain blocks come only with transactions, so the draw of the round the tickets were issued in may
  // still be ahead: mine past it so the payees' settle sees the draw, keeps its winners and redeems them.
  async ripen(chain, facts) {
    const e = escrowFacts(facts)
    return e ? minePastCurrentDraw(chain, e) : 0
  },
  // microcash knows its winners at the draw: the payee's count.
  winnersOf: (r) => Number(r.payee.winning ?? 0),
  async audit(chain, c, range) {
    const paidByEvents: Record<string, bigint> = {}
    let redeemed = 0
    const txs = new Set<string>()
    for (const l of await chain.public.getContractEvents({ address: c.concurrentLottery, abi: ConcurrentLotteryAbi, eventName: 'WinnersRedeemed', ...range })) {
      const a = l.args as { server: Address; count: bigint; amount: bigint }
      addPaid(paidByEvents, a.server, a.amount)
      redeemed += Number(a.count)
      txs.add(l.transactionHash!)
    }
    return { contract: c.concurrentLottery, paidByEvents, facts: { redeemed, redeemTransactions: txs.size } }
  },
  summarize(run, audit) {
    const e = escrowFacts(run.plan) ?? { ticketValue: '0', ticketsPerRound: 1, winnersPerRound: 0, roundLengthBlocks: 1, drawDelayBlocks: 1 }
    const ev = (BigInt(e.ticketValue) * BigInt(e.winnersPerRound)) / BigInt(e.ticketsPerRound)
    const credited = run.payees.reduce((a, p) => a + p.credited, 0n)
    // Rounds the serving window touched whose draw block is behind us now.
    let draws = 0
    for (let r = roundAt(run.servingFrom, e.roundLengthBlocks); r <= roundAt(run.servingTo, e.roundLengthBlocks); r++) if (drawBlockOf(r, e.roundLengthBlocks, e.drawDelayBlocks) < Number(run.latest)) draws++
    return {
      ticketsIssued: ev > 0n ? Number(credited / ev) : 0, draws, winners: run.payees.reduce((s, p) => s + p.winning, 0), redeemed: audit.facts.redeemed ?? 0,
      pending: run.payees.reduce((s, p) => s + p.pending, 0), redeemTransactions: audit.facts.redeemTransactions ?? 0,
      ticketsPerRound: e.ticketsPerRound, winnersPerRound: e.winnersPerRound, ticketValue: e.ticketValue,
      expectedWinners: Number(run.plan?.expectedWinners ?? 0), minedBlocks: run.ripenedBlocks,
    }
  },
  describe: (p) => [
    `  payments (microcash)  ${p.ticketsIssued} tickets issued, ${p.draws} draws, ${p.winners} winners (expected ~${p.expectedWinners.toFixed(1)}), ${p.redeemed} redeemed on chain in ${p.redeemTransactions} transactions${p.pending ? `, ${p.pending} pending` : ''}`,
    `  escrow schedule       ${p.ticketsPerRound} tickets, ${p.winnersPerRound} winners per round, ticket value ${formatSouk(p.ticketValue)}${p.minedBlocks ? `; mined ${p.minedBlocks} blocks past the draw` : ''}`,
  ],
}
