/**
 * Term negotiation by alternating offers, over the transport, between a buyer (its signed Ask) and servers (their
 * signed Offers). A buyer negotiates with its top candidates in parallel, under timeouts, and signs deals with the
 * first `ask.servers` that agree; a server reserves the capacity of a deal it signed until the buyer confirms it,
 * withdraws, goes silent past `confirmTimeoutMs` or drops the stream: a reservation is never left hanging.
 *
 * Protocol `/souk/market/negotiate/1`, one stream per negotiation, every message parsed by `NegotiateMessageSchema`:
 * ```
 * buyer  → server  open     { ask, offer (the hash of the offer it answers), total }   round 1: the buyer's bid
 * server → buyer   counter  { round, total }       its next asking price (for the ask's usage, in token units)
 *                  accept   { deal, serverSig }    it takes the buyer's last bid (or its own counter, after `take`)
 *                  reject   { reason }             checks failed, the offer changed, no room, or no agreement
 * buyer  → server  bid      { round, total }       its next bid
 *                  take     { round }              it takes the server's last counter
 *                  confirm  { buyerSig }           it signs the deal the server accepted
 *                  withdraw {}                     it walks away (the server releases any reservation)
 * server → buyer   confirmed {}                    the deal is binding; the capacity is committed
 * ```
 * Prices are totals for the ask's usage (`priceOf(offer.price, ask.usage)` is the list price). The deal's price model
 * is the offer's, scaled so that the ask's usage costs exactly the agreed total (`scalePrice`). Each side moves
 * by a **concession strategy** from its opening price toward its limit (the buyer's is `ask.maxPrice`, the server's
 * its floor), at most `maxRounds` rounds: `fixedConcession(k)` gives up a fixed share k of the gap per round,
 * `timeConcession(beta)` follows `start + (limit - start) (r / R)^(1/beta)` (beta < 1 Boulware, > 1 Conceder),
 * `titForTat()` concedes what the other side conceded in its last move.
 *
 * Checks on the server side: the ask passes the market checker (schema, expiry, the buyer's signature, a fresh
 * sequence number), names the server's current offer, and meets it (`unmet` without the price cap); capacity is
 * there. On the buyer side: each accepted deal passes `check.deal` against its offer and ask (hashes, parties,
 * scheme, price cap, the server's signature) before the buyer signs it.
 *
 * @example
 * ```ts
 * import { createNegotiator, negotiateDeals, timeConcession } from './negotiate.js'
 * await createNegotiator({ transport: server, offer, signer: keySigner(serverKey), floor: (ask, list) => (list * 8n) / 10n, clock, rng, logger, checker, domain }).start()
 * const { deals } = await negotiateDeals({ transport: buyer, ask, signer: keySigner(buyerKey), candidates: [offer], clock, rng, logger, checker, domain })
 * ```
 */
import { z } from 'zod'
import type { Hex } from 'viem'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/logger.js'
import { ValidationError } from '../core/errors.js'
import { bytesToHex, type Rng } from '../crypto/index.js'
import { createCodec, protocolId, readMessage, releaseWhenRemoteEnds, sendMessage, MAX_CONTROL_MESSAGE_BYTES, type MessageStream, type Transport } from '../net/index.js'
import { zSig } from '../payments/schemas.js'
import { unmet, type MarketChecker } from './check.js'
import { MarketRejectedError } from './errors.js'
import { AskSchema, DealBodySchema, priceOf, type Ask, type Deal, type DealBody, type Offer, type PriceModel, type Resources } from './schema.js'
import { marketHash, signDealBody, type MarketDomain, type MarketSigner } from './sign.js'

export const MARKET_NEGOTIATE = protocolId('market/negotiate', 1)

const total = z.bigint().nonnegative().max((1n << 128n) - 1n)
const round = z.number().int().min(1).max(1000)
const hash = z.string().regex(/^0x[0-9a-f]{64}$/) as unknown as z.ZodType<Hex>
export const NegotiateMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('open'), ask: AskSchema, offer: hash, total }),
  z.object({ type: z.literal('bid'), round, total }),
  z.object({ type: z.literal('take'), round }),
  z.object({ type: z.literal('counter'), round, total }),
  z.object({ type: z.literal('accept'), deal: DealBodySchema, serverSig: zSig }),
  z.object({ type: z.literal('reject'), reason: z.string().max(300) }),
  z.object({ type: z.literal('confirm'), buyerSig: zSig }),
  z.object({ type: z.literal('withdraw') }),
  z.object({ type: z.literal('confirmed') }),
])
export type NegotiateMessage = z.infer<typeof NegotiateMessageSchema>
export const negotiateCodec = createCodec(NegotiateMessageSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: MARKET_NEGOTIATE })

