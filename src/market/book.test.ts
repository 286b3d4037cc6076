/**
 * The order book: each constraint alone, distinct servers, capacity consumption, replacement by a newer sequence
 * number, expiry, partial fills; the book's constraint test against `unmet`, and its clearing against the brute-force
 * reference `naiveClear` on random books and random sequences of operations (seeded rng); adversaries: one server
 * posting many offers, an offer priced above every cap, a zero-capacity offer.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Address } from 'viem'
import { manualClock } from '../core/clock.js'
import { ValidationError } from '../core/errors.js'
import { randomBelow, seededRng, type Rng } from '../crypto/rng.js'
import { createOrderBook, meets, naiveClear, type Match, type OrderBook, type Rank } from './book.js'
import { unmet } from './check.js'
import { MarketRejectedError } from './errors.js'
import { perChunk, perUnit, type Ask, type Offer, type PriceModel } from './schema.js'

const NOW = 1_000_000
const SIG = `0x${'00'.repeat(65)}` as const
const addr = (name: string) => `0x${Buffer.from(name).toString('hex').padStart(40, '0').slice(-40)}` as Address

/** Offers and asks as the checker returns them (the book does not verify signatures). */
function offer(server: string, over: Partial<Offer> = {}): Offer {
  return {
    type: 'offer', service: 'cdn', server: addr(server), peer: server,
    resources: { bytes: 1000, bandwidthBps: 1000, durationSec: 3600, computeUnits: 10 },
    price: perChunk(10n), collateral: 0n, schemes: ['lottery'], region: 'eu', latencyMs: 20,
    addresses: [], capabilities: [], expiresAt: NOW + 60_000, seq: 1n, sig: SIG, ...over,
  }
}
function ask(buyer: string, over: Partial<Ask> = {}): Ask {
  return {
    type: 'ask', service: 'cdn', buyer: addr(buyer), peer: buyer,
    resources: { bytes: 100, bandwidthBps: 100, durationSec: 60, computeUnits: 1 },
    usage: { chunks: 10n }, maxPrice: 1000n, minCollateral: 0n, schemes: ['lottery'], regions: [], maxLatencyMs: 0,
    capabilities: [], servers: 1, expiresAt: NOW + 60_000, seq: 1n, sig: SIG, ...over,
  }
}

const book = (rank?: Rank) => {
  const clock = manualClock(NOW)
  return { clock, b: createOrderBook({ service: 'cdn', clock, rank }) }
}
/** A match as (buyer, server, price), names decoded back from the addresses. */
const name = (a: Address) => Buffer.from(a.slice(2), 'hex').toString().replace(/^\0+/, '')
const show = (ms: Match[]) => ms.map((m) => `${name(m.ask.buyer)}#${m.ask.seq}->${name(m.offer.server)}#${m.offer.seq}@${m.price}`)
const clearOne = (offers: Offer[], a: Ask) => {
  const { b } = book()
  for (const o of offers) b.addOffer(o)
  b.addAsk(a)
  return show(b.clear())
}

function rejects(fn: () => unknown, reason: string) {
  assert.throws(fn, (e: unknown) => e instanceof MarketRejectedError && e.reason === reason)
}

test('options: a bad service, a missing clock or a non-function rank is a ValidationError', () => {
  const clock = manualClock(0)
  for (const o of [{ service: 'CDN', clock }, { service: '', clock }, { service: 'cdn' }, { service: 'cdn', clock, rank: 3 }, null]) {
    assert.throws(() => createOrderBook(o as never), ValidationError, JSON.stringify(o))
  }
  assert.equal(createOrderBook({ service: 'cdn', clock }).service, 'cdn')
})

test('refusals: another service, an expired offer or ask, an old sequence number, the same ask twice', () => {
  const { b } = book()
  rejects(() => b.addOffer(offer('s', { service: 'storage' })), 'wrong-service')
  rejects(() => b.addAsk(ask('b', { service: 'storage' })), 'wrong-service')
  rejects(() => b.addOffer(offer('s', { expiresAt: NOW })), 'expired')
  rejects(() => b.addAsk(ask('b', { expiresAt: NOW })), 'expired')
  assert.equal(b.addOffer(offer('s', { seq: 5n })), 'added')
  rejects(() => b.addOffer(offer('s', { seq: 5n })), 'replayed')
  rejects(() => b.addOffer(offer('s', { seq: 4n })), 'replayed')
  b.addAsk(ask('b', { seq: 2n }))
  rejects(() => b.addAsk(ask('b', { seq: 2n })), 'replayed')
  b.addAsk(ask('b', { seq: 3n })) // a buyer may hold several asks
  assert.deepEqual(b.size(), { offers: 1, asks: 2 })
})

