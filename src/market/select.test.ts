import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Address, Hex } from 'viem'
import { manualClock } from '../core/clock.js'
import { ValidationError } from '../core/errors.js'
import { seededRng } from '../crypto/rng.js'
import { unmet } from './check.js'
import { marketFixtures, type Party } from './fixtures.js'
import { createReputation, type ReputationView, type ServerStatus } from './reputation.js'
import { perChunk, type Ask, type AskBody, type Offer, type OfferBody } from './schema.js'
import { eligible, latencyAware, powerOfTwo, subnetGroups, sybilResistant, unitFloat, weightedDraw, withNewServerShare, type SelectionStrategy } from './select.js'

const fx = marketFixtures({ seed: 'select-test', now: 1_000 })
// Selection never verifies signatures (the checker did): a fixed dummy signature keeps the tests fast.
const SIG = ('0x' + '11'.repeat(65)) as Hex
const addr = (i: number) => ('0x' + (i + 1).toString(16).padStart(40, '0')) as Address
const party = (i: number): Party => ({ name: `s${i}`, key: '0x' as Hex, address: addr(i), peer: `s${i}` })
const buyer: Party = { name: 'b', key: '0x' as Hex, address: ('0x' + 'b'.repeat(40)) as Address, peer: 'b' }
/** Server i, at /ip4/10.<i/256>.<i%256>.1 (its own /24) unless `over` says otherwise. */
function offer(i: number, over: Partial<OfferBody> = {}): Offer {
  return { ...fx.offerBody(party(i), { addresses: [`/ip4/10.${i >> 8}.${i & 255}.1/tcp/4001`], seq: 1n, ...over }), sig: SIG }
}
function ask(over: Partial<AskBody> = {}): Ask {
  return { ...fx.askBody(buyer, { seq: 1n, ...over }), sig: SIG }
}
/** A reputation view from tables (default: vetted, 0.5). */
function view(scores: Record<number, number> = {}, statuses: Record<number, ServerStatus> = {}): ReputationView {
  const s = new Map(Object.entries(scores).map(([i, v]) => [addr(Number(i)), v]))
  const st = new Map(Object.entries(statuses).map(([i, v]) => [addr(Number(i)), v]))
  return { score: (a) => s.get(a.toLowerCase() as Address) ?? 0.5, status: (a) => st.get(a.toLowerCase() as Address) ?? 'vetted' }
}
const servers = (xs: readonly Offer[]) => xs.map((o) => o.server)
const idx = (o: Offer) => Number(BigInt(o.server)) - 1

/** Counts, over `runs` selections on one seeded stream, how often each server index is picked first. */
function firstPicks(s: SelectionStrategy, a: Ask, cands: Offer[], runs: number, ctx: Omit<Parameters<SelectionStrategy['select']>[3], 'rng'> = {}, n = 1): Map<number, number> {
  const rng = seededRng(`freq-${s.name}`)
  const counts = new Map<number, number>()
  for (let t = 0; t < runs; t++) {
    const p = s.select(a, cands, n, { ...ctx, rng })
    counts.set(idx(p[0]), (counts.get(idx(p[0])) ?? 0) + 1)
  }
  return counts
}
/** `count` of `runs` is within 4.5 binomial standard deviations of runs * p. */
function near(count: number | undefined, runs: number, p: number, what: string): void {
  const c = count ?? 0
  const sd = Math.sqrt(runs * p * (1 - p))
  assert.ok(Math.abs(c - runs * p) <= 4.5 * sd + 1e-9, `${what}: ${c} of ${runs}, expected ${(runs * p).toFixed(1)} ± ${(4.5 * sd).toFixed(1)}`)
}

test('unitFloat: 53 bits in [0, 1), deterministic under a seed', () => {
  assert.equal(unitFloat(() => new Uint8Array(7)), 0)
  assert.equal(unitFloat(() => new Uint8Array(7).fill(255)), (2 ** 53 - 1) / 2 ** 53)
  const a = seededRng('u'), b = seededRng('u')
  for (let i = 0; i < 100; i++) { const x = unitFloat(a); assert.ok(x >= 0 && x < 1); assert.equal(x, unitFloat(b)) }
})

