/**
 * Server selection strategies behind one interface: given an ask and the offers that may serve it, pick n servers.
 *
 * Spec (every strategy):
 * - The candidates are first made **eligible**: none that fails `unmet(ask, offer)` (the book's constraint test,
 *   price cap included), none whose server `ctx.reputation` calls 'disqualified', and of the rest one offer per
 *   server (the first listed; servers compared lower-cased).
 * - The result is at most `n` offers of distinct servers, all eligible; exactly min(n, eligible) for the base
 *   strategies (`sybilResistant` may return fewer: it refuses some). `n` is a non-negative integer
 *   (`ValidationError` otherwise).
 * - Randomness comes from `ctx.rng` only: the same candidates, context and seed give the same choice.
 *
 * Strategies:
 * - `weightedDraw(w)` (Livepeer's selection, plus a reputation term): n draws without replacement; at each draw,
 *   over the R offers still unpicked,
 *   ```
 *   p_i ∝ priceWeight · e^(-price_i/priceScale) / Σ_R e^(-price_j/priceScale)
 *       + stakeWeight · collateral_i / Σ_R collateral_j
 *       + randWeight / |R|
 *       + reputationWeight · score_i^k / Σ_R score_j^k
 *   ```
 *   with price_i = priceOf(offer.price, ask.usage). Defaults: Livepeer's 0, 0.7, 0.3, and reputationWeight 0, k = `reputationExponent` 1
 *   (scores of decent servers are close, 0.97 against 0.99, so k = 1 hardly tells them apart; k = 25 draws a server
 *   at the 0.96 threshold e^-1 as often as a perfect one). A term
 *   whose sum is 0 (no collateral anywhere) drops out and the others are renormalized. The price exponentials are
 *   computed relative to the cheapest remaining offer (the factor cancels), so no price underflows the term.
 *   priceScale defaults to the median eligible price (at least 1), so the term is unit-free; Livepeer uses 100.
 * - `powerOfTwo()` (Storj's choice of two): draw two distinct remaining offers uniformly, keep the one with the
 *   higher reputation score (a tie: the first drawn), repeat; the last one left is taken alone.
 * - `latencyAware({ segmentMs })` (Livepeer's latency score): score = segmentMs / rtt, with rtt the latency this peer
 *   measured (`ctx.latencyMs(offer)`) or else the offer's own claim (`offer.latencyMs`), at least 1 ms; best first,
 *   each run of equal scores that reaches into the first n shuffled uniformly (rng draws only for ties). Offers
 *   below `minScore` (default 0: none) are left out.
 * - `withNewServerShare(inner, share)` (Storj's new-node fraction): k = floor(n·share), plus one with probability
 *   frac(n·share) (so the expected share is exact even for small n), of the picks go to 'new' servers, chosen by
 *   `inner` among them; the rest by `inner` among the others; a side short of candidates is filled from the other.
 *   Vetted picks first. Without `ctx.reputation` every server is new and `inner` picks alone.
 * - `sybilResistant(inner, { minCollateral, perSubnet })`: leaves out offers with less collateral than
 *   `minCollateral`, then accepts `inner`'s picks in order while every /24 of the pick has fewer than `perSubnet`
 *   (default 1) servers picked, asking `inner` again among the offers that still fit until n are picked or none is
 *   left. An offer's groups: each /24 of its `/ip4/a.b.c.d/...` addresses (an offer listing two /24s uses a slot in
 *   both, so adding a fake address elsewhere does not free it); an offer without an IPv4 address is its own group.
 *
 * @example
 * ```ts
 * import { weightedDraw, sybilResistant, withNewServerShare } from './select.js'
 * import { seededRng } from '../crypto/rng.js'
 * const strategy = sybilResistant(withNewServerShare(weightedDraw({ reputationWeight: 0.5 }), 0.05), { minCollateral: 10n })
 * const picked = strategy.select(ask, offers, ask.servers, { rng: seededRng('run-1'), reputation })
 * ```
 * (A self-contained, runnable version: docs/market.md, Reputation.)
 */
