/**
 * The lottery payee (ticket recipient): publishes ticket parameters, validates tickets, writes every winning
 * ticket to SQLite before acknowledging it, rotates its rand after a win (a revealed or soon-revealed rand is
 * never reused), and redeems winners in batches chosen by gas price, expiry and face value vs transaction cost.
 *
 * @example
 * ```ts
 * import { createLotteryPayee } from './payee.js'
 * const payee = await createLotteryPayee({ chain, deployment, key: payeeKey, storePath: 'payee.sqlite' })
 * const terms = await payee.terms(payerAddress, 1000n)   // send to the payer
 * const receipt = await payee.receive(payment)            // for each chunk's payment
 * await payee.settle({ force: true })                     // batch-redeem winners
 * ```
 */
import { randomBytes } from 'node:crypto'
import { parseEventLogs, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../../chain/types.js'
import type { SoukDeployment } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import { TicketBrokerAbi } from '../../../artifacts/contracts.js'
import { openDatabase, type Db } from '../../core/db.js'
import { systemClock, type Clock } from '../../core/clock.js'
import { silentLogger, type Logger } from '../../core/logger.js'
import { createSignerCache } from '../../crypto/secp256k1.js'
import { hexToBytes, readWord } from '../../crypto/bytes.js'
import { PaymentRejectedError, PaymentError } from '../errors.js'
import { LotteryPaymentSchema, PaymentSchema, type LotteryParams } from '../schemas.js'
import { addSettleReport, type PayeeSide, type PayeeStats, type Payment, type PaymentReceipt, type PaymentTerms, type SettleReport } from '../types.js'
import { ticketHasher, ticketDomain, ticketDrawer, winProbFor, randHash } from './ticket.js'

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
  /** Most tickets per batch transaction. */
  maxBatchSize?: number
  /** Redeem without `force` only when the batch's face value ≥ this × its gas cost. */
  minValueToCostRatio?: bigint
  /** Redeem without `force` when a winner expires within this many blocks. */
  expiryMarginBlocks?: number
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
  storePath?: string
  clock?: Clock
  logger?: Logger
  options?: LotteryPayeeOptions
}

interface RandState {
  rand: bigint
  hash: Hex
  payer: Address
  params: LotteryParams
  pricePerChunk: bigint
  count: number
  lastNonce: bigint
  active: boolean
  /** nonce ↦ EIP-712 digest under these parameters (hot path). */
  digest: (nonce: bigint) => Uint8Array
  /** signature ↦ draw under this rand. */
  draw: (sig: Uint8Array) => bigint
}

interface WinnerRow {
  id: number
  sender: string
  nonce: string
  face: string
  win_prob: string
  rand_hash: string
  rand: string
  expiration: string
  sig: string
}

export interface LotteryPayee extends PayeeSide {
  /** Winning tickets stored and not yet redeemed. */
  pendingWinners(): number
}

// Rows are scoped by (chain id, broker): one store file may serve several deployments (and dev chains restart at
// nonce 0) without mixing their tickets.
const SCHEMA = `
create table if not exists lottery_rands (
  rand_hash text primary key, rand text not null, payer text not null, created_at integer not null, retired integer not null default 0,
  chain_id integer not null, broker text not null
);
create table if not exists lottery_winners (
  id integer primary key autoincrement, chain_id integer not null, broker text not null, sender text not null,
  nonce text not null, face text not null, win_prob text not null, rand_hash text not null, rand text not null,
  expiration text not null, sig text not null, status text not null default 'pending', tx text, reason text,
  unique (chain_id, broker, sender, nonce)
);`

