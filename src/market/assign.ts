/**
 * Per-request assignment of hired servers: which `n` of the servers a buyer already has a deal with serve one
 * request. Recruiting itself (offers, matching, negotiation, deals) is the rest of this module; this is what a
 * sponsor does with the servers it hired, request by request.
 *
 * `loadSpreadingAssignment()`: `n` distinct servers by a uniform random draw (the caller's rng), preferring servers
 * with fewer assignments so load spreads. To pick by reputation or latency instead, rank with a
 * `SelectionStrategy` from `select.ts`.
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

/**
 * Power of two choices by reputation: for each pick, two distinct candidates drawn at random, the one with the better
 * score kept (a tie: the less loaded, then the first drawn). Disqualified servers are never assigned. `key` maps a
 * candidate to the server address its reputation is kept under.
 */
export function reputationAssignment<K extends { peer: PeerId }>(reputation: { score(server: string): number; status(server: string): string }, key: (c: K) => string): AssignmentStrategy {
  const load = new Map<PeerId, number>()
  return {
    assign(candidates, n, rng) {
      const pool = (candidates as readonly unknown[] as K[]).filter((c) => reputation.status(key(c)) !== 'disqualified')
      const out: K[] = []
      while (out.length < n && pool.length > 0) {
        const i = Math.min(pool.length - 1, Math.floor(rng() * pool.length))
        let pick = i
        if (pool.length > 1) {
          let j = Math.min(pool.length - 2, Math.floor(rng() * (pool.length - 1)))
          if (j >= i) j++
          const si = reputation.score(key(pool[i])), sj = reputation.score(key(pool[j]))
          const li = load.get(pool[i].peer) ?? 0, lj = load.get(pool[j].peer) ?? 0
          if (sj > si || (sj === si && lj < li)) pick = j
        }
        out.push(pool[pick])
        load.set(pool[pick].peer, (load.get(pool[pick].peer) ?? 0) + 1)
        pool.splice(pick, 1)
      }
      return out as never
    },
  }
}
