/**
 * Pricing: cost-plus arithmetic worked by hand (gas amortization, rounding up, never below cost, the kind per
 * service), the demand-responsive step (directions, the floor, exactness), the competitive price on hand-made
 * curves and against a brute-force definition of market clearing, the discovery loop on seeded random markets (and
 * the baseline that cycles), the honesty rule by hand, as a property and against a simulated cheating server, and
 * bad input refused with a ValidationError naming the field.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { ValidationError } from '../core/errors.js'
import { randomBelow, seededRng } from '../crypto/rng.js'
import {
  REDEEM_GAS, competitivePrice, costPerUnit, costPlus, demandResponsive, discoverPrice, honestyCondition, randomMarket,
  type HonestyInputs, type MarketBuyer, type MarketServer, type ServerCosts,
} from './pricing.js'
import { LIMITS, PriceModelSchema, priceOf } from './schema.js'

const refused = (f: () => unknown, field: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof ValidationError && field.test(e.message), `expected a ValidationError matching ${field}`)
const rateOf = (m: { rates: { price: bigint; per: bigint }[] }) => m.rates[0]

// ---------------------------------------------------------------------------------------------------------------
// costPlus

test('cost-plus for the CDN: bandwidth × chunk bytes, plus the margin, exact', () => {
  const costs: ServerCosts = { service: 'cdn', chunkBytes: 4096n, bandwidth: { amount: 1000n, per: 1024n } }
  assert.deepEqual(costPerUnit(costs), { num: 4000n, den: 1n })
  assert.deepEqual(costPlus(costs, 0), { kind: 'per-chunk', base: 0n, rates: [{ usage: 'chunks', price: 4000n, per: 1n }] })
  assert.deepEqual(costPlus(costs, 0.1), { kind: 'per-chunk', base: 0n, rates: [{ usage: 'chunks', price: 4400n, per: 1n }] })
  // 0.07 is 7/100 exactly, not the binary 0.07000000000000000666: 4000 × 1.07 = 4280, not 4281.
  assert.equal(rateOf(costPlus(costs, 0.07)).price, 4280n)
})

test('rounding is up, to the next token unit, and never below cost', () => {
  const bw = { amount: 1n, per: 3n }
  assert.equal(rateOf(costPlus({ service: 'cdn', chunkBytes: 1n, bandwidth: bw }, 0)).price, 1n) // 1/3 -> 1
  assert.equal(rateOf(costPlus({ service: 'cdn', chunkBytes: 3n, bandwidth: bw }, 0)).price, 1n) // exactly 1
  assert.equal(rateOf(costPlus({ service: 'cdn', chunkBytes: 4n, bandwidth: bw }, 0)).price, 2n) // 4/3 -> 2
  const ten = { service: 'cdn', chunkBytes: 10n, bandwidth: { amount: 1n, per: 1n } } as const
  assert.equal(rateOf(costPlus(ten, 0.2)).price, 12n)
  assert.equal(rateOf(costPlus(ten, 0.15)).price, 12n) // 11.5 -> 12
  assert.equal(rateOf(costPlus(ten, 0.1)).price, 11n)
  // A free server prices at zero, and that is still not below cost.
  assert.equal(rateOf(costPlus({ service: 'cdn', chunkBytes: 10n, bandwidth: { amount: 0n, per: 1n } }, 0.5)).price, 0n)
})

test('the gas share: gasPrice × (base/B + perTicket) × winProb per chunk, worked by hand', () => {
  const none = { amount: 0n, per: 1n }
  const cdn = (gas: ServerCosts['gas']) => rateOf(costPlus({ service: 'cdn', chunkBytes: 1n, bandwidth: none, gas }, 0)).price
  // 10 × (51,776/100 + 13,564) × 0.01 = 10 × 14,081.76 × 0.01 = 1,408.176 -> 1,409.
  assert.equal(cdn({ gasPrice: 10n, base: 51_776n, perTicket: 13_564n, batch: 100, winProb: 0.01 }), 1409n)
  // Alone (B = 1): 10 × 65,340 × 0.01 = 6,534 exactly; batching saves 4.6x.
  assert.equal(cdn({ gasPrice: 10n, base: 51_776n, perTicket: 13_564n, batch: 1, winProb: 0.01 }), 6534n)
  // A lottery's win probability as the contract holds it, 1 in 836 at 1 gwei, REDEEM_GAS (57,539 + 6,032 a ticket):
  // 10^9 × (575.39 + 6,032) / 836 = 6,607,390,000,000 / 836 = 7,903,576,555.02 -> 7,903,576,556.
  assert.equal(cdn({ gasPrice: 10n ** 9n, ...REDEEM_GAS, winProb: { num: 1n, den: 836n } }), 7_903_576_556n)
  // Every ticket redeemed (winProb 1) and alone: the whole transaction per chunk.
  assert.equal(cdn({ gasPrice: 1n, base: 51_776n, perTicket: 13_564n, batch: 1, winProb: 1 }), 65_340n)
  // No gas when nothing is ever redeemed.
  assert.equal(cdn({ gasPrice: 10n ** 12n, ...REDEEM_GAS, winProb: 0 }), 0n)
})

test('REDEEM_GAS solves the measured payments figures (single and batch-of-100 redemption), rounded up', () => {
  // What the payee sends: the run format, paid out at once (redeemGasSingle is one ticket kept as credit).
  const m = JSON.parse(readFileSync(new URL('../../bench/results/payments.json', import.meta.url), 'utf8')) as { redeemGasSingleTransfer: number; redeemGasPerTicketBatch100: number }
  const perTicket = (100 * m.redeemGasPerTicketBatch100 - m.redeemGasSingleTransfer) / 99
  const base = m.redeemGasSingleTransfer - perTicket
  assert.equal(REDEEM_GAS.batch, 100)
  for (const [ours, solved] of [[REDEEM_GAS.perTicket, perTicket], [REDEEM_GAS.base, base]] as const) {
    assert.ok(Number(ours) >= solved && Number(ours) - solved < 1, `${ours} vs ${solved}`)
  }
})

test('storage bills per byte-time at its own unit, with gas spread over the byte-seconds a payment covers', () => {
  // 1,000 per 10^6 byte-seconds; one payment per 10^6 byte-seconds, each redeemed alone for 1,000 gas at 1.
  const m = costPlus({ service: 'storage', storage: { amount: 1000n, per: 1_000_000n }, gas: { gasPrice: 1n, base: 0n, perTicket: 1000n, batch: 1, winProb: 1, unitsPerTicket: 1_000_000n } }, 0)
  assert.deepEqual(m, { kind: 'per-byte-time', base: 0n, rates: [{ usage: 'byteSeconds', price: 2000n, per: 1_000_000n }] })
  assert.equal(priceOf(m, { byteSeconds: 3_000_000n }), 6000n)
  // Quoted per GiB-month instead.
  const gibMonth = 2n ** 30n * 2_592_000n
  const q = costPlus({ service: 'storage', storage: { amount: 1n, per: 1n } }, 0, { per: gibMonth })
  assert.deepEqual(rateOf(q), { usage: 'byteSeconds', price: gibMonth, per: gibMonth })
})

test('compute bills per unit: compute plus the bytes it serves', () => {
  const m = costPlus({ service: 'compute', compute: { amount: 500n, per: 1n }, bandwidth: { amount: 1n, per: 100n }, bytesPerUnit: 1_000_000n }, 0.5)
  // (500 + 10,000) × 1.5 = 15,750
  assert.deepEqual(m, { kind: 'per-unit', base: 0n, rates: [{ usage: 'units', price: 15_750n, per: 1n }] })
})

test('property: cost-plus is a valid price model, never below cost, at most one unit above cost × (1 + margin)', () => {
  const amount = fc.bigInt({ min: 0n, max: 10n ** 20n })
  const per = fc.bigInt({ min: 1n, max: 10n ** 12n })
  const costs: fc.Arbitrary<ServerCosts> = fc.oneof(
    fc.record({ service: fc.constant('cdn' as const), chunkBytes: fc.bigInt({ min: 1n, max: 1n << 20n }), bandwidth: fc.record({ amount, per }) }),
    fc.record({ service: fc.constant('storage' as const), storage: fc.record({ amount, per }) }),
    fc.record({ service: fc.constant('compute' as const), compute: fc.record({ amount, per }) }),
  )
  const gas = fc.option(fc.record({ gasPrice: fc.bigInt({ min: 0n, max: 10n ** 12n }), base: fc.bigInt({ min: 0n, max: 100_000n }), perTicket: fc.bigInt({ min: 0n, max: 100_000n }), batch: fc.integer({ min: 1, max: 1000 }), winProb: fc.integer({ min: 0, max: 10_000 }).map((x) => x / 10_000) }), { nil: undefined })
  const margin = fc.integer({ min: 0, max: 10_000 }).map((x) => x / 1000)
  fc.assert(fc.property(costs, gas, margin, fc.bigInt({ min: 0n, max: 10n ** 9n }), (c, g, m, used) => {
    const withGas: ServerCosts = g ? { ...c, gas: g } : c
    const model = costPlus(withGas, m)
    PriceModelSchema.parse(model)
    const cost = costPerUnit(withGas)
    const { usage, price, per } = model.rates[0]
    // price / per ≥ cost  ⇔  price × den ≥ num × per; and billing any usage covers its cost.
    assert.ok(price * cost.den >= cost.num * per)
    assert.ok(priceOf(model, { [usage]: used }) * cost.den >= cost.num * used)
    // Tight: price − 1 < cost × per × (1 + m), with m = k/1000.
    const k = BigInt(Math.round(m * 1000))
    assert.ok((price - 1n) * cost.den * 1000n < cost.num * per * (1000n + k) || price === 0n)
  }), { numRuns: 300 })
})

test('bad costs are refused with a ValidationError naming the field', () => {
  const bw = { amount: 1000n, per: 1024n }
  const cdn = (over: Record<string, unknown>) => ({ service: 'cdn', chunkBytes: 4096n, bandwidth: bw, ...over }) as unknown as ServerCosts
  const gas = { gasPrice: 1n, ...REDEEM_GAS, winProb: 0.01 }
  refused(() => costPlus(cdn({ bandwidth: { amount: -1n, per: 1n } }), 0), /bandwidth\.amount must be at least 0/)
  refused(() => costPlus(cdn({ bandwidth: { amount: 1n, per: 0n } }), 0), /bandwidth\.per must be at least 1/)
  refused(() => costPlus(cdn({ bandwidth: { amount: 1000, per: 1024n } }), 0), /bandwidth\.amount must be a bigint/)
  refused(() => costPlus(cdn({ bandwidth: { amount: LIMITS.maxAmount + 1n, per: 1n } }), 0), /bandwidth\.amount is absurd/)
  refused(() => costPlus(cdn({ bandwidth: undefined }), 0), /bandwidth must be \{ amount, per \}/)
  refused(() => costPlus(cdn({ chunkBytes: 0n }), 0), /chunkBytes must be at least 1/)
  refused(() => costPlus(cdn({ chunkBytes: 1n << 40n }), 0), /chunkBytes is absurd/)
  refused(() => costPlus(cdn({ storage: { amount: 1n, per: 1n } }), 0), /storage is not billed by a per-chunk price/)
  refused(() => costPlus({ service: 'storage', storage: bw, chunkBytes: 1n } as unknown as ServerCosts, 0), /chunkBytes is not billed/)
  refused(() => costPlus({ service: 'video' } as unknown as ServerCosts, 0), /service must be cdn, storage or compute/)
  refused(() => costPlus({ service: 'compute', compute: bw, bytesPerUnit: 10n } as ServerCosts, 0), /bytesPerUnit needs a bandwidth cost/)
  refused(() => costPlus({ service: 'compute', compute: bw, bandwidth: bw } as ServerCosts, 0), /bytesPerUnit must be a bigint/)
  refused(() => costPlus(cdn({ gas: { ...gas, winProb: 1.5 } }), 0), /gas\.winProb must be in \[0, 1\]/)
  refused(() => costPlus(cdn({ gas: { ...gas, winProb: { num: 2n, den: 1n } } }), 0), /gas\.winProb must be at most 1/)
  refused(() => costPlus(cdn({ gas: { ...gas, winProb: Number.NaN } }), 0), /gas\.winProb must be a finite number/)
  refused(() => costPlus(cdn({ gas: { ...gas, batch: 0 } }), 0), /gas\.batch must be in \[1, 100000\]/)
  refused(() => costPlus(cdn({ gas: { ...gas, batch: 2.5 } }), 0), /gas\.batch must be an integer/)
  refused(() => costPlus(cdn({ gas: { ...gas, base: 10n ** 10n } }), 0), /gas\.base is absurd/)
  refused(() => costPlus(cdn({ gas: { ...gas, gasPrice: -5n } }), 0), /gas\.gasPrice must be at least 0/)
  refused(() => costPlus(cdn({ gas: { ...gas, unitsPerTicket: 0n } }), 0), /gas\.unitsPerTicket must be at least 1/)
  refused(() => costPlus(cdn({}), -0.1), /margin must be in \[0, 1000\]/)
  refused(() => costPlus(cdn({}), Number.POSITIVE_INFINITY), /margin must be a finite number/)
  refused(() => costPlus(cdn({}), '0.1' as unknown as number), /margin must be a finite number/)
  refused(() => costPlus(cdn({}), 0, { per: 0n }), /per must be at least 1/)
  // Each cost is in range, the price is not.
  refused(() => costPlus(cdn({ chunkBytes: 1n << 32n, bandwidth: { amount: LIMITS.maxAmount, per: 1n } }), 0), /above the largest price/)
})

// ---------------------------------------------------------------------------------------------------------------
// demandResponsive

test('demand-responsive: up by the step above target, down by it below, still at target, never below the floor', () => {
  const next = demandResponsive({ floor: 100n, step: 0.1, targetUtilization: 0.8 })
  assert.equal(next(1000n, 0.95), 1100n)
  assert.equal(next(1000n, 0.5), 909n) // 1000 / 1.1 = 909.09, rounded down
  assert.equal(next(1000n, 0.8), 1000n)
  assert.equal(next(1000n, 0), 909n)
  assert.equal(next(1000n, 3), 1100n) // turned-away demand counted: utilization above 1
  assert.equal(next(105n, 0.1), 100n) // 95.45, lifted to the floor
  assert.equal(next(100n, 0.1), 100n)
  assert.equal(next(50n, 0.1), 100n) // below the floor: lifted to it
  assert.equal(next(50n, 0.8), 100n)
  assert.equal(next(50n, 0.9), 100n) // 55, still lifted
  // Exact at any size (a float would be off by billions here).
  assert.equal(next(10n ** 30n, 1), 11n * 10n ** 29n)
  // Up and down by the same factor come back (to within the rounding down).
  assert.equal(next(next(10n ** 20n, 1), 0), 10n ** 20n)
})

test('demand-responsive: a raise moves by at least one unit and stops at the largest amount', () => {
  const next = demandResponsive({ floor: 0n, step: 0.001, targetUtilization: 1 })
  assert.equal(next(5n, 2), 6n)
  assert.equal(next(0n, 2), 1n)
  assert.equal(next(0n, 0), 0n)
  assert.equal(next(LIMITS.maxAmount, 2), LIMITS.maxAmount)
  assert.equal(next(LIMITS.maxAmount - 1n, 2), LIMITS.maxAmount)
})

test('property: demand-responsive moves the way utilization says, by the step, never below the floor', () => {
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 10n ** 24n }), fc.bigInt({ min: 0n, max: 10n ** 24n }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 400 }),
    (price, floor, stepK, targetK, uK) => {
      const step = stepK / 1000, target = targetK / 100, u = uK / 100
      const p = demandResponsive({ floor, step, targetUtilization: target })(price, u)
      assert.ok(p >= floor)
      const base = price < floor ? floor : price
      if (uK > targetK) {
        assert.ok(p > price)
        if (price >= floor) assert.ok(p * 1000n <= price * BigInt(1000 + stepK) + 1000n && p * 1000n >= price * BigInt(1000 + stepK))
      } else if (uK < targetK) {
        assert.ok(p <= base)
        if (p > floor) assert.equal(p, (price * 1000n) / BigInt(1000 + stepK))
      } else assert.equal(p, base)
    }), { numRuns: 500 })
})

test('demand-responsive: bad options and inputs are refused', () => {
  const ok = { floor: 1n, step: 0.1, targetUtilization: 0.8 }
  refused(() => demandResponsive({ ...ok, floor: -1n }), /floor must be at least 0/)
  refused(() => demandResponsive({ ...ok, floor: 1 as unknown as bigint }), /floor must be a bigint/)
  refused(() => demandResponsive({ ...ok, step: 0 }), /step must be in \(0, 1\]/)
  refused(() => demandResponsive({ ...ok, step: 1.5 }), /step must be in \(0, 1\]/)
  refused(() => demandResponsive({ ...ok, targetUtilization: 0 }), /targetUtilization must be in \(0, 1000000\]/)
  refused(() => demandResponsive(undefined as never), /options must be an object/)
  const next = demandResponsive(ok)
  refused(() => next(-1n, 0.5), /price must be at least 0/)
  refused(() => next(100n, Number.NaN), /utilization must be a finite number/)
  refused(() => next(100n, -0.5), /utilization must be in/)
})

// ---------------------------------------------------------------------------------------------------------------
// competitivePrice

test('competitive price on hand-made curves', () => {
  const s = (cost: bigint, capacity: number): MarketServer => ({ cost, capacity })
  const b = (valuation: bigint, demand: number): MarketBuyer => ({ valuation, demand })
  // Supply 5@10, 5@20, 5@30; demand 4@35, 4@25, 4@15: 8 units trade; at 20 the second server is the margin.
  assert.deepEqual(competitivePrice([s(30n, 5), s(10n, 5), s(20n, 5)], [b(15n, 4), b(35n, 4), b(25n, 4)]), { low: 20n, high: 20n, price: 20n, quantity: 8 })
  // All supply sold to the keenest buyer: any price between the next buyer (20) and that buyer (30) clears.
  assert.deepEqual(competitivePrice([s(10n, 5)], [b(30n, 5), b(20n, 5)]), { low: 20n, high: 30n, price: 25n, quantity: 5 })
  // Supply left over: any price between the last sold unit's cost and the next unsold one's clears.
  assert.deepEqual(competitivePrice([s(10n, 5), s(18n, 5)], [b(30n, 5)]), { low: 10n, high: 18n, price: 14n, quantity: 5 })
  // A buyer served in part is the margin: its valuation is the price.
  assert.deepEqual(competitivePrice([s(10n, 10)], [b(30n, 4), b(20n, 10)]), { low: 20n, high: 20n, price: 20n, quantity: 10 })
  // Nothing can trade: every cost is above every valuation.
  assert.deepEqual(competitivePrice([s(50n, 5), s(60n, 1)], [b(40n, 5), b(30n, 5)]), { low: 40n, high: 50n, price: 45n, quantity: 0 })
  // Cost equal to valuation trades.
  assert.deepEqual(competitivePrice([s(10n, 3)], [b(10n, 3)]), { low: 10n, high: 10n, price: 10n, quantity: 3 })
})

/** Market clearing by definition: some quantity x is both offered (S(<p) ≤ x ≤ S(≤p)) and wanted (D(>p) ≤ x ≤ D(≥p)). */
function clears(p: bigint, servers: MarketServer[], buyers: MarketBuyer[]): boolean {
  const sum = (xs: { n: number }[]) => xs.reduce((a, x) => a + x.n, 0)
  const sLo = sum(servers.filter((s) => s.cost < p).map((s) => ({ n: s.capacity }))), sHi = sum(servers.filter((s) => s.cost <= p).map((s) => ({ n: s.capacity })))
  const dLo = sum(buyers.filter((b) => b.valuation > p).map((b) => ({ n: b.demand }))), dHi = sum(buyers.filter((b) => b.valuation >= p).map((b) => ({ n: b.demand })))
  return Math.max(sLo, dLo) <= Math.min(sHi, dHi)
}