test('constraints one by one: the offer meeting all matches; failing any one alone, nothing', () => {
  const a = ask('b', {
    resources: { bytes: 100, bandwidthBps: 50, durationSec: 60, computeUnits: 2 }, minCollateral: 5n, schemes: ['channel', 'lottery'],
    regions: ['eu', 'us'], maxLatencyMs: 30, capabilities: ['h3', 'v6'], maxPrice: 100n, usage: { chunks: 10n },
  })
  const good: Partial<Offer> = {
    resources: { bytes: 100, bandwidthBps: 50, durationSec: 60, computeUnits: 2 }, collateral: 5n, schemes: ['lottery'], region: 'us',
    latencyMs: 30, capabilities: ['v6', 'h3', 'gpu'], price: perChunk(10n),
  }
  assert.deepEqual(clearOne([offer('s', good)], a), ['b#1->s#1@100'], 'every bound met exactly')
  const bad: [string, Partial<Offer>][] = [
    ['bytes', { resources: { ...good.resources!, bytes: 99 } }],
    ['bandwidth', { resources: { ...good.resources!, bandwidthBps: 49 } }],
    ['duration', { resources: { ...good.resources!, durationSec: 59 } }],
    ['compute', { resources: { ...good.resources!, computeUnits: 1 } }],
    ['collateral', { collateral: 4n }],
    ['scheme', { schemes: ['microcash'] }],
    ['region', { region: 'ap' }],
    ['latency', { latencyMs: 31 }],
    ['capability', { capabilities: ['h3', 'gpu'] }],
    ['price cap', { price: perChunk(11n) }],
    ['price cap by base', { price: { kind: 'linear', base: 1n, rates: [{ usage: 'chunks', price: 10n, per: 1n }] } }],
  ]
  for (const [what, over] of bad) {
    const o = offer('s', { ...good, ...over })
    assert.notEqual(unmet(a, o), undefined, what)
    assert.deepEqual(clearOne([o], a), [], what)
  }
  // The float bound of 7/3 per chunk × 27 chunks is 63.00000000000001: the book must still find the offer at a cap of 63.
  const third = offer('s', { price: { kind: 'per-chunk', base: 0n, rates: [{ usage: 'chunks', price: 7n, per: 3n }] } })
  assert.deepEqual(clearOne([third], ask('b', { usage: { chunks: 27n }, maxPrice: 63n })), ['b#1->s#1@63'])
  const huge = (1n << 100n) + 1n // not a double: its bound rounds
  assert.deepEqual(clearOne([offer('s', { price: perChunk(huge) })], ask('b', { usage: { chunks: 3n }, maxPrice: huge * 3n })), [`b#1->s#1@${huge * 3n}`])
  assert.deepEqual(clearOne([offer('s', { price: perChunk(huge) })], ask('b', { usage: { chunks: 3n }, maxPrice: huge * 3n - 1n })), [])
  // 3 × 2^24 - 1 per chunk rounds UP to a float32 (by 2e-8, above the bound's slack): the tree must round it down.
  const odd = 3n * 2n ** 24n - 1n
  assert.deepEqual(clearOne([offer('s', { price: perChunk(odd) })], ask('b', { usage: { chunks: 1000n }, maxPrice: odd * 1000n })), [`b#1->s#1@${odd * 1000n}`])
  // Neighbours that doubles and float32 cannot tell apart: only the exact check decides.
  const col = (1n << 100n) + 1n, lat = 2 ** 40 + 1, bytes = 2 ** 45 + 1
  const near = offer('s', { collateral: col, latencyMs: lat, resources: { bytes, bandwidthBps: 1000, durationSec: 3600, computeUnits: 10 } })
  assert.deepEqual(clearOne([near], ask('b', { minCollateral: col, maxLatencyMs: lat, resources: { bytes, bandwidthBps: 1, durationSec: 1, computeUnits: 0 } })), ['b#1->s#1@100'])
  assert.deepEqual(clearOne([near], ask('b', { minCollateral: col + 1n })), [])
  assert.deepEqual(clearOne([near], ask('b', { maxLatencyMs: lat - 1 })), [])
  assert.deepEqual(clearOne([near], ask('b', { resources: { bytes: bytes + 1, bandwidthBps: 1, durationSec: 1, computeUnits: 0 } })), [])
  // Any region when the ask names none; any latency when its bound is 0.
  assert.deepEqual(clearOne([offer('s', { ...good, region: 'ap', latencyMs: 999 })], { ...a, regions: [], maxLatencyMs: 0 }), ['b#1->s#1@100'])
})