// ---------------------------------------------------------------- concession strategies

/** What a concession strategy sees before its move in round `round` (1-based). */
export interface ConcessionState {
  round: number
  maxRounds: number
  /** Its opening price and its limit (buyer: start < limit; server: start > limit). */
  start: bigint
  limit: bigint
  /** Its own prices so far (mine[i] in round i + 1) and the other side's. */
  mine: readonly bigint[]
  theirs: readonly bigint[]
}
/** A side's next price; the negotiator clamps it between its last price and its limit (no backward step). */
export type Concession = (s: ConcessionState) => bigint

const toward = (s: ConcessionState, share: number) => {
  const gap = s.limit - s.start
  return s.start + (gap * BigInt(Math.round(Math.min(1, Math.max(0, share)) * 1e6))) / 1_000_000n
}
/** Gives up `share` (default 0.2) of the gap between opening and limit each round. */
export function fixedConcession(share = 0.2): Concession {
  if (!(share > 0 && share <= 1)) throw new ValidationError(`fixedConcession: share must be in (0, 1], got ${share}`)
  return (s) => toward(s, (s.round - 1) * share)
}
/** Time-based: `start + (limit - start) (r / R)^(1/beta)`; beta < 1 holds out (Boulware), beta > 1 concedes early. */
export function timeConcession(beta = 1): Concession {
  if (!(beta > 0)) throw new ValidationError(`timeConcession: beta must be > 0, got ${beta}`)
  return (s) => toward(s, s.maxRounds <= 1 ? 1 : ((s.round - 1) / (s.maxRounds - 1)) ** (1 / beta))
}
/** Tit for tat: concedes what the other side conceded in its last move (at least `minShare` of the gap, default 0.05). */
export function titForTat(minShare = 0.05): Concession {
  return (s) => {
    const last = s.mine.at(-1)
    if (last === undefined) return s.start
    const a = s.theirs.at(-1), b = s.theirs.at(-2)
    const theirStep = a !== undefined && b !== undefined ? (a > b ? a - b : b - a) : 0n
    const gap = s.limit > s.start ? s.limit - s.start : s.start - s.limit
    const floor = (gap * BigInt(Math.round(minShare * 1e6))) / 1_000_000n
    const step = theirStep > floor ? theirStep : floor
    return s.limit > s.start ? last + step : last - step
  }
}

function nextPrice(c: Concession, s: ConcessionState): bigint {
  const up = s.limit >= s.start
  let p = c(s)
  const last = s.mine.at(-1) ?? s.start
  if (up) { if (p < last) p = last; if (p > s.limit) p = s.limit } else { if (p > last) p = last; if (p < s.limit) p = s.limit }
  return p
}

/**
 * The offer's price model scaled to `agreed` for `usage`: every rate scaled down (rounded down), then the base set so
 * that the deal costs exactly `agreed` for that usage (never more than the list price: `agreed` above it gives `m`).
 * A one-rate model without a base keeps its shape: only its rate is scaled (rounded down, so at most `agreed`).
 */
export function scalePrice(m: PriceModel, usage: Ask['usage'], agreed: bigint): PriceModel {
  const list = priceOf(m, usage)
  if (list === 0n || agreed >= list) return m
  // A one-rate model without a base (per chunk, per unit, per byte-time) stays one: its rate rounded down.
  if (m.base === 0n && m.rates.length === 1) return { ...m, rates: [{ ...m.rates[0], price: (m.rates[0].price * agreed) / list }] }
  const rates = m.rates.map((r) => ({ ...r, price: (r.price * agreed) / list }))
  const variable = priceOf({ ...m, base: 0n, rates }, usage)
  return { ...m, base: agreed > variable ? agreed - variable : 0n, rates }
}

// ---------------------------------------------------------------- server side