test('property: the competitive interval is exactly the set of prices that clear the market', () => {
  const server = fc.record({ cost: fc.bigInt({ min: 1n, max: 30n }), capacity: fc.integer({ min: 1, max: 5 }) })
  const buyer = fc.record({ valuation: fc.bigInt({ min: 1n, max: 30n }), demand: fc.integer({ min: 1, max: 5 }) })
  fc.assert(fc.property(fc.array(server, { minLength: 1, maxLength: 8 }), fc.array(buyer, { minLength: 1, maxLength: 8 }), (servers, buyers) => {
    const c = competitivePrice(servers, buyers)
    for (let p = 0n; p <= 32n; p++) assert.equal(clears(p, servers, buyers), p >= c.low && p <= c.high, `price ${p}, interval [${c.low}, ${c.high}]`)
    // The quantity is what trades there: the cheapest units against the keenest, while cost ≤ valuation.
    const sHi = servers.filter((s) => s.cost <= c.price).reduce((a, s) => a + s.capacity, 0)
    const dHi = buyers.filter((b) => b.valuation >= c.price).reduce((a, b) => a + b.demand, 0)
    assert.equal(c.quantity, c.quantity === 0 ? 0 : Math.min(sHi, dHi))
  }), { numRuns: 400 })
})

test('competitive price: zero capacity, zero demand, empty sides, bad amounts are refused', () => {
  const s = [{ cost: 10n, capacity: 5 }], b = [{ valuation: 20n, demand: 5 }]
  refused(() => competitivePrice([{ cost: 10n, capacity: 0 }], b), /servers\[0\]\.capacity must be in \[1, 4294967296\]/)
  refused(() => competitivePrice(s, [{ valuation: 20n, demand: 0 }]), /buyers\[0\]\.demand must be in/)
  refused(() => competitivePrice(s, [{ valuation: 20n, demand: 1.5 }]), /buyers\[0\]\.demand must be an integer/)
  refused(() => competitivePrice([], b), /servers must be a non-empty array/)
  refused(() => competitivePrice(s, []), /buyers must be a non-empty array/)
  refused(() => competitivePrice([...s, { cost: -1n, capacity: 1 }], b), /servers\[1\]\.cost must be at least 0/)
  refused(() => competitivePrice([{ cost: 2n ** 200n, capacity: 1 }], b), /servers\[0\]\.cost is absurd/)
  refused(() => competitivePrice(s, [{ valuation: 20, demand: 1 } as unknown as MarketBuyer]), /buyers\[0\]\.valuation must be a bigint/)
  refused(() => competitivePrice([null as unknown as MarketServer], b), /servers\[0\] must be/)
  refused(() => competitivePrice(Array.from({ length: 70_000 }, () => s[0]), b), /servers are too many/)
})