test('eligible: one offer per server (case-insensitive, first kept), meets the ask, not disqualified', () => {
  const a = ask()
  const dup = { ...offer(1, { latencyMs: 99 }), server: addr(1).toUpperCase().replace('0X', '0x') as Address }
  const tooDear = offer(2, { price: perChunk(101n) }) // 101 * 100 chunks > cap 10,000
  const cands = [offer(1), dup, tooDear, offer(3), offer(4)]
  assert.equal(unmet(a, tooDear), 'price 10100 > cap 10000')
  assert.deepEqual(servers(eligible(a, cands, { rng: seededRng('e') })), [addr(1), addr(3), addr(4)])
  assert.deepEqual(servers(eligible(a, cands, { rng: seededRng('e'), reputation: view({}, { 3: 'disqualified', 4: 'new' }) })), [addr(1), addr(4)])
  assert.equal(eligible(a, cands, { rng: seededRng('e') })[0].latencyMs, 20, 'the first offer of a server is kept')
  // ... the first that meets the ask: a server's dear offer does not hide its fitting one.
  const second = offer(2, { price: perChunk(50n) })
  assert.deepEqual(eligible(a, [tooDear, second], { rng: seededRng('e') }), [second])
})

const STRATEGIES: (() => SelectionStrategy)[] = [
  () => weightedDraw(),
  () => weightedDraw({ priceWeight: 1, stakeWeight: 0.5, randWeight: 0.1, reputationWeight: 2, priceScale: 50 }),
  () => weightedDraw({ stakeWeight: 1, randWeight: 0 }),
  () => powerOfTwo(),
  () => latencyAware(),
  () => withNewServerShare(powerOfTwo(), 0.3),
  () => withNewServerShare(weightedDraw()),
]

test('property: every strategy picks min(n, eligible) distinct eligible servers, never a disqualified one, the same under the same seed', () => {
  const serverArb = fc.record({
    score: fc.double({ min: 0, max: 1, noNaN: true }),
    status: fc.constantFrom<ServerStatus>('new', 'vetted', 'vetted', 'disqualified'),
    price: fc.bigInt({ min: 0n, max: 110n }),
    collateral: fc.bigInt({ min: 0n, max: 1000n }),
    latencyMs: fc.integer({ min: 0, max: 500 }),
    measured: fc.option(fc.integer({ min: 0, max: 500 })),
    subnets: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }),
  })
  fc.assert(fc.property(
    fc.array(serverArb, { maxLength: 25 }),
    fc.array(fc.nat(), { maxLength: 40 }),
    fc.integer({ min: 0, max: 30 }),
    fc.string(),
    fc.integer({ min: 0, max: STRATEGIES.length - 1 }),
    (specs, order, n, seed, which) => {
      const offers = specs.map((s, i) => offer(i, { price: perChunk(s.price), collateral: s.collateral, latencyMs: s.latencyMs, addresses: s.subnets.map((x) => `/ip4/10.0.${x}.${i}/tcp/1`) }))
      const cands = order.length > 0 && offers.length > 0 ? order.map((k) => offers[k % offers.length]) : offers
      const reputation = view(Object.fromEntries(specs.map((s, i) => [i, s.score])), Object.fromEntries(specs.map((s, i) => [i, s.status])))
      const latency = (o: Offer) => specs[idx(o)].measured ?? undefined
      const a = ask()
      const ok = new Set(servers(eligible(a, cands, { rng: seededRng(''), reputation })))
      const s = STRATEGIES[which]()
      const run = () => s.select(a, cands, n, { rng: seededRng(seed), reputation, latencyMs: latency })
      const got = run()
      assert.equal(new Set(servers(got)).size, got.length, 'distinct')
      assert.equal(got.length, Math.min(n, ok.size))
      for (const o of got) {
        assert.ok(ok.has(o.server), 'eligible')
        assert.notEqual(reputation.status(o.server), 'disqualified')
        assert.ok(cands.includes(o), 'one of the candidates')
      }
      assert.deepEqual(servers(run()), servers(got), 'deterministic under a seed')
    },
  ), { numRuns: 300 })
})

