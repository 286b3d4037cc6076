/**
 * Pricing strategies for servers: what to ask (cost-plus), how to move the ask with demand (demand-responsive), how
 * a market of such servers finds its price (a price-discovery loop against the exact competitive price), and the
 * least price at which a server is better off honest where cheating is not detected for sure (the honesty rule).
 *
 * Spec:
 * - **Numbers.** Token amounts, costs and prices are bigints in the token's smallest unit. Fractions (margins, steps,
 *   probabilities, the discount) are JavaScript numbers read as the decimal they print as (`0.9` is exactly 9/10,
 *   `1e-7` is 1/10^7): every comparison and rounding below is exact rational arithmetic, never floating point.
 * - **`costPlus(costs, margin)`**: the exact cost of one billed unit `c` (`costPerUnit`) is the sum of the cost
 *   components the service's price bills, plus the gas share of the payment scheme
 *   `gasPrice × (base/B + perTicket) × winProb / unitsPerTicket` (a lottery: one redemption per 1/winProb tickets,
 *   a batch of B winners costs base + B × perTicket gas). The price model bills `price` per `per` units with
 *   `price = ceil(c × per × (1 + margin))`, so `priceOf(model, usage) ≥ c × usage` for every usage: never below cost.
 *   cdn → `per-chunk` (bandwidth × chunkBytes), storage → `per-byte-time` (storage), compute → `per-unit`
 *   (compute, plus bandwidth × bytesPerUnit). A cost the service's price does not bill is refused, not ignored.
 * - **`demandResponsive({ floor, step, targetUtilization })`**: a function `(price, utilization) → next price`:
 *   above target `ceil(price × (1 + step))` (at least price + 1), below target `floor(price / (1 + step))`, at target
 *   unchanged; never below `floor` (a price under the floor is lifted to it) nor above `LIMITS.maxAmount`.
 *   Utilization may exceed 1 when a server counts the demand it turned away (the discovery loop does).
 * - **`competitivePrice(servers, buyers)`**: the market-clearing interval `[low, high]` of the step supply curve
 *   (servers by cost, capacity units each) and step demand curve (buyers by valuation, demand units each), found
 *   exactly by merging the two curves; `quantity` trades at any price in it. `price` is its midpoint (rounded down).
 * - **`discoverPrice(...)`**: each round every server posts its price; servers at the same price form a level that
 *   buyers spread over pro rata to capacity; buyers, in a random order (the caller's rng), buy from the cheapest
 *   levels within their valuation. A level sees its requested utilization (demand that reached it / its capacity,
 *   turned-away demand included) and each member wants the demand-responsive price (floor: its cost; target 1),
 *   with one step per level that halves when its direction reverses and grows ×1.25 while it moves freely the same
 *   way (0.2 % to 50 %). **No server overtakes another**: where wanted prices would cross the book's order, the
 *   crossing servers meet at their capacity-weighted mean (pool-adjacent-violators) and form one level. The loop
 *   stops when, for `holdRounds` (3) rounds in a row, the volume-weighted mean traded price and 95 % of the volume
 *   are within `tolerance` (2 %) of the competitive interval. Without the no-overtaking rule servers following
 *   their own utilization cycle (Edgeworth cycles) far above the competitive price.
 * - **`honestyCondition(...)`**: a server earning `price − cost` per deal on `n` deals per period at its reputation,
 *   discounted by δ per period, is deterred from one cheat that gains `g` and is caught with probability q, costing
 *   the fraction L of its future deals, iff `q × L × n × δ/(1−δ) × (price − cost) > g`. `minPrice` is the least
 *   integer price for which it holds: `cost + floor(g(1−δ) / (q L n δ)) + 1` (none when q L n δ = 0).
 * - Bad options (a negative or absurd cost, zero capacity, a probability above 1, a non-bigint amount, ...) throw
 *   `ValidationError` naming the field; nothing else is thrown.
 *
 * No clock, no I/O; randomness only from the rng passed to `discoverPrice` / `randomMarket`.
 *
 * @example
 * ```ts
 * import { costPlus, demandResponsive, discoverPrice, randomMarket, honestyCondition, REDEEM_GAS } from './pricing.js'
 * import { seededRng } from '../crypto/rng.js'
 * // 128 KiB chunks, bandwidth at 10^16 per GiB, lottery tickets winning 1 in 1000 at 20 gwei, 20 % margin:
 * const model = costPlus({ service: 'cdn', chunkBytes: 131072n, bandwidth: { amount: 10n ** 16n, per: 2n ** 30n },
 *   gas: { gasPrice: 20_000_000_000n, winProb: 0.001, ...REDEEM_GAS } }, 0.2)   // per-chunk, 1,623,421,110,000 per chunk
 * demandResponsive({ floor: 100n, step: 0.1, targetUtilization: 0.8 })(1000n, 0.95)  // 1100n
 * const { rounds, competitive } = discoverPrice({ ...randomMarket(seededRng('m'), { servers: 50, buyers: 200 }), rng: seededRng('loop') })
 * honestyCondition({ price: 301n, cost: 100n, cheatGain: 900n, detectionProbability: 0.5, discount: 0.9,
 *   futureDealsAtReputation: 1, reputationLossOnDetection: 1 })                  // { honestyPays: true, minPrice: 301n, ... }
 * ```
 */