// ---------------------------------------------------------------------------------------------------------------
// discoverPrice

const within = (p: bigint, c: { low: bigint; high: bigint }, pct: bigint) => p * 100n >= c.low * (100n - pct) && p * 100n <= c.high * (100n + pct)

test('discovery converges on seeded random markets of 50 servers and 200 buyers within 60 rounds', () => {
  for (let k = 0; k < 8; k++) {
    const m = randomMarket(seededRng(`pricing.test-market-${k}`), { servers: 50, buyers: 200 })
    const r = discoverPrice({ ...m, rng: seededRng(`pricing.test-loop-${k}`), maxRounds: 60 })
    assert.ok(r.converged, `market ${k}: not within 2 % after 60 rounds (last mean ${r.path.at(-1)?.mean}, competitive ${r.competitive.price})`)
    assert.equal(r.played, r.rounds + 2)
    assert.equal(r.path.length, r.played)
    for (const p of r.path.slice(r.rounds - 1)) assert.ok(within(p.mean, r.competitive, 2n), `market ${k} round ${p.round}`)
    // It did have to move: the first round was not already there.
    assert.ok(!within(r.path[0].mean, r.competitive, 2n))
    r.prices.forEach((p, i) => assert.ok(p >= m.servers[i].cost, 'a price below cost'))
  }
})

