/**
 * The simulator's shared types: what a scenario run returns, what a sweep point is, and the runner seam between the
 * engine (`run.ts`: one seeded run on one thread) and the sweep machinery (`sweep.ts`: many runs across worker
 * threads, results streamed to CSV and JSON lines, resumable).
 *
 * A run is a pure function of (scenario, seed): the same pair gives the same `eventLogHash` on any machine and in
 * any worker. Seeds of Monte Carlo replications derive from the scenario seed and the run's index
 * (`runSeed(seed, index)`), never from the worker that happens to run it.
 */

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