test('ranking: the cheapest offers for the ask usage, ties by arrival; the match pays the offer price', () => {
  const offers = [
    offer('s1', { price: perChunk(7n) }),
    offer('s2', { price: perChunk(5n) }),
    offer('s3', { price: { kind: 'linear', base: 20n, rates: [{ usage: 'chunks', price: 3n, per: 1n }] } }), // 20 + 30 = 50 for 10 chunks
    offer('s4', { price: perChunk(5n) }),
    offer('s5', { price: { kind: 'linear', base: 50n, rates: [] } }), // flat 50
  ]
  assert.deepEqual(clearOne(offers, ask('b', { servers: 4 })), ['b#1->s2#1@50', 'b#1->s3#1@50', 'b#1->s4#1@50', 'b#1->s5#1@50'])
  // Rates with `per`: 10 chunks at 7/5 cost 14, at 3/2 cost 15.
  const perOffers = [
    offer('p1', { price: { kind: 'per-chunk', base: 0n, rates: [{ usage: 'chunks', price: 3n, per: 2n }] } }),
    offer('p2', { price: { kind: 'per-chunk', base: 0n, rates: [{ usage: 'chunks', price: 7n, per: 5n }] } }),
  ]
  assert.deepEqual(clearOne(perOffers, ask('b', { servers: 2, usage: { chunks: 10n } })), ['b#1->p2#1@14', 'b#1->p1#1@15'])
  // Rounding makes different rates cost the same: ties go by arrival, not by rate.
  assert.deepEqual(clearOne(perOffers, ask('b', { servers: 1, usage: { chunks: 1n } })), ['b#1->p1#1@2'])
})

test('offers with the same base but other rates are not priced alike: none is skipped as a tie', () => {
  const lin = (base: bigint, perChunkPrice: bigint): PriceModel => ({ kind: 'linear', base, rates: [{ usage: 'chunks', price: perChunkPrice, per: 1n }, { usage: 'units', price: 1n, per: 1n }] })
  const offers = [
    offer('c', { price: perChunk(3n) }), // its group is walked first: 30 for 10 chunks, the bound to beat
    offer('a', { price: lin(5n, 10n) }), // 105
    offer('b', { price: lin(5n, 1n) }), // 15: same base as a, cheaper
    offer('f1', { price: { kind: 'linear', base: 40n, rates: [] } }), // flat 40, twice: a real tie
    offer('f2', { price: { kind: 'linear', base: 40n, rates: [] } }),
  ]
  assert.deepEqual(clearOne(offers, ask('x', { servers: 1 })), ['x#1->b#1@15'])
  assert.deepEqual(clearOne(offers, ask('x', { servers: 4 })), ['x#1->b#1@15', 'x#1->c#1@30', 'x#1->f1#1@40', 'x#1->f2#1@40'])
})

test('asks are served highest cap first, ties by arrival, each taking the cheapest offer left', () => {
  const { b } = book()
  b.addOffer(offer('cheap', { price: perChunk(1n), resources: { bytes: 100, bandwidthBps: 100, durationSec: 3600, computeUnits: 1 } }))
  b.addOffer(offer('dear', { price: perChunk(2n) }))
  b.addAsk(ask('low', { maxPrice: 100n }))
  b.addAsk(ask('high1', { maxPrice: 500n }))
  b.addAsk(ask('high2', { maxPrice: 500n }))
  assert.deepEqual(show(b.clear()), ['high1#1->cheap#1@10', 'high2#1->dear#1@20', 'low#1->dear#1@20'])
  assert.deepEqual(b.asks(), [])
})