test('a seed changes the draw: different seeds give different choices (the rng is really used)', () => {
  const cands = Array.from({ length: 20 }, (_, i) => offer(i, { collateral: 10n, latencyMs: 20 }))
  for (const make of STRATEGIES) {
    const s = make()
    const picks = new Set(Array.from({ length: 20 }, (_, k) => servers(s.select(ask(), cands, 3, { rng: seededRng(`d${k}`), reputation: view() })).join()))
    assert.ok(picks.size > 1, `${s.name} always picks the same`)
  }
})

test('weightedDraw: each term shifts the first pick to its exact probability (within 4.5 binomial sd)', () => {
  const runs = 3000
  // Stake only: collateral 1 : 2 : 5.
  const stake = [offer(0, { collateral: 1n }), offer(1, { collateral: 2n }), offer(2, { collateral: 5n })]
  const c1 = firstPicks(weightedDraw({ stakeWeight: 1, randWeight: 0 }), ask(), stake, runs)
  near(c1.get(0), runs, 1 / 8, 'stake 1'); near(c1.get(1), runs, 2 / 8, 'stake 2'); near(c1.get(2), runs, 5 / 8, 'stake 5')
  // Livepeer defaults 0.7 stake + 0.3 random: collateral 0, 10, 30 -> 0.1, 0.275, 0.625.
  const lp = [offer(0, { collateral: 0n }), offer(1, { collateral: 10n }), offer(2, { collateral: 30n })]
  const c2 = firstPicks(weightedDraw(), ask(), lp, runs)
  near(c2.get(0), runs, 0.1, 'no stake'); near(c2.get(1), runs, 0.275, 'stake 10'); near(c2.get(2), runs, 0.625, 'stake 30')
  // Price only: 0 and 100 for the ask's 100 chunks, scale 100 -> e^0 : e^-1.
  const price = [offer(0, { price: perChunk(0n) }), offer(1, { price: perChunk(1n) })]
  const c3 = firstPicks(weightedDraw({ priceWeight: 1, stakeWeight: 0, randWeight: 0, priceScale: 100 }), ask(), price, runs)
  near(c3.get(0), runs, 1 / (1 + Math.exp(-1)), 'cheap')
  // Prices far above the scale do not underflow the term: 9,900 and 10,000 at scale 100 are still e^0 : e^-1.
  const dear = [offer(0, { price: perChunk(99n) }), offer(1, { price: perChunk(100n) })]
  const c4 = firstPicks(weightedDraw({ priceWeight: 1, stakeWeight: 0, randWeight: 0, priceScale: 100 }), ask(), dear, runs)
  near(c4.get(0), runs, 1 / (1 + Math.exp(-1)), 'cheap among dear')
  // ... relative to the cheapest offer still unpicked: after 0 is drawn, 1,000 and 1,001 at scale 1 are e^0 : e^-1.
  const steep = [offer(0, { price: perChunk(0n) }), offer(1, { price: perChunk(1000n) }), offer(2, { price: perChunk(1001n) })]
  const one = ask({ usage: { chunks: 1n } })
  const rng = seededRng('steep')
  let second = 0
  for (let t = 0; t < runs; t++) {
    const p = weightedDraw({ priceWeight: 1, stakeWeight: 0, randWeight: 0, priceScale: 1 }).select(one, steep, 2, { rng }).map(idx)
    assert.equal(p[0], 0)
    if (p[1] === 1) second++
  }
  near(second, runs, 1 / (1 + Math.exp(-1)), 'cheaper of the two left')
  // Reputation only: scores 0.9 and 0.3 -> 3 : 1.
  const rep = [offer(0), offer(1)]
  const c5 = firstPicks(weightedDraw({ reputationWeight: 1, stakeWeight: 0, randWeight: 0 }), ask(), rep, runs, { reputation: view({ 0: 0.9, 1: 0.3 }) })
  near(c5.get(0), runs, 0.75, 'reputation 0.9')
  // ... sharpened by the exponent: 0.9^2 : 0.3^2 = 9 : 1.
  const c5k = firstPicks(weightedDraw({ reputationWeight: 1, reputationExponent: 2, stakeWeight: 0, randWeight: 0 }), ask(), rep, runs, { reputation: view({ 0: 0.9, 1: 0.3 }) })
  near(c5k.get(0), runs, 0.9, 'reputation 0.9, exponent 2')
  // Uniform only: 1/4 each.
  const four = [0, 1, 2, 3].map((i) => offer(i, { collateral: BigInt(i * 100) }))
  const c6 = firstPicks(weightedDraw({ stakeWeight: 0, randWeight: 1 }), ask(), four, runs)
  for (let i = 0; i < 4; i++) near(c6.get(i), runs, 0.25, `uniform ${i}`)
  // More stake weight moves picks to the big stake.
  const big = (w: number) => firstPicks(weightedDraw({ stakeWeight: w, randWeight: 1 - w }), ask(), lp, runs).get(2) ?? 0
  assert.ok(big(0.2) < big(0.5) && big(0.5) < big(0.9))
})

