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
 * - a sponsor that issues numbers to `maxDuplicates` extra servers is caught at the first draw in which a
 *   duplicated number wins; before that draw it can issue at most k rounds (k = rounds in flight: the issue round
 *   plus those that begin before its draw), so its gain is at most G = k × maxDuplicates × B. The penalty deposit
 *   P = max(0, G − cheaterGainBound) keeps its net gain within the bound (P = G with a bound of 0 makes cheating a
 *   loss and pays the victims in full).
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
  /** Most a cheating sponsor may gain net of its forfeited penalty, token units. */
  cheaterGainBound: bigint
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
  /** Rounds a sponsor can issue before the first draw that could reveal a duplicate. */
  roundsInFlight: number
  /** Worst-case gain of a duplicating sponsor before it is caught. */
  maxGainBeforeDetection: bigint
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
  const k = 1 + Math.floor((L - 1 + drawDelay) / L)
  const G = BigInt(k) * BigInt(i.maxDuplicates ?? 1) * budget
  const P = G > i.cheaterGainBound ? G - i.cheaterGainBound : 0n
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
    roundsInFlight: k,
    maxGainBeforeDetection: G,
    penaltyDeposit: P,
  }
}