import { ValidationError } from '../core/errors.js'
import { randomBelow, type Rng } from '../crypto/rng.js'
import { unmet } from './check.js'
import type { ReputationView } from './reputation.js'
import { priceOf, type Ask, type Offer } from './schema.js'

export interface SelectionContext {
  rng: Rng
  /** This peer's reputation of servers; without it every server is new and scores the same. */
  reputation?: ReputationView
  /** The round-trip time this peer measured to an offer's server (ms), or undefined if it has not. */
  latencyMs?: (offer: Offer) => number | undefined
}

export interface SelectionStrategy {
  readonly name: string
  /** At most `n` eligible offers of distinct servers (see the file header). */
  select(ask: Ask, candidates: readonly Offer[], n: number, ctx: SelectionContext): Offer[]
}

/** A uniform number in [0, 1) with 53 random bits from `rng`. */
export function unitFloat(rng: Rng): number {
  const b = rng(7)
  let hi = 0
  for (let i = 0; i < 6; i++) hi = hi * 256 + b[i]
  return (hi * 32 + (b[6] >>> 3)) / 2 ** 53
}

const serverKey = (o: Offer) => o.server.toLowerCase()

function checkN(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError(`the number of servers to select must be a non-negative integer, got ${String(n)}`)
}

/** The eligible candidates: meeting the ask, not disqualified, one offer per server (the file header's rule). */
export function eligible(ask: Ask, candidates: readonly Offer[], ctx: SelectionContext): Offer[] {
  const seen = new Set<string>()
  const out: Offer[] = []
  for (const o of candidates) {
    const k = serverKey(o)
    if (seen.has(k) || unmet(ask, o) !== undefined) continue
    if (ctx.reputation && ctx.reputation.status(o.server) === 'disqualified') continue
    seen.add(k)
    out.push(o)
  }
  return out
}

function weight(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new ValidationError(`selection option ${name} must be a finite non-negative number, got ${String(v)}`)
  return x
}

export interface WeightedDrawOptions {
  /** Weight of the price term (default 0, Livepeer's). */
  priceWeight?: number
  /** Weight of the collateral (stake) term (default 0.7, Livepeer's). */
  stakeWeight?: number
  /** Weight of the uniform term (default 0.3, Livepeer's). */
  randWeight?: number
  /** Weight of the reputation-score term (default 0). */
  reputationWeight?: number
  /** The reputation term is score^k / Σ score^k (default k = 1; 25 draws a server at Storj's 0.96 e^-1 as often as a perfect one). */
  reputationExponent?: number
  /** Price scale of the exponential (token units for the ask's usage; default: the median eligible price, >= 1). */
  priceScale?: number
}

/** Livepeer's weighted draw with a reputation term (file header). */
export function weightedDraw(o: WeightedDrawOptions = {}): SelectionStrategy {
  const pw = weight('priceWeight', o.priceWeight, 0)
  const sw = weight('stakeWeight', o.stakeWeight, 0.7)
  const rw = weight('randWeight', o.randWeight, 0.3)
  const qw = weight('reputationWeight', o.reputationWeight, 0)
  const qk = weight('reputationExponent', o.reputationExponent, 1)
  if (pw + sw + rw + qw <= 0) throw new ValidationError('selection options: at least one of priceWeight, stakeWeight, randWeight, reputationWeight must be positive')
  if (o.priceScale !== undefined && !(Number.isFinite(o.priceScale) && o.priceScale > 0)) throw new ValidationError(`selection option priceScale must be a positive number, got ${String(o.priceScale)}`)
  return {
    name: 'weightedDraw',
    select(ask, candidates, n, ctx) {
      checkN(n)
      const items = eligible(ask, candidates, ctx)
      const price = items.map((x) => Number(priceOf(x.price, ask.usage)))
      const stake = items.map((x) => Number(x.collateral))
      const rep = items.map((x) => (ctx.reputation ? ctx.reputation.score(x.server) ** qk : 1))
      let scale = o.priceScale
      if (scale === undefined) {
        const sorted = [...price].sort((a, b) => a - b)
        scale = Math.max(1, sorted.length > 0 ? sorted[sorted.length >> 1] : 1)
      }
      const left = items.map((_, i) => i)
      const out: Offer[] = []
      const p = new Float64Array(items.length)
      while (out.length < n && left.length > 0) {
        let minPrice = Infinity, sumE = 0, sumS = 0, sumR = 0
        for (const i of left) minPrice = Math.min(minPrice, price[i])
        for (const i of left) { sumE += Math.exp(-(price[i] - minPrice) / scale); sumS += stake[i]; sumR += rep[i] }
        let total = 0
        for (let j = 0; j < left.length; j++) {
          const i = left[j]
          const v = (pw > 0 ? (pw * Math.exp(-(price[i] - minPrice) / scale)) / sumE : 0)
            + (sw > 0 && sumS > 0 ? (sw * stake[i]) / sumS : 0)
            + rw / left.length
            + (qw > 0 && sumR > 0 ? (qw * rep[i]) / sumR : 0)
          p[j] = v
          total += v
        }
        let j = 0
        if (total > 0) {
          let u = unitFloat(ctx.rng) * total
          while (j < left.length - 1 && u >= p[j]) { u -= p[j]; j++ }
          // Skip zero-weight entries the rounding could land on.
          while (p[j] === 0 && j > 0) j--
        } else {
          j = randomBelow(ctx.rng, left.length)
        }
        out.push(items[left[j]])
        left.splice(j, 1)
      }
      return out
    },
  }
}

