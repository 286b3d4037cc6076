/**
 * Per-request assignment of hired servers: which `n` of the servers a buyer already has a deal with serve one
 * request. Recruiting itself (offers, matching, negotiation, deals) is the rest of this module; this is what a
 * sponsor does with the servers it hired, request by request.
 *
 * `loadSpreadingAssignment()`: `n` distinct servers by a uniform random draw (the caller's rng), preferring servers
 * with fewer assignments so load spreads. `reputationAssignment(reputation, key)`: shares proportional to each
 * server's optimistic proof rate (equal servers share equally, new servers are explored at once, servers failing
 * proofs lose share, disqualified ones get none). To pick by latency instead, rank with a `SelectionStrategy` from
 * `select.ts`.
 *
 * @example
 * ```ts
 * import { loadSpreadingAssignment } from './assign.js'
 * const a = loadSpreadingAssignment()
 * const draw = () => 0.42                        // the caller's uniform draw in [0, 1): a seeded stream in tests
 * a.assign([{ peer: 'c1' }, { peer: 'c2' }, { peer: 'c3' }], 2, draw) // two of them, least loaded first
 * ```
 */
import type { Address } from 'viem'
import type { PeerId } from '../net/index.js'

/** A server a sponsor hired: where it is paid, at what price, and how to reach it. */
export interface HiredServer {
  peer: PeerId
  /** Where it is paid. */
  payee: Address
  pricePerChunk: bigint
  capacityBytes: number
  collateral: bigint
  addresses: string[]
}

/** What a sponsor hires: its price cap, capacity and collateral floors, how many servers. */
export interface HirePolicy {
  maxPricePerChunk: bigint
  minCapacityBytes: number
  minCollateral: bigint
  maxServers: number
}

export interface AssignmentStrategy {
  /** Picks `n` distinct candidates for one request (fewer if there are fewer candidates). */
  assign<T extends { peer: PeerId }>(candidates: readonly T[], n: number, rng: () => number): T[]
}

export function loadSpreadingAssignment(): AssignmentStrategy {
  const load = new Map<PeerId, number>()
  return {
    assign(candidates, n, rng) {
      // Random order, then stable sort by load: ties broken at random, lightly loaded servers first.
      const shuffled = candidates.map((c) => ({ c, r: rng() })).sort((a, b) => a.r - b.r).map((x) => x.c)
      shuffled.sort((a, b) => (load.get(a.peer) ?? 0) - (load.get(b.peer) ?? 0))
      const out = shuffled.slice(0, Math.min(n, shuffled.length))
      for (const c of out) load.set(c.peer, (load.get(c.peer) ?? 0) + 1)
      return out
    },
  }
}

/** What the reputation assignment reads of a reputation: `get` (alpha, beta) makes the optimism exact; without it the score is the share. */
export interface AssignmentReputation {
  score(server: string): number
  status(server: string): string
  get?(server: string): { alpha: number; beta: number } | undefined
}

export interface ReputationAssignmentOptions {
  /**
   * Standard deviations of optimism (default 2): a server's share weight is the upper end of its posterior,
   * `min(1, score + optimism · sd)`, so a server with little history is given the benefit of the doubt and one that
   * keeps failing proofs converges to its score. An unobserved server weighs 1.
   */
  optimism?: number
  /** The smallest share weight (default 0.01): a server failing every proof still gets 1 % of a full share until disqualified. */
  minWeight?: number
}

/**
 * Weighted fair assignment by reputation: each server gets a share of the requests proportional to its weight (the
 * optimistic estimate of its proof rate, `ReputationAssignmentOptions.optimism`), so equally good servers share
 * equally, a server never assigned is explored at once at a full share, and a server that fails proofs loses share
 * as its score falls. Disqualified servers are never assigned.
 *
 * How: every server carries a virtual time, advanced by 1 / weight each time it is assigned; each pick draws two
 * distinct candidates at random (the caller's rng) and keeps the one with the smaller virtual time (a tie: the higher
 * weight, then the first drawn) — power of two choices on weighted load, which keeps every server's assignments per
 * unit of weight within a small gap of the others' whatever the number of requests, and keeps the choice
 * unpredictable. A server that was not among the previous call's candidates (new, back from an outage, avoided by
 * the last client) starts at the lowest virtual time of the servers that were: it is explored at once but cannot
 * catch up in a burst. `key` maps a candidate to the server address its reputation is kept under.
 */
export function reputationAssignment<K extends { peer: PeerId }>(reputation: AssignmentReputation, key: (c: K) => string, opts: ReputationAssignmentOptions = {}): AssignmentStrategy {
  const optimism = opts.optimism ?? 2
  const minWeight = opts.minWeight ?? 0.01
  if (!(optimism >= 0) || !(minWeight > 0 && minWeight <= 1)) throw new RangeError('reputationAssignment: optimism must be >= 0 and minWeight in (0, 1]')
  /** Virtual time per server: assignments / weight, accumulated. */
  const vt = new Map<PeerId, number>()
  /** The previous call's candidates. */
  let present = new Set<PeerId>()
  const weight = (server: string): number => {
    const r = reputation.get?.(server)
    let w: number
    if (reputation.get && !r) w = 1 // unobserved: a full share
    else if (r && r.alpha + r.beta > 0) {
      const m = r.alpha / (r.alpha + r.beta)
      w = m + optimism * Math.sqrt((m * (1 - m)) / (r.alpha + r.beta + 1))
    } else w = reputation.score(server)
    return Math.min(1, Math.max(minWeight, Number.isFinite(w) ? w : minWeight))
  }
  return {
    assign(candidates, n, rng) {
      const all = candidates as readonly unknown[] as K[]
      const pool = all.filter((c) => reputation.status(key(c)) !== 'disqualified')
      // Newcomers (not among the previous call's candidates) start level with the least loaded of those that were.
      let floor = Infinity
      for (const c of pool) if (present.has(c.peer)) floor = Math.min(floor, vt.get(c.peer) ?? 0)
      if (floor === Infinity) floor = 0
      for (const c of pool) if (!present.has(c.peer)) vt.set(c.peer, Math.max(vt.get(c.peer) ?? 0, floor))
      present = new Set(all.map((c) => c.peer))
      const w = new Map(pool.map((c) => [c.peer, weight(key(c))]))
      const out: K[] = []
      while (out.length < n && pool.length > 0) {
        const i = Math.min(pool.length - 1, Math.floor(rng() * pool.length))
        let pick = i
        if (pool.length > 1) {
          let j = Math.min(pool.length - 2, Math.floor(rng() * (pool.length - 1)))
          if (j >= i) j++
          const ti = vt.get(pool[i].peer) ?? 0, tj = vt.get(pool[j].peer) ?? 0
          const wi = w.get(pool[i].peer)!, wj = w.get(pool[j].peer)!
          if (tj < ti - 1e-9 || (Math.abs(tj - ti) <= 1e-9 && wj > wi)) pick = j
        }
        const p = pool[pick]
        out.push(p)
        vt.set(p.peer, (vt.get(p.peer) ?? 0) + 1 / w.get(p.peer)!)
        pool.splice(pick, 1)
      }
      return out as never
    },
  }
}