test('discovery converges from far below, from far above, and in lopsided markets', () => {
  const cases = [
    { servers: 50, buyers: 200, startMarkup: 1.001 }, // everyone starts at cost
    { servers: 50, buyers: 200, startMarkup: 20 }, // up to 20x cost
    { servers: 50, buyers: 20 }, // far more supply than demand
    { servers: 5, buyers: 400 }, // far more demand than supply
    { servers: 300, buyers: 1000 },
  ]
  cases.forEach((o, k) => {
    const r = discoverPrice({ ...randomMarket(seededRng(`pricing.test-shape-${k}`), o), rng: seededRng(`pricing.test-shape-loop-${k}`), maxRounds: 80 })
    assert.ok(r.converged, `case ${k} (${JSON.stringify(o)}) did not converge in 80 rounds`)
  })
})

test('discovery is reproducible: the same seeds give the same path', () => {
  const run = () => discoverPrice({ ...randomMarket(seededRng('pricing.test-repro'), { servers: 20, buyers: 60 }), rng: seededRng('pricing.test-repro-loop') })
  const [a, b] = [run(), run()]
  assert.deepEqual(a.path, b.path)
  assert.deepEqual(a.prices, b.prices)
})

test('baselines: servers following only their own utilization cycle far above the competitive price; servers aiming below full use withhold', () => {
  const m = randomMarket(seededRng('pricing.test-baseline'), { servers: 50, buyers: 200 })
  const own = discoverPrice({ ...m, rng: seededRng('pricing.test-baseline-loop'), noOvertaking: false, maxRounds: 200 })
  assert.equal(own.converged, false)
  const tail = own.path.slice(-20)
  assert.ok(tail.every((p) => p.mean * 100n > own.competitive.high * 110n), 'the cycle should stay more than 10 % above the competitive price')
  // Aiming at 80 % requested utilization: prices settle above competitive, and less is traded.
  const withhold = discoverPrice({ ...m, rng: seededRng('pricing.test-baseline-loop'), targetUtilization: 0.8, maxRounds: 200 })
  assert.equal(withhold.converged, false)
  assert.ok(withhold.path.slice(-20).every((p) => p.mean > withhold.competitive.high * 103n / 100n && p.traded < withhold.competitive.quantity))
})

