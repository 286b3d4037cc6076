/**
 * The lottery payee (ticket recipient): publishes ticket parameters, validates tickets, writes every winning
 * ticket to its store (`store.ts`) before acknowledging it, rotates its rand after a win (a revealed or soon-revealed rand is
 * never reused), and redeems winners in batches chosen by gas price, expiry, the payer's unlock and face value vs
 * transaction cost.
 *
 * Lanes (TicketBroker's replay protection): every set of parameters it hands out names a lane — the high 128 bits
 * of the ticket nonces — that no other live session of this process uses. Lane ids are drawn from `ctx.rng` per process,
 * so several processes or stores behind one address never share a lane and never void each other's winners; a
 * payer with several concurrent sessions gets one lane each. Within a rand, tickets may arrive out of order: any
 * sequence number in [start, start + 2^20) not seen before is accepted; a rand is retired (synchronously) the moment
 * a winner under it is stored, and only winners of retired rands are redeemed, so a lane's redemption never overtakes
 * a ticket still to be accepted in it. A stored winner that can no longer be redeemed (expired, or its nonce consumed
 * by a redemption this payee did not make) is reported as lost with its reason, never as received.
 *
 * @example
 * ```ts
 * import { createLotteryPayee } from './payee.js'
 * import { lotteryPayeeStore } from './store.js'
 * const payee = await createLotteryPayee({ chain, deployment, key: payeeKey, store: lotteryPayeeStore('payee.sqlite'), clock, rng: pooledSystemRng, logger })
 * const terms = await payee.terms(payerAddress, 1000n)   // send to the payer
 * const receipt = await payee.receive(payment)            // for each chunk's payment
 * await payee.settle({ force: true })                     // batch-redeem winners
 * ```
 */