/** Storj's power of two choices by reputation score (file header). */
export function powerOfTwo(): SelectionStrategy {
  return {
    name: 'powerOfTwo',
    select(ask, candidates, n, ctx) {
      checkN(n)
      const left = eligible(ask, candidates, ctx)
      const score = (x: Offer) => (ctx.reputation ? ctx.reputation.score(x.server) : 0)
      const out: Offer[] = []
      while (out.length < n && left.length > 0) {
        let pick = 0
        if (left.length > 1) {
          const a = randomBelow(ctx.rng, left.length)
          let b = randomBelow(ctx.rng, left.length - 1)
          if (b >= a) b++
          pick = score(left[b]) > score(left[a]) ? b : a
        }
        out.push(left[pick])
        left.splice(pick, 1)
      }
      return out
    },
  }
}

export interface LatencyAwareOptions {
  /** Segment (or request) duration the latency is compared with, ms (default 2000, Livepeer's 2 s segments). */
  segmentMs?: number
  /** Leave out offers scoring below this (default 0: none; 1: slower than real time). */
  minScore?: number
}

/** Livepeer's latency score, best first, random tiebreak (file header). */
export function latencyAware(o: LatencyAwareOptions = {}): SelectionStrategy {
  const segmentMs = weight('segmentMs', o.segmentMs, 2000)
  if (segmentMs <= 0) throw new ValidationError('selection option segmentMs must be positive')
  const minScore = weight('minScore', o.minScore, 0)
  return {
    name: 'latencyAware',
    select(ask, candidates, n, ctx) {
      checkN(n)
      const ranked = eligible(ask, candidates, ctx)
        .map((offer) => {
          const measured = ctx.latencyMs?.(offer)
          const rtt = Math.max(1, measured !== undefined && Number.isFinite(measured) && measured >= 0 ? measured : offer.latencyMs)
          return { offer, score: segmentMs / rtt }
        })
        .filter((x) => x.score >= minScore)
        .sort((a, b) => b.score - a.score)
      // Random tiebreak: shuffle (Fisher-Yates) each run of equal scores that reaches into the first n.
      for (let start = 0; start < Math.min(n, ranked.length);) {
        let end = start + 1
        while (end < ranked.length && ranked[end].score === ranked[start].score) end++
        for (let i = end - 1; i > start; i--) {
          const j = start + randomBelow(ctx.rng, i - start + 1)
          ;[ranked[i], ranked[j]] = [ranked[j], ranked[i]]
        }
        start = end
      }
      return ranked.slice(0, n).map((x) => x.offer)
    },
  }
}