test('discovery in small hand-made markets', () => {
  // One server with spare capacity: competition is with nobody, yet the price falls to its cost (nothing holds it up).
  const one = discoverPrice({ servers: [{ cost: 100n * 10n ** 12n, capacity: 10 }], buyers: [{ valuation: 150n * 10n ** 12n, demand: 5 }], rng: seededRng('one') })
  assert.deepEqual([one.converged, one.competitive.low, one.competitive.high], [true, 100n * 10n ** 12n, 100n * 10n ** 12n])
  // Nothing can trade: converged at once, with no trade.
  const none = discoverPrice({ servers: [{ cost: 500n, capacity: 10 }], buyers: [{ valuation: 100n, demand: 5 }], rng: seededRng('none') })
  assert.deepEqual([none.converged, none.rounds, none.path[0].traded, none.competitive.quantity], [true, 1, 0, 0])
  // A start price below cost is lifted to the cost.
  const lifted = discoverPrice({ servers: [{ cost: 500n, capacity: 1, price: 1n }], buyers: [{ valuation: 100n, demand: 1 }], rng: seededRng('lift'), maxRounds: 1 })
  assert.equal(lifted.prices[0], 500n)
})

test('discovery: bad options are refused', () => {
  const m = { servers: [{ cost: 10n, capacity: 5 }], buyers: [{ valuation: 20n, demand: 5 }], rng: seededRng('bad') }
  refused(() => discoverPrice({ ...m, rng: undefined as never }), /rng must be an Rng/)
  refused(() => discoverPrice({ ...m, servers: [{ cost: 10n, capacity: 0 }] }), /servers\[0\]\.capacity/)
  refused(() => discoverPrice({ ...m, tolerance: 2 }), /tolerance must be in \[0, 1\]/)
  refused(() => discoverPrice({ ...m, holdRounds: 0 }), /holdRounds must be in/)
  refused(() => discoverPrice({ ...m, maxRounds: 1.5 }), /maxRounds must be an integer/)
  refused(() => discoverPrice({ ...m, targetUtilization: -1 }), /targetUtilization must be in/)
  refused(() => discoverPrice({ ...m, step: { min: 0.3, max: 0.2 } }), /step\.min must be at most step\.max/)
  refused(() => discoverPrice({ ...m, step: { initial: 0 } }), /step\.initial must be in \(0, 1\]/)
  refused(() => discoverPrice({ ...m, servers: [{ cost: 10n, capacity: 1, price: -1n }] }), /servers\[0\]\.price must be at least 0/)
  refused(() => randomMarket(seededRng('x'), { servers: 0, buyers: 1 }), /servers must be in/)
  refused(() => randomMarket(seededRng('x'), { servers: 1, buyers: 1, cost: [10n, 10n] }), /cost\[1\] must be at least 11/)
})