import { ValidationError } from '../core/errors.js'
import { randomBelow, type Rng } from '../crypto/rng.js'
import { LIMITS, PriceModelSchema, type PriceModel, type UsageKey } from './schema.js'

// ---------------------------------------------------------------------------------------------------------------
// Exact fractions

/** An exact non-negative fraction `num / den` (den ≥ 1). */
export interface Ratio {
  num: bigint
  den: bigint
}

const bad = (fn: string, field: string, msg: string, value?: unknown): ValidationError =>
  new ValidationError(`${fn}: ${field} ${msg}`, { details: { field, value: typeof value === 'bigint' ? value.toString() : value } })

/** `x` read as the decimal it prints as: 0.9 → 9/10, 1e-7 → 1/10^7 (no binary floating-point error). */
function decimal(fn: string, field: string, x: unknown): Ratio {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw bad(fn, field, `must be a finite number, got ${String(x)}`, String(x))
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(String(x))
  if (!m) throw bad(fn, field, `must be a finite number, got ${String(x)}`, x)
  const frac = m[3] ?? ''
  const exp = Number(m[4] ?? 0) - frac.length
  let num = BigInt(m[2] + frac)
  let den = 1n
  if (exp >= 0) num *= 10n ** BigInt(exp)
  else den = 10n ** BigInt(-exp)
  return reduce({ num: m[1] === '-' ? -num : num, den })
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}
function reduce(r: Ratio): Ratio {
  const g = gcd(r.num, r.den)
  return g > 1n ? { num: r.num / g, den: r.den / g } : r
}
const add = (a: Ratio, b: Ratio): Ratio => reduce({ num: a.num * b.den + b.num * a.den, den: a.den * b.den })
const mul = (a: Ratio, b: Ratio): Ratio => reduce({ num: a.num * b.num, den: a.den * b.den })
const ratio = (num: bigint, den: bigint = 1n): Ratio => reduce({ num, den })
/** ceil(num / den) for num ≥ 0. */
const ceilDiv = (num: bigint, den: bigint): bigint => (num + den - 1n) / den
/** A ratio as a float, for display (scaled down first so huge terms do not overflow to NaN). */
function toNumber(r: Ratio): number {
  let { num, den } = r
  while (den > 1n << 512n) { num >>= 64n; den >>= 64n }
  return Number(num) / Number(den)
}

function amountOf(fn: string, field: string, v: unknown, min = 0n, max: bigint = LIMITS.maxAmount): bigint {
  if (typeof v !== 'bigint') throw bad(fn, field, `must be a bigint (token units), got ${typeof v}`, String(v))
  if (v < min) throw bad(fn, field, `must be at least ${min}, got ${v}`, v)
  if (v > max) throw bad(fn, field, `is absurd: ${v} > ${max}`, v)
  return v
}
function intOf(fn: string, field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(fn, field, `must be an integer, got ${String(v)}`, String(v))
  if (v < min || v > max) throw bad(fn, field, `must be in [${min}, ${max}], got ${v}`, v)
  return v
}
/** A decimal fraction in [min, max] (bounds inclusive unless `open`). */
function fractionOf(fn: string, field: string, v: unknown, min: number, max: number, open: { min?: boolean; max?: boolean } = {}): Ratio {
  const r = decimal(fn, field, v)
  const x = v as number
  if (x < min || (open.min && x === min) || x > max || (open.max && x === max)) {
    throw bad(fn, field, `must be in ${open.min ? '(' : '['}${min}, ${max}${open.max ? ')' : ']'}, got ${x}`, x)
  }
  return r
}

// ---------------------------------------------------------------------------------------------------------------
// Cost-plus

/** A cost of `amount` token units per `per` units of usage (bytes, byte-seconds or work units). */
export interface CostRate {
  amount: bigint
  per: bigint
}

/**
 * Gas of redeeming lottery winners: a batch of B winners costs `base + B × perTicket` gas. Solved from
 * bench/results/payments.json for what the payee sends (the run format, paid out at once): redeemGasSingleTransfer
 * 63,570 = base + perTicket, redeemGasPerTicketBatch100 6,607.29 = base/100 + perTicket, so perTicket =
 * 597,159/99 = 6,031.91 and base = 57,538.09, both rounded up, and the batch of 100 (the payee's batches reach 256).
 */
export const REDEEM_GAS = { base: 57_539n, perTicket: 6_032n, batch: 100 } as const

/** What redeeming a payment costs a server on chain, amortized over the units it pays for. */
export interface GasCosts {
  /** Token units per gas. */
  gasPrice: bigint
  /** Gas of a redemption transaction, beside its per-ticket part (`REDEEM_GAS.base`). */
  base: bigint
  /** Gas per redeemed ticket (`REDEEM_GAS.perTicket`). */
  perTicket: bigint
  /** Winners redeemed per transaction (B ≥ 1). */
  batch: number
  /**
   * Fraction of tickets redeemed on chain: a lottery's win probability (price / face value; from a lottery ticket,
   * `{ num: winProb, den: MAX_WIN_PROB }`), 1 for a scheme that redeems every payment.
   */
  winProb: number | Ratio
  /** Billed units one ticket pays for (default 1: the CDN pays a ticket per chunk; storage: byte-seconds per payment). */
  unitsPerTicket?: bigint
}