/** A share of the picks for 'new' servers, Storj's new-node fraction (file header). */
export function withNewServerShare(inner: SelectionStrategy, share = 0.05): SelectionStrategy {
  if (typeof share !== 'number' || !(share >= 0 && share <= 1)) throw new ValidationError(`the new-server share must be in [0, 1], got ${String(share)}`)
  return {
    name: `withNewServerShare(${inner.name}, ${share})`,
    select(ask, candidates, n, ctx) {
      checkN(n)
      const items = eligible(ask, candidates, ctx)
      const rep = ctx.reputation
      if (!rep) return inner.select(ask, items, n, ctx)
      const fresh = items.filter((x) => rep.status(x.server) === 'new')
      const vetted = items.filter((x) => rep.status(x.server) !== 'new')
      const x = n * share
      const k = Math.min(fresh.length, Math.floor(x) + (unitFloat(ctx.rng) < x - Math.floor(x) ? 1 : 0))
      const pickedNew = inner.select(ask, fresh, k, ctx)
      const pickedVetted = inner.select(ask, vetted, n - pickedNew.length, ctx)
      const out = [...pickedVetted, ...pickedNew]
      if (out.length < n) {
        const taken = new Set(pickedNew.map(serverKey))
        out.push(...inner.select(ask, fresh.filter((o) => !taken.has(serverKey(o))), n - out.length, ctx))
      }
      return out
    },
  }
}

export interface SybilOptions {
  /** Least collateral accepted (default 0). */
  minCollateral?: bigint
  /** Most servers picked per /24 (default 1). */
  perSubnet?: number
}

const IP4 = /^\/ip4\/(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/|$)/

/** The groups an offer counts in: the /24 of each of its IPv4 addresses, or its own server if it has none. */
export function subnetGroups(offer: Offer): string[] {
  const groups = new Set<string>()
  for (const a of offer.addresses) {
    const m = IP4.exec(a)
    if (!m) continue
    const octets = m.slice(1, 5).map(Number)
    if (octets.some((x) => x > 255)) continue
    groups.add(`ip4:${octets[0]}.${octets[1]}.${octets[2]}`)
  }
  if (groups.size === 0) groups.add(`server:${serverKey(offer)}`)
  return [...groups]
}

/** Collateral floor and at most `perSubnet` servers per /24 around `inner` (file header). */
export function sybilResistant(inner: SelectionStrategy, o: SybilOptions = {}): SelectionStrategy {
  const minCollateral = o.minCollateral ?? 0n
  if (typeof minCollateral !== 'bigint' || minCollateral < 0n) throw new ValidationError(`selection option minCollateral must be a non-negative bigint, got ${String(o.minCollateral)}`)
  const perSubnet = o.perSubnet ?? 1
  if (!Number.isSafeInteger(perSubnet) || perSubnet < 1) throw new ValidationError(`selection option perSubnet must be a positive integer, got ${String(o.perSubnet)}`)
  return {
    name: `sybilResistant(${inner.name})`,
    select(ask, candidates, n, ctx) {
      checkN(n)
      let pool = eligible(ask, candidates, ctx).filter((x) => x.collateral >= minCollateral)
      const groups = new Map(pool.map((x) => [serverKey(x), subnetGroups(x)]))
      const used = new Map<string, number>()
      const room = (x: Offer) => groups.get(serverKey(x))!.every((g) => (used.get(g) ?? 0) < perSubnet)
      const out: Offer[] = []
      const taken = new Set<string>()
      while (out.length < n && pool.length > 0) {
        const picks = inner.select(ask, pool, n - out.length, ctx)
        if (picks.length === 0) break
        for (const p of picks) {
          const k = serverKey(p)
          if (taken.has(k) || !groups.has(k) || !room(p)) continue
          for (const g of groups.get(k)!) used.set(g, (used.get(g) ?? 0) + 1)
          taken.add(k)
          out.push(p)
        }
        // Every pick is now taken or out of room, so the pool shrinks each round.
        const before = pool.length
        pool = pool.filter((x) => !taken.has(serverKey(x)) && room(x))
        if (pool.length === before) break
      }
      return out
    },
  }
}
