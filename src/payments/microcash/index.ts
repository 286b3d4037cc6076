/**
 * The `microcash` payment scheme: concurrent probabilistic micropayments from one ConcurrentLottery escrow, with
 * batch-signed tickets, a fixed number of winners per draw and a penalty deposit that compensates the servers harmed
 * by a duplicated sequence number (V each from a pool of half of it; the other half is burned). See docs/microcash.md.
 */
import './register.js'

export {
  createMicrocashPayer, createMicrocashPayee, microcashScheme, toWire, MICROCASH_SCHEME,
  type MicrocashPayer, type MicrocashPayee, type MicrocashPayerOptions, type MicrocashPayeeOptions,
} from './scheme.js'
export {
  createMicrocashServer, ticketExpectedValue, MicrocashBodySchema, WireTicketSchema, MAX_TICKETS_PER_PAYMENT, MAX_PROOF_LENGTH,
  DEFAULT_REDEEM_BATCH, REDEEM_MAX_DELAY_BLOCKS, type MicrocashLoss, type MicrocashLossReason, type MicrocashSettleReport,
  type MicrocashServer, type MicrocashServerOptions, type WireTicket, type MicrocashBody,
} from './server.js'
export { createIssuer, createSequenceAllocator, ScheduleExhaustedError, DEFAULT_RESERVE_SIZE, type Issuer, type IssuerOptions, type SequenceAllocator } from './issuer.js'
export {
  deployConcurrentLottery, getEscrow, createEscrow, topUp, unlockEscrow, withdrawEscrow, redeemWinners, proveDuplicate, proveDuplicateCall, isRedeemed, isPaidTo, recordDraw, seedOf, toBundles, BURN_ADDRESS,
  ConcurrentLotteryAbi, type EscrowParams, type EscrowState, type SignedTicket,
} from './contract.js'
export {
  microcashDomain, ticketHash, ticketDigest, batchDigest, buildTree, proofOf, processProof, hashPair, roundAt, drawBlockOf, drawKey, permute,
  winnerRank, winnersOf, feistelHalfBits, type MicroTicket, type MerkleTree,
} from './ticket.js'
export { sizeMicrocash, type SizingInput, type SizingResult } from './sizing.js'
export { DEFAULT_ESCROW_SCHEDULE, latestEscrowOf } from './register.js'