test('distinct servers: an ask short of servers stays with the rest of its need and never gets a server twice', () => {
  const { b } = book()
  b.addOffer(offer('s1', { price: perChunk(1n) }))
  b.addOffer(offer('s2', { price: perChunk(2n) }))
  b.addAsk(ask('b', { servers: 3 }))
  assert.deepEqual(show(b.clear()), ['b#1->s1#1@10', 'b#1->s2#1@20'])
  const left = b.asks()
  assert.equal(left.length, 1)
  assert.equal(left[0].need, 1)
  assert.deepEqual(left[0].servers.map(name), ['s1', 's2'])
  assert.deepEqual(show(b.clear()), [], 'nothing new: s1 and s2 already serve it')
  b.addOffer(offer('s3', { price: perChunk(9n) }))
  assert.deepEqual(show(b.clear()), ['b#1->s3#1@90'], 'the cheaper s1, s2 are skipped')
  assert.deepEqual(b.asks(), [])
})

test('capacity: each match consumes bytes, bandwidth and compute units; duration is a limit; a full offer is not matched again', () => {
  const { b } = book()
  b.addOffer(offer('s', { resources: { bytes: 250, bandwidthBps: 1000, durationSec: 60, computeUnits: 10 } }))
  for (const n of ['a1', 'a2', 'a3']) b.addAsk(ask(n, { resources: { bytes: 100, bandwidthBps: 10, durationSec: 60, computeUnits: 1 } }))
  assert.deepEqual(show(b.clear()), ['a1#1->s#1@100', 'a2#1->s#1@100'])
  assert.deepEqual(b.offers()[0].remaining, { bytes: 50, bandwidthBps: 980, durationSec: 60, computeUnits: 8 })
  b.addAsk(ask('a4', { resources: { bytes: 50, bandwidthBps: 980, durationSec: 60, computeUnits: 8 } }))
  assert.deepEqual(show(b.clear()), ['a4#1->s#1@100'], 'a3 (100 bytes) does not fit; a4 takes exactly what is left')
  assert.deepEqual(b.offers()[0].remaining, { bytes: 0, bandwidthBps: 0, durationSec: 60, computeUnits: 0 })
  b.addAsk(ask('zero', { resources: { bytes: 0, bandwidthBps: 0, durationSec: 0, computeUnits: 0 } }))
  assert.deepEqual(show(b.clear()), [], 'no room left: not even an ask needing nothing')
  assert.deepEqual(b.asks().map((a) => name(a.ask.buyer)), ['a3', 'zero'])
  // Room in one component is room: bandwidth left, bytes gone.
  const { b: b2 } = book()
  b2.addOffer(offer('s', { resources: { bytes: 100, bandwidthBps: 1000, durationSec: 60, computeUnits: 0 } }))
  b2.addAsk(ask('x', { resources: { bytes: 100, bandwidthBps: 10, durationSec: 0, computeUnits: 0 } }))
  b2.addAsk(ask('y', { resources: { bytes: 0, bandwidthBps: 10, durationSec: 0, computeUnits: 0 } }))
  assert.deepEqual(show(b2.clear()), ['x#1->s#1@100', 'y#1->s#1@100'])
})

test('replacement: a newer offer from the same server replaces the old one (its terms, fresh capacity, a new arrival)', () => {
  const { b } = book()
  b.addOffer(offer('s1', { seq: 1n, price: perChunk(5n), resources: { bytes: 100, bandwidthBps: 100, durationSec: 3600, computeUnits: 1 } }))
  b.addOffer(offer('s2', { seq: 1n, price: perChunk(5n) }))
  b.addAsk(ask('a'))
  assert.deepEqual(show(b.clear()), ['a#1->s1#1@50'], 's1 came first')
  assert.deepEqual(b.offers().find((o) => name(o.offer.server) === 's1')!.remaining.bytes, 0)
  assert.equal(b.addOffer(offer('s1', { seq: 2n, price: perChunk(5n) })), 'replaced')
  assert.equal(b.size().offers, 2)
  b.addAsk(ask('b'))
  assert.deepEqual(show(b.clear()), ['b#1->s2#1@50'], 'same price: the replaced s1 is now behind s2')
  b.addOffer(offer('s1', { seq: 3n, price: perChunk(4n) }))
  b.addAsk(ask('c'))
  assert.deepEqual(show(b.clear()), ['c#1->s1#3@40'], 'the new terms apply')
  assert.equal(b.offers().find((o) => name(o.offer.server) === 's1')!.remaining.bytes, 900, 'fresh capacity, minus this match')
})