// ---------------------------------------------------------------------------------------------------------------
// honestyCondition

const base: HonestyInputs = { price: 301n, cost: 100n, cheatGain: 900n, detectionProbability: 0.5, discount: 0.9, futureDealsAtReputation: 1, reputationLossOnDetection: 1 }

test('the honesty rule by hand: q L n δ/(1−δ) (price − cost) > cheatGain', () => {
  // q L n δ/(1−δ) = 0.5 × 1 × 1 × 0.9/0.1 = 4.5; minPrice = 100 + floor(900/4.5) + 1 = 301.
  assert.deepEqual(honestyCondition(base), { honestyPays: true, margin: 4.5, futureEarnings: 1809, minPrice: 301n })
  assert.deepEqual(honestyCondition({ ...base, price: 300n }), { honestyPays: false, margin: 0, futureEarnings: 1800, minPrice: 301n }) // a tie deters nobody
  assert.deepEqual(honestyCondition({ ...base, price: 400n }), { honestyPays: true, margin: 450, futureEarnings: 2700, minPrice: 301n })
  assert.deepEqual(honestyCondition({ ...base, price: 100n }), { honestyPays: false, margin: -900, futureEarnings: 0, minPrice: 301n })
  assert.equal(honestyCondition({ ...base, price: 50n }).honestyPays, false) // below cost: a loss, and still a cheat to gain
  // A CDN-like server: 10 deals a period, δ 0.99, a cheat caught 1 time in 10 costing half its deals, gaining 10^15.
  // K = 0.1 × 0.5 × 10 × 0.99/0.01 = 49.5; 10^15 / 49.5 = 20,202,020,202,020.2; minPrice = 2×10^12 + that + 1.
  const cdn = { price: 10n ** 13n, cost: 2n * 10n ** 12n, cheatGain: 10n ** 15n, detectionProbability: 0.1, discount: 0.99, futureDealsAtReputation: 10, reputationLossOnDetection: 0.5 }
  assert.equal(honestyCondition(cdn).minPrice, 22_202_020_202_021n)
  assert.equal(honestyCondition(cdn).honestyPays, false)
  assert.equal(honestyCondition({ ...cdn, price: 22_202_020_202_021n }).honestyPays, true)
  assert.equal(honestyCondition({ ...cdn, price: 22_202_020_202_020n }).honestyPays, false)
  // Nothing to gain by cheating: any profit pays.
  assert.equal(honestyCondition({ ...base, cheatGain: 0n }).minPrice, 101n)
})

