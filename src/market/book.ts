/**
 * An order book per service: it holds checked offers and asks (`check.ts` is the trust boundary; the book trusts the
 * types) and clears many asks against many offers at once.
 *
 * Spec:
 * - **Offers** are keyed by server address: a newer `seq` from the same server replaces its offer (fresh capacity,
 *   a new arrival: a changed offer goes to the back of its price level, as on an exchange); an equal or lower `seq`
 *   is refused as `replayed`. An offer's `resources` is its **capacity**: each match consumes the ask's `bytes`,
 *   `bandwidthBps` and `computeUnits` from it (`durationSec` is a limit, not consumed). An offer with no room left
 *   (no bytes, bandwidth and compute units left: a zero-capacity offer from the start) is never matched; it stays in
 *   the book, with its sequence number, until it expires, is removed or is replaced.
 * - **Asks** are keyed by (buyer, seq); the same pair twice is refused as `replayed`. An ask wants `ask.servers`
 *   DISTINCT servers; one served by fewer stays in the book with the rest of its need, and is never matched again to a
 *   server that already serves it (even one that posted a new offer since); a fully served ask leaves the book.
 * - **Constraints**: an offer meets an ask when `unmet(ask, offer)` (check.ts) holds for the offer's remaining
 *   capacity: resources fit, collateral floor, a common payment scheme, region, latency, capabilities and the price
 *   cap. The hot path checks the same thing split in two (`meets` composes both halves; a property test holds it
 *   equal to `unmet`): the region per offer group, the rest per offer (capabilities and schemes as bit masks, names
 *   past the 31st by set).
 * - **Clearing** (`clear()`), price-time priority on both sides: asks are served highest price cap first, ties by
 *   arrival; each ask takes the best `need` offers that meet it, ranked by `rank(ask, offer)` (lower is better;
 *   default the price for the ask's usage, `priceOf(offer.price, ask.usage)`), ties by arrival. A match is
 *   `{ ask, offer, price }` with the offer's price for the ask's usage (pay as offered). Expired offers and asks
 *   (`expiresAt <= clock.now()`) are pruned first. `naiveClear` is this rule written as the O(n·m) reference; the
 *   book's result equals it match for match (property tests, small and huge amounts).
 *
 * Algorithm (n asks, m offers, k servers per ask, G groups an ask accepts):
 * - Offers are grouped by (region, price shape) and each group is sorted by a per-unit price `s`: for an offer with
 *   one rate over usage key u, `s = rate.price / rate.per`, and its price for an ask is at least `s × usage[u]` (the
 *   base is ≥ 0 and ceil only rounds up); for any other offer `s = base`, a lower bound too. A group is sorted again
 *   in `clear()` only when offers joined it: O(m log m) at most.
 * - Over each group's sorted positions, a segment tree keeps per node the largest remaining bytes, bandwidth,
 *   compute units, duration and collateral, the smallest latency and `s`, the union of capability and scheme masks,
 *   and 3 "shape" maxima: for reference needs r (asks at the 1/6, 1/2, 5/6 quantiles of bandwidth/bytes, chosen
 *   per clearing) the largest `min_d remaining_d / r_d`. An ask fitting some offer under a node passes every one of
 *   those tests (its own `min_d need_d / r_d` is at most that offer's), so a node failing one is skipped whole;
 *   the shape maxima catch what separate maxima miss (bytes left here, bandwidth there). The tree is float32,
 *   rounded monotonically (`s` down), and every offer it yields is checked exactly.
 * - An ask walks its groups' trees left to right (ascending `s`), keeps its best k by exact (price, arrival), and
 *   stops at the first node whose smallest `s` × usage is above its cap or its k-th best price (float bounds with
 *   a relative slack of 1e-9 plus 1: rounding can only make it look further). With k held, an offer that cannot beat
 *   the k-th lets it jump over the rest of its run (offers priced alike, by arrival).
 * - Consumption updates a leaf and its ancestors, stopping where nothing changes: O(log m). While serving ask i,
 *   an offer left with less of a resource than any ask from i on needs (suffix minima) counts as full until the
 *   next clearing: the consumed cheap end of the book stops costing every later ask a walk.
 * - Complexity: O((n + m) log(n + m)) to sort and index, then per ask O(G + (k + S) log m + k²), with S the
 *   offers it reaches that fail an exact check or tie its k-th price. S stays O(k) when a fair share of the offers
 *   below an ask's cap meet it (the common case: 50,000 asks against 50,000 offers walk ~100 tree nodes each, see
 *   docs/market.md, The order book); the worst case is O(n·m), every ask with a high cap and a conjunction of constraints
 *   nearly no offer meets. A custom `rank` has no price bound: each ask walks every offer that may fit it.
 *
 * @example
 * ```ts
 * import { createOrderBook } from './book.js'
 * import { manualClock } from '../core/clock.js'
 * import { marketFixtures } from './fixtures.js'
 * import { perChunk } from './schema.js'
 * const f = marketFixtures({ now: 1_000 })
 * const book = createOrderBook({ service: 'cdn', clock: manualClock(f.now) })
 * book.addOffer(f.offer(f.party('server-1'), { price: perChunk(3n) }))   // checked offers and asks (check.ts)
 * book.addOffer(f.offer(f.party('server-2'), { price: perChunk(2n) }))
 * book.addAsk(f.ask(f.party('buyer-1'), { usage: { chunks: 100n }, servers: 1 }))
 * book.clear()   // [{ ask, offer: server-2's, price: 200n }]
 * ```
 */