test('expiry: expired offers and asks are pruned before clearing; remove and cancel take them out', () => {
  const { b, clock } = book()
  b.addOffer(offer('short', { price: perChunk(1n), expiresAt: NOW + 100 }))
  b.addOffer(offer('long', { price: perChunk(2n), expiresAt: NOW + 1000 }))
  b.addAsk(ask('a-short', { expiresAt: NOW + 100, maxPrice: 9999n }))
  b.addAsk(ask('a-long', { expiresAt: NOW + 1000 }))
  clock.advance(100)
  assert.deepEqual(b.prune(), { offers: 1, asks: 1 })
  assert.deepEqual(b.prune(), { offers: 0, asks: 0 })
  b.addAsk(ask('a-gone', { expiresAt: NOW + 500 }))
  clock.advance(400)
  assert.deepEqual(show(b.clear()), ['a-long#1->long#1@20'], 'a-gone expired at the clearing itself')
  assert.deepEqual(b.size(), { offers: 1, asks: 0 })
  b.addAsk(ask('x', { seq: 7n }))
  assert.equal(b.cancelAsk(addr('x'), 7n), true)
  assert.equal(b.cancelAsk(addr('x'), 7n), false)
  assert.equal(b.removeOffer(addr('long')), true)
  assert.equal(b.removeOffer(addr('long')), false)
  b.addAsk(ask('y'))
  assert.deepEqual(show(b.clear()), [])
  assert.equal(b.addOffer(offer('long', { seq: 1n })), 'added', 'a removed server may post again')
})

test('a custom rank orders the candidates (lower first, ties by arrival, NaN last); the price cap still holds', () => {
  const byLatency: Rank = (_a, o) => o.latencyMs
  const offers = [
    offer('far', { latencyMs: 90, price: perChunk(1n) }),
    offer('near', { latencyMs: 10, price: perChunk(9n) }),
    offer('mid', { latencyMs: 50, price: perChunk(5n) }),
    offer('dear', { latencyMs: 1, price: perChunk(200n) }),
  ]
  const { b } = book(byLatency)
  for (const o of offers) b.addOffer(o)
  b.addAsk(ask('a', { servers: 2 }))
  assert.deepEqual(show(b.clear()), ['a#1->near#1@90', 'a#1->mid#1@50'])
  // NaN for the cheapest offer (scanned first): it still ranks last.
  const { b: b2 } = book((_a, o) => (o.latencyMs === 90 ? NaN : -o.latencyMs))
  for (const o of offers) b2.addOffer(o)
  b2.addAsk(ask('a', { servers: 3 }))
  assert.deepEqual(show(b2.clear()), ['a#1->mid#1@50', 'a#1->near#1@90', 'a#1->far#1@10'])
})

test('adversary: one server posting many offers under one address serves an ask at most once', () => {
  const { b } = book()
  const base = addr('sybil')
  for (let i = 1; i <= 20; i++) {
    const server = (i % 2 === 0 ? base.toUpperCase().replace('0X', '0x') : base) as Address
    b.addOffer(offer('sybil', { server, peer: `peer-${i}`, seq: BigInt(i), price: perChunk(1n) }))
  }
  rejects(() => b.addOffer(offer('sybil', { seq: 3n, peer: 'old' })), 'replayed')
  b.addOffer(offer('honest', { price: perChunk(3n) }))
  assert.equal(b.size().offers, 2)
  b.addAsk(ask('victim', { servers: 5 }))
  assert.deepEqual(show(b.clear()), ['victim#1->sybil#20@10', 'victim#1->honest#1@30'])
  b.addOffer(offer('sybil', { seq: 21n, peer: 'again', price: perChunk(0n) }))
  assert.deepEqual(show(b.clear()), [], 'a fresh offer does not make it a new server for the same ask')
  assert.equal(b.asks()[0].need, 3)
})

