/**
 * Parameter sizing for a microcash escrow (the reasoning is in docs/microcash.md, "Sizing").
 *
 * Given a target payment rate (expected value per second), an issue rate, a round length and a bound on what a
 * cheating sponsor may gain, it picks the schedule (N tickets and W winners per round), the ticket value V, the
 * balance (W·V per funded round) and the penalty deposit:
 *
 * - budget per round B = rate × round seconds = W·V (a draw pays exactly W·V);
 * - V >= feeFactor × redemption cost per ticket (redemption fees stay <= 1/feeFactor of a win), or as given;
 *   W = ceil(B / V);
 * - N >= issue rate × round seconds × headroom, and N >= 2W; expected value of one ticket V·W/N;
 * - a sponsor that issues numbers to `maxDuplicates` extra servers is caught when a victim's redemption of a
 *   duplicated winner fails (another server was paid for it) and its proof is mined. With the server's redemption
 *   policy (server.ts: redeem at `redeemBatch` = 16 winners, or once a winner is more than
 *   `redeemMaxDelayBlocks` = 128 blocks past its draw) that is D blocks after the first such draw:
 *   D = min(redeemMaxDelayBlocks + 1, batch delay) + settleIntervalBlocks − 1 + proofInclusionBlocks, where the
 *   batch delay, (⌈redeemBatch / serverWinnersPerRound⌉ − 1)·L, counts only when the victim's winners per round are
 *   known (a sponsor chooses victims that win rarely: by default only the timer counts). Rounds it can issue before
 *   the proof ends the schedule: k = 1 + ⌊(L − 1 + drawDelay + D) / L⌋. Its gain is at most
 *   G = k × maxDuplicates × B (the extra service), and the compensation owed to victims is at most
 *   E = k × maxDuplicates × B (each duplicated winner leaves maxDuplicates servers unpaid, V each);
 * - the first proof burns ⌈P/2⌉ and keeps ⌊P/2⌋ as the victims' pool. The burned half must cover the gain beyond
 *   the tolerated bound (the sponsor can get the pool back through Sybil servers, never the burned half), the pool
 *   `victimCoverage` of the exposure: P = 2 × max(G − cheaterGainBound, ⌈victimCoverage × E⌉).
 *
 * @example
 * ```ts
 * import { sizeMicrocash } from './sizing.js'
 * const s = sizeMicrocash({ paymentRatePerSecond: 10n ** 15n, ticketsPerSecond: 2000, roundSeconds: 12, blockSeconds: 2, rounds: 300,
 *   redeemCostPerTicket: 10n ** 13n, cheaterGainBound: 0n })
 * s.winnersPerRound, s.ticketValue, s.balance, s.penaltyDeposit
 * ```
 */
import { ValidationError } from '../../core/errors.js'
import { DEFAULT_REDEEM_BATCH, REDEEM_MAX_DELAY_BLOCKS } from './server.js'

export interface SizingInput {
  /** Target expected payment per second, token units. */
  paymentRatePerSecond: bigint
  /** Tickets the sponsor issues per second over all servers. */
  ticketsPerSecond: number
  /** Round length in seconds (rounded up to whole blocks). */
  roundSeconds: number
  /** Seconds per block. Default 12. */
  blockSeconds?: number
  /** Funded rounds. */
  rounds: number
  /** Blocks between a round's end and its draw block. Default 3 (must exceed the servers' draw margin, 2). */
  drawDelayBlocks?: number
  /** Fix the ticket value; otherwise feeFactor × redeemCostPerTicket (at least 1). */
  ticketValue?: bigint
  /** Cost of redeeming one winning ticket, token units (gas × gas price in the token). Default 0. */
  redeemCostPerTicket?: bigint
  /** A win is worth at least this many redemption costs. Default 100 (fees <= 1%). */
  feeFactor?: number
  /** Schedule headroom over the expected issue rate. Default 1.25. */
  scheduleHeadroom?: number
  /** Extra servers a cheater gives each number to. Default 1 (one duplicate). */
  maxDuplicates?: number
  /** Most a cheating sponsor may gain net of its burned penalty, token units. */
  cheaterGainBound: bigint
  /** The servers' redemption policy: winners collected before redeeming. Default 16 (server.ts DEFAULT_REDEEM_BATCH). */
  redeemBatch?: number
  /** The servers' redemption policy: a winner this many blocks past its draw is redeemed. Default 128 (server.ts). */
  redeemMaxDelayBlocks?: number
  /** Blocks between two `settle()` calls of a server. Default 1. */
  settleIntervalBlocks?: number
  /** Blocks for a proof transaction to be mined. Default 1. */
  proofInclusionBlocks?: number
  /** Winners per round a victim server holds, when known: it then redeems on the batch trigger. Default: unknown. */
  serverWinnersPerRound?: number
  /** Share of the worst-case compensation the victims' pool must cover, 0..1. Default 1. */
  victimCoverage?: number
}