import type { Address } from 'viem'
import type { Clock } from '../core/clock.js'
import { ValidationError } from '../core/errors.js'
import { unmet } from './check.js'
import { MarketRejectedError } from './errors.js'
import { priceOf, type Ask, type Offer, type Resources, type UsageKey } from './schema.js'

/** One server matched to one ask, at the offer's price for the ask's usage. */
export interface Match {
  ask: Ask
  offer: Offer
  price: bigint
}

/** Ranks an offer for an ask: lower is better (ties by arrival). NaN ranks last. */
export type Rank = (ask: Ask, offer: Offer) => bigint | number

export interface OrderBookOptions {
  /** The service this book is for: offers and asks of other services are refused (`wrong-service`). */
  service: string
  /** Expiry: an offer or ask with `expiresAt <= clock.now()` is refused, and pruned. */
  clock: Clock
  /** Default: the price for the ask's usage (the fast path; a custom rank scans every candidate). */
  rank?: Rank
}

/** An offer in the book with what is left of its capacity. */
export interface BookOffer {
  offer: Offer
  remaining: Resources
}

/** An ask in the book: how many more servers it wants, and those already serving it. */
export interface BookAsk {
  ask: Ask
  need: number
  servers: Address[]
}

export interface OrderBook {
  readonly service: string
  /** Adds `offer`, or replaces its server's older one. Refuses another service, an expired one, an old `seq`. */
  addOffer(offer: Offer): 'added' | 'replaced'
  /** Removes the offer of `server`; false when it has none. */
  removeOffer(server: Address): boolean
  /** Adds `ask`. Refuses another service, an expired one, a (buyer, seq) already in the book. */
  addAsk(ask: Ask): void
  /** Cancels the ask (buyer, seq); false when there is none. */
  cancelAsk(buyer: Address, seq: bigint): boolean
  /** Drops expired offers and asks; says how many. */
  prune(): { offers: number; asks: number }
  /** Prunes, then clears every ask against every offer (see the header); consumes capacity and need. */
  clear(): Match[]
  /** The offers, in arrival order (exhausted ones included, with zero remaining). */
  offers(): BookOffer[]
  /** The asks still wanting servers, in arrival order. */
  asks(): BookAsk[]
  size(): { offers: number; asks: number }
}

/** Relative slack on float lower bounds: far above double rounding (≈ 4 × 2^-53), far below any price step. */
const BOUND_SLACK = 1e-9
const SERVICE_RE = /^[a-z][a-z0-9-]{0,31}$/
/** Capability and scheme names that get a bit in the masks (per book, first come); later names are checked by set. */
const MASK_BITS = 31

/** Names to bits, first come first served, never forgotten (so an offer's mask stays consistent with every ask's). */
interface Interner { bits: Map<string, number>; version: number }
const newInterner = (): Interner => ({ bits: new Map(), version: 0 })
function intern(t: Interner, name: string): number | undefined {
  let b = t.bits.get(name)
  if (b === undefined && t.bits.size < MASK_BITS) { b = t.bits.size; t.bits.set(name, b); t.version++ }
  return b
}
/** An offer's names as a mask (interning them) and the rest as a set. */
function offerMask(t: Interner, names: readonly string[]): { mask: number; extra: Set<string> | undefined } {
  let mask = 0, extra: Set<string> | undefined
  for (const n of names) {
    const b = intern(t, n)
    if (b === undefined) (extra ??= new Set()).add(n)
    else mask |= 1 << b
  }
  return { mask, extra }
}
/** An ask's names as a mask (looking them up only) and the rest as a list. */
function askMask(t: Interner, names: readonly string[]): { mask: number; extra: string[] } {
  let mask = 0
  const extra: string[] = []
  for (const n of names) {
    const b = t.bits.get(n)
    if (b === undefined) { if (!extra.includes(n)) extra.push(n) } else mask |= 1 << b
  }
  return { mask, extra }
}

interface OfferEntry {
  offer: Offer
  server: string
  arrival: number
  /** In the book with room left. Once false, false for good (a replacement is a new entry). */
  alive: boolean
  bytes: number
  bandwidthBps: number
  computeUnits: number
  durationSec: number
  collateral: bigint
  latencyMs: number
  capMask: number
  capExtra: Set<string> | undefined
  schemeMask: number
  schemeExtra: Set<string> | undefined
  /** The one priced usage key, or undefined (flat or several rates: then `s` is the base). */
  rateKey: UsageKey | undefined
  ratePrice: bigint
  ratePer: bigint
  base: bigint
  /** Per-unit sort key, a lower bound of the price divided by the ask's usage weight (see the header). */
  s: number
  group: Group | undefined
  /** Index in `group.entries`, or -1 while pending. */
  pos: number
}

