/**
 * The sweep's worker: runs one (scenario point, run) on a worker thread of the tinypool pool and returns its
 * `RunResult` (tinypool loads it through `worker-entry.mjs`, which registers tsx first). The runner is
 * `run.ts`'s `runScenarioPoint`, or the module a sweep names in `runnerModule` (tests inject a deterministic one).
 * A runner that throws is a result with `error`, never a dead worker.
 *
 * @example
 * ```ts
 * import runTask from './src/sim/worker.js'
 * const r = await runTask({ scenario, job: { point: 0, params: {}, run: 0, seed: 5 } })
 * ```
 */
import type { Scenario } from './scenario.js'
import type { RunResult, Runner, SweepPoint } from './types.js'

/** What the main thread sends for one run (structured-cloned). */
export interface SimTask {
  /** The scenario at the job's sweep point (expanded, no `sweep:`). */
  scenario: Scenario
  job: { point: number; params: SweepPoint; run: number; seed: number }
  /** A module (file URL or path) exporting `runScenarioPoint` (or a default runner); default `./run.js`. */
  runnerModule?: string
}

const runners = new Map<string, Promise<Runner<Scenario>>>()

/** The runner of `runnerModule` (cached per module), or the simulator's own `runScenarioPoint`. */
export function loadRunner(runnerModule?: string): Promise<Runner<Scenario>> {
  const key = runnerModule ?? ''
  let r = runners.get(key)
  if (!r) {
    r = (async () => {
      if (!runnerModule) { const run: Runner<Scenario> = (await import('./run.js')).runScenarioPoint; return run }
      const href = /^[a-z]+:/i.test(runnerModule) ? runnerModule : new URL(runnerModule, `file://${process.cwd()}/`).href
      const m = (await import(href)) as { runScenarioPoint?: Runner<Scenario>; default?: Runner<Scenario> }
      const fn = m.runScenarioPoint ?? m.default
      if (typeof fn !== 'function') throw new Error(`runner module ${runnerModule} exports neither runScenarioPoint nor a default function`)
      return fn
    })()
    runners.set(key, r)
  }
  return r
}

/** A run that produced no result of its own (it threw, or its worker died): recorded with its seed. */
export function failedResult(scenario: { name: string }, job: SimTask['job'], e: unknown, wallMs = 0): RunResult {
  const err = e as { message?: string; code?: unknown }
  const message = String(err?.message ?? e).split('\n')[0]
  return {
    scenario: scenario.name, point: job.point, params: job.params, run: job.run, seed: job.seed,
    eventLogHash: '', events: 0, messages: 0, virtualMs: 0, wallMs: Math.round(wallMs), metrics: {},
    error: { message: `${message} (rerun: souk sim run FILE${job.point ? ` --point ${job.point}` : ''} --seed ${job.seed})`, ...(typeof err?.code === 'string' ? { code: err.code } : {}) },
  }
}

/** Runs one task; the result names its point, run and seed whatever the runner returned. */
export async function runTask(task: SimTask, runner?: Runner<Scenario>): Promise<RunResult> {
  const t0 = performance.now()
  try {
    const run = runner ?? (await loadRunner(task.runnerModule))
    const r = await run(task.scenario, task.job)
    return { ...r, scenario: task.scenario.name, point: task.job.point, params: task.job.params, run: task.job.run, seed: task.job.seed }
  } catch (e) {
    return failedResult(task.scenario, task.job, e, performance.now() - t0)
  }
}

export default function (task: SimTask): Promise<RunResult> {
  return runTask(task)
}
