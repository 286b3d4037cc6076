/**
 * ConcurrentLottery on chain: deploy, read escrows, open/top up/unlock/withdraw, record draws, redeem winners, read
 * who was paid for a winner, and prove duplicates (a victim's claim on the victims' pool). Thin wrappers over `write` (reverts become `ContractRevertError` named after the Solidity error).
 *
 * @example
 * ```ts
 * import { deployConcurrentLottery, createEscrow, getEscrow } from './contract.js'
 * const lottery = await deployConcurrentLottery(chain, chain.devKeys[0], deployment.token)   // deploySouk does this: deployment.contracts.microcash.concurrentLottery
 * const id = await createEscrow(chain, sponsorKey, { lottery, token: deployment.token, params, balance, penalty })
 * (await getEscrow(chain, lottery, id)).winnersPerRound
 * ```
 */
import { decodeEventLog, type Address, type Hex, type TransactionReceipt } from 'viem'
import { ConcurrentLotteryAbi, ConcurrentLotteryBytecode, SoukTokenAbi } from '../../../artifacts/contracts.js'
import { deployContract } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import type { Chain } from '../../chain/types.js'
import { toChainError } from '../../chain/errors.js'
import type { SoukError } from '../../core/errors.js'
import { bytesToHex, hexToBytes } from '../../crypto/index.js'

export { ConcurrentLotteryAbi }

/** What a sponsor declares when it opens an escrow (`ConcurrentLottery.EscrowParams`). */
export interface EscrowParams {
  ticketValue: bigint
  ticketsPerRound: number
  winnersPerRound: number
  roundLengthBlocks: number
  drawDelayBlocks: number
  rounds: number
  redeemWindowBlocks: number
}

/** An escrow as the contract stores it. */
export interface EscrowState {
  owner: Address
  ticketValue: bigint
  ticketsPerRound: number
  winnersPerRound: number
  roundLengthBlocks: number
  drawDelayBlocks: number
  redeemWindowBlocks: number
  startRound: number
  endRound: number
  expiryBlock: number
  unlocked: boolean
  closed: boolean
  withdrawn: boolean
  balance: bigint
  committed: bigint
  /** Penalty deposit; 0 once a duplicate was proven (half burned, half moved to `pool`). */
  penalty: bigint
  /** Victims' pool: what is left for compensations after the first proof (burned at withdrawal). */
  pool: bigint
}

/** Where the contract sends burned penalty money. */
export const BURN_ADDRESS = '0x000000000000000000000000000000000000dEaD' as const

/** A signed ticket as redeemed or proven: one ticket plus its signature (and Merkle path when batch-signed). */
export interface SignedTicket {
  escrowId: bigint
  server: Address
  round: number
  seq: number
  salt: Hex
  batch: boolean
  /** Merkle path (batch) — empty for a single-signed ticket. */
  proof: Hex[]
  /** 65 bytes r ‖ s ‖ v over the ticket digest or the batch digest. */
  sig: Hex
  /** The batch root (batch tickets, when known: saves the receiver a path walk to look up its cache). */
  root?: Hex
}

/** Deploys a ConcurrentLottery paying in `token` (`deploySouk` puts it in `deployment.contracts.microcash.concurrentLottery`). */
export async function deployConcurrentLottery(chain: Chain, key: Hex, token: Address): Promise<Address> {
  return deployContract(chain, key, ConcurrentLotteryAbi, ConcurrentLotteryBytecode, [token])
}

export async function getEscrow(chain: Chain, lottery: Address, escrowId: bigint): Promise<EscrowState> {
  const e = await chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'getEscrow', args: [escrowId] })
  return {
    owner: e.owner,
    ticketValue: e.ticketValue,
    ticketsPerRound: Number(e.ticketsPerRound),
    winnersPerRound: Number(e.winnersPerRound),
    roundLengthBlocks: Number(e.roundLengthBlocks),
    drawDelayBlocks: Number(e.drawDelayBlocks),
    redeemWindowBlocks: Number(e.redeemWindowBlocks),
    startRound: Number(e.startRound),
    endRound: Number(e.endRound),
    expiryBlock: Number(e.expiryBlock),
    unlocked: e.unlocked,
    closed: e.closed,
    withdrawn: e.withdrawn,
    balance: e.balance,
    committed: e.committed,
    penalty: e.penalty,
    pool: e.pool,
  }
}