/** A server's own costs, for the price model of `service`. */
export type ServerCosts =
  | { service: 'cdn'; /** Per byte served. */ bandwidth: CostRate; /** Bytes in a chunk. */ chunkBytes: bigint; gas?: GasCosts; storage?: never; compute?: never }
  | { service: 'storage'; /** Per byte-second held. */ storage: CostRate; gas?: GasCosts; bandwidth?: never; compute?: never }
  | {
      service: 'compute'
      /** Per work unit. */
      compute: CostRate
      /** Per byte served with the result (optional). */
      bandwidth?: CostRate
      /** Bytes served per unit (with `bandwidth`). */
      bytesPerUnit?: bigint
      gas?: GasCosts
      storage?: never
    }

/** Options of {@link costPlus}. */
export interface CostPlusOptions {
  /** The price is quoted per this many units (default: 1 chunk, 1 unit, or the storage cost's own `per`). */
  per?: bigint
}

const KIND = { cdn: ['per-chunk', 'chunks'], storage: ['per-byte-time', 'byteSeconds'], compute: ['per-unit', 'units'] } as const
/** More gas than a block holds (30M on mainnet; any chain's limit is far below this) is a typo. */
const MAX_GAS = 1_000_000_000n
const MAX_BATCH = 100_000

function costRate(field: string, v: unknown): CostRate {
  if (typeof v !== 'object' || v === null) throw bad('costPlus', field, 'must be { amount, per }', String(v))
  const r = v as CostRate
  return { amount: amountOf('costPlus', `${field}.amount`, r.amount), per: amountOf('costPlus', `${field}.per`, r.per, 1n) }
}

/** The gas share of one billed unit: gasPrice × (base/B + perTicket) × winProb / unitsPerTicket, exact. */
function gasShare(v: unknown): Ratio {
  if (typeof v !== 'object' || v === null) throw bad('costPlus', 'gas', 'must be an object', String(v))
  const g = v as GasCosts
  const gasPrice = amountOf('costPlus', 'gas.gasPrice', g.gasPrice)
  const base = amountOf('costPlus', 'gas.base', g.base, 0n, MAX_GAS)
  const perTicket = amountOf('costPlus', 'gas.perTicket', g.perTicket, 0n, MAX_GAS)
  const batch = BigInt(intOf('costPlus', 'gas.batch', g.batch, 1, MAX_BATCH))
  const units = amountOf('costPlus', 'gas.unitsPerTicket', g.unitsPerTicket ?? 1n, 1n)
  let win: Ratio
  if (typeof g.winProb === 'object' && g.winProb !== null) {
    const num = amountOf('costPlus', 'gas.winProb.num', g.winProb.num, 0n, (1n << 256n))
    const den = amountOf('costPlus', 'gas.winProb.den', g.winProb.den, 1n, (1n << 256n))
    if (num > den) throw bad('costPlus', 'gas.winProb', `must be at most 1, got ${num}/${den}`)
    win = ratio(num, den)
  } else win = fractionOf('costPlus', 'gas.winProb', g.winProb, 0, 1)
  return mul(ratio(gasPrice * (base + batch * perTicket), batch * units), win)
}

/**
 * The exact cost to the server of one billed unit (a chunk, a byte-second, a work unit): its cost components for the
 * service plus the gas share. Throws `ValidationError` on a negative, absurd or misplaced cost.
 */
export function costPerUnit(costs: ServerCosts): Ratio {
  if (typeof costs !== 'object' || costs === null) throw bad('costPlus', 'costs', 'must be an object', String(costs))
  const c = costs as Record<string, unknown>
  const service = c.service
  if (service !== 'cdn' && service !== 'storage' && service !== 'compute') throw bad('costPlus', 'service', `must be cdn, storage or compute, got ${String(service)}`, String(service))
  const billed: Record<typeof service, string[]> = { cdn: ['bandwidth', 'chunkBytes'], storage: ['storage'], compute: ['compute', 'bandwidth', 'bytesPerUnit'] }
  for (const k of ['bandwidth', 'storage', 'compute', 'chunkBytes', 'bytesPerUnit']) {
    if (c[k] !== undefined && !billed[service].includes(k)) throw bad('costPlus', k, `is not billed by a ${KIND[service][0]} price (fold it into the ${billed[service][0]} cost)`)
  }
  let total = ratio(0n)
  if (service === 'cdn') {
    const bw = costRate('bandwidth', c.bandwidth)
    const chunkBytes = amountOf('costPlus', 'chunkBytes', c.chunkBytes, 1n, 1n << 32n)
    total = ratio(bw.amount * chunkBytes, bw.per)
  } else if (service === 'storage') {
    const st = costRate('storage', c.storage)
    total = ratio(st.amount, st.per)
  } else {
    const cu = costRate('compute', c.compute)
    total = ratio(cu.amount, cu.per)
    if (c.bandwidth !== undefined) {
      const bw = costRate('bandwidth', c.bandwidth)
      const bytes = amountOf('costPlus', 'bytesPerUnit', c.bytesPerUnit, 1n, 1n << 40n)
      total = add(total, ratio(bw.amount * bytes, bw.per))
    } else if (c.bytesPerUnit !== undefined) throw bad('costPlus', 'bytesPerUnit', 'needs a bandwidth cost')
  }
  if (c.gas !== undefined) total = add(total, gasShare(c.gas))
  return total
}