/**
 * Offers of one region and price shape, sorted by `s`, with a segment tree over the positions: per node the largest
 * remaining bytes, bandwidth, compute units, duration and collateral, the smallest latency, the smallest `s`, the
 * union of capability and scheme masks, and for each of `REPS` reference needs r (chosen per clearing from the asks)
 * the largest `min over consumed resources d of remaining_d / r_d`. An ask that fits an offer has, for each r,
 * `min_d need_d / r_d` at most that offer's value: with r near the ask's own need this catches what the separate
 * maxima miss (one offer with bytes left but no bandwidth, its neighbour the reverse). A node no offer under which
 * can meet an ask is skipped whole; an offer with no room left is a leaf that meets nothing.
 */
interface Group {
  key: string
  region: string
  rateKey: UsageKey | undefined
  entries: OfferEntry[]
  pending: OfferEntry[]
  dead: number
  /** nextRun[i]: the first position after i's run (entries priced alike for every usage, hence by arrival). */
  nextRun: Int32Array
  /** Leaves: a power of two ≥ entries.length; leaf i is node size + i. */
  size: number
  /**
   * The tree, node n at 8n of `hot` (bytes, bandwidth, v0, v1, v2, collateral, latency, s), 2n of `cold` (compute
   * units, duration) and 2n of `masks` (capabilities, schemes). Floats are float32, rounded monotonically (so a
   * `≥` that holds exactly holds rounded, the ask's side rounded the same way), `s` rounded down (a lower bound).
   */
  hot: Float32Array
  cold: Float32Array
  masks: Int32Array
  /** The reference needs of this clearing: reps[j × 3 + d], d over bytes, bandwidth, compute units. */
  reps: Float64Array
  /**
   * The book's floor (shared by its groups): during a clearing, the least bytes, bandwidth and compute units any ask
   * still to be served needs. An offer left with less in one of them fits none of them: its leaf meets nothing until
   * the next clearing re-reads it. Zero outside a clearing.
   */
  floor: Float64Array
}

const REPS = 3
const f32 = Math.fround
const down32Buf = new Float32Array(1), down32Bits = new Uint32Array(down32Buf.buffer)
/** The largest float32 ≤ x (x ≥ 0). */
function down32(x: number): number {
  const f = f32(x)
  if (f <= x) return f
  down32Buf[0] = f
  down32Bits[0]--
  return down32Buf[0]
}

interface AskEntry {
  ask: Ask
  key: string
  arrival: number
  need: number
  /** Servers already serving it (from earlier clearings), lowercase; undefined while none. */
  served: Set<string> | undefined
  servers: Address[]
  /** Its usage as doubles, for the lower bounds. */
  usageF: Partial<Record<UsageKey, number>>
  /** maxPrice as a double (monotone rounding: orders like the bigint wherever the doubles differ). */
  maxPriceF: number
  /** Its accepted regions, sorted: what decides which groups it walks. */
  sig: string
  regions: Set<string> | undefined
  caps: string[]
  schemes: string[]
  /** Masks as of interner `version` (recomputed when new names get bits). */
  version: number
  capMask: number
  capExtra: string[]
  schemeMask: number
  schemeExtra: string[]
  bytes: number
  bandwidthBps: number
  computeUnits: number
  durationSec: number
  minCollateral: bigint
  maxLatencyMs: number
  maxPrice: bigint
  /** Its needs as float32 for the tree (see Group): resources, thresholds against the reference needs, bounds. */
  qBytes: number
  qBw: number
  qCu: number
  qDur: number
  qCol: number
  /** +Infinity when it accepts any latency. */
  qLat: number
  qT0: number
  qT1: number
  qT2: number
}

const sortedUnique = (xs: readonly string[]) => [...new Set(xs)].sort()

function offerEntry(t: Interner, offer: Offer, arrival: number): OfferEntry {
  const r = offer.resources
  const m = offer.price
  const single = m.rates.length === 1 ? m.rates[0] : undefined
  const caps = offerMask(t, offer.capabilities), schemes = offerMask(t, offer.schemes.map((x) => `scheme:${x}`))
  return {
    offer, server: offer.server.toLowerCase(), arrival,
    alive: r.bytes > 0 || r.bandwidthBps > 0 || r.computeUnits > 0,
    bytes: r.bytes, bandwidthBps: r.bandwidthBps, computeUnits: r.computeUnits, durationSec: r.durationSec,
    collateral: offer.collateral, latencyMs: offer.latencyMs,
    capMask: caps.mask, capExtra: caps.extra, schemeMask: schemes.mask, schemeExtra: schemes.extra,
    rateKey: single?.usage, ratePrice: single?.price ?? 0n, ratePer: single?.per ?? 1n, base: m.base,
    s: single ? Number(single.price) / Number(single.per) : Number(m.base),
    group: undefined, pos: -1,
  }
}