test('the honesty rule: no price helps when cheating is never caught, costs nothing, or the future is worthless', () => {
  for (const over of [{ detectionProbability: 0 }, { reputationLossOnDetection: 0 }, { futureDealsAtReputation: 0 }, { discount: 0 }]) {
    const r = honestyCondition({ ...base, ...over, price: 10n ** 30n })
    assert.equal(r.honestyPays, false, JSON.stringify(over))
    assert.equal(r.minPrice, undefined)
  }
})

test('property: honesty pays at minPrice and above, not below it', () => {
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 999 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100 }), fc.bigInt({ min: 0n, max: 10n ** 15n }),
    (cost, cheatGain, qK, dK, lK, n, extra) => {
      const h = { price: 0n, cost, cheatGain, detectionProbability: qK / 1000, discount: dK / 1000, futureDealsAtReputation: n, reputationLossOnDetection: lK / 1000 }
      const min = honestyCondition(h).minPrice!
      assert.ok(min > cost)
      assert.equal(honestyCondition({ ...h, price: min }).honestyPays, true)
      assert.equal(honestyCondition({ ...h, price: min + extra }).honestyPays, true)
      assert.equal(honestyCondition({ ...h, price: min - 1n }).honestyPays, false)
      if (min - 1n - extra >= 0n) assert.equal(honestyCondition({ ...h, price: min - 1n - extra }).honestyPays, false)
      // The boundary by the rule itself: q L n δ (min − 1 − cost) ≤ g (1 − δ) < q L n δ (min − cost), in thousandths.
      const k = BigInt(qK) * BigInt(lK) * BigInt(n) * BigInt(dK)
      const rhs = cheatGain * BigInt(1000 - dK) * 1_000_000n
      assert.ok(k * (min - 1n - cost) <= rhs && rhs < k * (min - cost))
    }), { numRuns: 500 })
})