test('weightedDraw: draws without replacement, and a zero-weight server is never drawn while others remain', () => {
  const cands = [offer(0, { collateral: 0n }), offer(1, { collateral: 1n }), offer(2, { collateral: 3n })]
  const s = weightedDraw({ stakeWeight: 1, randWeight: 0 })
  const rng = seededRng('wr')
  let bigSecond = 0
  for (let t = 0; t < 2000; t++) {
    const two = s.select(ask(), cands, 2, { rng })
    assert.deepEqual(new Set(two.map(idx)), new Set([1, 2]), 'the zero-stake server is never among the first two')
    if (idx(two[1]) === 2) bigSecond++
    assert.deepEqual(new Set(s.select(ask(), cands, 3, { rng }).map(idx)), new Set([0, 1, 2]))
  }
  near(bigSecond, 2000, 1 / 4, 'the big stake second (it was first with p = 3/4)')
  // Each later draw renormalizes over the servers still unpicked, the uniform term too: once the three big stakes are
  // picked, p(no stake) = 0.7 * 0 + 0.3 / 2 = 0.15 against p(stake 10) = 0.7 + 0.15.
  const five = [offer(0, { collateral: 1000n }), offer(1, { collateral: 1000n }), offer(2, { collateral: 1000n }), offer(3, { collateral: 0n }), offer(4, { collateral: 10n })]
  let cases = 0, noStakeFourth = 0
  for (let t = 0; t < 3000; t++) {
    const p = weightedDraw().select(ask(), five, 4, { rng }).map(idx)
    if (p.slice(0, 3).every((i) => i < 3)) { cases++; if (p[3] === 3) noStakeFourth++ }
  }
  assert.ok(cases > 1500)
  near(noStakeFourth, cases, 0.15, 'the fourth pick over the two left')
})

test('powerOfTwo: the better of two random servers; the worst is never first, the best first 2/3 of the time of 3', () => {
  const cands = [offer(0), offer(1), offer(2)]
  const reputation = view({ 0: 0.9, 1: 0.5, 2: 0.1 })
  const c = firstPicks(powerOfTwo(), ask(), cands, 3000, { reputation })
  assert.equal(c.get(2), undefined)
  near(c.get(0), 3000, 2 / 3, 'best'); near(c.get(1), 3000, 1 / 3, 'middle')
  // Without a reputation it is a uniform draw.
  const u = firstPicks(powerOfTwo(), ask(), cands, 3000)
  for (let i = 0; i < 3; i++) near(u.get(i), 3000, 1 / 3, `uniform ${i}`)
})

