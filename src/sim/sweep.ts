/**
 * A sweep: every (sweep point, Monte Carlo run) of a scenario, on worker threads (tinypool) or inline, results
 * streamed as each run finishes to `<outDir>/results.csv` and `<outDir>/results.jsonl` (one `RunResult` a line), and
 * `<outDir>/summary.json` at the end: per point the params, the run count and each metric's mean, sd and 95% CI, and
 * `sweepHash` over every run's event-log hash in (point, run) order, so the summary is the same for any number of
 * workers.
 *
 * - Seeds: run `r` of point `p` uses `runSeed(scenario.seed, p, r)`, whoever runs it.
 * - Resume: a sweep started again on the same `outDir` reads `results.jsonl` first and skips the (point, run) pairs
 *   already there (a half-written last line, from a kill, is dropped). `scenario.json` records what the directory
 *   holds; another scenario's directory is refused. `runs` may grow between starts (more replications);
 *   `retryFailed` runs the failed ones again.
 * - Failures: a run that throws or returns `error`, or whose worker dies, is recorded with its seed and the sweep
 *   goes on (a dead worker is replaced). An aborted sweep records nothing for the runs it interrupted.
 *
 * @example
 * ```ts
 * import { loadScenario } from './src/sim/scenario.js'
 * import { runSweep } from './src/sim/sweep.js'
 * const out = await runSweep({ scenario: loadScenario('scenarios/cdn-sweep.yaml'), outDir: 'sim-results/cdn-sweep', workers: 2 })
 * console.log(out.summary.sweepHash, out.failed)
 * ```
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import Tinypool from 'tinypool'
import { SoukError } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/logger.js'
import { expandSweep, type Scenario } from './scenario.js'
import { summarizeResults, type SweepSummary } from './stats.js'
import { runSeed, type RunResult, type Runner } from './types.js'
import { failedResult, runTask, loadRunner, type SimTask } from './worker.js'

/** Names of the files a sweep writes into its directory. */
export const SWEEP_FILES = { csv: 'results.csv', jsonl: 'results.jsonl', summary: 'summary.json', scenario: 'scenario.json', report: 'report.html' } as const

/** The fixed leading columns of results.csv (then `params.<k>`, then `metrics.<k>`, each sorted). */
export const CSV_BASE_COLUMNS = ['scenario', 'point', 'run', 'seed', 'eventLogHash', 'events', 'messages', 'virtualMs', 'wallMs', 'error'] as const

export class SweepError extends SoukError {
  override name = 'SweepError'
}

export interface SweepProgress {
  /** Runs recorded (this start and earlier ones), of `total`. */
  done: number
  total: number
  /** Runs found in results.jsonl at start (not run again). */
  skipped: number
  failed: number
  /** The run just recorded. */
  result?: RunResult
}

export interface SweepOptions {
  /** The parsed scenario (`loadScenario`); its sweep is expanded here. */
  scenario: Scenario
  /** The file it came from (recorded in scenario.json, for the report). */
  file?: string
  outDir: string
  /** Worker threads; 0 runs every job on this thread, one after the other. Default: the machine's cores. */
  workers?: number
  /** Inline only (`workers: 0`): the runner to call (default: the simulator's `runScenarioPoint`). */
  runner?: Runner<Scenario>
  /** A module (path or file URL) exporting `runScenarioPoint` or a default runner, loaded in each worker (and inline
   * when no `runner` is given); default `src/sim/run.ts`. */
  runnerModule?: string
  signal?: AbortSignal
  onProgress?: (p: SweepProgress) => void
  logger?: Logger
  /** Worker threads only: a run taking longer than this (wall ms, its worker's start-up included) is stopped and
   * recorded as failed. Default: no limit (a run's own limit is its simulated `durationMs`). */
  runTimeoutMs?: number
  /** Resume only: run again the runs recorded with an error (their old lines are dropped). Default false. */
  retryFailed?: boolean
}