/** Approves the lottery and opens an escrow; returns its id. */
export async function createEscrow(
  chain: Chain,
  key: Hex,
  a: { lottery: Address; token: Address; params: EscrowParams; balance: bigint; penalty: bigint },
): Promise<bigint> {
  const w = chain.wallet(key)
  await write(chain, w, { address: a.token, abi: SoukTokenAbi, functionName: 'approve', args: [a.lottery, a.balance + a.penalty] })
  const r = await write(chain, w, { address: a.lottery, abi: ConcurrentLotteryAbi, functionName: 'createEscrow', args: [toParams(a.params), a.balance, a.penalty] })
  for (const log of r.logs) {
    try {
      const ev = decodeEventLog({ abi: ConcurrentLotteryAbi, data: log.data, topics: log.topics })
      if (ev.eventName === 'EscrowCreated') return ev.args.escrowId
    } catch { /* another contract's log */ }
  }
  throw new Error('createEscrow: no EscrowCreated event')
}

export function toParams(p: EscrowParams) {
  return {
    ticketValue: p.ticketValue,
    ticketsPerRound: p.ticketsPerRound,
    winnersPerRound: p.winnersPerRound,
    roundLengthBlocks: p.roundLengthBlocks,
    drawDelayBlocks: p.drawDelayBlocks,
    rounds: p.rounds,
    redeemWindowBlocks: p.redeemWindowBlocks,
  }
}

function splitSig(sig: Hex) {
  const b = hexToBytes(sig)
  return { r: bytesToHex(b.subarray(0, 32)), s: bytesToHex(b.subarray(32, 64)), v: b[64] }
}

/**
 * Groups signed tickets (all of one escrow and one server) into the contract's bundles: batch-signed tickets
 * sharing a signature go under one bundle (the signature is checked once), single-signed ones one per bundle.
 * Within a bundle tickets are sorted by round, so the draw key is computed once per round.
 */
export function toBundles(tickets: readonly SignedTicket[]) {
  const byRoot = new Map<string, SignedTicket[]>()
  const out: { batch: boolean; sig: { r: Hex; s: Hex; v: number }; tickets: { round: bigint; seq: number; salt: Hex; proof: Hex[] }[] }[] = []
  for (const t of tickets) {
    if (!t.batch) {
      out.push({ batch: false, sig: splitSig(t.sig), tickets: [{ round: BigInt(t.round), seq: t.seq, salt: t.salt, proof: [] }] })
      continue
    }
    const g = byRoot.get(t.sig) ?? []
    g.push(t)
    byRoot.set(t.sig, g)
  }
  for (const [sig, g] of byRoot) {
    g.sort((a, b) => a.round - b.round)
    out.push({ batch: true, sig: splitSig(sig as Hex), tickets: g.map((t) => ({ round: BigInt(t.round), seq: t.seq, salt: t.salt, proof: t.proof })) })
  }
  return out
}

/** Redeems winning tickets of one escrow that all pay `server`, in one transaction (one token transfer). */
export async function redeemWinners(chain: Chain, key: Hex, lottery: Address, escrowId: bigint, server: Address, tickets: readonly SignedTicket[], opts: { gas?: bigint; signal?: AbortSignal } = {}): Promise<TransactionReceipt> {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'redeemWinningTickets', args: [escrowId, server, toBundles(tickets)], gas: opts.gas }, opts)
}