export interface SizingResult {
  roundLengthBlocks: number
  drawDelayBlocks: number
  ticketsPerRound: number
  winnersPerRound: number
  ticketValue: bigint
  /** V·W/N, the value credited per ticket (rounded down). */
  expectedValuePerTicket: bigint
  /** W·V: what one draw pays. */
  budgetPerRound: bigint
  /** W·V / round seconds (>= the target). */
  actualPaymentRatePerSecond: number
  /** W·V·rounds. */
  balance: bigint
  /** Blocks from the first draw with a duplicated winner to the mined proof that ends the schedule (D). */
  detectionDelayBlocks: number
  /** Rounds a sponsor can issue before a proof stops it (k). */
  roundsInFlight: number
  /** Worst-case gain of a duplicating sponsor before it is caught (G). */
  maxGainBeforeDetection: bigint
  /** Worst-case compensation owed to victims of those rounds (E). */
  compensationExposure: bigint
  /** What the first proof burns: ⌈P/2⌉ >= G − cheaterGainBound. */
  burnedOnDetection: bigint
  /** The victims' pool after the first proof: ⌊P/2⌋. */
  victimsPool: bigint
  penaltyDeposit: bigint
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b

export function sizeMicrocash(i: SizingInput): SizingResult {
  const need = (ok: boolean, what: string) => { if (!ok) throw new ValidationError(`sizeMicrocash: ${what}`) }
  need(i.paymentRatePerSecond > 0n, 'paymentRatePerSecond must be > 0')
  need(i.ticketsPerSecond > 0, 'ticketsPerSecond must be > 0')
  need(i.roundSeconds > 0, 'roundSeconds must be > 0')
  need(Number.isInteger(i.rounds) && i.rounds >= 1, 'rounds must be an integer >= 1')
  need(i.cheaterGainBound >= 0n, 'cheaterGainBound must be >= 0')
  const blockSeconds = i.blockSeconds ?? 12
  need(blockSeconds > 0, 'blockSeconds must be > 0')
  const L = Math.max(1, Math.ceil(i.roundSeconds / blockSeconds))
  const secs = L * blockSeconds
  const drawDelay = i.drawDelayBlocks ?? 3
  need(Number.isInteger(drawDelay) && drawDelay >= 1, 'drawDelayBlocks must be an integer >= 1')
  // Budget per round, in token units: rate × seconds (seconds may be fractional: scale by 1e6).
  const B = ceilDiv(i.paymentRatePerSecond * BigInt(Math.round(secs * 1e6)), 1_000_000n)
  const feeFactor = BigInt(i.feeFactor ?? 100)
  let V = i.ticketValue ?? (((i.redeemCostPerTicket ?? 0n) * feeFactor) > 0n ? (i.redeemCostPerTicket ?? 0n) * feeFactor : 1n)
  need(V > 0n, 'ticketValue must be > 0')
  if (V > B) V = B // one winner per round already pays the whole budget
  const W = Number(ceilDiv(B, V))
  need(W <= 2 ** 31, 'too many winners per round: raise ticketValue')
  const Ntarget = Math.ceil(i.ticketsPerSecond * secs * (i.scheduleHeadroom ?? 1.25))
  const N = Math.max(Ntarget, 2 * W, 2)
  need(N <= 2 ** 32, 'too many tickets per round: shorten the round')
  const budget = BigInt(W) * V
  const int = (v: number | undefined, dflt: number, min: number, what: string) => {
    const x = v ?? dflt
    need(Number.isInteger(x) && x >= min, `${what} must be an integer >= ${min}`)
    return x
  }
  const redeemBatch = int(i.redeemBatch, DEFAULT_REDEEM_BATCH, 1, 'redeemBatch')
  const maxDelay = int(i.redeemMaxDelayBlocks, REDEEM_MAX_DELAY_BLOCKS, 0, 'redeemMaxDelayBlocks')
  const settleEvery = int(i.settleIntervalBlocks, 1, 1, 'settleIntervalBlocks')
  const inclusion = int(i.proofInclusionBlocks, 1, 1, 'proofInclusionBlocks')
  const coverage = i.victimCoverage ?? 1
  need(coverage >= 0 && coverage <= 1, 'victimCoverage must be in [0, 1]')
  // The victim redeems (and finds the winner paid to another server) at the first settle after its timer fires
  // (a winner more than maxDelay blocks past its draw), or after the draw that completes its batch.
  let redeemAfter = maxDelay + 1
  if (i.serverWinnersPerRound !== undefined) {
    need(i.serverWinnersPerRound > 0, 'serverWinnersPerRound must be > 0')
    redeemAfter = Math.min(redeemAfter, (Math.ceil(redeemBatch / i.serverWinnersPerRound) - 1) * L)
  }
  const D = redeemAfter + settleEvery - 1 + inclusion
  const k = 1 + Math.floor((L - 1 + drawDelay + D) / L)
  const dups = BigInt(i.maxDuplicates ?? 1)
  const G = BigInt(k) * dups * budget
  const E = BigInt(k) * dups * budget
  const burnNeed = G > i.cheaterGainBound ? G - i.cheaterGainBound : 0n
  const poolNeed = ceilDiv(E * BigInt(Math.round(coverage * 1e6)), 1_000_000n)
  const half = burnNeed > poolNeed ? burnNeed : poolNeed
  const P = 2n * half
  return {
    roundLengthBlocks: L,
    drawDelayBlocks: drawDelay,
    ticketsPerRound: N,
    winnersPerRound: W,
    ticketValue: V,
    expectedValuePerTicket: (V * BigInt(W)) / BigInt(N),
    budgetPerRound: budget,
    actualPaymentRatePerSecond: Number(budget) / secs,
    balance: budget * BigInt(i.rounds),
    detectionDelayBlocks: D,
    roundsInFlight: k,
    maxGainBeforeDetection: G,
    compensationExposure: E,
    burnedOnDetection: P - P / 2n,
    victimsPool: P / 2n,
    penaltyDeposit: P,
  }
}