test('adversary: an offer priced above every cap, or with zero capacity, matches nothing', () => {
  const { b } = book()
  b.addOffer(offer('greedy', { price: perChunk(10n ** 30n) }))
  b.addOffer(offer('empty', { price: perChunk(0n), resources: { bytes: 0, bandwidthBps: 0, durationSec: 3600, computeUnits: 0 } }))
  b.addOffer(offer('fair', { price: perChunk(10n) }))
  for (let i = 0; i < 5; i++) {
    b.addAsk(ask(`b${i}`, { maxPrice: 1000n * BigInt(i + 1), servers: 3 }))
    b.addAsk(ask(`z${i}`, { maxPrice: 10n ** 20n, servers: 3, resources: { bytes: 0, bandwidthBps: 0, durationSec: 0, computeUnits: 0 } }))
  }
  const ms = b.clear()
  assert.equal(ms.length, 10)
  assert.ok(ms.every((m) => name(m.offer.server) === 'fair'), show(ms).join(' '))
})

// ---------- random books (seeded) ----------

const REGIONS = ['eu', 'us', 'ap']
const SCHEMES = ['lottery', 'channel']
const CAPS = ['h3', 'v6']
const int = (r: Rng, lo: number, hi: number) => lo + randomBelow(r, hi - lo + 1)
const big = (r: Rng, lo: number, hi: number) => BigInt(int(r, lo, hi))
const chance = (r: Rng, pct: number) => randomBelow(r, 100) < pct
const subset = (r: Rng, xs: string[], min: number) => {
  const s = xs.filter(() => chance(r, 50))
  return s.length >= min ? s : xs.slice(0, min)
}

function randomPrice(r: Rng): PriceModel {
  switch (randomBelow(r, 6)) {
    case 0: return { kind: 'linear', base: big(r, 0, 20), rates: [] }
    case 1: return { kind: 'linear', base: big(r, 0, 5), rates: [{ usage: 'chunks', price: big(r, 0, 5), per: 1n }, { usage: 'units', price: big(r, 0, 9), per: big(r, 1, 3) }] }
    case 2: return perUnit(big(r, 0, 6))
    case 3: return { kind: 'per-chunk', base: big(r, 0, 4), rates: [{ usage: 'chunks', price: big(r, 0, 9), per: big(r, 1, 4) }] }
    default: return perChunk(big(r, 0, 4))
  }
}
/**
 * How random books are drawn: `huge` moves every amount next to a large power of two (resources by 2^45, latency by
 * 2^40, collateral by 2^100, rates by 2^90), where doubles and float32 no longer tell neighbours apart, so only the
 * exact checks decide; `needMin` makes every ask need at least that much bytes and bandwidth (a book floor above 0).
 */
interface Shape { huge?: boolean; needMin?: number }
const H_RES = 2 ** 45, H_LAT = 2 ** 40, H_COL = 1n << 100n, H_PRICE = 1n << 90n

function randomOffer(r: Rng, server: string, seq: bigint, now: number, shape: Shape = {}): Offer {
  const o = randomOfferSmall(r, server, seq, now)
  if (!shape.huge) return o
  const res = o.resources
  return {
    ...o, latencyMs: H_LAT + o.latencyMs, collateral: H_COL + o.collateral,
    resources: { bytes: H_RES + res.bytes, bandwidthBps: H_RES + res.bandwidthBps, durationSec: H_RES + res.durationSec, computeUnits: res.computeUnits },
    price: { ...o.price, rates: o.price.rates.map((x) => ({ ...x, price: H_PRICE + x.price })) },
  }
}
function randomAsk(r: Rng, buyer: string, seq: bigint, now: number, shape: Shape = {}): Ask {
  let a = randomAskSmall(r, buyer, seq, now)
  const m = shape.needMin ?? 0
  if (m > 0) a = { ...a, resources: { ...a.resources, bytes: Math.max(m, a.resources.bytes), bandwidthBps: Math.max(m, a.resources.bandwidthBps) } }
  if (!shape.huge) return a
  const res = a.resources
  return {
    ...a, maxLatencyMs: a.maxLatencyMs === 0 ? 0 : H_LAT + a.maxLatencyMs, minCollateral: a.minCollateral === 0n ? 0n : H_COL + a.minCollateral,
    resources: { bytes: H_RES + res.bytes, bandwidthBps: H_RES + res.bandwidthBps, durationSec: H_RES + res.durationSec, computeUnits: res.computeUnits },
    maxPrice: (a.maxPrice / 5n) * H_PRICE + a.maxPrice * 7n, // a few units of 2^90, plus a little
  }
}
function randomOfferSmall(r: Rng, server: string, seq: bigint, now: number): Offer {
  return offer(server, {
    seq, price: randomPrice(r), collateral: big(r, 0, 3), schemes: subset(r, SCHEMES, 1), region: REGIONS[randomBelow(r, 3)],
    latencyMs: int(r, 0, 40), capabilities: subset(r, CAPS, 0), expiresAt: now + int(r, 1, 60),
    resources: { bytes: int(r, 0, 12), bandwidthBps: int(r, 0, 6), durationSec: int(r, 0, 6), computeUnits: int(r, 0, 3) },
  })
}
function randomAskSmall(r: Rng, buyer: string, seq: bigint, now: number): Ask {
  return ask(buyer, {
    seq, maxPrice: big(r, 0, 40), minCollateral: chance(r, 50) ? 0n : big(r, 0, 3), schemes: subset(r, SCHEMES, 1),
    regions: chance(r, 40) ? [] : subset(r, REGIONS, 1), maxLatencyMs: chance(r, 50) ? 0 : int(r, 1, 40), capabilities: chance(r, 60) ? [] : subset(r, CAPS, 0),
    servers: int(r, 1, 3), expiresAt: now + int(r, 1, 60),
    usage: chance(r, 20) ? {} : { chunks: big(r, 0, 6), ...(chance(r, 40) ? { units: big(r, 0, 4) } : {}) },
    resources: { bytes: int(r, 0, 5), bandwidthBps: int(r, 0, 3), durationSec: int(r, 0, 6), computeUnits: int(r, 0, 1) },
  })
}