import { ContractFunctionRevertedError, encodeFunctionData, parseEventLogs, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../../chain/types.js'
import type { SoukDeployment } from '../deploy.js'
import { write } from '../../chain/tx.js'
import { ContractRevertError } from '../../chain/errors.js'
import { TicketBrokerAbi } from '../../../artifacts/contracts.js'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import type { Rng } from '../../crypto/rng.js'
import { createSignerCache, type SignatureVerifier } from '../../crypto/secp256k1.js'
import { bytesToHex, hexToBytes, readWord } from '../../crypto/bytes.js'
import { PaymentRejectedError, PaymentError } from '../errors.js'
import { LotteryPaymentSchema, PaymentSchema, parseLotteryPayment, type LotteryParams } from '../schemas.js'
import { addSettleReport, type PayeeSide, type PayeeStats, type Payment, type PaymentReceipt, type PaymentTerms, type SettleReport } from '../types.js'
import type { LotteryPayeeStore, LotteryStoreScope, StoredWinner } from './store.js'
import { ticketHasher, ticketDomain, ticketWinTester, winProbFor, randHash, runNonces, toTicketRuns } from './ticket.js'

export interface LotteryPayeeOptions {
  /** Face value = estimated redemption gas × gas price × this (default 100: the fee is ≤ 1% of a win). */
  faceValueMultiplier?: bigint
  /** Gas one ticket costs inside a batch (measured: see bench/payments.ts). */
  redeemGasPerTicket?: bigint
  /** Fixed gas of a batch transaction (base cost + one transfer). */
  redeemGasBase?: bigint
  /** Rotate the rand after this many tickets (bounds what a revealed rand could leak). */
  maxTicketsPerRand?: number
  /** Blocks during which new tickets under a rand are accepted. */
  paramsValidityBlocks?: number
  /** Blocks after that during which winners can still be redeemed. */
  redeemWindowBlocks?: number
  /** Most tickets per batch transaction (default 256: ~1.75M gas in the run format; ≤ 10 transactions per 10^6 chunks at default prices). */
  maxBatchSize?: number
  /** Redeem without `force` only when the batch's face value ≥ this × its gas cost. */
  minValueToCostRatio?: bigint
  /** Redeem without `force` when a winner expires within this many blocks. */
  expiryMarginBlocks?: number
  /**
   * Keep what redemptions pay as credit in the broker (`redeemRuns(…, false)`: no token call, ~10k gas less a
   * transaction) and withdraw it in one transaction at the end of a forced settle. Default false: paid at once.
   */
  creditWinnings?: boolean
  /** Skip non-urgent redemption above this gas price (wei). */
  maxGasPrice?: bigint
  /** How long a chain read of a payer's funds is trusted. */
  fundsCacheMs?: number
  /** How long a gas price read is trusted when rotating parameters. */
  gasPriceCacheMs?: number
}

export interface LotteryPayeeContext {
  chain: Chain
  deployment: SoukDeployment
  key: Hex
  /** Rands and winners (`lotteryPayeeStore(path)`); the payee owns it and closes it in `close()`. */
  store: LotteryPayeeStore
  /** Times the funds, gas-price and block caches and stamps stored rands. */
  clock: Clock
  /**
   * Lane ids and rands (32 bytes each). A CSPRNG on a real network: a payer that can predict a rand picks only
   * losing tickets, and two processes of one address on the same seeded stream share lanes.
   */
  rng: Rng
  logger: Logger
  options?: LotteryPayeeOptions
  /**
   * Where ticket signatures are checked once the payer's key is known (default: inline, on this thread). A pool of
   * worker threads (src/node's `createVerifierPool`) takes the verifies off the thread that runs the exchange.
   */
  verifier?: SignatureVerifier
}

interface RandState {
  rand: bigint
  hash: Hex
  payer: Address
  params: LotteryParams
  pricePerChunk: bigint
  lane: LaneState
  /** First sequence number (low 128 bits of the nonce) accepted under this rand. */
  startSeq: bigint
  /** Sequence numbers accepted under this rand, as offsets from `startSeq` (< 2^20: plain numbers hash fast). */
  seen: Set<number>
  /** Highest offset accepted (-1: none). */
  topOffset: number
  count: number
  active: boolean
  /** sig ↦ whether it wins with its own v and with the other v (hot path: no bigint). */
  wins: (sig: Uint8Array) => { given: boolean; flipped: boolean }
  /** nonce ↦ EIP-712 digest under these parameters (hot path). */
  digest: (nonce: bigint) => Uint8Array
}

/** A lane of one payer in this process: its id and the first sequence number no rand has used yet. */
interface LaneState {
  id: bigint
  nextSeq: bigint
  /** The active rand using this lane, if any (one at a time). */
  rand?: RandState
}

export interface LotteryPayee extends PayeeSide {
  /** Winning tickets stored and not yet redeemed. */
  pendingWinners(): number
}

/** Tickets carry nonce = lane << 128 | seq. */
export const LANE_SHIFT = 128n
export const SEQ_MASK = (1n << LANE_SHIFT) - 1n
/** Sequence numbers accepted under one rand: [start, start + SEQ_WINDOW). Bounds what a payer can make the lane skip. */
export const SEQ_WINDOW = 1n << 20n
/** Most lanes (concurrent sessions) one payer may hold in this process; the oldest session is retired past it. */
export const MAX_LANES_PER_PAYER = 16
/** Retired parameter sets remembered (a late ticket under one is told 'expired'); older ones are forgotten. */
export const MAX_RETIRED_KEPT = 1024

export async function createLotteryPayee(ctx: LotteryPayeeContext): Promise<LotteryPayee> {
  const o = ctx.options ?? {}
  const log = ctx.logger.child('lottery-payee')
  const clock = ctx.clock
  const me = privateKeyToAddress(ctx.key).toLowerCase() as Address
  const broker = ctx.deployment.contracts.lottery.ticketBroker.toLowerCase() as Address
  const domain = ticketDomain(ctx.chain.chainId, broker)
  const store = ctx.store
  // A restart retires every earlier rand: tickets under them are no longer accepted (so none can be replayed),
  // but their stored winners stay redeemable. New sessions get new lanes.
  store.retireAll()
  // Rows are scoped by (chain id, broker): one store may serve several deployments without mixing their tickets.
  const scope: LotteryStoreScope = { chainId: ctx.chain.chainId, broker }

  const signers = createSignerCache()
  const rands = new Map<Hex, RandState>()
  const lanesByPayer = new Map<Address, LaneState[]>()
  /**
   * Σ face of each payer's stored, unredeemed winners. Only the payer's reserve for this payee is guaranteed (its
   * deposit may be redeemed away by other recipients — servers of its own included), so the payee keeps
   * pending face + the face of every ticket it accepts within that reserve: no winner it holds can become a claim.
   */
  const pendingFace = store.pendingFaceBySender(scope)
  const addPending = (payer: Address, delta: bigint) => pendingFace.set(payer, (pendingFace.get(payer) ?? 0n) + delta)
  const funds = new Map<Address, { at: number; deposit: bigint; reserve: bigint; withdrawBlock: bigint; debt: bigint }>()
  const stats: PayeeStats = { payments: 0, credited: 0n, winning: 0, rejected: 0, settled: 0, received: 0n, transactions: 0, gasUsed: 0n }
  // Measured by bench/payments.ts on the run format: ~6.6k gas a ticket in a batch of 100, ~63.5k for one alone.
  const redeemGasPerTicket = o.redeemGasPerTicket ?? 7_000n
  const redeemGasBase = o.redeemGasBase ?? 57_000n
  const validity = BigInt(o.paramsValidityBlocks ?? 200)
  const window = BigInt(o.redeemWindowBlocks ?? 1_000)
  /** Settlements run one at a time (two would race for the same winners). */
  let settling: Promise<unknown> = Promise.resolve()

  let blockCache: { at: number; n: bigint } | undefined
  let blockReading: Promise<bigint> | undefined
  /**
   * The latest block, read at most once a second (the hot path must not wait on the chain per ticket). Payments
   * that find the cache stale at once share one read, and resume in the order they asked.
   */
  function currentBlock(): bigint | Promise<bigint> {
    if (blockCache && clock.now() - blockCache.at < 1_000) return blockCache.n
    blockReading ??= ctx.chain.blockNumber().then(
      (n) => { blockCache = { at: clock.now(), n }; blockReading = undefined; return n },
      (e: unknown) => { blockReading = undefined; throw e },
    )
    return blockReading
  }

  function cachedFunds(payer: Address) {
    const c = funds.get(payer)
    return c && clock.now() - c.at < (o.fundsCacheMs ?? 2_000) ? c : undefined
  }

  async function payerFunds(payer: Address, fresh = false) {
    const c = cachedFunds(payer)
    if (c && !fresh) return c
    const [[deposit, withdrawBlock, debt], reserve] = await Promise.all([
      ctx.chain.public.readContract({ address: broker, abi: TicketBrokerAbi, functionName: 'getSender', args: [payer] }),
      ctx.chain.public.readContract({ address: broker, abi: TicketBrokerAbi, functionName: 'reserveOf', args: [payer, me] }),
    ])
    const v = { at: clock.now(), deposit, reserve, withdrawBlock, debt }
    funds.set(payer, v)
    return v
  }

  let gasCache: { at: number; price: bigint } | undefined
  /** The gas price, read at most every `gasPriceCacheMs` (parameters rotate often; the price moves slowly). */
  async function gasPrice(fresh = false): Promise<bigint> {
    if (!fresh && gasCache && clock.now() - gasCache.at < (o.gasPriceCacheMs ?? 10_000)) return gasCache.price
    const price = await ctx.chain.public.getGasPrice()
    gasCache = { at: clock.now(), price }
    return price
  }

  /**
   * A lane for a new rand of `payer`: the lane of the rand being rotated (`reuse`), else a lane of this payer with no
   * active rand, else a new random lane (past MAX_LANES_PER_PAYER the oldest session is retired and its lane reused).
   */
  function laneFor(payer: Address, reuse?: LaneState): LaneState {
    if (reuse) return reuse
    const lanes = lanesByPayer.get(payer) ?? []
    lanesByPayer.set(payer, lanes)
    // Stryker disable next-line OptionalChaining: equivalent: every lane in the list has a rand (newParams gives it one in the same synchronous step that makes the lane) (docs/testing.md)
    const free = lanes.find((l) => !l.rand?.active)
    if (free) return free
    if (lanes.length >= MAX_LANES_PER_PAYER) {
      // Stryker disable next-line OptionalChaining: equivalent: every lane in the list has a rand (see above) (docs/testing.md)
      const oldest = lanes.reduce((a, b) => ((a.rand?.params.acceptUntilBlock ?? 0n) <= (b.rand?.params.acceptUntilBlock ?? 0n) ? a : b))
      // Stryker disable next-line ConditionalExpression: equivalent: with no lane free the oldest lane's rand is there and active, and newParams retires a lane's active rand again before it takes the lane (docs/testing.md)
      if (oldest.rand) retire(oldest.rand.hash)
      return oldest
    }
    // A fresh 128-bit lane id: never used by this or any other process of this address (collision odds 2^-128).
    const lane: LaneState = { id: readWord(ctx.rng(32)) & SEQ_MASK, nextSeq: 0n }
    lanes.push(lane)
    return lane
  }

  /** Fresh parameters for `payer`. On rotation (`rotating`) cached chain reads are good enough: a session is live. */
  async function newParams(payer: Address, pricePerChunk: bigint, rotating?: LaneState): Promise<RandState> {
    let f = rotating ? await payerFunds(payer) : await payerFunds(payer, true)
    // A cached read is trusted only when it says yes: a reserve that looks too small is read again.
    if (rotating && f.reserve < (pendingFace.get(payer) ?? 0n) + pricePerChunk) f = await payerFunds(payer, true)
    const b0 = currentBlock()
    const block = typeof b0 === 'bigint' ? b0 : await b0
    const gp = await gasPrice(!rotating)
    let face = (redeemGasBase + redeemGasPerTicket) * gp * (o.faceValueMultiplier ?? 100n)
    if (face < pricePerChunk) face = pricePerChunk
    // The reserve for this payee is the guarantee, less what its unredeemed winners already need; the deposit may
    // be spent by others first.
    const held = pendingFace.get(payer) ?? 0n
    const guaranteed = f.reserve > held ? f.reserve - held : 0n
    if (face > guaranteed) face = guaranteed
    if (face < pricePerChunk || face === 0n) {
      throw new PaymentRejectedError('underfunded', `payer ${payer} guarantees ${guaranteed} for this payee beyond its unredeemed winners, less than one chunk (${pricePerChunk})`, {
        hints: held > 0n
          ? ['This payee holds unredeemed winners that use up the reserve: settle() redeems them, then new tickets are accepted.', 'Or the payer funds a larger reserve: TicketBroker.fundReserve(payee, amount).']
          : ['The payer must fund a reserve for this payee: TicketBroker.fundReserve(payee, amount).'],
      })
    }
    if (f.withdrawBlock !== 0n) {
      throw new PaymentRejectedError('underfunded', `payer ${payer} is unlocking its funds (withdraw at block ${f.withdrawBlock})`, {
        hints: ['The payer must cancel its unlock (TicketBroker.cancelUnlock) before paying with tickets.'],
      })
    }
    const rand = readWord(ctx.rng(32))
    const hash = randHash(rand)
    // Persist the rand before its hash leaves this process: winners under it must stay redeemable after a crash.
    store.putRand(scope, { hash, rand, payer, createdAt: clock.now() })
    const lane = laneFor(payer, rotating)
    const startSeq = lane.nextSeq
    // A rotation inside the same acceptance window keeps the window's face value, win probability and expiry (only the
    // rand changes): the lane's winners then share every signed field but seq and rand, and go to the broker as one
    // run (~6.6k gas a ticket, against ~15k when each winner has fields of its own). The funds check above still
    // applies: a face the reserve no longer guarantees starts a new window.
    const prev = rotating?.rand
    const keep = prev !== undefined && prev.pricePerChunk === pricePerChunk && prev.params.acceptUntilBlock > block + 10n && prev.params.faceValue <= guaranteed
    stats.faceValue = keep ? prev.params.faceValue : face
    const params: LotteryParams = keep
      ? { ...prev.params, recipientRandHash: hash, nextNonce: (lane.id << LANE_SHIFT) | startSeq }
      : {
        faceValue: face,
        winProb: winProbFor(pricePerChunk, face),
        recipientRandHash: hash,
        expirationBlock: block + validity + window,
        acceptUntilBlock: block + validity,
        nextNonce: (lane.id << LANE_SHIFT) | startSeq,
      }
    const st: RandState = {
      rand, hash, payer, params, pricePerChunk, lane, startSeq, seen: new Set(), topOffset: -1, count: 0, active: true,
      digest: ticketHasher(domain, { recipient: me, sender: payer, faceValue: params.faceValue, winProb: params.winProb, recipientRandHash: hash, expirationBlock: params.expirationBlock }),
      wins: ticketWinTester(rand, params.winProb),
    }
    if (lane.rand && lane.rand.active) retire(lane.rand.hash)
    lane.rand = st
    rands.set(hash, st)
    return st
  }

  /** Retired rands kept in memory (to answer 'expired' rather than 'unknown-params'), oldest first; bounded. */
  // Stryker disable next-line ArrayDeclaration: equivalent: an extra first entry is evicted at the retirement that would evict nothing yet, so every real one is forgotten at the same retirement (docs/testing.md)
  const retiredOrder: Hex[] = []
  /** Stops accepting tickets under `hash` (synchronous: no ticket is accepted under it after this returns). */
  function retire(hash: Hex) {
    const st = rands.get(hash)
    // Stryker disable next-line OptionalChaining: equivalent: every caller passes the hash of a rand it just found in rands (docs/testing.md)
    if (st?.active) {
      st.active = false
      // A retired rand only answers 'expired': its accepted numbers are not needed again (a payment in flight under it
      // is refused as expired before it records anything), so the set is dropped; ~1 KB kept per retired rand, not ~3.5.
      st.seen = new Set()
      retiredOrder.push(hash)
      if (retiredOrder.length > MAX_RETIRED_KEPT) rands.delete(retiredOrder.shift()!)
    }
    store.retireRand(hash)
  }

  function termsOf(st: RandState): PaymentTerms {
    const top = st.startSeq + BigInt(st.topOffset)
    return {
      scheme: 'lottery', chainId: ctx.chain.chainId, contract: broker, payee: me, pricePerChunk: st.pricePerChunk,
      params: { ...st.params, nextNonce: (st.lane.id << LANE_SHIFT) | (top + 1n) },
    }
  }

  function reject(reason: ConstructorParameters<typeof PaymentRejectedError>[0], msg: string, details?: Record<string, unknown>): never {
    stats.rejected++
    log.warn('ticket rejected', { reason, msg, ...details })
    throw new PaymentRejectedError(reason, msg, { details })
  }

  /** Whether the broker already paid (or queued) (sender, me, nonce): its events since `fromBlock` say. */
  async function redeemedOnChain(sender: Address, nonce: bigint, fromBlock: bigint): Promise<{ status: 'redeemed' | 'claim'; tx: Hex } | undefined> {
    const runs = await ctx.chain.public.getContractEvents({ address: broker, abi: TicketBrokerAbi, eventName: 'TicketsRedeemed', args: { sender, recipient: me }, fromBlock, toBlock: 'latest' })
    for (const l of runs) if (l.args.lane !== undefined && l.args.seqs && runNonces(l.args.lane, l.args.seqs).includes(nonce)) return { status: 'redeemed', tx: l.transactionHash as Hex }
    for (const eventName of ['WinningTicketRedeemed', 'ClaimQueued'] as const) {
      const logs = await ctx.chain.public.getContractEvents({ address: broker, abi: TicketBrokerAbi, eventName, args: { sender, recipient: me }, fromBlock, toBlock: 'latest' })
      for (const l of logs) {
        if ((l.args as { senderNonce?: bigint }).senderNonce === nonce) return { status: eventName === 'ClaimQueued' ? 'claim' : 'redeemed', tx: l.transactionHash as Hex }
      }
    }
    return undefined
  }

  /** Marks a pending row settled one way or another (it no longer draws on the payer's reserve). */
  function markDone(r: StoredWinner, status: 'redeemed' | 'claim' | 'lost', tx: string | null, reason: string | null) {
    store.mark(r.id, status, tx, reason)
    addPending(r.sender, -r.face)
  }

  function recordLoss(report: SettleReport, r: StoredWinner, reason: string) {
    markDone(r, 'lost', null, reason)
    report.lostCount = (report.lostCount ?? 0) + 1
    report.lostValue = (report.lostValue ?? 0n) + r.face
    stats.lostCount = (stats.lostCount ?? 0) + 1
    log.error('winning ticket lost', { sender: r.sender, nonce: r.nonce.toString(), face: r.face.toString(), reason })
  }

  function toArg(r: StoredWinner) {
    const sig = hexToBytes(r.sig)
    return {
      ticket: {
        recipient: me, sender: r.sender, faceValue: r.face, winProb: r.winProb,
        senderNonce: r.nonce, recipientRandHash: r.randHash, expirationBlock: r.expiration,
      },
      r: `0x${Buffer.from(sig.subarray(0, 32)).toString('hex')}` as Hex,
      s: `0x${Buffer.from(sig.subarray(32, 64)).toString('hex')}` as Hex,
      v: sig[64]!,
      recipientRand: r.rand,
    }
  }

  async function settleNow(opts: { force?: boolean; signal?: AbortSignal }): Promise<SettleReport> {
    // Stryker disable next-line MethodExpression: equivalent: a winner retires its rand in the same synchronous step that stores it, so no pending winner's rand is active here (docs/testing.md)
    const rows = store.pendingWinners(scope)
      // Only winners of retired rands: an active rand may still accept a lower sequence number in the lane.
      .filter((r) => !rands.get(r.randHash)?.active)
    const report: SettleReport = { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: rows.length }
    if (rows.length === 0) {
      report.pending = store.countPending(scope)
      return report
    }
    const block = await ctx.chain.blockNumber()
    const gp = await gasPrice()
    // Stryker disable next-line LogicalOperator: equivalent: a deployment always has its block (a decimal string), and searching from block 0 finds the same events (the broker has none before it) (docs/testing.md)
    const deployBlock = BigInt(ctx.deployment.blockNumber ?? 0)
    // Batch order: by sender, then nonce (lane, then seq), as the broker requires within a (sender, lane).
    rows.sort((a, b) => (a.sender < b.sender ? -1 : a.sender > b.sender ? 1 : a.nonce < b.nonce ? -1 :
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent: one sender's nonces are unique (the store's key), so no tie gets here, and V8's sort only tells < 0 from the rest (0 and 1 place a greater nonce alike) (docs/testing.md)
      a.nonce > b.nonce ? 1 : 0))
    const live: StoredWinner[] = []
    const nextOnChain = new Map<string, bigint>()
    const unlocking = new Set<string>()
    const pressed = new Set<string>()
    for (const r of rows) {
      // A row no call to the broker can even carry (a store gone bad, or one written by an older version: a nonce
      // past 2^256, a signature cut short) would fail every settle from here on: it is a loss, and the chain is not asked.
      const unfit = unencodable(r)
      if (unfit) {
        recordLoss(report, r, `not a ticket the broker can take: ${unfit}`)
        continue
      }
      const nonce = r.nonce
      const laneKey = `${r.sender}|${nonce >> LANE_SHIFT}`
      let next = nextOnChain.get(laneKey)
      if (next === undefined) {
        next = await ctx.chain.public.readContract({ address: broker, abi: TicketBrokerAbi, functionName: 'nextNonce', args: [r.sender, me, nonce >> LANE_SHIFT] })
        nextOnChain.set(laneKey, next)
        const f = await payerFunds(r.sender, true)
        if (f.withdrawBlock !== 0n) unlocking.add(r.sender)
        // Winners held against half the payer's reserve or more: redeem them now, worth it or not, or the payee
        // soon refuses the payer's tickets as underfunded (a long-running server would then serve for nothing).
        const held = rows.filter((x) => x.sender === r.sender).reduce((sum, x) => sum + x.face, 0n)
        if (held * 2n >= f.reserve) pressed.add(r.sender)
      }
      if (nonce < next) {
        // Consumed on chain: by our own redemption (a crash between the transaction and this store's update) or —
        // it cannot be anyone else's — a loss to report, never income.
        const mine = await redeemedOnChain(r.sender, nonce, r.createdBlock ?? deployBlock)
        if (mine) markDone(r, mine.status, mine.tx, 'found on chain after a restart')
        else recordLoss(report, r, `nonce ${nonce} already consumed on chain (next ${next}) by a redemption this payee did not make`)
        continue
      }
      // The transaction runs in a later block than `block`: a ticket expiring at `block` is already too late.
      if (r.expiration <= block) {
        recordLoss(report, r, `expired at block ${r.expiration} before redemption`)
        continue
      }
      live.push(r)
    }
    const maxBatch = o.maxBatchSize ?? 256
    for (let i = 0; i < live.length; i += maxBatch) {
      opts.signal?.throwIfAborted()
      const batch = live.slice(i, i + maxBatch)
      const face = batch.reduce((s, r) => s + r.face, 0n)
      const cost = (redeemGasBase + redeemGasPerTicket * BigInt(batch.length)) * gp
      const urgent = batch.some((r) => r.expiration - block <= BigInt(o.expiryMarginBlocks ?? 50) || unlocking.has(r.sender) || pressed.has(r.sender))
      const worth = face >= cost * (o.minValueToCostRatio ?? 20n)
      const cheapEnough = o.maxGasPrice === undefined || gp <= o.maxGasPrice
      if (!opts.force && !urgent && !(worth && cheapEnough)) continue
      if (urgent && unlocking.size > 0) log.warn('payer is unlocking its funds: redeeming its winners now', { payers: [...unlocking] })
      await redeemIsolating(batch, report, opts)
    }
    if (o.creditWinnings && opts.force) await withdrawCredit(report, opts)
    report.pending = store.countPending(scope)
    addSettleReport(stats, report)
    return report
  }

  /** Withdraws what redemptions kept as credit in the broker (creditWinnings), one transaction when there is any. */
  async function withdrawCredit(report: SettleReport, opts: { signal?: AbortSignal }) {
    const credit = await ctx.chain.public.readContract({ address: broker, abi: TicketBrokerAbi, functionName: 'creditOf', args: [me] })
    if (credit === 0n) return
    const receipt = await write(ctx.chain, ctx.chain.wallet(ctx.key), { address: broker, abi: TicketBrokerAbi, functionName: 'withdrawCredit' }, opts)
    report.transactions++
    report.gasUsed += receipt.gasUsed
    log.info('credit withdrawn', { amount: credit.toString() })
  }

  /**
   * Redeems `batch`; when the broker refuses it, isolates the winners at fault so that every other one is still
   * redeemed. After a failed batch each winner is simulated alone (`redeemWinningTicket`, an eth_call: no gas): one
   * the broker refuses is a loss with the broker's reason; the rest are sent again. When the batch reverts but every
   * winner passes alone (winners that fail only together, e.g. claims overflowing a payer's debt), it is split in
   * halves, each redeemed the same way, down to single winners, which then fail alone or go through. A failure that
   * is not a revert (the chain unreachable, no ETH for gas) is an error: the winners stay pending for the next settle.
   */
  async function redeemIsolating(batch: StoredWinner[], report: SettleReport, opts: { signal?: AbortSignal }): Promise<void> {
    for (let attempt = 0; batch.length > 0; attempt++) {
      opts.signal?.throwIfAborted()
      try {
        await redeemBatch(batch, report, opts)
        return
      } catch (e) {
        log.error('batch redemption failed', { tickets: batch.length, error: (e as Error).message.split('\n')[0] })
        const reverted = isRevert(e)
        if (attempt > 0 && !reverted) throw new PaymentError('Batch redemption failed twice', { cause: e, hints: ['Run settle again later: the chain may be unreachable.'] })
        const keep: StoredWinner[] = []
        for (const r of batch) {
          try {
            await ctx.chain.public.simulateContract({ account: me, address: broker, abi: TicketBrokerAbi, functionName: 'redeemWinningTicket', args: [toArg(r)] })
            keep.push(r)
          } catch (se) {
            const reason = revertName(se)
            if (reason) recordLoss(report, r, `the broker refuses it: ${reason}`)
            else keep.push(r) // not the ticket's fault (the chain, the gas): retried below
          }
        }
        if (keep.length === batch.length) {
          if (reverted && batch.length > 1) {
            const half = Math.ceil(batch.length / 2)
            log.warn('batch reverts though each winner passes alone: redeeming it in halves', { tickets: batch.length })
            await redeemIsolating(batch.slice(0, half), report, opts)
            await redeemIsolating(batch.slice(half), report, opts)
            return
          }
          throw new PaymentError('Batch redemption failed', { cause: e, hints: ['Run settle again: no single ticket is at fault (the chain or the account may be the problem).'] })
        }
        batch = keep
      }
    }
  }

  /** Why `r` cannot be put into a call to the broker at all (undefined when it can). */
  function unencodable(r: StoredWinner): string | undefined {
    try {
      if (hexToBytes(r.sig).length !== 65) return `a signature of ${hexToBytes(r.sig).length} bytes, not 65`
      encodeFunctionData({ abi: TicketBrokerAbi, functionName: 'redeemWinningTicket', args: [toArg(r)] })
      // The run format takes only canonical signatures (low s, v ∈ {27, 28}): a damaged row fails here, not in settle.
      toTicketRuns([{ sender: r.sender, faceValue: r.face, winProb: r.winProb, expirationBlock: r.expiration, senderNonce: r.nonce, sig: hexToBytes(r.sig), rand: r.rand }])
      return undefined
    } catch (e) {
      return ((e as { shortMessage?: string }).shortMessage ?? (e as Error).message).split('\n')[0]
    }
  }

  async function redeemBatch(batch: StoredWinner[], report: SettleReport, opts: { signal?: AbortSignal }) {
    // The run format: what the batch's tickets share is sent once (~115 calldata bytes a ticket instead of ~350).
    const runs = toTicketRuns(batch.map((r) => ({ sender: r.sender, faceValue: r.face, winProb: r.winProb, expirationBlock: r.expiration, senderNonce: r.nonce, sig: hexToBytes(r.sig), rand: r.rand })))
    const receipt = await write(ctx.chain, ctx.chain.wallet(ctx.key), {
      address: broker, abi: TicketBrokerAbi, functionName: 'redeemRuns', args: [runs, !o.creditWinnings],
    }, opts)
    // What was paid now is what the broker says: a winner whose sender fell short became a claim for its full face
    // value, paid to us from the sender's next funding (ClaimPaid), not in this transaction.
    const events = parseEventLogs({ abi: TicketBrokerAbi, logs: receipt.logs })
    let paid = 0n
    const claimed = new Set<string>()
    for (const ev of events) {
      if (ev.eventName === 'TicketsRedeemed' && ev.args.recipient.toLowerCase() === me) paid += ev.args.fromDeposit + ev.args.fromReserve
      if (ev.eventName === 'ClaimQueued' && ev.args.recipient.toLowerCase() === me) claimed.add(`${ev.args.sender.toLowerCase()}:${ev.args.senderNonce}`)
    }
    if (claimed.size > 0) log.warn('winning tickets queued as claims: the sender was short of funds', { claims: claimed.size })
    const marks = batch.map((r) => {
      const isClaim = claimed.has(`${r.sender.toLowerCase()}:${r.nonce}`)
      return { id: r.id, status: isClaim ? 'claim' as const : 'redeemed' as const, tx: receipt.transactionHash as string, reason: isClaim ? 'queued as a claim on the sender' : null }
    })
    store.markAll(marks)
    for (const r of batch) addPending(r.sender, -r.face)
    report.transactions++
    report.gasUsed += receipt.gasUsed
    report.settled += batch.length - claimed.size
    report.claims = (report.claims ?? 0) + claimed.size
    report.received += paid
    log.info('batch redeemed', { tickets: batch.length, gas: receipt.gasUsed.toString() })
  }

  const payee: LotteryPayee = {
    scheme: 'lottery',
    address: me,
    async terms(payer, pricePerChunk) {
      // Every call opens a new session in a lane of its own: concurrent sessions of one payer (several processes,
      // several streams) never collide on nonces.
      return termsOf(await newParams(payer.toLowerCase() as Address, pricePerChunk))
    },

    async receive(raw) {
      if ((raw as Payment)?.scheme !== 'lottery') {
        const g = PaymentSchema.safeParse(raw)
        if (!g.success) reject('malformed', g.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
        reject('wrong-scheme', `expected a lottery payment, got ${g.data.scheme}`)
      }
      // The hand-written parser on the hot path; zod only to say what is wrong with what it refuses.
      let payment = parseLotteryPayment(raw)
      if (!payment) {
        const parsed = LotteryPaymentSchema.safeParse(raw)
        if (!parsed.success) reject('malformed', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
        payment = parsed.data
      }
      if (payment.payee !== me) reject('wrong-payee', `payment is for ${payment.payee}, not ${me}`)
      const body = payment.body
      const st = rands.get(body.recipientRandHash)
      if (!st) reject('unknown-params', 'tickets name a rand this payee does not accept (never issued, rotated, or issued before a restart)', { randHash: body.recipientRandHash })
      if (st.payer !== payment.payer) reject('params-mismatch', 'these parameters were issued to another payer')
      if (!st.active) reject('expired', 'these ticket parameters were rotated; use the newest terms', { randHash: st.hash })
      if (body.faceValue !== st.params.faceValue || body.winProb !== st.params.winProb || body.expirationBlock !== st.params.expirationBlock) {
        reject('params-mismatch', 'face value, win probability or expiry differ from the published parameters')
      }
      const n = BigInt(body.tickets.length)
      if (payment.amount !== st.pricePerChunk * n) reject('amount-too-low', `amount ${payment.amount} ≠ ${n} tickets × ${st.pricePerChunk}`)
      // Nonces: this rand's lane, a sequence number in its window, each once (any order).
      const offs: number[] = []
      const inMsg = new Set<number>()
      for (const t of body.tickets) {
        if (t.nonce >> LANE_SHIFT !== st.lane.id) reject('params-mismatch', `nonce ${t.nonce} is not in lane ${st.lane.id} of these parameters`)
        const seq = t.nonce & SEQ_MASK
        if (seq < st.startSeq || seq >= st.startSeq + SEQ_WINDOW) reject('nonce-out-of-range', `sequence number ${seq} is outside [${st.startSeq}, ${st.startSeq + SEQ_WINDOW}) of these parameters`)
        const off = Number(seq - st.startSeq)
        if (st.seen.has(off) || inMsg.has(off)) reject('replayed', `nonce ${t.nonce} was already paid under these parameters`)
        inMsg.add(off)
        offs.push(off)
      }
      const b0 = currentBlock()
      const block = typeof b0 === 'bigint' ? b0 : await b0
      if (block > st.params.acceptUntilBlock) {
        retire(st.hash)
        reject('expired', `parameters expired at block ${st.params.acceptUntilBlock} (now ${block})`)
      }
      let f = cachedFunds(payment.payer) ?? (await payerFunds(payment.payer))
      // A cached read is trusted only when it says yes: funds that look short are read again before refusing.
      if ((f.withdrawBlock !== 0n || f.reserve < (pendingFace.get(payment.payer) ?? 0n) + st.params.faceValue * n) && clock.now() - f.at > 0) f = await payerFunds(payment.payer, true)
      if (f.withdrawBlock !== 0n && f.withdrawBlock <= st.params.expirationBlock) reject('underfunded', 'payer started unlocking its funds')
      // Every ticket of the message may win: the reserve must cover them on top of the winners already held.
      const need = (pendingFace.get(payment.payer) ?? 0n) + st.params.faceValue * n
      if (f.reserve < need) {
        reject('underfunded', `reserve ${f.reserve} does not cover ${n} more winner(s) of ${st.params.faceValue} on top of ${need - st.params.faceValue * n} unredeemed`, {
          hint: 'the payee must redeem its winners (settle) or the payer fund a larger reserve',
        })
      }
      // Check every ticket before recording anything: the message is accepted or rejected whole.
      const winners: { nonce: bigint; sig: Hex }[] = []
      for (const t of body.tickets) {
        const sig = hexToBytes(t.sig)
        // The digest binds every field (params were checked equal above) to this chain and broker. (r, s) is checked
        // against the payer's key with one verify; v is only a hint until it can matter.
        const digest = st.digest(t.nonce)
        const pub = ctx.verifier && signers.publicKeyOf(payment.payer)
        const ok = pub ? await ctx.verifier!.verify(digest, sig, pub) : signers.verifyIgnoringV(digest, sig, payment.payer)
        if (!ok) reject('bad-signature', `ticket ${t.nonce} is not signed by ${payment.payer} for chain ${ctx.chain.chainId} and broker ${broker} (forged, signed for another chain or contract, or not canonical)`)
        const w = st.wins(sig)
        if (!w.given && !w.flipped) continue // a loser under either v: whichever the chain would take, it pays nothing
        // It may win: the chain draws with the v it recovers the payer with, so that is the v stored and drawn.
        const v0 = sig[64]
        if (!signers.verify(digest, sig, payment.payer)) sig[64] = v0 === 27 ? 28 : 27
        if (!signers.verify(digest, sig, payment.payer)) reject('bad-signature', `ticket ${t.nonce}: no v recovers ${payment.payer}`)
        if (sig[64] === v0 ? w.given : w.flipped) winners.push({ nonce: t.nonce, sig: bytesToHex(sig) })
      }
      // From here to the return of the store, nothing awaits: the checks below and the write see one state. (The reserve
      // check above already ran after the last await, so a concurrent winner cannot slip in between.) Another
      // payment may have retired this rand or used these numbers during the awaits above: checked again here.
      if (!st.active) reject('expired', 'these ticket parameters were rotated while the payment was checked; use the newest terms', { randHash: st.hash })
      for (const off of offs) if (st.seen.has(off)) reject('replayed', `sequence number ${st.startSeq + BigInt(off)} was paid concurrently`)
      // Durable before acknowledged: winners go to the store in one all-or-nothing batch.
      if (winners.length > 0) {
        store.addWinners(scope, winners.map((w) => ({
          sender: payment.payer, nonce: w.nonce, face: body.faceValue, winProb: body.winProb, randHash: st.hash, rand: st.rand, expiration: body.expirationBlock, sig: w.sig, createdBlock: block,
        })))
        addPending(payment.payer, body.faceValue * BigInt(winners.length))
      }
      for (const off of offs) {
        st.seen.add(off)
        if (off > st.topOffset) st.topOffset = off
      }
      // Only the lane's active rand accepts tickets, and its top only grows: the lane's next rand starts above it.
      st.lane.nextSeq = st.startSeq + BigInt(st.topOffset) + 1n
      st.count += body.tickets.length
      stats.payments++
      stats.credited += payment.amount
      stats.winning += winners.length
      let terms: PaymentTerms | undefined
      // Rotate after a win (the rand will be revealed at redemption) or after enough tickets. Retiring is
      // synchronous, so no ticket below a stored winner can be accepted in this lane once the winner is redeemable.
      if (winners.length > 0 || st.count >= (o.maxTicketsPerRand ?? 600) || block + 10n >= st.params.acceptUntilBlock) {
        retire(st.hash)
        try {
          terms = termsOf(await newParams(payment.payer, st.pricePerChunk, st.lane))
        } catch (e) {
          // The payment is accepted and stored; the payer asks for new terms on its next payment.
          log.warn('could not issue new ticket parameters', { payer: payment.payer, error: (e as Error).message })
        }
      }
      if (winners.length > 0) log.info('winning ticket stored', { payer: payment.payer, winners: winners.length, face: body.faceValue })
      return { credited: payment.amount, winning: winners.length > 0, terms } satisfies PaymentReceipt
    },

    settle(opts = {}) {
      const run = settling.then(() => settleNow(opts))
      settling = run.catch(() => undefined)
      return run
    },

    stats: () => ({ ...stats }),
    pendingWinners: () => store.countPending(scope),
    async close() {
      await settling
      store.close()
    },
  }
  return payee
}

/**
 * Why the broker refused a simulated call, if it reverted: its custom error's name, `Panic(<code>)` for a Solidity
 * panic (17: an arithmetic overflow), 'a revert without a reason' when it gave none; undefined when the call did not
 * revert (it never reached the contract).
 */
function revertName(e: unknown): string | undefined {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    const d = (c as { data?: { errorName?: string; args?: readonly unknown[] } }).data
    if (d && typeof d.errorName === 'string') return d.errorName === 'Panic' ? `Panic(${String(d.args?.[0])})` : d.errorName
    if (c instanceof ContractFunctionRevertedError) return 'a revert without a reason'
  }
  return undefined
}

/** Whether a failed send was the contract reverting (not the chain or the account failing). */
function isRevert(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof ContractRevertError || c instanceof ContractFunctionRevertedError) return true
  }
  return false
}