function askEntry(t: Interner, ask: Ask, arrival: number): AskEntry {
  const r = ask.resources
  const regions = sortedUnique(ask.regions)
  const a: AskEntry = {
    ask, key: askKey(ask.buyer, ask.seq), arrival, need: ask.servers, served: undefined, servers: [],
    usageF: Object.fromEntries(Object.entries(ask.usage).map(([k, v]) => [k, Number(v)])), maxPriceF: Number(ask.maxPrice),
    sig: regions.join(','), regions: regions.length > 0 ? new Set(regions) : undefined,
    caps: sortedUnique(ask.capabilities), schemes: sortedUnique(ask.schemes).map((x) => `scheme:${x}`),
    version: -1, capMask: 0, capExtra: [], schemeMask: 0, schemeExtra: [],
    bytes: r.bytes, bandwidthBps: r.bandwidthBps, computeUnits: r.computeUnits, durationSec: r.durationSec,
    minCollateral: ask.minCollateral, maxLatencyMs: ask.maxLatencyMs, maxPrice: ask.maxPrice,
    qBytes: f32(r.bytes), qBw: f32(r.bandwidthBps), qCu: f32(r.computeUnits), qDur: f32(r.durationSec), qCol: f32(Number(ask.minCollateral)),
    qLat: ask.maxLatencyMs === 0 ? Infinity : f32(ask.maxLatencyMs), qT0: -Infinity, qT1: -Infinity, qT2: -Infinity,
  }
  remask(t, a)
  return a
}

function remask(t: Interner, a: AskEntry): void {
  if (a.version === t.version) return
  const caps = askMask(t, a.caps), schemes = askMask(t, a.schemes)
  a.capMask = caps.mask; a.capExtra = caps.extra; a.schemeMask = schemes.mask; a.schemeExtra = schemes.extra
  a.version = t.version
}

const askKey = (buyer: string, seq: bigint) => `${buyer.toLowerCase()}|${seq}`
const groupKey = (o: Offer, rateKey: UsageKey | undefined) => `${o.region}|${rateKey ?? '-'}`

/** The group half of the constraints: the region. */
function groupAccepts(a: AskEntry, g: Group): boolean {
  return a.regions === undefined || a.regions.has(g.region)
}

/** The per-offer half, price cap aside: collateral, latency, capacity left, capabilities, a common scheme. */
function offerFits(a: AskEntry, e: OfferEntry): boolean {
  if (!(e.collateral >= a.minCollateral && (a.maxLatencyMs === 0 || e.latencyMs <= a.maxLatencyMs) &&
    a.bytes <= e.bytes && a.bandwidthBps <= e.bandwidthBps && a.computeUnits <= e.computeUnits && a.durationSec <= e.durationSec)) return false
  if ((e.capMask & a.capMask) !== a.capMask) return false
  for (const c of a.capExtra) if (e.capExtra === undefined || !e.capExtra.has(c)) return false
  if ((e.schemeMask & a.schemeMask) !== 0) return true
  for (const x of a.schemeExtra) if (e.schemeExtra !== undefined && e.schemeExtra.has(x)) return true
  return false
}

/** `priceOf(e.offer.price, ask.usage)`, without the loop for one-rate offers. */
function priceFor(e: OfferEntry, a: AskEntry): bigint {
  if (e.rateKey === undefined) return priceOf(e.offer.price, a.ask.usage)
  const u = a.ask.usage[e.rateKey]
  return u === undefined ? e.base : e.base + (e.ratePrice * u + e.ratePer - 1n) / e.ratePer
}

function newGroup(key: string, region: string, rateKey: UsageKey | undefined, floor = new Float64Array(3)): Group {
  const g: Group = { key, region, rateKey, entries: [], nextRun: new Int32Array(0), pending: [], dead: 0, size: 1, hot: new Float32Array(0), cold: new Float32Array(0), masks: new Int32Array(0), reps: new Float64Array(3 * REPS), floor }
  rebuild(g) // an empty tree: one leaf that meets nothing
  return g
}

/**
 * The book's constraint test, as `clear()` runs it (group half, then offer half, then the price cap), on the offer's
 * full capacity: true exactly when `unmet(ask, offer)` is undefined.
 */
export function meets(ask: Ask, offer: Offer): boolean {
  if (ask.service !== offer.service) return false
  const t = newInterner()
  const e = offerEntry(t, offer, 0)
  const a = askEntry(t, ask, 0)
  return groupAccepts(a, newGroup('', offer.region, e.rateKey)) && offerFits(a, e) && priceFor(e, a) <= a.maxPrice
}

/** `min over d of x_d / reps[j][d]` for the reference needs' non-zero d (+Infinity when it has none: no bound). */
function perRep(reps: Float64Array, j: number, bytes: number, bw: number, cu: number, none: number): number {
  const rb = reps[3 * j], rw = reps[3 * j + 1], rc = reps[3 * j + 2]
  let v = Infinity
  if (rb > 0) v = Math.min(v, bytes / rb)
  if (rw > 0) v = Math.min(v, bw / rw)
  if (rc > 0) v = Math.min(v, cu / rc)
  return v === Infinity ? none : v
}