test('latencyAware: best segment / rtt first, the measured latency over the claim, random tiebreak, minScore', () => {
  const cands = [offer(0, { latencyMs: 50 }), offer(1, { latencyMs: 10 }), offer(2, { latencyMs: 30 }), offer(3, { latencyMs: 5 })]
  const measured = (o: Offer) => (idx(o) === 3 ? 400 : undefined) // server 3 claims 5 ms; this peer measured 400
  assert.deepEqual(latencyAware().select(ask(), cands, 4, { rng: seededRng('l'), latencyMs: measured }).map(idx), [1, 2, 0, 3])
  assert.deepEqual(latencyAware().select(ask(), cands, 2, { rng: seededRng('l') }).map(idx), [3, 1], 'without a measurement the claim is used')
  // minScore 10 with 2 s segments: rtt at most 200 ms.
  assert.deepEqual(latencyAware({ minScore: 10 }).select(ask(), cands, 4, { rng: seededRng('l'), latencyMs: measured }).map(idx), [1, 2, 0])
  const tie = [offer(0, { latencyMs: 20 }), offer(1, { latencyMs: 20 }), offer(2, { latencyMs: 90 })]
  const c = firstPicks(latencyAware(), ask(), tie, 2000)
  assert.equal(c.get(2), undefined)
  near(c.get(0), 2000, 0.5, 'tie')
  // A three-way tie behind a clear winner: every order of the three equally likely.
  const three = [offer(0, { latencyMs: 5 }), offer(1, { latencyMs: 40 }), offer(2, { latencyMs: 40 }), offer(3, { latencyMs: 40 }), offer(4, { latencyMs: 90 })]
  const orders = new Map<string, number>()
  const rng = seededRng('three')
  for (let t = 0; t < 3000; t++) {
    const p = latencyAware().select(ask(), three, 4, { rng }).map(idx)
    assert.equal(p[0], 0)
    orders.set(p.slice(1).join(), (orders.get(p.slice(1).join()) ?? 0) + 1)
  }
  assert.equal(orders.size, 6)
  for (const [o, k] of orders) near(k, 3000, 1 / 6, `order ${o}`)
  // No tie, no draw: the rng is not touched.
  let draws = 0
  latencyAware().select(ask(), cands, 4, { rng: (len) => { draws++; return new Uint8Array(len) } })
  assert.equal(draws, 0)
})

test('withNewServerShare: the share of picks that go to new servers, exact in expectation, filled from the other side', () => {
  const statuses: Record<number, ServerStatus> = {}
  for (let i = 0; i < 20; i++) statuses[i] = i < 10 ? 'vetted' : 'new'
  const reputation = view({}, statuses)
  const cands = Array.from({ length: 20 }, (_, i) => offer(i))
  const isNew = (o: Offer) => idx(o) >= 10
  const rng = seededRng('share')
  for (let t = 0; t < 200; t++) {
    const p = withNewServerShare(weightedDraw(), 0.25).select(ask(), cands, 4, { rng, reputation })
    assert.equal(p.filter(isNew).length, 1, '4 x 0.25 = exactly one new')
    assert.ok(!isNew(p[0]) && isNew(p[3]), 'vetted picks first')
    assert.equal(withNewServerShare(powerOfTwo(), 0).select(ask(), cands, 5, { rng, reputation }).filter(isNew).length, 0)
  }
  let newPicks = 0
  for (let t = 0; t < 4000; t++) newPicks += withNewServerShare(powerOfTwo()).select(ask(), cands, 1, { rng, reputation }).filter(isNew).length
  near(newPicks, 4000, 0.05, 'default share 5% of single picks')
  let halves = 0
  for (let t = 0; t < 2000; t++) {
    const k = withNewServerShare(powerOfTwo(), 0.5).select(ask(), cands, 3, { rng, reputation }).filter(isNew).length
    assert.ok(k === 1 || k === 2, `3 x 0.5: 1 or 2 new, got ${k}`)
    if (k === 2) halves++
  }
  near(halves, 2000, 0.5, 'the fraction 0.5 of 1.5')
  // One vetted server: the other picks are new ones; no new server: all vetted.
  const fewVetted = view({}, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [i, i === 0 ? 'vetted' : 'new'])))
  const p = withNewServerShare(powerOfTwo(), 0).select(ask(), cands, 4, { rng, reputation: fewVetted })
  assert.deepEqual([p.length, idx(p[0])], [4, 0])
  assert.equal(withNewServerShare(powerOfTwo(), 1).select(ask(), cands.slice(0, 10), 4, { rng, reputation }).length, 4)
})

test('subnetGroups: the /24 of each IPv4 address, else the server itself', () => {
  assert.deepEqual(subnetGroups(offer(0, { addresses: ['/ip4/192.168.7.20/tcp/1', '/ip4/192.168.7.21/udp/2/quic', '/ip4/8.8.4.4'] })), ['ip4:192.168.7', 'ip4:8.8.4'])
  assert.deepEqual(subnetGroups(offer(0, { addresses: ['/memory/s0', '/dns4/example.com/tcp/1', '/ip4/300.1.1.1/tcp/1', '/ip6/::1/tcp/1'] })), [`server:${addr(0)}`])
  assert.deepEqual(subnetGroups(offer(5, { addresses: [] })), [`server:${addr(5)}`])
})