/**
 * A server's price model from its own costs: `price = ceil(cost per unit × per × (1 + margin))` per `per` units, of
 * the kind the service bills (`per-chunk` for cdn, `per-byte-time` for storage, `per-unit` for compute). Never below
 * cost: `priceOf(model, usage) ≥ cost × usage` for every usage.
 *
 * @param margin the markup over cost, a fraction ≥ 0 (0.2 = 20 %; at most 1000).
 * @example
 * ```ts
 * costPlus({ service: 'cdn', chunkBytes: 4096n, bandwidth: { amount: 1000n, per: 1024n } }, 0.1)
 * // { kind: 'per-chunk', base: 0n, rates: [{ usage: 'chunks', price: 4400n, per: 1n }] }
 * ```
 */
export function costPlus(costs: ServerCosts, margin: number, opts: CostPlusOptions = {}): PriceModel {
  const cost = costPerUnit(costs)
  const m = fractionOf('costPlus', 'margin', margin, 0, 1000)
  const [kind, usage] = KIND[costs.service]
  const per = amountOf('costPlus', 'per', opts.per ?? (costs.service === 'storage' ? costs.storage.per : 1n), 1n)
  const exact = mul(mul(cost, ratio(per)), add(ratio(1n), m))
  const price = ceilDiv(exact.num, exact.den)
  if (price > LIMITS.maxAmount) throw bad('costPlus', 'costs', `give a price of ${price}, above the largest price (${LIMITS.maxAmount})`, price)
  const model: PriceModel = { kind, base: 0n, rates: [{ usage: usage as UsageKey, price, per }] }
  // Check our own output against the schema every peer parses it with.
  PriceModelSchema.parse(model)
  return model
}

// ---------------------------------------------------------------------------------------------------------------
// Demand-responsive

/** Options of {@link demandResponsive}. */
export interface DemandResponsiveOptions {
  /** The lowest price ever returned (a server's cost). */
  floor: bigint
  /** Multiplicative step, a fraction in (0, 1]: up ×(1 + step), down ÷(1 + step). */
  step: number
  /** Utilization above which the price rises and below which it falls (> 0; may exceed 1 with turned-away demand). */
  targetUtilization: number
}

/** The next price from the current price and the utilization observed at it. */
export type PriceStep = (price: bigint, utilization: number) => bigint

/**
 * A demand-responsive pricer: above the target utilization the price rises by `step` (rounded up, by at least 1),
 * below it falls by the same factor toward `floor` (rounded down, never below `floor`), at the target it holds.
 *
 * @example
 * ```ts
 * const next = demandResponsive({ floor: 950n, step: 0.1, targetUtilization: 0.8 })
 * next(1000n, 0.9) // 1100n
 * next(1000n, 0.5) // 950n (1000 / 1.1 = 909, lifted to the floor)
 * ```
 */