function setLeaf(g: Group, e: OfferEntry): void {
  const n = g.size + e.pos
  const h = g.hot, c = g.cold, m = g.masks, o = 8 * n, fl = g.floor
  if (e.alive && e.bytes >= fl[0] && e.bandwidthBps >= fl[1] && e.computeUnits >= fl[2]) {
    const reps = g.reps
    h[o] = e.bytes; h[o + 1] = e.bandwidthBps
    h[o + 2] = perRep(reps, 0, e.bytes, e.bandwidthBps, e.computeUnits, Infinity)
    h[o + 3] = perRep(reps, 1, e.bytes, e.bandwidthBps, e.computeUnits, Infinity)
    h[o + 4] = perRep(reps, 2, e.bytes, e.bandwidthBps, e.computeUnits, Infinity)
    h[o + 5] = Number(e.collateral); h[o + 6] = e.latencyMs
    c[2 * n] = e.computeUnits; c[2 * n + 1] = e.durationSec
    m[2 * n] = e.capMask; m[2 * n + 1] = e.schemeMask
  } else {
    h.fill(-1, o, o + 6); h[o + 6] = Infinity
    c[2 * n] = -1; c[2 * n + 1] = -1
    m[2 * n] = 0; m[2 * n + 1] = 0
  }
  h[o + 7] = down32(e.s)
}

/** Recomputes node n from its children; false when nothing changed (then its ancestors need not change either). */
function pull(g: Group, n: number): boolean {
  const h = g.hot, c = g.cold, m = g.masks
  const o = 8 * n, l = 16 * n, r = l + 8
  let changed = false, v: number
  v = h[l] > h[r] ? h[l] : h[r]; if (h[o] !== v) { h[o] = v; changed = true }
  v = h[l + 1] > h[r + 1] ? h[l + 1] : h[r + 1]; if (h[o + 1] !== v) { h[o + 1] = v; changed = true }
  v = h[l + 2] > h[r + 2] ? h[l + 2] : h[r + 2]; if (h[o + 2] !== v) { h[o + 2] = v; changed = true }
  v = h[l + 3] > h[r + 3] ? h[l + 3] : h[r + 3]; if (h[o + 3] !== v) { h[o + 3] = v; changed = true }
  v = h[l + 4] > h[r + 4] ? h[l + 4] : h[r + 4]; if (h[o + 4] !== v) { h[o + 4] = v; changed = true }
  v = h[l + 5] > h[r + 5] ? h[l + 5] : h[r + 5]; if (h[o + 5] !== v) { h[o + 5] = v; changed = true }
  v = h[l + 6] < h[r + 6] ? h[l + 6] : h[r + 6]; if (h[o + 6] !== v) { h[o + 6] = v; changed = true }
  v = h[l + 7] < h[r + 7] ? h[l + 7] : h[r + 7]; if (h[o + 7] !== v) { h[o + 7] = v; changed = true }
  const cl = 4 * n, cr = cl + 2, co = 2 * n
  v = c[cl] > c[cr] ? c[cl] : c[cr]; if (c[co] !== v) { c[co] = v; changed = true }
  v = c[cl + 1] > c[cr + 1] ? c[cl + 1] : c[cr + 1]; if (c[co + 1] !== v) { c[co + 1] = v; changed = true }
  v = m[cl] | m[cr]; if (m[co] !== v) { m[co] = v; changed = true }
  v = m[cl + 1] | m[cr + 1]; if (m[co + 1] !== v) { m[co + 1] = v; changed = true }
  return changed
}

/** Re-reads entry `e` into its leaf and its ancestors (after a match consumed capacity, or it died). */
function update(e: OfferEntry): void {
  const g = e.group
  if (g === undefined || e.pos < 0) return
  setLeaf(g, e)
  for (let n = (g.size + e.pos) >> 1; n >= 1 && pull(g, n); n >>= 1);
}

function kill(e: OfferEntry): void {
  if (!e.alive) return
  e.alive = false
  if (e.group !== undefined && e.pos >= 0) { e.group.dead++; update(e) }
}

/** Whether two offers of one group cost the same for every usage, and sort together (same `s`, same base). */
function samePrice(x: OfferEntry, y: OfferEntry): boolean {
  if (x.s !== y.s || x.base !== y.base) return false
  if (x.rateKey !== undefined) return x.ratePrice * y.ratePer === y.ratePrice * x.ratePer
  return x.offer.price.rates.length === 0 && y.offer.price.rates.length === 0
}

/** Sorts the group's alive offers by (s, base, arrival) and makes a fresh tree for them. */
function rebuild(g: Group): void {
  const live: OfferEntry[] = []
  for (const e of g.entries) if (e.alive) live.push(e)
  for (const e of g.pending) if (e.alive) live.push(e)
  live.sort((x, y) => x.s - y.s || (x.base < y.base ? -1 : x.base > y.base ? 1 : x.arrival - y.arrival))
  const nextRun = new Int32Array(live.length)
  for (let p = live.length - 1; p >= 0; p--) nextRun[p] = p + 1 < live.length && samePrice(live[p], live[p + 1]) ? nextRun[p + 1] : p + 1
  let size = 1
  while (size < live.length) size *= 2
  for (let p = 0; p < live.length; p++) live[p].pos = p
  g.entries = live; g.nextRun = nextRun; g.pending = []; g.dead = 0; g.size = size
  g.hot = new Float32Array(16 * size)
  g.cold = new Float32Array(4 * size)
  g.masks = new Int32Array(4 * size)
  refresh(g)
}

