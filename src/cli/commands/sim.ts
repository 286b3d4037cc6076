/**
 * `souk sim run|sweep|report|check|economics|schema`: the simulator (docs/sim.md). A scenario file in, one seeded run or a
 * whole sweep out: results.csv, results.jsonl, summary.json and report.html in `sim-results/<name>/`.
 */
import type { Command } from 'commander'
import { z } from 'zod'

const seedSchema = z.coerce.number({ error: '--seed must be a number' }).int('--seed must be a whole number').min(0, '--seed cannot be negative').max(0xffffffff, '--seed is a 32-bit number (at most 4294967295)')
const RunOptions = z.object({ seed: seedSchema.optional(), point: z.coerce.number({ error: '--point must be a number' }).int('--point must be a whole number').min(0, '--point cannot be negative').default(0), json: z.boolean().default(false), out: z.string().min(1).optional() })
const SweepOptions = z.object({
  workers: z.coerce.number({ error: '--workers must be a number' }).int('--workers must be a whole number').min(0, '--workers must be 0 (inline) or more').max(256).optional(),
  out: z.string().min(1).optional(),
  runs: z.coerce.number({ error: '--runs must be a number' }).int('--runs must be a whole number').min(1, '--runs must be at least 1').max(1_000_000).optional(),
  retryFailed: z.boolean().default(false),
  runTimeout: z.coerce.number({ error: '--run-timeout must be a number of seconds' }).positive('--run-timeout must be a positive number of seconds').optional(),
  json: z.boolean().default(false),
})
const CheckOptions = z.object({ json: z.boolean().default(false) })
const EconomicsOptions = z.object({
  runs: z.coerce.number({ error: '--runs must be a number' }).int('--runs must be a whole number').min(2, '--runs must be at least 2 (a confidence interval needs two runs)').max(10_000).optional(),
  out: z.string().min(1).optional(),
  cwd: z.string().min(1).optional(),
  json: z.boolean().default(false),
})

/** Exit codes: 0 done, 1 a bad scenario or a failed run, 130 interrupted (start the same sweep again to resume). */
export const SIM_EXIT = { ok: 0, failed: 1, interrupted: 130 } as const

const fmtNum = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : x.toLocaleString('en-US', { maximumSignificantDigits: 6 }))