export function demandResponsive(o: DemandResponsiveOptions): PriceStep {
  const fn = 'demandResponsive'
  if (typeof o !== 'object' || o === null) throw bad(fn, 'options', 'must be an object', String(o))
  const floor = amountOf(fn, 'floor', o.floor)
  const s = fractionOf(fn, 'step', o.step, 0, 1, { min: true })
  const target = fractionOf(fn, 'targetUtilization', o.targetUtilization, 0, 1e6, { min: true })
  const up = s.den + s.num
  return (price, utilization) => {
    amountOf(fn, 'price', price)
    const u = fractionOf(fn, 'utilization', utilization, 0, Number.MAX_VALUE)
    const cmp = u.num * target.den - target.num * u.den
    let next = price
    if (cmp > 0n) {
      next = ceilDiv(price * up, s.den)
      if (next <= price) next = price + 1n
      if (next > LIMITS.maxAmount) next = LIMITS.maxAmount
    } else if (cmp < 0n) next = (price * s.den) / up
    return next < floor ? floor : next
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The competitive price

/** A server of a market: its marginal cost per unit and how many units it can sell per round. */
export interface MarketServer {
  cost: bigint
  capacity: number
  /** Its first posted price (default: twice its cost, at least cost + 1). */
  price?: bigint
}
/** A buyer: the most it pays per unit and how many units it wants per round. */
export interface MarketBuyer {
  valuation: bigint
  demand: number
}

/** The market-clearing interval: `quantity` units trade at any price in [low, high]; `price` is its midpoint. */
export interface CompetitivePrice {
  low: bigint
  high: bigint
  price: bigint
  quantity: number
}

const MAX_SERVERS = 1 << 16
const MAX_BUYERS = 1 << 20
/** Capacity or demand of one participant, in units (sums stay below 2^53). */
const MAX_UNITS = 2 ** 32

function checkMarket(fn: string, servers: readonly MarketServer[], buyers: readonly MarketBuyer[]): void {
  if (!Array.isArray(servers) || servers.length === 0) throw bad(fn, 'servers', 'must be a non-empty array')
  if (!Array.isArray(buyers) || buyers.length === 0) throw bad(fn, 'buyers', 'must be a non-empty array')
  if (servers.length > MAX_SERVERS) throw bad(fn, 'servers', `are too many: ${servers.length} > ${MAX_SERVERS}`, servers.length)
  if (buyers.length > MAX_BUYERS) throw bad(fn, 'buyers', `are too many: ${buyers.length} > ${MAX_BUYERS}`, buyers.length)
  servers.forEach((s, i) => {
    if (typeof s !== 'object' || s === null) throw bad(fn, `servers[${i}]`, 'must be { cost, capacity }')
    amountOf(fn, `servers[${i}].cost`, s.cost)
    intOf(fn, `servers[${i}].capacity`, s.capacity, 1, MAX_UNITS)
    if (s.price !== undefined) amountOf(fn, `servers[${i}].price`, s.price)
  })
  buyers.forEach((b, i) => {
    if (typeof b !== 'object' || b === null) throw bad(fn, `buyers[${i}]`, 'must be { valuation, demand }')
    amountOf(fn, `buyers[${i}].valuation`, b.valuation)
    intOf(fn, `buyers[${i}].demand`, b.demand, 1, MAX_UNITS)
  })
}

const byCost = (a: MarketServer, b: MarketServer) => (a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : 0)
const byValuationDesc = (a: MarketBuyer, b: MarketBuyer) => (a.valuation > b.valuation ? -1 : a.valuation < b.valuation ? 1 : 0)

/**
 * The exact competitive (market-clearing) price of step supply and demand curves. Walks the cheapest supply units
 * against the most eager demand units while cost ≤ valuation; with `lastS`/`lastD` the last traded units and
 * `nextS`/`nextD` the first untraded ones, `low = max(lastS, nextD)` and `high = min(lastD, nextS)`: at any price in
 * [low, high] every unit costing less is offered, every unit valued more is wanted, and they are `quantity` each.
 * When nothing can trade (every cost above every valuation) the interval is [highest valuation, lowest cost].
 *
 * @example
 * ```ts
 * competitivePrice([{ cost: 10n, capacity: 5 }, { cost: 20n, capacity: 5 }, { cost: 30n, capacity: 5 }],
 *   [{ valuation: 35n, demand: 4 }, { valuation: 25n, demand: 4 }, { valuation: 15n, demand: 4 }])
 * // { low: 20n, high: 20n, price: 20n, quantity: 8 }
 * ```
 */
export function competitivePrice(servers: readonly MarketServer[], buyers: readonly MarketBuyer[]): CompetitivePrice {
  checkMarket('competitivePrice', servers, buyers)
  const S = [...servers].sort(byCost)
  const D = [...buyers].sort(byValuationDesc)
  let i = 0, j = 0, sRem = S[0].capacity, dRem = D[0].demand, q = 0
  let lastS = 0n, lastD = 0n
  while (i < S.length && j < D.length && S[i].cost <= D[j].valuation) {
    const t = Math.min(sRem, dRem)
    q += t
    sRem -= t
    dRem -= t
    lastS = S[i].cost
    lastD = D[j].valuation
    if (sRem === 0 && ++i < S.length) sRem = S[i].capacity
    if (dRem === 0 && ++j < D.length) dRem = D[j].demand
  }
  if (q === 0) return { low: D[0].valuation, high: S[0].cost, price: (D[0].valuation + S[0].cost) / 2n, quantity: 0 }
  const nextS = i < S.length ? S[i].cost : undefined
  const nextD = j < D.length ? D[j].valuation : undefined
  const low = nextD !== undefined && nextD > lastS ? nextD : lastS
  const high = nextS !== undefined && nextS < lastD ? nextS : lastD
  return { low, high, price: (low + high) / 2n, quantity: q }
}

/** True when `price` is within `tol` of the interval [low, high]: low × (1 − tol) ≤ price ≤ high × (1 + tol). */
function near(price: bigint, c: CompetitivePrice, tol: Ratio): boolean {
  return price * tol.den >= c.low * (tol.den - tol.num) && price * tol.den <= c.high * (tol.den + tol.num)
}

// ---------------------------------------------------------------------------------------------------------------
// The price-discovery loop

/** Options of {@link discoverPrice}. */
export interface DiscoverPriceOptions {
  servers: readonly MarketServer[]
  buyers: readonly MarketBuyer[]
  /** Orders the buyers each round. */
  rng: Rng
  /**
   * Converged when the round's volume-weighted mean price and 95 % of its volume are within this fraction of the
   * competitive interval (default 0.02) ...
   */
  tolerance?: number
  /** ... for this many rounds in a row (default 3). */
  holdRounds?: number
  /** Round budget (default 500). */
  maxRounds?: number
  /** Requested utilization the servers aim at (default 1: raise only when turning buyers away). */
  targetUtilization?: number
  /**
   * No server overtakes another (default true): where wanted prices would cross, the crossing servers meet at one
   * price. false lets each server follow only its own utilization: a baseline, which cycles.
   */
  noOvertaking?: boolean
  /** Step adaptation: first step (0.1), smallest (0.002), largest (0.5); `adapt: false` keeps `initial` (a baseline). */
  step?: { initial?: number; min?: number; max?: number; adapt?: boolean }
}

/** One round of the loop, for a plot: traded units and the traded prices' volume-weighted mean, min and max. */
export interface PricePoint {
  round: number
  traded: number
  mean: bigint
  min: bigint
  max: bigint
}

export interface DiscoverPriceResult {
  converged: boolean
  /** The first round of the window that stayed within tolerance (the round budget when it did not converge). */
  rounds: number
  /** Rounds played (rounds + holdRounds − 1 when converged). */
  played: number
  competitive: CompetitivePrice
  path: PricePoint[]
  /** Each server's price after the last round played. */
  prices: bigint[]
}

const PPM = 1_000_000
/** Share of a round's volume that must trade within tolerance (the rest: buyers spilling over to a dearer server). */
const IN_BAND_SHARE = 0.95
/** Rprop step adaptation: ×1.25 while a server keeps moving freely the same way, ×0.5 when it reverses. */
const STEP_GROW = 1.25
const STEP_SHRINK = 0.5

function shuffled(n: number, rng: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const k = randomBelow(rng, i + 1)
    const t = a[i]; a[i] = a[k]; a[k] = t
  }
  return a
}

/**
 * A price-discovery loop: demand-responsive servers, none overtaking another, against buyers that buy from the
 * cheapest acceptable servers, until the traded prices stay within `tolerance` of the competitive price (see the
 * spec). Prices must be large integers (token units): a market priced in units of 1 to 100 cannot resolve 2 %.
 *
 * @example
 * ```ts
 * const r = discoverPrice({ servers: [{ cost: 100n, capacity: 10 }], buyers: [{ valuation: 150n, demand: 5 }], rng: seededRng('x') })
 * r.competitive // { low: 100n, high: 100n, price: 100n, quantity: 5 }: the lone server has spare capacity
 * r.rounds      // rounds to reach it, r.path the traded price per round
 * ```
 */
export function discoverPrice(o: DiscoverPriceOptions): DiscoverPriceResult {
  const fn = 'discoverPrice'
  if (typeof o !== 'object' || o === null) throw bad(fn, 'options', 'must be an object', String(o))
  if (typeof o.rng !== 'function') throw bad(fn, 'rng', 'must be an Rng')
  const competitive = competitivePrice(o.servers, o.buyers)
  const tol = fractionOf(fn, 'tolerance', o.tolerance ?? 0.02, 0, 1)
  const hold = intOf(fn, 'holdRounds', o.holdRounds ?? 3, 1, 1000)
  const maxRounds = intOf(fn, 'maxRounds', o.maxRounds ?? 500, 1, 1_000_000)
  const target = o.targetUtilization ?? 1
  fractionOf(fn, 'targetUtilization', target, 0, 1e6, { min: true })
  const st = o.step ?? {}
  /** A step fraction in (0, 1] as whole parts per million (at least 1). */
  const ppm = (field: string, v: number) => {
    fractionOf(fn, `step.${field}`, v, 0, 1, { min: true })
    return Math.max(1, Math.round(v * PPM))
  }
  const minStep = ppm('min', st.min ?? 0.002)
  const maxStep = ppm('max', st.max ?? 0.5)
  const initStep = ppm('initial', st.initial ?? 0.1)
  if (minStep > maxStep) throw bad(fn, 'step.min', `must be at most step.max, got ${st.min} > ${st.max}`)
  const adapt = st.adapt ?? true
  const noOvertake = o.noOvertaking ?? true

  const servers = o.servers, buyers = o.buyers
  const n = servers.length
  const price = servers.map((s) => (s.price !== undefined ? (s.price < s.cost ? s.cost : s.price) : s.cost * 2n > s.cost ? s.cost * 2n : s.cost + 1n))
  const step = servers.map(() => Math.min(maxStep, Math.max(minStep, initStep)))
  const lastDir = servers.map(() => 0)
  const free = servers.map(() => true)
  const path: PricePoint[] = []
  let streak = 0
  let round = 0
  for (round = 1; round <= maxRounds; round++) {
    // Post: servers by price; equal prices form one level, which buyers spread over pro rata to capacity.
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (price[a] < price[b] ? -1 : price[a] > price[b] ? 1 : a - b))
    const levels: { price: bigint; members: number[]; capacity: number; left: number; requested: number }[] = []
    for (const i of order) {
      const top = levels[levels.length - 1]
      if (top && top.price === price[i]) { top.members.push(i); top.capacity += servers[i].capacity; top.left += servers[i].capacity }
      else levels.push({ price: price[i], members: [i], capacity: servers[i].capacity, left: servers[i].capacity, requested: 0 })
    }
    // Buy: each buyer, in a random order, from the cheapest acceptable levels.
    for (const j of shuffled(buyers.length, o.rng)) {
      const b = buyers[j]
      let r = b.demand
      for (const l of levels) {
        if (l.price > b.valuation) break
        l.requested += r
        const take = Math.min(r, l.left)
        l.left -= take
        r -= take
        if (r === 0) break
      }
    }
    // Record, and check convergence.
    let traded = 0, inBand = 0, volume = 0n, min = 0n, max = 0n
    for (const l of levels) {
      const sold = l.capacity - l.left
      if (sold === 0) continue
      if (traded === 0) min = l.price
      max = l.price
      traded += sold
      volume += BigInt(sold) * l.price
      if (near(l.price, competitive, tol)) inBand += sold
    }
    const mean = traded > 0 ? volume / BigInt(traded) : 0n
    path.push({ round, traded, mean, min, max })
    const ok = competitive.quantity === 0 ? traded === 0 : traded > 0 && near(mean, competitive, tol) && inBand >= IN_BAND_SHARE * traded
    streak = ok ? streak + 1 : 0
    if (streak >= hold) break
    // Respond: each level by its requested utilization (the same for every member, as buyers spread over it pro
    // rata), with one step for the level; each member wants the demand-responsive price with its cost as floor.
    // Listed in the book's order (members of a level: lowest wanted price first).
    const seq: { i: number; want: bigint }[] = []
    for (const l of levels) {
      const u = l.requested / l.capacity
      const dir = u > target ? 1 : u < target ? -1 : 0
      let s = maxStep
      for (const i of l.members) {
        // Rprop: halve on a reversal, grow while the same direction moved freely (not stopped by a floor or a level).
        if (dir !== 0 && adapt && lastDir[i] !== 0) step[i] = dir !== lastDir[i] ? Math.max(minStep, Math.round(step[i] * STEP_SHRINK)) : free[i] ? Math.min(maxStep, Math.round(step[i] * STEP_GROW)) : step[i]
        if (dir !== 0) lastDir[i] = dir
        if (step[i] < s) s = step[i]
      }
      const ws = l.members.map((i) => {
        step[i] = s
        return { i, want: demandResponsive({ floor: servers[i].cost, step: s / PPM, targetUtilization: target })(l.price, u) }
      })
      ws.sort((a, b) => (a.want < b.want ? -1 : a.want > b.want ? 1 : 0))
      seq.push(...ws)
    }
    // No overtaking: servers whose wanted prices would cross meet at one price (their capacity-weighted mean), by
    // pooling adjacent violators (the isotonic fit of the wanted prices to the book's order).
    const blocks: { from: number; to: number; kw: bigint; k: bigint; value: bigint }[] = []
    seq.forEach(({ i, want }, at) => {
      const k = BigInt(servers[i].capacity)
      blocks.push({ from: at, to: at + 1, kw: k * want, k, value: want })
      while (noOvertake && blocks.length > 1 && blocks[blocks.length - 2].value > blocks[blocks.length - 1].value) {
        const top = blocks.pop()!
        const b = blocks[blocks.length - 1]
        b.to = top.to
        b.kw += top.kw
        b.k += top.k
        b.value = b.kw / b.k
      }
    })
    for (const b of blocks) {
      for (let at = b.from; at < b.to; at++) {
        const { i, want } = seq[at]
        const p = b.value < servers[i].cost ? servers[i].cost : b.value
        free[i] = p === want
        price[i] = p
      }
    }
  }
  const converged = streak >= hold
  const played = Math.min(round, maxRounds)
  return { converged, rounds: converged ? played - hold + 1 : maxRounds, played, competitive, path, prices: price }
}