/** Re-reads every leaf (after the reference needs changed) and every node. O(entries). */
function refresh(g: Group): void {
  const size = g.size, h = g.hot
  for (let p = 0; p < g.entries.length; p++) setLeaf(g, g.entries[p])
  // Padding leaves meet nothing and are priced +Infinity.
  h.fill(-1, 8 * (size + g.entries.length))
  for (let n = size + g.entries.length; n < 2 * size; n++) { h[8 * n + 6] = Infinity; h[8 * n + 7] = Infinity }
  g.cold.fill(-1, 2 * (size + g.entries.length))
  g.masks.fill(0, 2 * (size + g.entries.length))
  for (let n = size - 1; n >= 1; n--) pull(g, n)
}

/** Could some offer under node `n` meet `a` (capacity, collateral, latency, capabilities, schemes)? */
function nodeMayFit(g: Group, n: number, a: AskEntry): boolean {
  const h = g.hot, o = 8 * n
  if (!(h[o] >= a.qBytes && h[o + 1] >= a.qBw && h[o + 2] >= a.qT0 && h[o + 3] >= a.qT1 && h[o + 4] >= a.qT2 && h[o + 5] >= a.qCol && h[o + 6] <= a.qLat)) return false
  const c = g.cold, m = g.masks, o2 = 2 * n
  return c[o2] >= a.qCu && c[o2 + 1] >= a.qDur && (m[o2] & a.capMask) === a.capMask && (a.schemeExtra.length > 0 || (m[o2 + 1] & a.schemeMask) !== 0)
}

const reject = (reason: 'wrong-service' | 'expired' | 'replayed', msg: string) => new MarketRejectedError(reason, msg)