/**
 * Simulates `redeemWinners` (an `eth_call`, nothing sent): undefined when it would succeed, else the typed error
 * (`ContractRevertError` with the contract's custom error, or a `ChainError`).
 */
export async function simulateRedeem(chain: Chain, key: Hex, lottery: Address, escrowId: bigint, server: Address, tickets: readonly SignedTicket[]): Promise<SoukError | undefined> {
  try {
    await chain.public.simulateContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'redeemWinningTickets', args: [escrowId, server, toBundles(tickets)], account: chain.wallet(key).account })
    return undefined
  } catch (e) {
    return toChainError(e, 'redeemWinningTickets')
  }
}

function toProof(t: SignedTicket) {
  return { server: t.server, round: BigInt(t.round), seq: t.seq, salt: t.salt, batch: t.batch, proof: t.proof, sig: splitSig(t.sig) }
}

/**
 * Proves that `victim`'s (round, seq) was issued twice: `paidServer` was paid for that winner and `victim.server`
 * was not. Pays `victim.server` V from the victims' pool (whoever sends it); the first proof burns half the penalty
 * and ends the schedule after the current round.
 */
export async function proveDuplicate(chain: Chain, key: Hex, lottery: Address, victim: SignedTicket, paidServer: Address, opts: { gas?: bigint } = {}): Promise<TransactionReceipt> {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'proveDuplicate', args: [victim.escrowId, toProof(victim), paidServer], gas: opts.gas })
}

/** The calldata of {@link proveDuplicate} (to send it another way, e.g. several in one block). */
export function proveDuplicateCall(victim: SignedTicket, paidServer: Address) {
  return { abi: ConcurrentLotteryAbi, functionName: 'proveDuplicate' as const, args: [victim.escrowId, toProof(victim), paidServer] as const }
}

/** Whether the winner (round, seq) of `escrowId` was redeemed by any server (false while its draw is unrecorded). */
export async function isRedeemed(chain: Chain, lottery: Address, escrowId: bigint, round: number, seq: number): Promise<boolean> {
  return chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'isRedeemed', args: [escrowId, BigInt(round), BigInt(seq)] })
}

/** Whether `server` got V for the winner (round, seq) of `escrowId` (redeemed it, or was compensated for it). */
export async function isPaidTo(chain: Chain, lottery: Address, escrowId: bigint, round: number, seq: number, server: Address): Promise<boolean> {
  return chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'isPaidTo', args: [escrowId, BigInt(round), BigInt(seq), server] })
}

/** Stores the draw seed of `drawBlock` on chain (while its hash is readable: 256 blocks). */
export async function recordDraw(chain: Chain, key: Hex, lottery: Address, drawBlock: number): Promise<TransactionReceipt> {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'recordDraw', args: [BigInt(drawBlock)] })
}

/** The recorded seed of `drawBlock`, or undefined. */
export async function seedOf(chain: Chain, lottery: Address, drawBlock: number): Promise<Hex | undefined> {
  const s = await chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'seedOf', args: [BigInt(drawBlock)] })
  return /^0x0+$/.test(s) ? undefined : s
}

export async function topUp(chain: Chain, key: Hex, a: { lottery: Address; token: Address; escrowId: bigint; amount: bigint; penalty: bigint; extraRounds: number }) {
  const w = chain.wallet(key)
  if (a.amount + a.penalty > 0n) await write(chain, w, { address: a.token, abi: SoukTokenAbi, functionName: 'approve', args: [a.lottery, a.amount + a.penalty] })
  return write(chain, w, { address: a.lottery, abi: ConcurrentLotteryAbi, functionName: 'topUp', args: [a.escrowId, a.amount, a.penalty, a.extraRounds] })
}

export async function unlockEscrow(chain: Chain, key: Hex, lottery: Address, escrowId: bigint) {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'unlock', args: [escrowId] })
}

export async function withdrawEscrow(chain: Chain, key: Hex, lottery: Address, escrowId: bigint) {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'withdraw', args: [escrowId] })
}