/** Sizes and ranges of {@link randomMarket}. */
export interface RandomMarketOptions {
  servers: number
  buyers: number
  /** Server cost per unit in [cost[0], cost[1]) (default [50, 150) × 10^12). */
  cost?: [bigint, bigint]
  /** Buyer valuation in [valuation[0], valuation[1]) (default [50, 250) × 10^12). */
  valuation?: [bigint, bigint]
  /** Server capacity in [1, capacity] units (default 100). */
  capacity?: number
  /** Buyer demand in [1, demand] units (default 20). */
  demand?: number
  /** First prices: each server's cost × a factor in [1, startMarkup) (default 3). */
  startMarkup?: number
}

/**
 * A random market from `rng` (uniform draws in the given ranges), for tests, the benchmark and `souk market`.
 *
 * @example
 * ```ts
 * const { servers, buyers } = randomMarket(seededRng('m1'), { servers: 50, buyers: 200 })
 * ```
 */
export function randomMarket(rng: Rng, o: RandomMarketOptions): { servers: MarketServer[]; buyers: MarketBuyer[] } {
  const fn = 'randomMarket'
  intOf(fn, 'servers', o.servers, 1, MAX_SERVERS)
  intOf(fn, 'buyers', o.buyers, 1, MAX_BUYERS)
  const [c0, c1] = o.cost ?? [50n * 10n ** 12n, 150n * 10n ** 12n]
  const [v0, v1] = o.valuation ?? [50n * 10n ** 12n, 250n * 10n ** 12n]
  const cap = intOf(fn, 'capacity', o.capacity ?? 100, 1, MAX_UNITS)
  const dem = intOf(fn, 'demand', o.demand ?? 20, 1, MAX_UNITS)
  const markup = o.startMarkup ?? 3
  fractionOf(fn, 'startMarkup', markup, 1, 1000)
  for (const [f, lo, hi] of [['cost', c0, c1], ['valuation', v0, v1]] as const) {
    amountOf(fn, `${f}[0]`, lo)
    amountOf(fn, `${f}[1]`, hi, lo + 1n)
  }
  /** Uniform in [lo, hi) to 2^-32 of the range: a 32-bit fraction of the span. */
  const between = (lo: bigint, hi: bigint) => lo + ((hi - lo) * BigInt(randomBelow(rng, 2 ** 32))) / 2n ** 32n
  const servers = Array.from({ length: o.servers }, () => {
    const cost = between(c0, c1)
    const capacity = 1 + randomBelow(rng, cap)
    const factor = BigInt(PPM + randomBelow(rng, Math.max(1, Math.round((markup - 1) * PPM))))
    return { cost, capacity, price: (cost * factor) / BigInt(PPM) }
  })
  const buyers = Array.from({ length: o.buyers }, () => ({ valuation: between(v0, v1), demand: 1 + randomBelow(rng, dem) }))
  return { servers, buyers }
}