test('sybilResistant: a Sybil with 50 offers from one /24 gets at most perSubnet picks, whatever its collateral', () => {
  const sybil = Array.from({ length: 50 }, (_, i) => offer(100 + i, { addresses: [`/ip4/10.66.66.${i}/tcp/4001`], collateral: 1_000_000n }))
  const honest = Array.from({ length: 10 }, (_, i) => offer(i, { collateral: 100n }))
  const cands = [...sybil, ...honest]
  const isSybil = (o: Offer) => idx(o) >= 100
  for (const [inner, perSubnet] of [[weightedDraw(), 1], [weightedDraw(), 3], [powerOfTwo(), 1], [latencyAware(), 2]] as const) {
    const s = sybilResistant(inner, { perSubnet })
    for (let t = 0; t < 30; t++) {
      const p = s.select(ask(), cands, 8, { rng: seededRng(`sy${t}`) })
      assert.equal(p.length, 8)
      assert.ok(p.filter(isSybil).length <= perSubnet, `${s.name}: ${p.filter(isSybil).length} Sybil picks`)
    }
  }
  // Without the guard the stake-weighted draw hires almost only the Sybil.
  const unguarded = weightedDraw().select(ask(), cands, 8, { rng: seededRng('sy') })
  assert.ok(unguarded.filter(isSybil).length >= 6)
})

test('sybilResistant: collateral floor, groups without IPv4, an address in two /24s uses both, fewer when nothing fits', () => {
  const s = sybilResistant(weightedDraw({ stakeWeight: 0, randWeight: 1 }), { minCollateral: 10n })
  const poor = Array.from({ length: 5 }, (_, i) => offer(i, { collateral: 9n }))
  const memory = Array.from({ length: 5 }, (_, i) => offer(10 + i, { collateral: 10n, addresses: [`/memory/m${i}`] }))
  for (let t = 0; t < 20; t++) {
    const p = s.select(ask(), [...poor, ...memory], 10, { rng: seededRng(`f${t}`) })
    assert.deepEqual(new Set(p.map(idx)), new Set([10, 11, 12, 13, 14]), 'all five without IPv4 (each its own group), none below the floor')
  }
  // A: 10.1.1.x and 10.2.2.x; B: 10.2.2.x; C: 10.1.1.x. Whoever goes first, A excludes both others, and B and C can
  // go together: the result is {A} or {B, C}.
  const a = offer(20, { collateral: 10n, addresses: ['/ip4/10.1.1.5/tcp/1', '/ip4/10.2.2.5/tcp/1'] })
  const b = offer(21, { collateral: 10n, addresses: ['/ip4/10.2.2.6/tcp/1'] })
  const c = offer(22, { collateral: 10n, addresses: ['/ip4/10.1.1.7/tcp/1'] })
  const outcomes = new Set<string>()
  for (let t = 0; t < 60; t++) outcomes.add(s.select(ask(), [a, b, c], 3, { rng: seededRng(`g${t}`) }).map(idx).sort().join())
  assert.deepEqual([...outcomes].sort(), ['20', '21,22'])
  // perSubnet holds for any inner strategy.
  const crowd = Array.from({ length: 30 }, (_, i) => offer(40 + i, { collateral: 10n, addresses: [`/ip4/10.7.${i % 4}.${i}/tcp/1`] }))
  for (const inner of [powerOfTwo(), latencyAware(), withNewServerShare(weightedDraw(), 0.5)]) {
    const p = sybilResistant(inner, { perSubnet: 2 }).select(ask(), crowd, 30, { rng: seededRng('c'), reputation: view({}, { 41: 'new', 45: 'new' }) })
    assert.equal(p.length, 8, '4 subnets x 2')
    const per = new Map<string, number>()
    for (const o of p) for (const g of subnetGroups(o)) per.set(g, (per.get(g) ?? 0) + 1)
    assert.ok([...per.values()].every((v) => v === 2))
  }
})

