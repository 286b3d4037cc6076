/**
 * The server's side of microcash: validate tickets, persist every ticket that may still win before acknowledging
 * it, learn each round's draw, keep only winners, redeem them in batches (one transaction and one token transfer
 * per escrow), and turn a stolen winner (the same number paid to another server) into a duplicate proof that pays
 * it V from the escrow's victims' pool.
 *
 * Redemption policy (what `sizeMicrocash` sizes the penalty for): an escrow's winners are redeemed once there are
 * `redeemBatch` (16) of them, or once one of them is more than `REDEEM_MAX_DELAY_BLOCKS` (128) blocks past its draw,
 * or near the expiry. A winner paid to another server is detected at that redemption. Every winner ends as
 * received (redeemed, or compensated from the pool) or as a loss with its reason (`SettleReport.lost`): never
 * booked as received when it was not. A winner the contract refuses for another reason (a damaged store) is found
 * by redeeming each of its batch alone in an `eth_call`, booked lost as `unredeemable`, and the rest redeemed.
 *
 * Validation order (cheapest first): schema → escrow (cached chain read) → schedule, round, draw margin → amount →
 * Merkle path (the whole path of every ticket: it is what gets redeemed) → signature (once per batch root and
 * escrow) → reuse of a sequence number (a second, different ticket with the same number is kept as evidence).
 *
 * @example
 * ```ts
 * import { createMicrocashServer } from './server.js'
 * const server = createMicrocashServer({ chain, lottery, privateKey, store: openSqliteMicrocashServerStore('server.db'), clock, logger })
 * await server.accept(payer, escrowId, tickets)   // throws PaymentRejectedError(reason) on bad input
 * await server.settle({ force: true })            // draws, redemption, duplicate proofs
 * ```
 */
import { decodeEventLog, decodeFunctionData, parseAbiItem, type Address, type Hex } from 'viem'
import { z } from 'zod'
import type { Chain } from '../../chain/types.js'
import { ContractRevertError } from '../../chain/errors.js'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { PaymentRejectedError, type RejectReason } from '../errors.js'
import type { PayeeStats, SettleReport } from '../types.js'
import { addressOf, bytesToHex, hexToBytes, keccak256, recoverDigest } from '../../crypto/index.js'
import { batchDigest, drawBlockOf, hashPair, microcashDomain, permute, drawKey, roundAt, ticketDigest, ticketHash, type MicroTicket } from './ticket.js'
import {
  ConcurrentLotteryAbi, getEscrow, isPaidTo, isRedeemed, proveDuplicate, recordDraw, redeemWinnersPacked, seedOf, simulateRedeem, unpackRedemption, type EscrowState, type SignedTicket,
} from './contract.js'
import type { MicrocashServerStore, MicrocashTicketStatus } from './store.js'

/** Winners of one escrow a non-forced settle collects before redeeming them (the `redeemBatch` default). */
export const DEFAULT_REDEEM_BATCH = 16
/** A winner more than this many blocks past its draw is redeemed at the next settle, however few there are. */
export const REDEEM_MAX_DELAY_BLOCKS = 128

/** Why a winner (or a ticket that might have won) was not received. */
export type MicrocashLossReason =
  /** Nobody recorded the draw seed within 256 blocks: the round's tickets can no longer be drawn. */
  | 'draw-seed-lost'
  /** The escrow expired before the winner was redeemed or compensated. */
  | 'expired'
  /** Another server was paid for the number and the victims' pool is empty (or held less than V: the rest). */
  | 'pool-exhausted'
  /** Another server was paid for the number but no paid server could be found to name in a proof. */
  | 'payee-unknown'
  /** The duplicate proof was refused on chain (the error is in `detail`). */
  | 'proof-rejected'
  /** The contract refuses to redeem this winner alone for another reason (a damaged store; the error is in `detail`). */
  | 'unredeemable'

export interface MicrocashLoss {
  escrowId: bigint
  round: number
  seq: number
  reason: MicrocashLossReason
  /** Token units not received (V for a winner, V − compensation for a partial one, EV per ticket of a lost draw). */
  value: bigint
  detail?: string
}

/** A settle report with what the victims' pool paid and what was lost. */
export interface MicrocashSettleReport extends SettleReport {
  /** Winners paid by the victims' pool instead of redemption (their amount is in `received` too). */
  compensated: number
  compensation: bigint
  /** Winners (or tickets of lost draws) that were not and will not be received, with their reasons (their number
   * and value are also in `lostCount` and `lostValue`). */
  lost: MicrocashLoss[]
}