export async function createLotteryPayee(ctx: LotteryPayeeContext): Promise<LotteryPayee> {
  const o = ctx.options ?? {}
  const log = (ctx.logger ?? silentLogger()).child('lottery-payee')
  const clock = ctx.clock ?? systemClock()
  const me = privateKeyToAddress(ctx.key).toLowerCase() as Address
  const broker = ctx.deployment.ticketBroker.toLowerCase() as Address
  const domain = ticketDomain(ctx.chain.chainId, broker)
  const db: Db = openDatabase(ctx.storePath ?? ':memory:')
  db.exec(SCHEMA)
  // A restart retires every earlier rand: tickets under them are no longer accepted (so none can be replayed),
  // but their stored winners stay redeemable.
  db.prepare('update lottery_rands set retired = 1').run()
  const scope = [ctx.chain.chainId, broker] as const
  const insertRand = db.prepare('insert into lottery_rands (rand_hash, rand, payer, created_at, chain_id, broker) values (?, ?, ?, ?, ?, ?)')
  const retireRand = db.prepare('update lottery_rands set retired = 1 where rand_hash = ?')
  const insertWinner = db.prepare(
    'insert into lottery_winners (chain_id, broker, sender, nonce, face, win_prob, rand_hash, rand, expiration, sig) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const pendingRows = db.prepare("select * from lottery_winners where status = 'pending' and chain_id = ? and broker = ? order by sender, cast(nonce as integer)")
  const markRow = db.prepare('update lottery_winners set status = ?, tx = ?, reason = ? where id = ?')
  const maxStoredNonce = db.prepare('select max(cast(nonce as integer)) as n from lottery_winners where chain_id = ? and broker = ? and sender = ?')
  const countPending = db.prepare("select count(*) as n from lottery_winners where status = 'pending' and chain_id = ? and broker = ?")

  const signers = createSignerCache()
  const rands = new Map<Hex, RandState>()
  const currentRand = new Map<Address, Hex>()
  const lastNonceByPayer = new Map<Address, bigint>()
  const funds = new Map<Address, { at: number; deposit: bigint; reserve: bigint; withdrawBlock: bigint; debt: bigint }>()
  const stats: PayeeStats = { payments: 0, credited: 0n, winning: 0, rejected: 0, settled: 0, received: 0n, transactions: 0, gasUsed: 0n }
  const redeemGasPerTicket = o.redeemGasPerTicket ?? 12_000n
  const redeemGasBase = o.redeemGasBase ?? 60_000n
  const validity = BigInt(o.paramsValidityBlocks ?? 200)
  const window = BigInt(o.redeemWindowBlocks ?? 1_000)

  let blockCache: { at: number; n: bigint } | undefined
  /** The latest block, read at most once a second (the hot path must not wait on the chain per ticket). */
  function currentBlock(): bigint | Promise<bigint> {
    if (blockCache && clock.now() - blockCache.at < 1_000) return blockCache.n
    return ctx.chain.blockNumber().then((n) => { blockCache = { at: clock.now(), n }; return n })
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

  /** Fresh parameters for `payer`. On rotation (`rotating`) cached chain reads are good enough: a session is live. */
  async function newParams(payer: Address, pricePerChunk: bigint, rotating = false): Promise<RandState> {
    const f = rotating ? await payerFunds(payer) : await payerFunds(payer, true)
    const b0 = currentBlock()
    const block = typeof b0 === 'bigint' ? b0 : await b0
    const gp = await gasPrice(!rotating)
    let face = (redeemGasBase + redeemGasPerTicket) * gp * (o.faceValueMultiplier ?? 100n)
    if (face < pricePerChunk) face = pricePerChunk
    // The reserve for this payee is the guarantee; the deposit may be spent by others first.
    const guaranteed = f.reserve
    if (face > guaranteed) face = guaranteed
    if (face < pricePerChunk || face === 0n) {
      throw new PaymentRejectedError('underfunded', `payer ${payer} guarantees ${guaranteed} for this payee, less than one chunk (${pricePerChunk})`, {
        hints: ['The payer must fund a reserve for this payee: TicketBroker.fundReserve(payee, amount).'],
      })
    }
    if (f.withdrawBlock !== 0n) {
      throw new PaymentRejectedError('underfunded', `payer ${payer} is unlocking its funds (withdraw at block ${f.withdrawBlock})`, {
        hints: ['The payer must cancel its unlock (TicketBroker.cancelUnlock) before paying with tickets.'],
      })
    }
    const rand = readWord(randomBytes(32))
    const hash = randHash(rand)
    // Persist the rand before its hash leaves this process: winners under it must stay redeemable after a crash.
    insertRand.run(hash, rand.toString(), payer, clock.now(), ...scope)
    // The nonce floor: above every nonce accepted in this process, every stored winner (a restart forgets the
    // in-memory counter) and the broker's own counter (a winner at or below it could never be redeemed).
    let next = (lastNonceByPayer.get(payer) ?? -1n) + 1n
    if (!rotating) {
      const stored = (maxStoredNonce.get(...scope, payer) as { n: number | bigint | null }).n
      if (stored !== null && BigInt(stored) + 1n > next) next = BigInt(stored) + 1n
      const onChain = await ctx.chain.public.readContract({ address: broker, abi: TicketBrokerAbi, functionName: 'nextNonce', args: [payer, me] })
      if (onChain > next) next = onChain
    }
    const params: LotteryParams = {
      faceValue: face,
      winProb: winProbFor(pricePerChunk, face),
      recipientRandHash: hash,
      expirationBlock: block + validity + window,
      acceptUntilBlock: block + validity,
      nextNonce: next,
    }
    const st: RandState = {
      rand, hash, payer, params, pricePerChunk, count: 0, lastNonce: next - 1n, active: true,
      digest: ticketHasher(domain, { recipient: me, sender: payer, faceValue: params.faceValue, winProb: params.winProb, recipientRandHash: hash, expirationBlock: params.expirationBlock }),
      draw: ticketDrawer(rand),
    }
    const prev = currentRand.get(payer)
    if (prev) retire(prev)
    rands.set(hash, st)
    currentRand.set(payer, hash)
    return st
  }

  function retire(hash: Hex) {
    const st = rands.get(hash)
    if (st) st.active = false
    retireRand.run(hash)
  }

  function termsOf(st: RandState): PaymentTerms {
    return {
      scheme: 'lottery', chainId: ctx.chain.chainId, contract: broker, payee: me, pricePerChunk: st.pricePerChunk,
      params: { ...st.params, nextNonce: st.lastNonce + 1n },
    }
  }

  function reject(reason: ConstructorParameters<typeof PaymentRejectedError>[0], msg: string, details?: Record<string, unknown>): never {
    stats.rejected++
    log.warn('ticket rejected', { reason, msg, ...details })
    throw new PaymentRejectedError(reason, msg, { details })
  }

  const payee: LotteryPayee = {
    scheme: 'lottery',
    address: me,
    async terms(payer, pricePerChunk) {
      const p = payer.toLowerCase() as Address
      const cur = currentRand.get(p)
      const st = cur ? rands.get(cur) : undefined
      const block = await ctx.chain.blockNumber({ maxAgeMs: 1_000 })
      if (st && st.active && st.pricePerChunk === pricePerChunk && block + 10n < st.params.acceptUntilBlock) return termsOf(st)
      return termsOf(await newParams(p, pricePerChunk))
    },

    async receive(raw) {
      if ((raw as Payment)?.scheme !== 'lottery') {
        const g = PaymentSchema.safeParse(raw)
        if (!g.success) reject('malformed', g.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
        reject('wrong-scheme', `expected a lottery payment, got ${g.data.scheme}`)
      }
      const parsed = LotteryPaymentSchema.safeParse(raw)
      if (!parsed.success) reject('malformed', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
      const payment = parsed.data
      if (payment.payee !== me) reject('wrong-payee', `payment is for ${payment.payee}, not ${me}`)
      const body = payment.body
      const st = rands.get(body.recipientRandHash)
      if (!st) reject('unknown-params', 'tickets name a rand this payee never issued (or issued before a restart)', { randHash: body.recipientRandHash })
      if (st.payer !== payment.payer) reject('params-mismatch', 'these parameters were issued to another payer')
      if (!st.active) reject('expired', 'these ticket parameters were rotated; use the newest terms', { randHash: st.hash })
      const b0 = currentBlock()
      const block = typeof b0 === 'bigint' ? b0 : await b0
      if (block > st.params.acceptUntilBlock) {
        retire(st.hash)
        reject('expired', `parameters expired at block ${st.params.acceptUntilBlock} (now ${block})`)
      }
      if (body.faceValue !== st.params.faceValue || body.winProb !== st.params.winProb || body.expirationBlock !== st.params.expirationBlock) {
        reject('params-mismatch', 'face value, win probability or expiry differ from the published parameters')
      }
      const n = BigInt(body.tickets.length)
      if (payment.amount !== st.pricePerChunk * n) reject('amount-too-low', `amount ${payment.amount} ≠ ${n} tickets × ${st.pricePerChunk}`)
      const f = cachedFunds(payment.payer) ?? (await payerFunds(payment.payer))
      if (f.withdrawBlock !== 0n && f.withdrawBlock <= st.params.expirationBlock) reject('underfunded', 'payer started unlocking its funds')
      if (f.reserve < st.params.faceValue) reject('underfunded', `reserve ${f.reserve} no longer covers face value ${st.params.faceValue}`)
      // Check every ticket before recording anything: the message is accepted or rejected whole.
      let last = st.lastNonce
      const winners: { nonce: bigint; sig: Hex }[] = []
      for (const t of body.tickets) {
        if (t.nonce <= last) reject('replayed', `nonce ${t.nonce} is not above the last accepted nonce ${last}`)
        last = t.nonce
        const sig = hexToBytes(t.sig)
        // The digest binds every field (params were checked equal above) to this chain and broker.
        if (!signers.verify(st.digest(t.nonce), sig, payment.payer)) reject('bad-signature', `ticket ${t.nonce} is not signed by ${payment.payer} for chain ${ctx.chain.chainId} and broker ${broker} (forged, signed for another chain or contract, or not canonical)`)
        if (st.draw(sig) < body.winProb) winners.push({ nonce: t.nonce, sig: t.sig })
      }
      // Durable before acknowledged: winners go to SQLite in one transaction.
      if (winners.length > 0) {
        db.transaction(() => {
          for (const w of winners) {
            insertWinner.run(...scope, payment.payer, w.nonce.toString(), body.faceValue.toString(), body.winProb.toString(), st.hash, st.rand.toString(), body.expirationBlock.toString(), w.sig)
          }
        })()
      }
      st.lastNonce = last
      lastNonceByPayer.set(payment.payer, last)
      st.count += body.tickets.length
      stats.payments++
      stats.credited += payment.amount
      stats.winning += winners.length
      let terms: PaymentTerms | undefined
      // Rotate after a win (the rand will be revealed at redemption) or after enough tickets.
      if (winners.length > 0 || st.count >= (o.maxTicketsPerRand ?? 600) || block + 10n >= st.params.acceptUntilBlock) {
        terms = termsOf(await newParams(payment.payer, st.pricePerChunk, true))
      }
      if (winners.length > 0) log.info('winning ticket stored', { payer: payment.payer, winners: winners.length, face: body.faceValue })
      return { credited: payment.amount, winning: winners.length > 0, terms } satisfies PaymentReceipt
    },

    async settle(opts = {}): Promise<SettleReport> {
      const rows = pendingRows.all(...scope) as WinnerRow[]
      const report: SettleReport = { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: rows.length }
      if (rows.length === 0) return report
      const block = await ctx.chain.blockNumber()
      const gp = await gasPrice()
      // Drop tickets that can no longer be redeemed (expired, or nonce already consumed on chain).
      const live: WinnerRow[] = []
      const nextOnChain = new Map<string, bigint>()
      for (const r of rows) {
        if (BigInt(r.expiration) < block) {
          markRow.run('failed', null, 'expired before redemption', r.id)
          log.error('winning ticket expired unredeemed', { sender: r.sender, nonce: r.nonce })
          continue
        }
        let next = nextOnChain.get(r.sender)
        if (next === undefined) {
          next = await ctx.chain.public.readContract({ address: broker, abi: TicketBrokerAbi, functionName: 'nextNonce', args: [r.sender as Address, me] })
          nextOnChain.set(r.sender, next)
        }
        if (BigInt(r.nonce) < next) {
          markRow.run('redeemed', null, 'already redeemed on chain', r.id)
          continue
        }
        live.push(r)
      }
      const maxBatch = o.maxBatchSize ?? 100
      for (let i = 0; i < live.length; i += maxBatch) {
        opts.signal?.throwIfAborted()
        const batch = live.slice(i, i + maxBatch)
        const face = batch.reduce((s, r) => s + BigInt(r.face), 0n)
        const cost = (redeemGasBase + redeemGasPerTicket * BigInt(batch.length)) * gp
        const urgent = batch.some((r) => BigInt(r.expiration) - block <= BigInt(o.expiryMarginBlocks ?? 50))
        const worth = face >= cost * (o.minValueToCostRatio ?? 20n)
        const cheapEnough = o.maxGasPrice === undefined || gp <= o.maxGasPrice
        if (!opts.force && !urgent && !(worth && cheapEnough)) continue
        const args = batch.map((r) => {
          const sig = hexToBytes(r.sig)
          return {
            ticket: {
              recipient: me, sender: r.sender as Address, faceValue: BigInt(r.face), winProb: BigInt(r.win_prob),
              senderNonce: BigInt(r.nonce), recipientRandHash: r.rand_hash as Hex, expirationBlock: BigInt(r.expiration),
            },
            r: `0x${Buffer.from(sig.subarray(0, 32)).toString('hex')}` as Hex,
            s: `0x${Buffer.from(sig.subarray(32, 64)).toString('hex')}` as Hex,
            v: sig[64],
            recipientRand: BigInt(r.rand),
          }
        })
        try {
          const receipt = await write(ctx.chain, ctx.chain.wallet(ctx.key), {
            address: broker, abi: TicketBrokerAbi, functionName: 'batchRedeemWinningTickets', args: [args],
          }, opts)
          // What was paid now is what the broker says: a winner whose sender fell short became a claim for its
          // full face value, paid to us from the sender's next funding (ClaimPaid), not in this transaction.
          const events = parseEventLogs({ abi: TicketBrokerAbi, logs: receipt.logs })
          let paid = 0n
          const claimed = new Set<string>()
          for (const ev of events) {
            if (ev.eventName === 'WinningTicketRedeemed' && ev.args.recipient.toLowerCase() === me) paid += ev.args.faceValue
            if (ev.eventName === 'ClaimQueued' && ev.args.recipient.toLowerCase() === me) claimed.add(`${ev.args.sender.toLowerCase()}:${ev.args.senderNonce}`)
          }
          if (claimed.size > 0) log.warn('winning tickets queued as claims: the sender was short of funds', { claims: claimed.size })
          db.transaction(() => {
            for (const r of batch) {
              const isClaim = claimed.has(`${r.sender.toLowerCase()}:${r.nonce}`)
              markRow.run(isClaim ? 'claim' : 'redeemed', receipt.transactionHash, isClaim ? 'queued as a claim on the sender' : null, r.id)
            }
          })()
          report.transactions++
          report.gasUsed += receipt.gasUsed
          report.settled += batch.length - claimed.size
          report.claims = (report.claims ?? 0) + claimed.size
          report.received += paid
          log.info('batch redeemed', { tickets: batch.length, face: face.toString(), gas: receipt.gasUsed.toString() })
        } catch (e) {
          log.error('batch redemption failed', { tickets: batch.length, error: (e as Error).message.split('\n')[0] })
          if (batch.length === 1) markRow.run('failed', null, (e as Error).message.split('\n')[0], batch[0].id)
          else throw new PaymentError('Batch redemption failed', { cause: e, hints: ['Run settle again: tickets already redeemed are skipped, and a failing ticket is isolated.'] })
        }
      }
      report.pending = (countPending.get(...scope) as { n: number }).n
      addSettleReport(stats, report)
      return report
    },

    stats: () => ({ ...stats }),
    pendingWinners: () => (countPending.get(...scope) as { n: number }).n,
    async close() {
      db.close()
    },
  }
  return payee
}