test('property: sybilResistant keeps the floor and the /24 limit, and picks until n or nothing fits', () => {
  fc.assert(fc.property(
    fc.array(fc.record({ collateral: fc.bigInt({ min: 0n, max: 20n }), subnets: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }) }), { maxLength: 30 }),
    fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 3 }), fc.bigInt({ min: 0n, max: 20n }), fc.string(),
    (specs, n, perSubnet, minCollateral, seed) => {
      const cands = specs.map((sp, i) => offer(i, { collateral: sp.collateral, addresses: sp.subnets.map((x) => `/ip4/10.0.${x}.${i}/tcp/1`) }))
      const p = sybilResistant(powerOfTwo(), { perSubnet, minCollateral }).select(ask(), cands, n, { rng: seededRng(seed) })
      assert.ok(p.length <= n)
      const used = new Map<string, number>()
      for (const o of p) {
        assert.ok(o.collateral >= minCollateral)
        for (const g of subnetGroups(o)) used.set(g, (used.get(g) ?? 0) + 1)
      }
      assert.ok([...used.values()].every((v) => v <= perSubnet))
      if (p.length < n) {
        const picked = new Set(servers(p))
        for (const o of cands) {
          if (picked.has(o.server) || o.collateral < minCollateral) continue
          assert.ok(subnetGroups(o).some((g) => (used.get(g) ?? 0) >= perSubnet), 'a fitting offer was left out')
        }
      }
    },
  ), { numRuns: 300 })
})

test('adversarial: a server with a slash on chain is ranked below an equal one without; a young slashed one is never hired', () => {
  const rep = createReputation({ clock: manualClock(0) })
  const [A, B, C] = [offer(0), offer(1), offer(2)]
  for (let i = 0; i < 3000; i++) { rep.observe(A.server, { kind: 'proof-passed', source: 'self' }); rep.observe(B.server, { kind: 'proof-passed', source: 'self' }) }
  rep.observe(B.server, { kind: 'slashed', source: 'chain', txHash: '0x' + '5'.repeat(64), logIndex: 0 })
  assert.equal(rep.status(B.server), 'vetted', 'one slash does not disqualify a long-lived perfect server')
  assert.ok(rep.score(B.server) < rep.score(A.server))
  for (let t = 0; t < 50; t++) {
    assert.deepEqual(servers(powerOfTwo().select(ask(), [B, A], 2, { rng: seededRng(`p${t}`), reputation: rep })), [A.server, B.server])
  }
  for (let i = 0; i < 150; i++) rep.observe(C.server, { kind: 'proof-passed', source: 'self' })
  rep.observe(C.server, { kind: 'slashed', source: 'chain', txHash: '0x' + '6'.repeat(64), logIndex: 0 })
  assert.equal(rep.status(C.server), 'disqualified')
  for (const make of STRATEGIES) {
    const p = make().select(ask(), [C, A, B], 3, { rng: seededRng('adv'), reputation: rep })
    assert.ok(!servers(p).includes(C.server), 'a disqualified server is never picked')
    assert.equal(p.length, 2)
  }
})

test('bad n and bad options are refused with ValidationError', () => {
  const cands = [offer(0)]
  for (const n of [-1, 1.5, Number.NaN, Infinity]) {
    for (const make of [...STRATEGIES, () => sybilResistant(powerOfTwo())]) assert.throws(() => make().select(ask(), cands, n, { rng: seededRng('n') }), ValidationError, String(n))
  }
  assert.deepEqual(weightedDraw().select(ask(), cands, 0, { rng: seededRng('n') }), [])
  const bad: (() => unknown)[] = [
    () => weightedDraw({ stakeWeight: -1 }), () => weightedDraw({ priceWeight: Number.NaN }), () => weightedDraw({ stakeWeight: 0, randWeight: 0 }),
    () => weightedDraw({ priceScale: 0 }), () => weightedDraw({ reputationExponent: -1 }), () => latencyAware({ segmentMs: 0 }), () => latencyAware({ minScore: -1 }),
    () => withNewServerShare(powerOfTwo(), 1.5), () => withNewServerShare(powerOfTwo(), Number.NaN),
    () => sybilResistant(powerOfTwo(), { perSubnet: 0 }), () => sybilResistant(powerOfTwo(), { minCollateral: -1n }), () => sybilResistant(powerOfTwo(), { minCollateral: 5 as never }),
  ]
  for (const f of bad) assert.throws(f, ValidationError, f.toString())
})