/** Most tickets in one payment message. */
export const MAX_TICKETS_PER_PAYMENT = 64
/** Longest Merkle path accepted (2^32 leaves). */
export const MAX_PROOF_LENGTH = 32

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/) as unknown as z.ZodType<Hex>
/** A ticket on the wire (payer → server). `root` is the batch root the path leads to (batch tickets only). */
export const WireTicketSchema = z.object({
  round: z.number().int().nonnegative(),
  seq: z.number().int().nonnegative(),
  salt: hex32,
  batch: z.boolean(),
  proof: z.array(hex32).max(MAX_PROOF_LENGTH),
  sig: z.string().regex(/^0x[0-9a-fA-F]{130}$/) as unknown as z.ZodType<Hex>,
  root: hex32.optional(),
})
export type WireTicket = z.infer<typeof WireTicketSchema>
export const MicrocashBodySchema = z.object({ escrowId: z.bigint().positive(), tickets: z.array(WireTicketSchema).min(1).max(MAX_TICKETS_PER_PAYMENT) })
export type MicrocashBody = z.infer<typeof MicrocashBodySchema>

export interface MicrocashServerOptions {
  chain: Chain
  lottery: Address
  /** The server's key: tickets must name its address; it sends the redemption transactions. */
  privateKey: Hex
  /** Tickets, evidence and losses (`openSqliteMicrocashServerStore(path)` or `createMemoryMicrocashServerStore()`). */
  store: MicrocashServerStore
  /** Times the escrow cache (`escrowCacheMs`). */
  clock: Clock
  logger: Logger
  /** Refuse tickets whose draw block is this close (blocks). The escrow's draw delay must exceed it. Default 2. */
  drawMarginBlocks?: number
  /** Least penalty deposit accepted. Default 0. */
  minPenalty?: bigint
  /** How long an escrow read stays fresh (ms). Default 1000. */
  escrowCacheMs?: number
  /** How long a block-number read stays fresh (ms). Default 0. */
  blockCacheMs?: number
  /** Winners of one escrow to collect before a non-forced settle redeems them. Default 16 (DEFAULT_REDEEM_BATCH). */
  redeemBatch?: number
  /** Most tickets per redemption transaction. Default 200. */
  maxTicketsPerTx?: number
}

export interface MicrocashServer {
  readonly address: Address
  /** Validates and persists `tickets` from `payer` (write before ack). Returns the expected value credited. */
  accept(payer: Address, escrowId: bigint, tickets: readonly WireTicket[], opts?: { amount?: bigint; signal?: AbortSignal }): Promise<{ credited: bigint }>
  settle(opts?: { force?: boolean; signal?: AbortSignal }): Promise<MicrocashSettleReport>
  /** Evidence of reused or duplicated numbers kept so far. */
  evidence(): { escrowId: bigint; round: number; seq: number; kind: string; a: SignedTicket; b: SignedTicket | null }[]
  /** Every loss recorded so far (durable, in the store). */
  losses(): MicrocashLoss[]
  stats(): PayeeStats
}

const reject = (reason: RejectReason, msg: string, details?: Record<string, unknown>) => new PaymentRejectedError(reason, msg, { details })

/** Expected value of one ticket, V·W/N, rounded down. */
export function ticketExpectedValue(e: Pick<EscrowState, 'ticketValue' | 'winnersPerRound' | 'ticketsPerRound'>): bigint {
  return (e.ticketValue * BigInt(e.winnersPerRound)) / BigInt(e.ticketsPerRound)
}