test('a simulated cheating server earns more than an honest one exactly when the rule says honesty does not pay', () => {
  // Period by period: n deals at (price − cost) each, discounted δ^t from period 1; the cheater takes cheatGain in
  // period 0 and, if caught (probability q), keeps only (1 − L) of its deals from period 1 on.
  const rng = seededRng('pricing.test-cheater')
  const h = { cost: 100n, cheatGain: 900n, detectionProbability: 0.5, discount: 0.9, futureDealsAtReputation: 2, reputationLossOnDetection: 0.8 }
  const min = honestyCondition({ ...h, price: 0n }).minPrice!
  assert.equal(min, 100n + (900n * 10n) / 72n + 1n) // K = 0.5 × 0.8 × 2 × 9 = 7.2: 100 + floor(125) + 1 = 226
  for (const price of [min / 2n + 50n, min - 10n, min + 10n, min * 2n]) {
    const profit = Number(price - h.cost)
    let honest = 0, cheat = 0
    const trials = 4000, periods = 250
    for (let t = 0; t < trials; t++) {
      const caught = randomBelow(rng, 1000) < 500
      let d = 1, h1 = 0, c1 = 900
      for (let p = 1; p <= periods; p++) {
        d *= 0.9
        h1 += d * 2 * profit
        c1 += d * 2 * profit * (caught ? 1 - 0.8 : 1)
      }
      honest += h1; cheat += c1
    }
    const pays = honestyCondition({ ...h, price }).honestyPays
    assert.equal(honest > cheat, pays, `price ${price}: honest ${honest / trials}, cheat ${cheat / trials}`)
  }
})

test('the honesty rule: bad inputs are refused', () => {
  refused(() => honestyCondition({ ...base, discount: 1 }), /discount must be in \[0, 1\)/)
  refused(() => honestyCondition({ ...base, detectionProbability: 1.5 }), /detectionProbability must be in \[0, 1\]/)
  refused(() => honestyCondition({ ...base, reputationLossOnDetection: -0.1 }), /reputationLossOnDetection must be in/)
  refused(() => honestyCondition({ ...base, futureDealsAtReputation: Number.POSITIVE_INFINITY }), /futureDealsAtReputation must be a finite number/)
  refused(() => honestyCondition({ ...base, cheatGain: -1n }), /cheatGain must be at least 0/)
  refused(() => honestyCondition({ ...base, price: 301 as unknown as bigint }), /price must be a bigint/)
  refused(() => honestyCondition({ ...base, cost: LIMITS.maxAmount + 1n }), /cost is absurd/)
  refused(() => honestyCondition(null as never), /inputs must be an object/)
})