test('meets (the book\'s split constraint test) equals unmet on random pairs, small and huge amounts', () => {
  fc.assert(fc.property(fc.integer(), fc.boolean(), (seed, huge) => {
    const r = seededRng(`book/meets/${seed}/${huge}`)
    for (let i = 0; i < 20; i++) {
      const o = randomOffer(r, 's', 1n, NOW, { huge })
      const a = chance(r, 5) ? { ...randomAsk(r, 'b', 1n, NOW, { huge }), service: 'storage' } : randomAsk(r, 'b', 1n, NOW, { huge })
      assert.equal(meets(a, o), unmet(a, o) === undefined, `${unmet(a, o)}`)
    }
  }), { numRuns: 300 })
})

const key = (m: Match) => `${m.ask.buyer}|${m.ask.seq}|${m.offer.server}|${m.offer.seq}|${m.price}`

/** Random operations on a book; at each clearing, the book's result and state equal the reference's. */
function clearsLikeReference(seed: number, rank?: Rank, shape: Shape = {}): number {
  const r = seededRng(`book/reference/${seed}/${rank ? 'rank' : 'price'}/${JSON.stringify(shape)}`)
  const { b, clock } = book(rank)
  const seqs = new Map<string, bigint>()
  const nextSeq = (k: string) => { const s = (seqs.get(k) ?? 0n) + 1n; seqs.set(k, s); return s }
  let matched = 0
  for (let step = 0; step < 60; step++) {
    const op = randomBelow(r, 100)
    if (op < 40) {
      const s = `s${randomBelow(r, 10)}`
      b.addOffer(randomOffer(r, s, nextSeq(s), clock.now(), shape))
    } else if (op < 75) {
      const n = `b${randomBelow(r, 6)}`
      b.addAsk(randomAsk(r, n, nextSeq(n), clock.now(), shape))
    } else if (op < 79) {
      b.removeOffer(addr(`s${randomBelow(r, 10)}`))
    } else if (op < 83) {
      const left = b.asks()
      if (left.length > 0) { const a = left[randomBelow(r, left.length)].ask; assert.equal(b.cancelAsk(a.buyer, a.seq), true) }
    } else if (op < 88) {
      clock.advance(int(r, 0, 15))
    } else {
      b.prune()
      const before = { asks: b.asks(), offers: b.offers() }
      const want = naiveClear(before.asks, before.offers, rank)
      const got = b.clear()
      assert.deepEqual(got.map(key), want.matches.map(key), `seed ${seed} step ${step}`)
      assert.deepEqual(b.asks().map((a) => ({ ...a, ask: a.ask.seq })), want.asks.map((a) => ({ ...a, ask: a.ask.seq })))
      assert.deepEqual(b.offers().map((o) => o.remaining), want.offers.map((o) => o.remaining))
      matched += got.length
    }
  }
  return matched
}