export interface NegotiatorOptions {
  transport: Transport
  /** The server's current signed offer (`setOffer` replaces it). */
  offer: Offer
  /** Signs deals (its address is `offer.server`). */
  signer: MarketSigner
  /** The least total it accepts for `ask`, given its list price for the ask's usage (its reservation price). */
  floor: (ask: Ask, list: bigint) => bigint
  concession?: Concession
  maxRounds?: number
  /** How long a signed, unconfirmed deal holds its capacity (default 5,000 ms). */
  confirmTimeoutMs?: number
  /** How long to wait for the buyer's next message (default 5,000 ms). */
  readTimeoutMs?: number
  /** A deal's length when the ask names no duration (ms, default 1 h). */
  defaultDealMs?: number
  checker: MarketChecker
  domain: MarketDomain
  clock: Clock
  rng: Rng
  logger: Logger
  /** Told of every confirmed deal. */
  onDeal?: (deal: Deal, ask: Ask) => void
}

export interface Negotiator {
  start(): Promise<void>
  stop(): Promise<void>
  setOffer(offer: Offer): void
  /** Capacity left (the offer's resources minus reservations and confirmed deals). */
  free(): Resources
  /** Signed deals waiting for the buyer's confirmation. */
  reserved(): number
  deals(): Deal[]
}

const sub = (a: Resources, b: Resources): Resources => ({ bytes: a.bytes - b.bytes, bandwidthBps: a.bandwidthBps - b.bandwidthBps, durationSec: a.durationSec, computeUnits: a.computeUnits - b.computeUnits })
const add = (a: Resources, b: Resources): Resources => ({ bytes: a.bytes + b.bytes, bandwidthBps: a.bandwidthBps + b.bandwidthBps, durationSec: a.durationSec, computeUnits: a.computeUnits + b.computeUnits })
const room = (free: Resources, need: Resources) => need.bytes <= free.bytes && need.bandwidthBps <= free.bandwidthBps && need.computeUnits <= free.computeUnits && need.durationSec <= free.durationSec

export function createNegotiator(o: NegotiatorOptions): Negotiator {
  const log = o.logger.child('market:negotiate')
  const maxRounds = o.maxRounds ?? 8
  const concession = o.concession ?? timeConcession(1)
  let offer = o.offer
  let offerHash = marketHash(o.domain, offer)
  let used: Resources = { bytes: 0, bandwidthBps: 0, durationSec: 0, computeUnits: 0 }
  let pending = 0
  const confirmed: Deal[] = []

  async function handle(stream: MessageStream): Promise<void> {
    const read = () => readMessage(stream, negotiateCodec, { timeoutMs: o.readTimeoutMs ?? 5_000 })
    const send = (m: NegotiateMessage) => sendMessage(stream, negotiateCodec, m)
    const refuse = async (reason: string, fields: Record<string, unknown> = {}) => {
      log.info('negotiation refused', { buyer: stream.remotePeer, reason, ...fields })
      await send({ type: 'reject', reason }).catch(() => {})
    }
    const first = await read()
    if (first.type !== 'open') return refuse(`expected open, got ${first.type}`)
    let ask: Ask
    try { ask = o.checker.ask(first.ask) } catch (e) {
      if (e instanceof MarketRejectedError) return refuse(e.reason, { error: e.shortMessage })
      throw e
    }
    if (first.offer !== offerHash) return refuse('stale-offer')
    const why = unmet({ ...ask, maxPrice: (1n << 128n) - 1n }, offer)
    if (why) return refuse('constraints', { why })
    const list = priceOf(offer.price, ask.usage)
    const limit = o.floor(ask, list)
    if (limit > ask.maxPrice) return refuse('price-above-cap', { floor: limit, cap: ask.maxPrice })
    const mine: bigint[] = [], theirs: bigint[] = [first.total]
    let agreed: bigint | undefined
    let r = 1
    for (;;) {
      const bid = theirs.at(-1)!
      const ask_ = nextPrice(concession, { round: r, maxRounds, start: list, limit, mine, theirs })
      if (bid >= ask_) { agreed = bid; break }
      if (r >= maxRounds) return refuse('no-agreement', { bid, asked: ask_ })
      mine.push(ask_)
      await send({ type: 'counter', round: r, total: ask_ })
      const m = await read()
      if (m.type === 'withdraw') return
      if (m.type === 'take' && m.round === r) { agreed = ask_; break }
      if (m.type !== 'bid' || m.round !== r + 1) return refuse(`unexpected ${m.type}`)
      theirs.push(m.total)
      r++
    }
    if (!room(sub(offer.resources, used), ask.resources)) return refuse('no-room')
    // Reserve, sign, wait for the confirmation; release on anything but a valid one.
    used = add(used, ask.resources)
    pending++
    let released = false
    const release = () => { if (!released) { released = true; used = sub(used, ask.resources); pending-- } }
    try {
      const now = o.clock.now()
      const body: DealBody = {
        type: 'deal', service: offer.service, offer: offerHash, ask: marketHash(o.domain, ask), server: offer.server, buyer: ask.buyer,
        price: scalePrice(offer.price, ask.usage, agreed), usage: ask.usage, collateral: offer.collateral,
        scheme: offer.schemes.find((s) => ask.schemes.includes(s))!, startsAt: now,
        endsAt: now + (ask.resources.durationSec > 0 ? ask.resources.durationSec * 1000 : o.defaultDealMs ?? 3_600_000),
        nonce: BigInt(bytesToHex(o.rng(16))),
      }
      const serverSig = signDealBody(body, o.signer, o.domain)
      await send({ type: 'accept', deal: body, serverSig })
      const m = await readMessage(stream, negotiateCodec, { timeoutMs: o.confirmTimeoutMs ?? 5_000 })
      if (m.type !== 'confirm') { log.info('deal not confirmed', { buyer: stream.remotePeer, got: m.type }); return }
      let deal: Deal
      try { deal = o.checker.deal({ ...body, serverSig, buyerSig: m.buyerSig }, { offer, ask }) } catch (e) {
        if (e instanceof MarketRejectedError) return refuse(e.reason, { error: e.shortMessage })
        throw e
      }
      released = true // the capacity stays used: the deal is binding
      pending--
      confirmed.push(deal)
      await send({ type: 'confirmed' })
      log.info('deal confirmed', { buyer: ask.buyer, total: priceOf(deal.price, deal.usage), rounds: r })
      o.onDeal?.(deal, ask)
    } finally {
      if (!released) log.info('reservation released', { buyer: ask.buyer })
      release()
    }
  }

  return {
    async start() { await o.transport.handle(MARKET_NEGOTIATE, (s) => handle(s)) },
    async stop() { await o.transport.unhandle(MARKET_NEGOTIATE) },
    setOffer(next) { offer = next; offerHash = marketHash(o.domain, next) },
    free: () => sub(offer.resources, used),
    reserved: () => pending,
    deals: () => [...confirmed],
  }
}