export function createMicrocashServer(o: MicrocashServerOptions): MicrocashServer {
  const log = o.logger.child('microcash:server')
  const key = hexToBytes(o.privateKey)
  const address = addressOf(key)
  const domain = microcashDomain(o.chain.chainId, o.lottery)
  const margin = o.drawMarginBlocks ?? 2
  const store = o.store
  const lot = o.lottery
  // STOLEN: paid to another server, not compensated (a loss); COMPENSATED: paid by the victims' pool.
  const ST_WON: MicrocashTicketStatus = 'won', ST_REDEEMED: MicrocashTicketStatus = 'redeemed', ST_LOST: MicrocashTicketStatus = 'lost', ST_STOLEN: MicrocashTicketStatus = 'stolen', ST_COMPENSATED: MicrocashTicketStatus = 'compensated'

  const st: PayeeStats = { payments: 0, credited: 0n, winning: 0, rejected: 0, settled: 0, received: 0n, transactions: 0, gasUsed: 0n }
  const escrows = new Map<bigint, { at: number; e: EscrowState }>()
  async function escrow(id: bigint, fresh = false): Promise<EscrowState> {
    const c = escrows.get(id)
    const now = o.clock.now()
    // Fresh while younger than escrowCacheMs (0: never cached, also on a millisecond or manual clock).
    if (!fresh && c && now - c.at < (o.escrowCacheMs ?? 1000)) return c.e
    const e = await getEscrow(o.chain, o.lottery, id)
    escrows.set(id, { at: now, e })
    return e
  }
  // Batch roots whose signature was checked, per escrow (a signature covers one escrow's digest): `escrowId:sig` →
  // the root it signs. Only the signature check is cached: each ticket's whole path is hashed and must lead to that
  // root, because the path is stored and redeemed as received (a path that merely reached a node proven by an
  // earlier ticket could end in anything, and its redemption would revert for the whole escrow).
  const roots = new Map<string, string>()

  function checkBatch(owner: Address, escrowId: bigint, leaf: Uint8Array, t: WireTicket): void {
    let cur = leaf
    for (const h of t.proof) cur = hashPair(cur, hexToBytes(h))
    const root = bytesToHex(cur)
    const k = `${escrowId}:${t.sig}`
    const signed = roots.get(k)
    if (signed !== undefined) {
      if (signed !== root) throw reject('bad-merkle-path', 'the path does not lead to the signed root', { seq: t.seq })
      return
    }
    if (t.root && t.root.toLowerCase() !== root) throw reject('bad-merkle-path', 'the path does not lead to the claimed root', { seq: t.seq })
    const r = recoverDigest(batchDigest(domain, escrowId, cur), hexToBytes(t.sig))
    if (!r.ok) throw reject(r.reason, 'batch signature does not verify')
    if (r.address !== owner) throw reject('bad-signature', 'batch not signed by the escrow owner', { signer: r.address, owner })
    if (roots.size >= 4096) roots.delete(roots.keys().next().value!)
    roots.set(k, root)
  }

  async function accept(payer: Address, escrowId: bigint, tickets: readonly WireTicket[], opts: { amount?: bigint } = {}) {
    try {
      const e = await escrow(escrowId)
      if (e.owner === '0x0000000000000000000000000000000000000000') throw reject('params-mismatch', `escrow ${escrowId} does not exist on this contract`)
      if (e.owner.toLowerCase() !== payer.toLowerCase()) throw reject('params-mismatch', `escrow ${escrowId} belongs to ${e.owner}, not to the payer`)
      if (e.withdrawn) throw reject('expired', `escrow ${escrowId} was withdrawn`)
      if (e.closed) throw reject('expired', `escrow ${escrowId} was caught issuing a number twice: it issues no new tickets`)
      if (e.penalty < (o.minPenalty ?? 0n)) throw reject('underfunded', 'penalty deposit below the minimum', { penalty: e.penalty, min: o.minPenalty })
      const ev = ticketExpectedValue(e)
      const credited = ev * BigInt(tickets.length)
      if (opts.amount !== undefined && opts.amount > credited) throw reject('amount-too-low', 'the tickets are worth less than the payment claims', { claimed: opts.amount, worth: credited })
      const b = Number(await o.chain.blockNumber({ maxAgeMs: o.blockCacheMs ?? 0 }))
      const cur = roundAt(b, e.roundLengthBlocks)
      const rows: { t: WireTicket }[] = []
      for (const t of tickets) {
        if (t.seq >= e.ticketsPerRound) throw reject('out-of-schedule', `sequence number ${t.seq} >= ${e.ticketsPerRound} tickets per round`)
        if (t.round < e.startRound || t.round >= e.endRound) throw reject('out-of-schedule', `round ${t.round} outside the escrow's rounds [${e.startRound}, ${e.endRound})`)
        if (t.round > cur) throw reject('future-round', `round ${t.round} has not begun (current ${cur})`)
        const draw = drawBlockOf(t.round, e.roundLengthBlocks, e.drawDelayBlocks)
        if (b + margin >= draw) throw reject('expired', `round ${t.round} draws at block ${draw}; now ${b}`)
        const mt: MicroTicket = { escrowId, server: address, seq: t.seq, round: t.round, salt: t.salt }
        if (t.batch) checkBatch(e.owner, escrowId, ticketHash(mt), t)
        else {
          if (t.proof.length !== 0) throw reject('malformed', 'a single-signed ticket carries no Merkle path')
          const r = recoverDigest(ticketDigest(domain, mt), hexToBytes(t.sig))
          if (!r.ok) throw reject(r.reason, 'ticket signature does not verify')
          if (r.address !== e.owner) throw reject('bad-signature', 'ticket not signed by the escrow owner')
        }
        rows.push({ t })
      }
      // Write before ack, all or nothing; a reused number rejects the payment and is kept as evidence.
      const esc = escrowId.toString()
      const { conflict } = store.addTickets(lot, escrowId, rows.map(({ t }) => ({ round: t.round, seq: t.seq, salt: t.salt, batch: t.batch, proof: t.proof, sig: t.sig })))
      if (conflict) {
        const dup = { t: conflict.ticket, old: conflict.old, same: conflict.old.salt === conflict.ticket.salt && conflict.old.sig === conflict.ticket.sig }
        if (dup.same) throw reject('replayed', `ticket (round ${dup.t.round}, seq ${dup.t.seq}) was already received`)
        const a = toSigned(escrowId, dup.t.round, dup.t.seq, dup.old)
        const bT: SignedTicket = { escrowId, server: address, round: dup.t.round, seq: dup.t.seq, salt: dup.t.salt, batch: dup.t.batch, proof: dup.t.proof, sig: dup.t.sig }
        store.addEvidence(lot, { escrowId, round: dup.t.round, seq: dup.t.seq, kind: 'reused', a, b: bT })
        log.warn('sequence number reused by the sponsor', { escrowId: esc, round: dup.t.round, seq: dup.t.seq })
        throw reject('duplicate-sequence', `sequence number ${dup.t.seq} of round ${dup.t.round} was already issued to this server`)
      }
      st.payments++
      st.credited += credited
      return { credited }
    } catch (err) {
      st.rejected++
      throw err
    }
  }

  function toSigned(escrowId: bigint, round: number, seq: number, r: { salt: Hex; batch: boolean; proof: Hex[]; sig: Hex }): SignedTicket {
    return { escrowId, server: address, round, seq, salt: r.salt, batch: r.batch, proof: r.proof, sig: r.sig }
  }

  async function seedFor(drawBlock: number, b: number): Promise<{ seed: Hex; recorded: boolean } | undefined> {
    const s = await seedOf(o.chain, o.lottery, drawBlock)
    if (s) return { seed: s, recorded: true }
    // The next transaction (redemption or recordDraw) lands at b + 1 at the earliest, where blockhash reads only the
    // 256 blocks before it: a draw 256 blocks old can no longer be redeemed or recorded.
    if (b - drawBlock >= 256 || b <= drawBlock) return undefined
    const blk = await o.chain.public.getBlock({ blockNumber: BigInt(drawBlock) })
    return { seed: blk.hash!, recorded: false }
  }

  const redeemedEvent = parseAbiItem('event WinnersRedeemed(uint256 indexed escrowId, address indexed server, uint256 count, uint256 amount)')
  const provenEvent = parseAbiItem('event DuplicateProven(uint256 indexed escrowId, uint256 round, uint256 seq, address indexed victim, address paidServer, uint256 compensation)')

  /** The server other than this one that was paid for (round, seq): a `WinnersRedeemed` payee since the draw. */
  async function findPayee(escrowId: bigint, round: number, seq: number, fromBlock: number): Promise<Address | undefined> {
    const logs = await o.chain.public.getLogs({ address: o.lottery, event: redeemedEvent, args: { escrowId }, fromBlock: BigInt(fromBlock) })
    const seen = new Set<string>([address.toLowerCase()])
    for (const l of logs) {
      const srv = l.args.server
      if (!srv || seen.has(srv.toLowerCase())) continue
      seen.add(srv.toLowerCase())
      if (await isPaidTo(o.chain, o.lottery, escrowId, round, seq, srv)) return srv
    }
    return undefined
  }

  /** What a proof already paid this server for (round, seq) (someone else may have sent it), or undefined. */
  async function compensationFor(escrowId: bigint, round: number, seq: number, fromBlock: number): Promise<bigint | undefined> {
    const logs = await o.chain.public.getLogs({ address: o.lottery, event: provenEvent, args: { escrowId, victim: address }, fromBlock: BigInt(fromBlock) })
    const l = logs.find((x) => Number(x.args.round) === round && Number(x.args.seq) === seq)
    return l ? l.args.compensation! : undefined
  }

  /** Best effort, for the evidence table: the other server's signed ticket, from its redemption's calldata. */
  async function findConflict(escrowId: bigint, round: number, seq: number, payee: Address, fromBlock: number): Promise<SignedTicket | undefined> {
    const logs = await o.chain.public.getLogs({ address: o.lottery, event: redeemedEvent, args: { escrowId, server: payee }, fromBlock: BigInt(fromBlock) })
    for (const l of logs) {
      const tx = await o.chain.public.getTransaction({ hash: l.transactionHash! })
      let call
      try { call = decodeFunctionData({ abi: ConcurrentLotteryAbi, data: tx.input }) } catch { continue } // sent through another contract
      if (call.functionName === 'redeemPacked') {
        const [server, packed] = call.args
        let found: SignedTicket | undefined
        try { found = unpackRedemption(server, packed).find((t) => t.escrowId === escrowId && t.round === round && t.seq === seq) } catch { continue }
        if (found) return found
        continue
      }
      if (call.functionName !== 'redeemWinningTickets') continue
      const [, server, bundles] = call.args
      for (const bd of bundles) for (const t of bd.tickets) {
        if (Number(t.round) === round && t.seq === seq) {
          const sig = `0x${bd.sig.r.slice(2)}${bd.sig.s.slice(2)}${bd.sig.v.toString(16).padStart(2, '0')}` as Hex
          return { escrowId, server, round, seq, salt: t.salt, batch: bd.batch, proof: [...t.proof], sig }
        }
      }
    }
    return undefined
  }

  /** Records a loss (durably, with the ticket's new status unless `status` is undefined) and reports it. */
  function loseTo(rep: MicrocashSettleReport, l: MicrocashLoss, status: MicrocashTicketStatus | undefined): void {
    rep.lost.push(l)
    // The common SettleReport / PayeeStats loss counters too (a partial compensation counts once, for its shortfall).
    rep.lostCount = (rep.lostCount ?? 0) + 1
    rep.lostValue = (rep.lostValue ?? 0n) + l.value
    st.lostCount = (st.lostCount ?? 0) + 1
    store.addLoss(lot, l, status)
    log.warn('winner lost', { escrowId: l.escrowId.toString(), round: l.round, seq: l.seq, reason: l.reason, detail: l.detail })
  }

  async function settle(opts: { force?: boolean; signal?: AbortSignal } = {}): Promise<MicrocashSettleReport> {
    const rep: MicrocashSettleReport = { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0, compensated: 0, compensation: 0n, lost: [] }
    const b = Number(await o.chain.blockNumber())
    const unrecorded = new Map<number, bigint[]>() // drawBlock → escrows with winners on an unrecorded seed
    const lose = (l: MicrocashLoss, status: MicrocashTicketStatus | undefined) => loseTo(rep, l, status)
    // 1. Draws: classify pending tickets of drawn rounds; losers are deleted.
    for (const g of store.pendingRounds(lot)) {
      opts.signal?.throwIfAborted()
      const id = g.escrowId
      const e = await escrow(id)
      const draw = drawBlockOf(g.round, e.roundLengthBlocks, e.drawDelayBlocks)
      if (b <= draw) { rep.pending += g.count; continue }
      const s = await seedFor(draw, b)
      if (!s) {
        log.warn('draw seed lost (nobody recorded it within 256 blocks)', { escrowId: g.escrowId.toString(), round: g.round, drawBlock: draw })
        for (const seq of store.pendingSeqs(lot, id, g.round)) lose({ escrowId: id, round: g.round, seq, reason: 'draw-seed-lost', value: ticketExpectedValue(e), detail: `draw block ${draw}` }, ST_LOST)
        continue
      }
      const k = drawKey(s.seed, id, g.round)
      const won: { seq: number; rank: number }[] = [], losers: number[] = []
      for (const seq of store.pendingSeqs(lot, id, g.round)) {
        const rank = permute(k, seq, e.ticketsPerRound)
        if (rank < e.winnersPerRound) won.push({ seq, rank }); else losers.push(seq)
      }
      store.recordDraw(lot, id, g.round, won, losers)
      const winners = won.length
      st.winning += winners
      if (winners > 0 && !s.recorded) unrecorded.set(draw, [...(unrecorded.get(draw) ?? []), id])
    }
    // 2. Redemption, per escrow.
    const won = store.won(lot)
    const byEscrow = new Map<string, typeof won>()
    for (const w of won) byEscrow.set(w.escrowId.toString(), [...(byEscrow.get(w.escrowId.toString()) ?? []), w])
    const redeemedDraws = new Set<number>()
    for (const [esc, list] of byEscrow) {
      const id = BigInt(esc)
      const e = await escrow(id, true)
      const drawOf = (round: number) => drawBlockOf(round, e.roundLengthBlocks, e.drawDelayBlocks)
      const urgent = b + 2 * margin >= e.expiryBlock || list.some((w) => b - drawOf(w.round) > REDEEM_MAX_DELAY_BLOCKS)
      if (!opts.force && !urgent && list.length < (o.redeemBatch ?? DEFAULT_REDEEM_BATCH)) { rep.pending += list.length; continue }
      let todo = list.map((w) => toSigned(id, w.round, w.seq, w))
      if (b >= e.expiryBlock) {
        // Redemption (mined at b + 1 at the earliest) and proofs are refused after the expiry.
        for (const t of todo) lose({ escrowId: id, round: t.round, seq: t.seq, reason: 'expired', value: e.ticketValue, detail: `expiry block ${e.expiryBlock}` }, ST_STOLEN)
        continue
      }
      const maxTx = o.maxTicketsPerTx ?? 200
      while (todo.length > 0) {
        opts.signal?.throwIfAborted()
        const chunk = todo.slice(0, maxTx)
        try {
          // Packed calldata (one signature per bundle, shared Merkle path nodes once): what redeemWinners would do.
          const r = await redeemWinnersPacked(o.chain, o.privateKey, o.lottery, address, chunk, { signal: opts.signal })
          rep.transactions++
          rep.gasUsed += r.gasUsed
          rep.settled += chunk.length
          rep.received += BigInt(chunk.length) * e.ticketValue
          store.setStatus(lot, id, chunk, ST_REDEEMED)
          for (const t of chunk) redeemedDraws.add(drawOf(t.round))
          todo = todo.slice(chunk.length)
        } catch (err) {
          if (err instanceof ContractRevertError && err.errorName === 'ConcurrentLotteryAlreadyRedeemed') {
            // Someone was paid for some of these numbers: take every such winner out (one view each), then retry.
            const round = Number(err.args[1] as bigint)
            const seq = Number(err.args[2] as bigint)
            const taken: SignedTicket[] = []
            for (const t of todo) if ((t.round === round && t.seq === seq) || await isRedeemed(o.chain, o.lottery, id, t.round, t.seq)) taken.push(t)
            todo = todo.filter((t) => !taken.includes(t))
            for (const t of taken) await resolveTaken(e, id, t, rep)
            continue
          }
          if (err instanceof ContractRevertError && err.errorName === 'ConcurrentLotteryEscrowExpired') {
            for (const t of todo) lose({ escrowId: id, round: t.round, seq: t.seq, reason: 'expired', value: e.ticketValue, detail: `expiry block ${e.expiryBlock}` }, ST_STOLEN)
            break
          }
          if (err instanceof ContractRevertError) {
            // One winner the contract refuses (a damaged store) must not hold the others back: try each alone
            // (eth_call, nothing sent), book the refused ones lost with the contract's reason, redeem the rest.
            const bad: { t: SignedTicket; why: string }[] = []
            for (const t of chunk) {
              const r = await simulateRedeem(o.chain, o.privateKey, o.lottery, id, address, [t])
              if (r instanceof ContractRevertError && r.errorName !== 'ConcurrentLotteryAlreadyRedeemed') bad.push({ t, why: r.errorName })
            }
            if (bad.length === 0) throw err
            for (const { t, why } of bad) lose({ escrowId: id, round: t.round, seq: t.seq, reason: 'unredeemable', value: e.ticketValue, detail: why }, ST_LOST)
            todo = todo.filter((t) => !bad.some((b) => b.t === t))
            continue
          }
          throw err
        }
      }
    }
    // 3. Record seeds of drawn rounds whose winners wait, before the block hash leaves the 256-block window.
    for (const [draw] of unrecorded) {
      if (redeemedDraws.has(draw)) continue
      const r = await recordDraw(o.chain, o.privateKey, o.lottery, draw)
      rep.transactions++
      rep.gasUsed += r.gasUsed
    }
    st.settled += rep.settled
    st.received += rep.received
    st.transactions += rep.transactions
    st.gasUsed += rep.gasUsed
    return rep
  }

  /**
   * A winner `t` of escrow `id` that was redeemed already. Paid to this server (someone replayed its redemption,
   * or an earlier attempt's receipt was lost): received. Paid to another server: the sponsor issued the number
   * twice; prove it and book the compensation, or record the loss with its reason.
   */
  async function resolveTaken(e: EscrowState, id: bigint, t: SignedTicket, rep: MicrocashSettleReport): Promise<void> {
    const esc = id.toString()
    const draw = drawBlockOf(t.round, e.roundLengthBlocks, e.drawDelayBlocks)
    const lose = (l: MicrocashLoss, status: MicrocashTicketStatus | undefined) => loseTo(rep, l, status)
    const compensated = (amount: bigint, tx?: { gasUsed: bigint }) => {
      if (tx) { rep.transactions++; rep.gasUsed += tx.gasUsed }
      rep.compensated++
      rep.compensation += amount
      rep.received += amount
      store.setStatus(lot, id, [t], ST_COMPENSATED)
      store.markProven(lot, id, t.round, t.seq)
      if (amount < e.ticketValue) lose({ escrowId: id, round: t.round, seq: t.seq, reason: 'pool-exhausted', value: e.ticketValue - amount, detail: `compensated ${amount} of ${e.ticketValue}` }, undefined)
    }
    if (await isPaidTo(o.chain, o.lottery, id, t.round, t.seq, address)) {
      const c = await compensationFor(id, t.round, t.seq, draw)
      if (c !== undefined) return compensated(c)
      rep.settled++
      rep.received += e.ticketValue
      store.setStatus(lot, id, [t], ST_REDEEMED)
      return
    }
    const payee = await findPayee(id, t.round, t.seq, draw)
    const other = payee ? await findConflict(id, t.round, t.seq, payee, draw).catch(() => undefined) : undefined
    store.addEvidence(lot, { escrowId: id, round: t.round, seq: t.seq, kind: 'duplicate', a: t, b: other ?? null })
    log.warn('winner already paid to another server: duplicate sequence number', { escrowId: esc, round: t.round, seq: t.seq, other: payee })
    if (!payee) return lose({ escrowId: id, round: t.round, seq: t.seq, reason: 'payee-unknown', value: e.ticketValue }, ST_STOLEN)
    try {
      const r = await proveDuplicate(o.chain, o.privateKey, o.lottery, t, payee)
      escrows.delete(id)
      let amount = 0n
      for (const l of r.logs) {
        try {
          const ev = decodeEventLog({ abi: ConcurrentLotteryAbi, data: l.data, topics: l.topics })
          if (ev.eventName === 'DuplicateProven') amount = ev.args.compensation
        } catch { /* the token's Transfer */ }
      }
      return compensated(amount, r)
    } catch (err) {
      const name = err instanceof ContractRevertError ? err.errorName : undefined
      if (name === 'ConcurrentLotteryVictimPaid') {
        // Someone sent this proof (or a replay of it) first: the pool paid this server anyway.
        const c = await compensationFor(id, t.round, t.seq, draw)
        if (c !== undefined) return compensated(c)
      }
      const reason: MicrocashLossReason = name === 'ConcurrentLotteryPoolExhausted' ? 'pool-exhausted' : name === 'ConcurrentLotteryEscrowExpired' ? 'expired' : 'proof-rejected'
      return lose({ escrowId: id, round: t.round, seq: t.seq, reason, value: e.ticketValue, detail: name ?? (err as Error).message.split('\n')[0] }, ST_STOLEN)
    }
  }

  return {
    address,
    accept,
    settle,
    evidence: () => store.evidence(lot).map(({ proven: _, ...e }) => e),
    losses: () => store.losses(lot),
    stats: () => ({ ...st }),
  }
}

export { keccak256 }