test('clear() equals the brute-force reference clearing on random books and operation sequences', () => {
  let matched = 0
  fc.assert(fc.property(fc.integer(), (seed) => { matched += clearsLikeReference(seed) }), { numRuns: 250 })
  assert.ok(matched > 500, `the random books must produce matches (got ${matched})`)
})

test('clear() equals the reference with huge amounts (rounding never decides) and with a floor above zero', () => {
  let huge = 0, floor = 0
  fc.assert(fc.property(fc.integer(), (seed) => { huge += clearsLikeReference(seed, undefined, { huge: true }) }), { numRuns: 150 })
  fc.assert(fc.property(fc.integer(), (seed) => { floor += clearsLikeReference(seed, undefined, { needMin: 2 }) }), { numRuns: 150 })
  assert.ok(huge > 150 && floor > 150, `the random books must produce matches (got ${huge}, ${floor})`)
})

test('more capability and scheme names than mask bits: the rest are checked by set, matching stays exact', () => {
  const caps = Array.from({ length: 40 }, (_, i) => `cap-${i}`), schemes = Array.from({ length: 8 }, (_, i) => `pay-${i}`)
  let matched = 0
  for (let seed = 0; seed < 30; seed++) {
    const r = seededRng(`book/names/${seed}`)
    const { b } = book()
    const pickSome = (xs: string[], n: number) => Array.from({ length: n }, () => xs[randomBelow(r, xs.length)])
    const mkAsk = (i: number) => ({ ...randomAsk(r, `b${i}`, 1n, NOW), capabilities: pickSome(caps, randomBelow(r, 3)), schemes: pickSome(schemes, 1 + randomBelow(r, 2)) })
    for (let i = 0; i < 10; i++) b.addAsk(mkAsk(i)) // before any offer: their names get no bits yet
    for (let i = 0; i < 30; i++) b.addOffer({ ...randomOffer(r, `s${i}`, 1n, NOW), capabilities: pickSome(caps, 10 + randomBelow(r, 20)), schemes: pickSome(schemes, 1 + randomBelow(r, 4)) })
    for (let i = 10; i < 20; i++) b.addAsk(mkAsk(i))
    const want = naiveClear(b.asks(), b.offers())
    const got = b.clear()
    assert.deepEqual(got.map(key), want.matches.map(key), `seed ${seed}`)
    matched += got.length
  }
  assert.ok(matched > 20, `matches: ${matched}`)
})

test('clear() with a custom rank equals the reference too', () => {
  const rank: Rank = (a, o) => (o.latencyMs % 7) * 3 - Number(o.collateral) + (a.servers === 2 ? 0.5 : 0)
  fc.assert(fc.property(fc.integer(), (seed) => { clearsLikeReference(seed, rank) }), { numRuns: 100 })
})

test('a realistic book of 2,000 x 2,000 clears like the reference', () => {
  const r = seededRng('book/large')
  const { b } = book()
  for (let i = 0; i < 2000; i++) {
    b.addOffer(offer(`s${i}`, {
      price: perChunk(big(r, 1, 200)), region: REGIONS[randomBelow(r, 3)], collateral: big(r, 0, 100), capabilities: subset(r, CAPS, 0),
      schemes: subset(r, SCHEMES, 1), latencyMs: int(r, 5, 150), resources: { bytes: int(r, 100, 2000), bandwidthBps: 1000, durationSec: 3600, computeUnits: 10 },
    }))
  }
  for (let i = 0; i < 2000; i++) {
    b.addAsk(ask(`b${i}`, {
      maxPrice: big(r, 100, 2000), usage: { chunks: big(r, 1, 10) }, regions: chance(r, 30) ? [] : [REGIONS[randomBelow(r, 3)]],
      minCollateral: chance(r, 70) ? 0n : big(r, 0, 100), capabilities: chance(r, 80) ? [] : [CAPS[randomBelow(r, 2)]], servers: int(r, 1, 5),
      schemes: subset(r, SCHEMES, 1), maxLatencyMs: chance(r, 50) ? 0 : int(r, 20, 150), resources: { bytes: int(r, 10, 300), bandwidthBps: 10, durationSec: 60, computeUnits: 0 },
    }))
  }
  const want = naiveClear(b.asks(), b.offers())
  const got = b.clear()
  assert.ok(got.length > 2000)
  assert.deepEqual(got.map(key), want.matches.map(key))
})