// ---------------------------------------------------------------- buyer side

export interface NegotiateDealsOptions {
  transport: Transport
  /** The signed ask (its `servers` is how many deals are wanted). */
  ask: Ask
  /** Signs deals (its address is `ask.buyer`). */
  signer: MarketSigner
  /** Ranked candidates (a selection strategy's order); each must name a dialable `peer` (or `addresses`). */
  candidates: readonly Offer[]
  /** How many to negotiate with at once (default: ask.servers + 2). */
  parallel?: number
  concession?: Concession
  /** The buyer's opening bid as a share of the candidate's list price (default 0.7). */
  openingShare?: number
  maxRounds?: number
  /** Per message (default 2,000 ms): a silent server is dropped and the next candidate tried. */
  readTimeoutMs?: number
  checker: MarketChecker
  domain: MarketDomain
  clock: Clock
  rng: Rng
  logger: Logger
  signal?: AbortSignal
}

export interface NegotiationOutcome {
  offer: Offer
  result: 'deal' | 'rejected' | 'failed' | 'withdrawn'
  reason?: string
  rounds: number
  ms: number
}

export interface NegotiateDealsResult {
  deals: Deal[]
  /** One entry per candidate tried, in the order they finished. */
  outcomes: NegotiationOutcome[]
}

/** Negotiates with the candidates, `parallel` at a time, until `ask.servers` deals are confirmed or none is left. */
export async function negotiateDeals(o: NegotiateDealsOptions): Promise<NegotiateDealsResult> {
  const log = o.logger.child('market:negotiate')
  const want = o.ask.servers
  const maxRounds = o.maxRounds ?? 8
  const concession = o.concession ?? timeConcession(1)
  const deals: Deal[] = []
  const outcomes: NegotiationOutcome[] = []
  let signing = 0 // deals accepted by a server and being confirmed
  let wake: (() => void)[] = []
  const settledSigning = () => { const w = wake; wake = []; for (const f of w) f() }
  /**
   * Whether `ask.servers` deals are certain: confirmed ones, or confirmations in flight that would make up the rest
   * (then it waits for them: a confirmation lost to the network must not leave the buyer short after it withdrew
   * from everyone else).
   */
  const enough = async (): Promise<boolean> => {
    while (deals.length < want && deals.length + signing >= want) await new Promise<void>((r) => wake.push(r))
    return deals.length >= want
  }
  /** Takes a confirmation slot (true: sign this deal), atomically; false once enough deals are certain. */
  const takeSlot = async (): Promise<boolean> => {
    for (;;) {
      if (deals.length >= want) return false
      if (deals.length + signing < want) { signing++; return true }
      await new Promise<void>((r) => wake.push(r))
    }
  }
  const queue = [...o.candidates]
  const live = new Set<MessageStream>()

  async function one(offer: Offer): Promise<void> {
    const t0 = o.clock.now()
    let rounds = 0
    const done = (result: NegotiationOutcome['result'], reason?: string) => { outcomes.push({ offer, result, reason, rounds, ms: o.clock.now() - t0 }) }
    let stream: MessageStream | undefined
    try {
      stream = await o.transport.dial(offer.addresses[0] ?? offer.peer, MARKET_NEGOTIATE, { timeoutMs: o.readTimeoutMs ?? 2_000, signal: o.signal })
      live.add(stream)
      const read = () => readMessage(stream!, negotiateCodec, { timeoutMs: o.readTimeoutMs ?? 2_000, signal: o.signal })
      const send = (m: NegotiateMessage) => sendMessage(stream!, negotiateCodec, m)
      const list = priceOf(offer.price, o.ask.usage)
      const limit = o.ask.maxPrice < list ? o.ask.maxPrice : list
      const start = (list * BigInt(Math.round((o.openingShare ?? 0.7) * 1e6))) / 1_000_000n
      const mine: bigint[] = [], theirs: bigint[] = []
      let bid = nextPrice(concession, { round: 1, maxRounds, start: start < limit ? start : limit, limit, mine, theirs })
      mine.push(bid)
      rounds = 1
      await send({ type: 'open', ask: o.ask, offer: marketHash(o.domain, offer), total: bid })
      for (;;) {
        const m = await read()
        if (m.type === 'reject') return done('rejected', m.reason)
        if (m.type === 'accept') {
          let body: DealBody
          try {
            body = o.checker.dealTerms(m.deal, { offer, ask: o.ask })
            o.checker.dealSignature(body, m.serverSig, 'server')
          } catch (e) {
            await send({ type: 'withdraw' }).catch(() => {})
            if (e instanceof MarketRejectedError) return done('failed', e.reason)
            throw e
          }
          if (!(await takeSlot())) { await send({ type: 'withdraw' }); return done('withdrawn', 'enough deals') }
          try {
            const buyerSig = signDealBody(body, o.signer, o.domain)
            await send({ type: 'confirm', buyerSig })
            const c = await read()
            if (c.type !== 'confirmed') return done('failed', `server answered ${c.type} to the confirmation`)
            deals.push({ ...body, serverSig: m.serverSig, buyerSig })
            return done('deal')
          } finally { signing--; settledSigning() }
        }
        if (m.type !== 'counter' || m.round !== rounds) { await send({ type: 'withdraw' }).catch(() => {}); return done('failed', `unexpected ${m.type}`) }
        theirs.push(m.total)
        if (await enough()) { await send({ type: 'withdraw' }); return done('withdrawn', 'enough deals') }
        const next = nextPrice(concession, { round: rounds + 1, maxRounds, start: mine[0], limit, mine, theirs })
        if (m.total <= next) { await send({ type: 'take', round: rounds }); continue }
        if (rounds >= maxRounds) { await send({ type: 'withdraw' }); return done('rejected', 'no-agreement') }
        rounds++
        bid = next
        mine.push(bid)
        await send({ type: 'bid', round: rounds, total: bid })
      }
    } catch (e) {
      log.info('negotiation failed', { server: offer.server, error: (e as Error).message.split('\n')[0] })
      stream?.abort()
      return done('failed', (e as Error).message.split('\n')[0])
    } finally {
      // Released once the server's handler ends (a dialler that only closes would leave the transport holding it).
      if (stream) { live.delete(stream); releaseWhenRemoteEnds(stream, o.readTimeoutMs ?? 2_000) }
    }
  }

  const lanes = Math.max(1, o.parallel ?? want + 2)
  async function lane(): Promise<void> {
    while (deals.length < want && queue.length > 0) {
      o.signal?.throwIfAborted()
      await one(queue.shift()!)
    }
  }
  await Promise.all(Array.from({ length: lanes }, () => lane()))
  log.info('negotiation finished', { wanted: want, deals: deals.length, tried: outcomes.length })
  return { deals, outcomes }
}