/** Creates an order book for one service (see the header for the rules and the algorithm). */
export function createOrderBook(opts: OrderBookOptions): OrderBook {
  if (opts === null || typeof opts !== 'object') throw new ValidationError('createOrderBook needs options { service, clock }')
  const { service, clock, rank } = opts
  if (typeof service !== 'string' || !SERVICE_RE.test(service)) throw new ValidationError(`service must be a service name such as cdn, got ${JSON.stringify(service)}`)
  if (clock === null || typeof clock !== 'object' || typeof clock.now !== 'function') throw new ValidationError('clock must be a Clock (core/clock.ts)')
  if (rank !== undefined && typeof rank !== 'function') throw new ValidationError('rank must be a function (ask, offer) => bigint | number')

  const names = newInterner()
  const floor = new Float64Array(3)
  const offers = new Map<string, OfferEntry>()
  let asks = new Map<string, AskEntry>()
  const groups = new Map<string, Group>()
  /** Ask regions → the groups it accepts; dropped whenever a group appears or goes. */
  const accepted = new Map<string, Group[]>()
  let arrivals = 0

  function dropOffer(e: OfferEntry): void {
    kill(e)
    offers.delete(e.server)
  }

  function prune(): { offers: number; asks: number } {
    const now = clock.now()
    let o = 0, a = 0
    for (const e of [...offers.values()]) if (e.offer.expiresAt <= now) { dropOffer(e); o++ }
    for (const e of [...asks.values()]) if (e.ask.expiresAt <= now) { asks.delete(e.key); a++ }
    return { offers: o, asks: a }
  }

  /**
   * Before a clearing: sorts the groups that changed, picks the reference needs (the needs of the asks at the 1/6,
   * 1/2 and 5/6 quantiles of log(bandwidth / bytes)), refreshes every tree with them and sets each ask's thresholds.
   */
  function index(order: AskEntry[], sufMin: Float64Array): void {
    floor.set(sufMin.subarray(0, 3))
    const reps = new Float64Array(3 * REPS)
    if (order.length > 0) {
      const step = Math.ceil(order.length / 1024) // a sample is enough to place the quantiles
      const byShape: { a: AskEntry; k: number }[] = []
      for (let i = 0; i < order.length; i += step) byShape.push({ a: order[i], k: Math.log((order[i].bandwidthBps + 1) / (order[i].bytes + 1)) })
      byShape.sort((x, y) => x.k - y.k)
      for (let j = 0; j < REPS; j++) {
        const a = byShape[Math.min(byShape.length - 1, Math.floor(((2 * j + 1) * byShape.length) / (2 * REPS)))].a
        reps[3 * j] = a.bytes; reps[3 * j + 1] = a.bandwidthBps; reps[3 * j + 2] = a.computeUnits
      }
    }
    for (const g of [...groups.values()]) {
      g.reps = reps
      if (g.pending.length > 0 || g.dead * 2 > g.entries.length) rebuild(g)
      else refresh(g)
      if (g.entries.length === 0) { groups.delete(g.key); accepted.clear() }
    }
    for (const a of order) {
      a.qT0 = f32(perRep(reps, 0, a.bytes, a.bandwidthBps, a.computeUnits, -Infinity))
      a.qT1 = f32(perRep(reps, 1, a.bytes, a.bandwidthBps, a.computeUnits, -Infinity))
      a.qT2 = f32(perRep(reps, 2, a.bytes, a.bandwidthBps, a.computeUnits, -Infinity))
    }
  }

  function groupsFor(a: AskEntry): Group[] {
    let gs = accepted.get(a.sig)
    if (gs === undefined) {
      gs = []
      for (const g of groups.values()) if (groupAccepts(a, g)) gs.push(g)
      accepted.set(a.sig, gs)
    }
    return gs
  }

  // Best `need` candidates so far, sorted by (key, arrival); reused across asks.
  const candE: OfferEntry[] = []
  const candK: (bigint | number)[] = []
  /** Inserts (k, e) if it ranks among the best `need`; returns whether the list is full. */
  function consider(k: bigint | number, e: OfferEntry, need: number): boolean {
    let j = candE.length
    while (j > 0 && (k < candK[j - 1] || (k == candK[j - 1] && e.arrival < candE[j - 1].arrival))) j--
    if (j < need) {
      candE.splice(j, 0, e)
      candK.splice(j, 0, k)
      if (candE.length > need) { candE.pop(); candK.pop() }
    }
    return candE.length === need
  }

  /** DFS stack of tree nodes (depth ≤ 31: at most 2 per level pending). */
  const stack = new Int32Array(64)

  /**
   * Fills candE/candK for `a`: by price with the per-group lower bounds (no `rank`), or every candidate by `rank`.
   * Walks each accepted group's tree left to right (ascending `s`), skipping nodes no offer under which can fit `a`,
   * and stopping at the first node whose smallest `s` × usage is above the bound (positions are sorted by `s`).
   * Each leaf reached is checked exactly (`offerFits`, not already serving `a`, the price cap). Once `need`
   * candidates are held, a leaf that cannot beat the last one lets the walk jump over the rest of its run (same price,
   * later arrivals). Tree collateral is a double: rounding is monotone, so `col ≥ minF` holds whenever the exact `≥` does.
   */
  function scan(a: AskEntry): void {
    const need = a.need
    let cap = a.maxPrice
    let full = false
    let bound = rank === undefined ? Number(cap) * (1 + BOUND_SLACK) + 1 : Infinity
    for (const g of groupsFor(a)) {
      const w = g.rateKey === undefined ? 1 : (a.usageF[g.rateKey] ?? 0)
      const { entries, nextRun, size, hot } = g
      let from = 0
      let sp = 0
      stack[sp++] = 1
      while (sp > 0) {
        const n = stack[--sp]
        const level = 31 - Math.clz32(n)
        const width = size >>> level
        if ((n - (1 << level) + 1) * width <= from || !nodeMayFit(g, n, a)) continue
        if (hot[8 * n + 7] * w > bound) break
        if (n < size) { stack[sp++] = 2 * n + 1; stack[sp++] = 2 * n; continue }
        const i = n - size
        const e = entries[i]
        const fit = offerFits(a, e) && !(a.served !== undefined && a.served.has(e.server))
        const run = rank === undefined && full && nextRun[i] > i + 1
        if (!fit && !run) continue
        const p = priceFor(e, a)
        if (fit && p <= cap) {
          if (rank === undefined) {
            if (consider(p, e, need)) {
              full = true
              cap = candK[need - 1] as bigint
              bound = Number(cap) * (1 + BOUND_SLACK) + 1
            }
          } else {
            const k = rank(a.ask, e.offer)
            consider(typeof k === 'number' && Number.isNaN(k) ? Infinity : k, e, need)
          }
        }
        if (rank === undefined && full && nextRun[i] > i + 1 && (p > cap || (p === cap && e.arrival >= candE[need - 1].arrival))) from = nextRun[i]
      }
    }
  }

  return {
    service,
    addOffer(o) {
      if (o.service !== service) throw reject('wrong-service', `an offer for ${o.service}, not ${service}`)
      const now = clock.now()
      if (o.expiresAt <= now) throw reject('expired', `the offer expired at ${o.expiresAt} (now ${now})`)
      const server = o.server.toLowerCase()
      const old = offers.get(server)
      if (old !== undefined && o.seq <= old.offer.seq) throw reject('replayed', `the offer's sequence number ${o.seq} is not above ${old.offer.seq} (the server's offer in the book)`)
      if (old !== undefined) dropOffer(old)
      const e = offerEntry(names, o, arrivals++)
      offers.set(server, e)
      if (e.alive) {
        const k = groupKey(o, e.rateKey)
        let g = groups.get(k)
        if (g === undefined) { g = newGroup(k, o.region, e.rateKey, floor); groups.set(k, g); accepted.clear() }
        e.group = g
        g.pending.push(e)
      }
      return old === undefined ? 'added' : 'replaced'
    },
    removeOffer(server) {
      const e = offers.get(server.toLowerCase())
      if (e === undefined) return false
      dropOffer(e)
      return true
    },
    addAsk(ask) {
      if (ask.service !== service) throw reject('wrong-service', `an ask for ${ask.service}, not ${service}`)
      const now = clock.now()
      if (ask.expiresAt <= now) throw reject('expired', `the ask expired at ${ask.expiresAt} (now ${now})`)
      const key = askKey(ask.buyer, ask.seq)
      if (asks.has(key)) throw reject('replayed', `the ask (${ask.buyer}, ${ask.seq}) is already in the book`)
      asks.set(key, askEntry(names, ask, arrivals++))
    },
    cancelAsk(buyer, seq) {
      return asks.delete(askKey(buyer, seq))
    },
    prune,
    clear() {
      prune()
      const order = [...asks.values()].sort((x, y) => y.maxPriceF - x.maxPriceF || (x.maxPrice > y.maxPrice ? -1 : x.maxPrice < y.maxPrice ? 1 : x.arrival - y.arrival))
      // sufMin[3i + d]: the least need in resource d of asks i.. (the floor while serving ask i).
      const sufMin = new Float64Array(3 * order.length + 3).fill(Infinity)
      for (let i = order.length - 1; i >= 0; i--) {
        const a = order[i]
        sufMin[3 * i] = Math.min(sufMin[3 * i + 3], a.bytes)
        sufMin[3 * i + 1] = Math.min(sufMin[3 * i + 4], a.bandwidthBps)
        sufMin[3 * i + 2] = Math.min(sufMin[3 * i + 5], a.computeUnits)
      }
      index(order, sufMin)
      const matches: Match[] = []
      for (let i = 0; i < order.length; i++) {
        const a = order[i]
        floor[0] = sufMin[3 * i]; floor[1] = sufMin[3 * i + 1]; floor[2] = sufMin[3 * i + 2]
        remask(names, a)
        candE.length = 0
        candK.length = 0
        scan(a)
        for (let j = 0; j < candE.length; j++) {
          const e = candE[j]
          matches.push({ ask: a.ask, offer: e.offer, price: rank === undefined ? (candK[j] as bigint) : priceFor(e, a) })
          e.bytes -= a.bytes
          e.bandwidthBps -= a.bandwidthBps
          e.computeUnits -= a.computeUnits
          if (e.bytes === 0 && e.bandwidthBps === 0 && e.computeUnits === 0) kill(e)
          else update(e)
        }
        a.need -= candE.length
        if (a.need > 0) {
          a.served ??= new Set()
          for (const e of candE) { a.served.add(e.server); a.servers.push(e.offer.server) }
        }
      }
      floor.fill(0)
      // Served asks leave (one new map rather than thousands of deletes, which V8 makes slow on a big map).
      const left = new Map<string, AskEntry>()
      for (const [k, a] of asks) if (a.need > 0) left.set(k, a)
      asks = left
      return matches
    },
    offers() {
      return [...offers.values()].map((e) => ({ offer: e.offer, remaining: { bytes: e.bytes, bandwidthBps: e.bandwidthBps, durationSec: e.durationSec, computeUnits: e.computeUnits } }))
    },
    asks() {
      return [...asks.values()].map((a) => ({ ask: a.ask, need: a.need, servers: [...a.servers] }))
    },
    size() {
      return { offers: offers.size, asks: asks.size }
    },
  }
}