// ---------------------------------------------------------------------------------------------------------------
// The honesty rule

/** Inputs of {@link honestyCondition}. */
export interface HonestyInputs {
  /** What a deal pays the server. */
  price: bigint
  /** What serving a deal honestly costs it. */
  cost: bigint
  /** What one cheat gains over serving honestly (the cost saved, plus anything else it takes). */
  cheatGain: bigint
  /** Probability q that a cheat is detected (by an audit, a failed proof, a buyer's complaint it can prove). */
  detectionProbability: number
  /** Discount factor δ per period, in [0, 1): a deal one period ahead is worth δ of one now. */
  discount: number
  /** Deals per period n the server gets at its current reputation. */
  futureDealsAtReputation: number
  /** Fraction L of those future deals it loses when a cheat is detected (1: nobody deals with it again). */
  reputationLossOnDetection: number
}

export interface HonestyResult {
  /** q × L × F > cheatGain, exactly (a tie does not deter: the server is indifferent). */
  honestyPays: boolean
  /** q × L × F − cheatGain: how much more honesty earns in expectation (token units, rounded for display). */
  margin: number
  /** F = n × δ/(1−δ) × (price − cost): the discounted future earnings at its reputation (rounded for display). */
  futureEarnings: number
  /** The least integer price at which honesty pays; undefined when none does (q, L, n or δ is 0). */
  minPrice: bigint | undefined
}