/** While `fn` runs, anything written to stdout goes to stderr: `--json` prints exactly one JSON object on stdout. */
async function stdoutToStderr<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => (process.stderr.write as (...a: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stdout.write
  try { return await fn() } finally { process.stdout.write = write }
}

export function register(program: Command): void {
  const sim = program
    .command('sim')
    .description('the simulator: real market roles on simulated time, one seeded run or a sweep across worker threads, with a report (docs/sim.md)')
    .addHelpText('after', `
A scenario is a YAML file (souk: scenario/1; see docs/sim.md and schemas/scenario.schema.json): the market, its
peer groups and their behaviours, the network, the chain, and an optional sweep of parameters.

Examples:
  souk sim check scenarios/cdn-attack.yaml                 validate only (file:line and a fix for each problem)
  souk sim run scenarios/cdn-attack.yaml                   one run (point 0, run 0) and its metrics
  souk sim run scenarios/cdn-attack.yaml --seed 3 --json   the RunResult as one JSON object (eventLogHash: same seed, same hash)
  souk sim sweep scenarios/cdn-sweep.yaml                  every point x run on all cores; results, summary and report
  souk sim sweep scenarios/cdn-sweep.yaml --workers 0      the same, on this thread (same summary, same sweep hash)
  souk sim report sim-results/cdn-sweep                    write report.html again from the results
  souk sim economics models/cdn.yaml                       the security-economics table of a threat model's cases`)

  sim
    .command('run')
    .description('one run of a scenario (at its first sweep point, or --point P): the event-log hash, counts and metrics')
    .argument('<file>', 'scenario YAML file')
    .option('--seed <n>', "the run's own seed (what a sweep's results list per run); default: the seed of run 0 of point 0, runSeed(scenario seed, 0, 0)")
    .option('--point <p>', 'the sweep point to run at (its index in results.csv; default 0)')
    .option('--json', 'print the RunResult as one JSON object on stdout (nothing else)')
    .option('--out <dir>', 'also write the result to <dir>/run-<seed>.json')
    .addHelpText('after', `
The run is a pure function of (scenario, seed): the same seed gives the same eventLogHash on any machine. A run
that crashes prints its error with the seed and exits 1.

Examples:
  souk sim run scenarios/cdn-attack.yaml --seed 3 --json | jq .eventLogHash
  souk sim run scenarios/cdn-sweep.yaml --point 3 --seed 123   rerun one run of a sweep (point and seed from results.csv)
  souk sim run scenarios/cdn-honest.yaml --out sim-results/runs`)
    .action(async (file: string, raw: unknown) => {
      const o = RunOptions.parse(raw)
      const { loadScenario, expandSweep } = await import('../../sim/scenario.js')
      const { runSeed } = await import('../../sim/types.js')
      const scenario = loadScenario(file)
      const points = expandSweep(scenario, file)
      const p0 = points[o.point]
      if (!p0) {
        const { ValidationError } = await import('../../core/errors.js')
        throw new ValidationError(`--point ${o.point}: ${file} has ${points.length} sweep point${points.length === 1 ? '' : 's'}`, { code: 'SIM_POINT', hints: [`give --point 0${points.length > 1 ? ` to ${points.length - 1}` : ''}`] })
      }
      const seed = o.seed ?? runSeed(scenario.seed, o.point, 0)
      const { runScenarioPoint } = await import('../../sim/run.js')
      const job = { point: o.point, params: p0.params, run: 0, seed }
      const r = o.json ? await stdoutToStderr(() => runScenarioPoint(p0.scenario, job)) : await runScenarioPoint(p0.scenario, job)
      let written: string | undefined
      if (o.out) {
        const { prepareOutputDir, writeOutputFile } = await import('../output.js')
        const { join } = await import('node:path')
        prepareOutputDir(o.out, '--out')
        written = writeOutputFile(join(o.out, `run-${seed}.json`), JSON.stringify(r, null, 2) + '\n', { flag: '--out' })
      }
      if (o.json) {
        process.stdout.write(JSON.stringify(r) + '\n')
      } else {
        const lines = [
          `${r.scenario}: seed ${r.seed}${Object.keys(r.params).length ? ` at point ${r.point} (${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(', ')})` : ''}`,
          `  event log   ${r.eventLogHash} (${fmtNum(r.events)} events, ${fmtNum(r.messages)} messages)`,
          `  time        ${fmtNum(Math.round(r.virtualMs))} ms simulated in ${fmtNum(r.wallMs)} ms`,
        ]
        if (r.error) lines.push(`  FAILED      ${r.error.message}`)
        const keys = Object.keys(r.metrics).sort()
        if (keys.length) {
          const w = Math.max(...keys.map((k) => k.length))
          lines.push('  metrics', ...keys.map((k) => `    ${k.padEnd(w)}  ${fmtNum(r.metrics[k]!)}`))
        }
        lines.push(`  rerun       souk sim run ${file}${r.point ? ` --point ${r.point}` : ''} --seed ${r.seed}`)
        if (written) lines.push(`wrote ${written}`)
        process.stdout.write(lines.join('\n') + '\n')
      }
      if (r.error) process.exitCode = SIM_EXIT.failed
    })

  sim
    .command('sweep')
    .description('every sweep point x Monte Carlo run of a scenario on worker threads; streams results.csv and results.jsonl, then summary.json and report.html')
    .argument('<file>', 'scenario YAML file')
    .option('--workers <n>', 'worker threads (0: run on this thread); default: the number of cores')
    .option('--out <dir>', 'results directory (default sim-results/<scenario name>)')
    .option('--runs <n>', "Monte Carlo runs per point, instead of the scenario's runs")
    .option('--retry-failed', 'when resuming, run again the runs that failed before')
    .option('--run-timeout <seconds>', 'stop a run that takes longer (wall time, on a worker thread) and record it as failed; default: no limit')
    .option('--json', 'print the outcome as one JSON object on stdout')
    .addHelpText('after', `
Run r of point p has the seed runSeed(scenario seed, p, r), whatever thread runs it, so summary.json (each
metric's mean, sd and 95% CI per point, and sweepHash over every run's event-log hash) is the same for any
--workers. Ctrl-C stops the sweep; the same command resumes it, skipping the runs already in results.jsonl
(also after a kill). A run that crashes is recorded with its seed and the sweep goes on; the exit code is then 1.

Examples:
  souk sim sweep scenarios/cdn-sweep.yaml
  souk sim sweep scenarios/cdn-attack.yaml --runs 20 --out sim-results/attack-20`)
    .action(async (file: string, raw: unknown) => {
      const o = SweepOptions.parse(raw)
      const { loadScenario, expandSweep } = await import('../../sim/scenario.js')
      const { runSweep } = await import('../../sim/sweep.js')
      const { writeSimReport } = await import('../../sim/report.js')
      const { prepareOutputDir } = await import('../output.js')
      const { join, relative } = await import('node:path')
      const { availableParallelism } = await import('node:os')
      const loaded = loadScenario(file)
      const scenario = o.runs ? { ...loaded, runs: o.runs } : loaded
      const outDir = prepareOutputDir(o.out ?? join('sim-results', scenario.name), '--out')
      const rel = (f: string) => { const r = relative(process.cwd(), f); return r === '' ? '.' : r.startsWith('..') ? f : r }
      const shown = rel(outDir)
      const points = expandSweep(scenario, file).length
      const workers = o.workers ?? availableParallelism()
      const ac = new AbortController()
      const onSig = () => ac.abort()
      process.once('SIGINT', onSig)
      process.once('SIGTERM', onSig)
      const tty = process.stderr.isTTY === true && !o.json
      const { default: cliProgress } = await import('cli-progress')
      const bar = tty ? new cliProgress.SingleBar({ stream: process.stderr, hideCursor: true, format: ` ${scenario.name} |{bar}| {value}/{total} runs | {failed} failed | {eta_formatted} left` }, cliProgress.Presets.shades_classic) : undefined
      if (!o.json) process.stderr.write(`${scenario.name}: ${points} point${points === 1 ? '' : 's'} x ${scenario.runs} run${scenario.runs === 1 ? '' : 's'} on ${workers === 0 ? 'this thread' : `${workers} worker thread${workers === 1 ? '' : 's'}`} -> ${shown}\n`)
      let lastTenth = -1
      try {
        const out = await runSweep({
          scenario, file, outDir, workers, signal: ac.signal, retryFailed: o.retryFailed, runTimeoutMs: o.runTimeout === undefined ? undefined : o.runTimeout * 1000,
          onProgress: (p) => {
            if (bar) {
              if (!p.result) bar.start(p.total, p.done, { failed: p.failed })
              else bar.update(p.done, { failed: p.failed })
            } else if (!o.json) {
              if (!p.result && p.skipped) process.stderr.write(`resuming: ${p.skipped} of ${p.total} runs already in ${shown}/results.jsonl\n`)
              if (p.result?.error) process.stderr.write(`run ${p.result.run} of point ${p.result.point} failed (seed ${p.result.seed}): ${p.result.error.message}\n`)
              const tenth = Math.floor((p.done / p.total) * 10)
              if (p.result && tenth > lastTenth) { lastTenth = tenth; process.stderr.write(`${p.done}/${p.total} runs${p.failed ? `, ${p.failed} failed` : ''}\n`) }
            }
          },
        })
        bar?.stop()
        const report = writeSimReport(outDir)
        const files = { ...out.files, report }
        if (o.json) {
          process.stdout.write(JSON.stringify({ scenario: scenario.name, outDir: shown, points, runs: scenario.runs, total: out.total, ran: out.ran, skipped: out.skipped, failed: out.failed, aborted: out.aborted, sweepHash: out.summary.sweepHash, failures: out.summary.failed, files: Object.fromEntries(Object.entries(files).map(([k, f]) => [k, rel(f)])) }) + '\n')
        } else {
          const lines = [`${scenario.name}: ${out.skipped + out.ran} of ${out.total} runs recorded (${out.ran} this time${out.skipped ? `, ${out.skipped} from before` : ''}), ${out.failed} failed`]
          for (const f of out.summary.failed) lines.push(`  FAILED point ${f.point} run ${f.run} (seed ${f.seed}): ${f.error}`)
          lines.push(`  sweep hash ${out.summary.sweepHash}`)
          if (out.aborted) lines.push(`interrupted: run the same command again to resume (the ${out.skipped + out.ran} runs recorded are kept)`)
          for (const f of [files.csv, files.jsonl, files.summary, files.report]) lines.push(`wrote ${rel(f)}`)
          process.stdout.write(lines.join('\n') + '\n')
        }
        process.exitCode = out.aborted ? SIM_EXIT.interrupted : out.failed > 0 ? SIM_EXIT.failed : SIM_EXIT.ok
      } finally {
        bar?.stop()
        process.off('SIGINT', onSig)
        process.off('SIGTERM', onSig)
      }
    })

  sim
    .command('report')
    .description('write report.html again from the results in a sweep directory')
    .argument('<dir>', 'the directory souk sim sweep wrote (e.g. sim-results/cdn-sweep)')
    .action(async (dir: string) => {
      const { writeSimReport } = await import('../../sim/report.js')
      const { relative } = await import('node:path')
      const { prepareOutputDir } = await import('../output.js')
      const { existsSync, statSync } = await import('node:fs')
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        const { SoukError } = await import('../../core/errors.js')
        throw new SoukError(`${dir} is not a directory`, { code: 'SIM_NO_RESULTS', hints: ['give the directory `souk sim sweep` wrote (default sim-results/<scenario name>)'] })
      }
      prepareOutputDir(dir, 'DIR')
      const file = writeSimReport(dir)
      const r = relative(process.cwd(), file)
      process.stdout.write(`wrote ${r && !r.startsWith('..') ? r : file}\n`)
    })

  sim
    .command('check')
    .description('validate a scenario file (schema, market roles and behaviours, topology, every sweep point) without running it')
    .argument('<file>', 'scenario YAML file')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, raw: unknown) => {
      const o = CheckOptions.parse(raw)
      const { loadScenario, expandSweep } = await import('../../sim/scenario.js')
      const s = loadScenario(file)
      const points = expandSweep(s, file).length
      const peers = s.peers.reduce((a, g) => a + g.count, 0)
      const attackers = s.peers.filter((g) => g.attacker).map((g) => g.name)
      if (o.json) {
        process.stdout.write(JSON.stringify({ ok: true, file, name: s.name, market: s.market, groups: s.peers.length, peers, attackers, points, runs: s.runs, jobs: points * s.runs }) + '\n')
      } else {
        process.stdout.write(`${file}: ok — ${s.name}, ${s.market} market, ${s.peers.length} peer groups (${peers} peers${attackers.length ? `; attackers: ${attackers.join(', ')}` : ''}), ${points} sweep point${points === 1 ? '' : 's'} x ${s.runs} run${s.runs === 1 ? '' : 's'} = ${points * s.runs} runs\n`)
      }
    })

  sim
    .command('economics')
    .description("the security-economics table: every case of a threat model that names a scenario, run beside its honest twin; the attacker's expected profit with its 95% interval, how often it was caught, the victims' loss")
    .argument('<model>', 'threat model YAML file (models/*.yaml)')
    .option('--runs <n>', "paired runs per scenario (attack and twin), instead of each scenario's runs")
    .option('--out <file>', 'also write the table (Markdown) to <file>, e.g. docs/security-economics-cdn.md')
    .option('--cwd <dir>', 'directory the scenario paths are relative to (default: current directory)')
    .option('--json', 'print the rows as JSON')
    .addHelpText('after', `
Money is in units of the price per chunk. Each scenario runs as written and as its honest twin (the same seeds with
every attacker group honest); the profit is the attackers' value in the attack minus in the twin. A mitigated case
whose profit interval lies above zero is open: \`souk threat check MODEL --run\` fails on it.`)
    .action(async (model: string, raw: unknown) => {
      const o = EconomicsOptions.parse(raw)
      const { modelEconomics, economicsMarkdown } = await import('../../sim/economics.js')
      const tty = process.stderr.isTTY
      const rows = await modelEconomics(model, { runs: o.runs, cwd: o.cwd, onProgress: (sc, d, t) => { if (tty) process.stderr.write(`\r  ${sc}: ${d}/${t} runs   `); if (tty && d === t) process.stderr.write('\n') } })
      if (rows.length === 0) {
        process.stderr.write(`${model}: no case names a scenario (add \`scenario: scenarios/<file>.yaml\` to a case)\n`)
        process.exitCode = SIM_EXIT.failed
        return
      }
      const md = economicsMarkdown(rows, `Security economics: ${model}`)
      if (o.out) {
        const { writeOutputFile } = await import('../output.js')
        const { relative } = await import('node:path')
        const at = writeOutputFile(o.out, `<!-- generated by: souk sim economics ${model}${o.runs ? ` --runs ${o.runs}` : ''} -->\n${md}`, { flag: '--out' })
        process.stderr.write(`wrote ${relative(process.cwd(), at) || at}\n`)
      }
      if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n')
      else process.stdout.write(md)
      const open = rows.filter((r) => r.status === 'mitigated' && r.row.profitable)
      const failed = rows.some((r) => r.row.failures.length > 0)
      process.exitCode = open.length > 0 || failed ? SIM_EXIT.failed : SIM_EXIT.ok
    })

  sim
    .command('schema')
    .description('print the JSON Schema of the scenario format (published in schemas/scenario.schema.json)')
    .action(async () => {
      const { scenarioJsonSchema } = await import('../../sim/scenario.js')
      process.stdout.write(JSON.stringify(scenarioJsonSchema(), null, 2) + '\n')
    })
}