/**
 * The clearing rule as plain O(n·m·log m) code: the reference `clear()` is tested against and benchmarked with.
 * `asks` and `offers` are in arrival order (as `book.asks()` and `book.offers()` list them, after `prune()`); returns
 * the matches and what is left, in the same shapes. Constraints by `unmet` on each offer's remaining capacity.
 */
export function naiveClear(asks: readonly BookAsk[], offers: readonly BookOffer[], rank?: Rank): { matches: Match[]; asks: BookAsk[]; offers: BookOffer[] } {
  const os = offers.map((o) => ({ offer: o.offer, remaining: { ...o.remaining } }))
  const left = asks.map((a) => ({ ask: a.ask, need: a.need, servers: [...a.servers] }))
  const order = left.map((a, i) => ({ a, i })).sort((x, y) => (x.a.ask.maxPrice > y.a.ask.maxPrice ? -1 : x.a.ask.maxPrice < y.a.ask.maxPrice ? 1 : x.i - y.i))
  const matches: Match[] = []
  for (const { a } of order) {
    const served = new Set(a.servers.map((s) => s.toLowerCase()))
    const ranked: { i: number; k: bigint | number }[] = []
    os.forEach((o, i) => {
      const r = o.remaining
      if (r.bytes === 0 && r.bandwidthBps === 0 && r.computeUnits === 0) return
      if (served.has(o.offer.server.toLowerCase())) return
      if (unmet(a.ask, { ...o.offer, resources: r }) !== undefined) return
      const k = rank ? rank(a.ask, o.offer) : priceOf(o.offer.price, a.ask.usage)
      ranked.push({ i, k: typeof k === 'number' && Number.isNaN(k) ? Infinity : k })
    })
    ranked.sort((x, y) => (x.k < y.k ? -1 : x.k > y.k ? 1 : x.i - y.i))
    for (const { i } of ranked.slice(0, a.need)) {
      const o = os[i]
      matches.push({ ask: a.ask, offer: o.offer, price: priceOf(o.offer.price, a.ask.usage) })
      o.remaining.bytes -= a.ask.resources.bytes
      o.remaining.bandwidthBps -= a.ask.resources.bandwidthBps
      o.remaining.computeUnits -= a.ask.resources.computeUnits
      a.servers.push(o.offer.server)
      a.need--
    }
  }
  return { matches, asks: left.filter((a) => a.need > 0), offers: os }
}