/**
 * The seed's honesty rule: a server that can cheat once undetected for sure gains `cheatGain`; caught (probability
 * q) it loses the fraction L of its future deals. With F = n × δ/(1−δ) × (price − cost) its discounted future
 * earnings at its reputation, cheating loses q × L × F in expectation, so honesty pays iff
 * `q × L × F > cheatGain`, i.e. `price > cost + cheatGain × (1 − δ) / (q × L × n × δ)`.
 *
 * @example
 * ```ts
 * honestyCondition({ price: 301n, cost: 100n, cheatGain: 900n, detectionProbability: 0.5, discount: 0.9,
 *   futureDealsAtReputation: 1, reputationLossOnDetection: 1 })
 * // { honestyPays: true, margin: 4.5, futureEarnings: 1809, minPrice: 301n }  (q L n δ/(1−δ) = 4.5)
 * ```
 */
export function honestyCondition(h: HonestyInputs): HonestyResult {
  const fn = 'honestyCondition'
  if (typeof h !== 'object' || h === null) throw bad(fn, 'inputs', 'must be an object', String(h))
  const price = amountOf(fn, 'price', h.price)
  const cost = amountOf(fn, 'cost', h.cost)
  const g = amountOf(fn, 'cheatGain', h.cheatGain)
  const q = fractionOf(fn, 'detectionProbability', h.detectionProbability, 0, 1)
  const d = fractionOf(fn, 'discount', h.discount, 0, 1, { max: true })
  const n = fractionOf(fn, 'futureDealsAtReputation', h.futureDealsAtReputation, 0, 1e12)
  const L = fractionOf(fn, 'reputationLossOnDetection', h.reputationLossOnDetection, 0, 1)
  // A = n δ / (1 − δ): the discounted number of future deals; K = q L A: the expected future deals a cheat forfeits.
  const A = mul(n, ratio(d.num, d.den - d.num))
  const K = mul(mul(q, L), A)
  const profit = price - cost
  // margin = K × profit − g, compared exactly: K.num × profit > g × K.den.
  const margin: Ratio = { num: K.num * profit - g * K.den, den: K.den }
  // price − cost > g / K  ⇔  price ≥ cost + floor(g / K) + 1 (g ≥ 0, K > 0).
  const minPrice = K.num === 0n ? undefined : cost + (g * K.den) / K.num + 1n
  return {
    honestyPays: margin.num > 0n,
    margin: toNumber(margin),
    futureEarnings: toNumber({ num: A.num * profit, den: A.den }),
    minPrice,
  }
}
