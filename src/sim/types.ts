/**
 * The simulator's shared types: what a scenario run returns, what a sweep point is, and the runner seam between the
 * engine (`run.ts`: one seeded run on one thread) and the sweep machinery (`sweep.ts`: many runs across worker
 * threads, results streamed to CSV and JSON lines, resumable).
 *
 * A run is a pure function of (scenario, seed): the same pair gives the same `eventLogHash` on any machine and in
 * any worker. Seeds of Monte Carlo replications derive from the scenario seed and the run's index
 * (`runSeed(seed, index)`), never from the worker that happens to run it.
 */

import type { Address, Hex } from 'viem'
import type { Chain } from '../chain/types.js'
import type { Transport } from '../net/types.js'
import type { SoukDeployment } from '../payments/deploy.js'
import type { SchemeName } from '../payments/types.js'
import type { RoleHandle, ServiceEvent } from '../services/market.js'

/** One numeric outcome of a run (counts, token amounts in whole units of the market's price, ratios). */
export type Metrics = Record<string, number>

/** A sweep point: the parameter paths a sweep set (`"network.jitterMs"`, `"peers.cache-attack.count"`) and their values. */
export type SweepPoint = Record<string, string | number | boolean>

/** The result of one run. Stable field names: the CSV header and the JSON lines use them. */
export interface RunResult {
  /** The scenario's `name`. */
  scenario: string
  /** Index of the sweep point (0 without a sweep). */
  point: number
  /** The sweep point's parameter values ({} without a sweep). */
  params: SweepPoint
  /** Index of the Monte Carlo replication within the point (0..runs-1). */
  run: number
  /** The run's own seed (`runSeed(scenario seed, point, run)`); rerun it with `souk sim run FILE --seed N`. */
  seed: number
  /** SHA-256 (hex) over the run's canonical event log: same scenario and seed, same hash. */
  eventLogHash: string
  /** Events in the log, protocol messages delivered, simulated milliseconds, wall milliseconds. */
  events: number
  messages: number
  virtualMs: number
  wallMs: number
  metrics: Metrics
  /** Set when the run crashed: the sweep records it and goes on. */
  error?: { message: string; code?: string }
}

/** What runs one (scenario, point, run): `run.ts`'s `runScenarioPoint` in production, injectable in tests. */
export type Runner<S> = (scenario: S, job: { point: number; params: SweepPoint; run: number; seed: number }, opts?: { onProgress?: (fraction: number) => void }) => Promise<RunResult>

/**
 * The seed of replication `run` of sweep point `point`, from the scenario's seed: a 32-bit integer, independent of
 * worker count and order. (A splitmix-style mix, so neighbouring runs get unrelated streams.)
 */
export function runSeed(seed: number, point: number, run: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(point + 1, 0x85ebca6b) ^ Math.imul(run + 1, 0xc2b2ae35)) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

/** The parts of a scenario a run reads (src/sim/scenario.ts validates the whole file). */
export interface RunnableScenario {
  name: string
  market: string
  durationMs: number
  scheme?: SchemeName
  chain?: { kind?: 'evm' | 'model'; blockTimeMs?: number }
  content?: { bytes?: number; chunkSize?: number }
  config?: Record<string, unknown>
  economics?: { servePerChunk?: number }
  network?: {
    regions?: Record<string, number>
    latencyMs?: Record<string, Record<string, number>>
    jitterMs?: number
    bandwidthBytesPerSec?: number
    lossRate?: number
    churn?: { roles: string[]; session: Dist; downtime: Dist }
  }
  peers: PeerGroup[]
}
export interface Dist { dist: 'exponential' | 'weibull' | 'lognormal' | 'fixed'; meanMs: number; shape?: number; sigma?: number }
export interface PeerGroup {
  name: string
  role: string
  count?: number
  behaviour?: string
  attacker?: boolean
  partner?: string
  config?: Record<string, unknown>
  idle?: boolean
  arrivalsPerSecond?: number
}

/** A peer of a run. */
export interface SimPeer { name: string; group: PeerGroup; role: string; region: string; transport: Transport; key?: Hex; handle?: RoleHandle; payee?: Address }

/** Everything a finished run leaves for its metrics. */
export interface FinishedRun {
  peers: SimPeer[]
  /** Each peer's final `stats` event (from `stop()`), by name. */
  stops: Map<string, ServiceEvent>
  /** Every event of the run, with the peer that reported it (`peer`). */
  events: ServiceEvent[]
  chain: Chain
  deployment: SoukDeployment
  scheme: SchemeName
  /** Money unit of the metrics (the price per chunk), in token units. */
  unit: bigint
  servePerChunk: number
  /** Tokens burned from the sponsors' penalty deposits in the run (microcash: a caught sponsor loses half at once). */
  penaltyBurned: bigint
}

/**
 * How the simulator runs one market (src/sim/markets/): which roles end by themselves, the order roles join in,
 * whom a peer joins first, the market's contracts, its config defaults for a run and its metrics. The roles
 * themselves are the market's own, wired by its `wire`.
 */
export interface SimMarket {
  /** Roles whose `run` ends by itself (clients): the run ends when all of them are done. */
  readonly finiteRoles: readonly string[]
  /** Roles join in this order (servers first); the finite roles start after every other peer is ready. */
  readonly joinOrder: readonly string[]
  /** Checks the run's peers (e.g. a CDN has one publisher); throws a `SimError` naming what to fix. */
  check?(peers: readonly SimPeer[]): void
  /** The address `p` joins first (`RoleComponents.bootstrap`), among peers that joined before it. */
  bootstrapOf(p: SimPeer, peers: readonly SimPeer[]): string | undefined
  /** The market's contracts, deployed once per chain before its snapshot: config entries every peer gets. */
  deploy?(chain: Chain, deployerKey: Hex, deployment: SoukDeployment): Promise<Record<string, unknown>>
  /** This run's defaults for `p`'s config (under the scenario's and the group's). */
  defaults(s: RunnableScenario, peers: readonly SimPeer[], p: SimPeer): Record<string, unknown>
  /** The money unit of the metrics (the price per chunk), from a peer's parsed config. */
  unit(config: unknown): bigint
  metrics(f: FinishedRun): Metrics
}