export interface SweepOutcome {
  outDir: string
  /** Jobs of the sweep (points × runs), runs done this start, runs found already done, runs with an error. */
  total: number
  ran: number
  skipped: number
  failed: number
  /** True when the signal stopped the sweep before every job was done (start it again to resume). */
  aborted: boolean
  summary: SweepSummary
  files: { csv: string; jsonl: string; summary: string; scenario: string }
}

interface Job { point: number; run: number; task: SimTask }

const key = (point: number, run: number) => `${point}:${run}`

/** What a results directory was made from: the scenario without `runs` (which may grow between starts). */
function fingerprint(s: Scenario): string {
  const { runs: _runs, description: _d, ...rest } = s
  return canonical(rest)
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`
  return JSON.stringify(v)
}

/** Reads results.jsonl: complete, parseable lines only (a half-written last line is dropped). */
export function readResults(file: string, logger: Logger = silentLogger()): RunResult[] {
  if (!existsSync(file)) return []
  const text = readFileSync(file, 'utf8')
  const lines = text.split('\n')
  const partial = lines.pop() // '' when the file ends with a newline
  if (partial) logger.warn('dropped a half-written last line of results', { file, bytes: partial.length })
  const out: RunResult[] = []
  for (const [i, l] of lines.entries()) {
    if (l.trim() === '') continue
    try {
      const r = JSON.parse(l) as RunResult
      if (typeof r.point === 'number' && typeof r.run === 'number') out.push(r)
      else logger.warn('skipped a results line that is not a run result', { file, line: i + 1 })
    } catch {
      logger.warn('skipped a results line that is not JSON', { file, line: i + 1 })
    }
  }
  return out
}

const csvCell = (v: unknown): string => {
  const s = v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** The CSV columns for `results`: the base columns, then params.<k> and metrics.<k>, each sorted. */
export function csvColumns(results: readonly RunResult[], paramKeys: readonly string[] = []): string[] {
  const params = [...new Set([...paramKeys, ...results.flatMap((r) => Object.keys(r.params ?? {}))])].sort()
  const metrics = [...new Set(results.flatMap((r) => Object.keys(r.metrics ?? {})))].sort()
  return [...CSV_BASE_COLUMNS, ...params.map((k) => `params.${k}`), ...metrics.map((k) => `metrics.${k}`)]
}

/** One CSV row of `r` under `columns`. */
export function csvRow(r: RunResult, columns: readonly string[]): string {
  return columns.map((c) => {
    if (c === 'error') return csvCell(r.error?.message ?? '')
    if (c.startsWith('params.')) return csvCell(r.params?.[c.slice(7)])
    if (c.startsWith('metrics.')) return csvCell(r.metrics?.[c.slice(8)])
    return csvCell((r as unknown as Record<string, unknown>)[c])
  }).join(',')
}

/** Results streamed to results.jsonl and results.csv; the CSV is rewritten when a new metric column appears. */
function createResultWriter(outDir: string, initial: RunResult[], paramKeys: string[]) {
  const jsonl = join(outDir, SWEEP_FILES.jsonl)
  const csv = join(outDir, SWEEP_FILES.csv)
  const all = [...initial]
  let columns = csvColumns(all, paramKeys)
  const rewriteCsv = () => writeFileSync(csv, [columns.join(','), ...all.map((r) => csvRow(r, columns))].join('\n') + '\n')
  // Start from clean files: what was read (without a half-written line), in the order it was written.
  writeFileSync(jsonl, all.map((r) => JSON.stringify(r) + '\n').join(''))
  rewriteCsv()
  return {
    files: { jsonl, csv },
    all,
    add(r: RunResult) {
      all.push(r)
      appendFileSync(jsonl, JSON.stringify(r) + '\n')
      const next = csvColumns([r], paramKeys)
      if (next.some((c) => !columns.includes(c))) {
        columns = csvColumns(all, paramKeys)
        rewriteCsv()
      } else appendFileSync(csv, csvRow(r, columns) + '\n')
    },
  }
}

/** Runs a scenario's sweep (see the module comment). Resolves when every job is done or the signal aborted. */
export async function runSweep(o: SweepOptions): Promise<SweepOutcome> {
  const logger = o.logger ?? silentLogger()
  const workers = o.workers ?? availableParallelism()
  if (!Number.isInteger(workers) || workers < 0) throw new SweepError(`workers must be a whole number >= 0, got ${workers}`, { code: 'SIM_WORKERS', hints: ['pass --workers 0 to run inline, or the number of threads'] })
  if (o.runTimeoutMs !== undefined && workers === 0) throw new SweepError('a run time limit needs worker threads (a run on this thread cannot be stopped)', { code: 'SIM_RUNNER', hints: ['give workers >= 1, or no time limit'] })
  if (o.runner && workers > 0) throw new SweepError('an injected runner runs inline only', { code: 'SIM_RUNNER', hints: ['pass workers: 0 with runner, or runnerModule for worker threads'] })
  const s = o.scenario
  const points = expandSweep(s, o.file)
  mkdirSync(o.outDir, { recursive: true })
  const files = { csv: join(o.outDir, SWEEP_FILES.csv), jsonl: join(o.outDir, SWEEP_FILES.jsonl), summary: join(o.outDir, SWEEP_FILES.summary), scenario: join(o.outDir, SWEEP_FILES.scenario) }

  // What the directory holds: refuse another scenario's results.
  const fp = fingerprint(s)
  if (existsSync(files.scenario)) {
    let held: { fingerprint?: string; file?: string } = {}
    try { held = JSON.parse(readFileSync(files.scenario, 'utf8')) } catch { /* unreadable: treated as another */ }
    if (held.fingerprint !== fp) {
      throw new SweepError(`${o.outDir} holds the results of another scenario${held.file ? ` (${held.file})` : ''}, or of an earlier version of this one`, {
        code: 'SIM_OUTDIR_SCENARIO', hints: ['choose another output directory (--out), or remove this one to start the sweep over'],
      })
    }
  }
  writeFileSync(files.scenario, JSON.stringify({ file: o.file ?? null, fingerprint: fp, scenario: s, points: points.map((p) => ({ point: p.point, params: p.params })) }, null, 2) + '\n')

  const jobs: Job[] = points.flatMap((p) => Array.from({ length: s.runs }, (_, run) => {
    const job = { point: p.point, params: p.params, run, seed: runSeed(s.seed, p.point, run) }
    return { point: p.point, run, task: { scenario: p.scenario, job, ...(o.runnerModule ? { runnerModule: o.runnerModule } : {}) } }
  }))
  const wanted = new Set(jobs.map((j) => key(j.point, j.run)))
  const earlier = readResults(files.jsonl, logger)
  const seen = new Set<string>()
  const kept: RunResult[] = []
  for (const r of earlier) {
    const k = key(r.point, r.run)
    if (seen.has(k)) { logger.warn('dropped a duplicate result', { point: r.point, run: r.run }); continue }
    if (o.retryFailed && r.error && wanted.has(k)) continue
    seen.add(k)
    kept.push(r)
  }
  const paramKeys = Object.keys(points[0]?.params ?? {})
  const writer = createResultWriter(o.outDir, kept, paramKeys)
  const todo = jobs.filter((j) => !seen.has(key(j.point, j.run)))
  const skipped = jobs.length - todo.length
  const inSweep = () => writer.all.filter((r) => wanted.has(key(r.point, r.run)))
  let failed = inSweep().filter((r) => r.error).length
  let ran = 0
  const total = jobs.length
  logger.info('sweep', { scenario: s.name, points: points.length, runs: s.runs, jobs: total, skipped, workers })
  o.onProgress?.({ done: skipped, total, skipped, failed })

  const record = (r: RunResult) => {
    writer.add(r)
    ran++
    if (r.error) {
      failed++
      logger.warn('run failed', { point: r.point, run: r.run, seed: r.seed, error: r.error.message })
    }
    o.onProgress?.({ done: skipped + ran, total, skipped, failed, result: r })
  }

  if (todo.length > 0 && !o.signal?.aborted) {
    if (workers === 0) {
      const runner = o.runner ?? (await loadRunner(o.runnerModule))
      for (const j of todo) {
        if (o.signal?.aborted) break
        record(await runTask(j.task, runner))
      }
    } else {
      await runOnPool(todo, Math.min(workers, todo.length), o.signal, record, logger, o.runTimeoutMs)
    }
  }

  const summary = summarizeResults(s.name, inSweep())
  writeFileSync(files.summary, JSON.stringify(summary, null, 2) + '\n')
  const done = inSweep().length
  return { outDir: o.outDir, total, ran, skipped, failed, aborted: done < total, summary, files }
}

/** The worker entry tinypool loads (it registers tsx, then imports worker.ts). */
export const WORKER_ENTRY = new URL('./worker-entry.mjs', import.meta.url)

/**
 * Runs `jobs` on a tinypool of `threads` workers, `threads` at a time (each job is handed to the pool when a worker
 * is free, so a run's time limit counts its own time, not its wait). A worker that exits in the middle of a run
 * (process.exit, a fatal error) fails that run, which is recorded with its seed; tinypool starts a new worker in
 * its place. A run over `runTimeoutMs` of wall time is stopped (its worker terminated and replaced) and recorded as
 * failed.
 */
async function runOnPool(jobs: Job[], threads: number, signal: AbortSignal | undefined, record: (r: RunResult) => void, logger: Logger, runTimeoutMs?: number): Promise<void> {
  const pool = new Tinypool({ filename: WORKER_ENTRY.href, minThreads: threads, maxThreads: threads, idleTimeout: 60_000 })
  let stopping = false
  // Tinypool (worker_threads) leaves a task pending forever when its worker exits without an error event: turn an
  // unexpected exit into the error event tinypool handles (it fails the worker's task and starts another worker).
  const watched = new WeakSet<object>()
  const expected = new WeakSet<object>()
  const watch = () => {
    for (const t of pool.threads) {
      if (watched.has(t)) continue
      watched.add(t)
      t.on('error', () => expected.add(t))
      t.on('exit', (code: number) => {
        if (stopping || expected.has(t)) return
        expected.add(t)
        t.emit('error', new Error(`the worker thread exited (code ${code}) in the middle of a run`))
      })
    }
  }
  /** Aborts a task: tinypool terminates its worker at once (synchronously out of the pool), an exit we expect. */
  const abortTask = (ac: AbortController) => {
    const before = new Set<object>(pool.threads)
    ac.abort()
    const after = new Set<object>(pool.threads)
    for (const t of before) if (!after.has(t)) expected.add(t)
  }
  pool.on('error', (e: Error) => logger.warn('worker error outside a run', { error: e.message }))
  const timer = setInterval(watch, 100)
  timer.unref()
  const stop = new AbortController()
  const onAbort = () => { stopping = true; stop.abort() }
  signal?.addEventListener('abort', onAbort, { once: true })
  let next = 0
  const lane = async () => {
    while (next < jobs.length && !stop.signal.aborted) {
      const j = jobs[next++]!
      const t0 = performance.now()
      const ac = new AbortController()
      const onStop = () => ac.abort()
      stop.signal.addEventListener('abort', onStop, { once: true })
      let timedOut = false
      const limit = runTimeoutMs ? setTimeout(() => { timedOut = true; abortTask(ac) }, runTimeoutMs) : undefined
      let r: RunResult
      try {
        r = (await pool.run(j.task, { signal: ac.signal })) as RunResult
      } catch (e) {
        if (stop.signal.aborted) return // interrupted by the sweep's abort: not a result
        r = failedResult(j.task.scenario, j.task.job, timedOut ? new Error(`the run took longer than ${runTimeoutMs! / 1000} s of wall time and was stopped`) : e, performance.now() - t0)
      } finally {
        clearTimeout(limit)
        stop.signal.removeEventListener('abort', onStop)
        watch()
      }
      if (!stop.signal.aborted) record(r)
    }
  }
  try {
    watch()
    await Promise.all(Array.from({ length: threads }, lane))
  } finally {
    stopping = true
    clearInterval(timer)
    signal?.removeEventListener('abort', onAbort)
    await pool.destroy()
  }
}
