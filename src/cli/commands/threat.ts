/**
 * `souk threat report|diff|check|schema`: ABC threat modeling from a YAML model (see docs/threat.md).
 */
import type { Command } from 'commander'
import { z } from 'zod'

const ReportOptions = z.object({ out: z.string().min(1).default('reports'), json: z.boolean().default(false), quiet: z.boolean().default(false) })
const CheckOptions = z.object({
  run: z.boolean().default(false),
  json: z.boolean().default(false),
  cwd: z.string().optional(),
  maxRisk: z.enum(['low', 'medium', 'high'], { error: '--max-risk must be low, medium or high' }).optional(),
  demoTimeout: z.coerce.number({ error: '--demo-timeout must be a number of seconds' }).positive('--demo-timeout must be a positive number of seconds').optional(),
  simRuns: z.coerce.number({ error: '--sim-runs must be a whole number of runs' }).int('--sim-runs must be a whole number of runs').min(2, '--sim-runs must be at least 2 (a confidence interval needs two runs)').optional(),
})
const DiffOptions = z.object({ json: z.boolean().default(false), failOnOpen: z.boolean().default(false) })

/**
 * Exit codes of `souk threat check` (and `diff --fail-on-open`): 0 all cases closed, 1 open or failed cases (or an
 * accepted case above --max-risk; for diff, a case the change opened), 2 a model is invalid.
 */
export const CHECK_EXIT = { ok: 0, open: 1, invalid: 2 } as const

/** Loads a model; on a bad model prints the ThreatModelError (file, line, fix; no stack) and returns undefined. */
async function loadOrReport(file: string): Promise<import('../../threat/types.js').ThreatAnalysis | undefined> {
  const { loadThreatModel, ThreatModelError } = await import('../../threat/index.js')
  try {
    return loadThreatModel(file).analysis
  } catch (e) {
    if (!(e instanceof ThreatModelError)) throw e
    process.stderr.write(`error: ${e.message}\n`)
    process.exitCode = CHECK_EXIT.invalid
    return undefined
  }
}

export function register(program: Command): void {
  const threat = program.command('threat').description('ABC threat modeling: collusion matrices, pruning, merging, case status')

  threat
    .command('report')
    .description('analyse a model and write <name>.md and <name>.html reports')
    .argument('<model>', 'threat model YAML file')
    .option('-o, --out <dir>', 'directory for the report files', 'reports')
    .option('--json', 'print the analysis as JSON instead of a table')
    .option('-q, --quiet', 'do not print the table')
    .action(async (file: string, raw: unknown) => {
      const opts = ReportOptions.parse(raw)
      const { renderMarkdown, renderHtml, renderCountsTable } = await import('../../threat/index.js')
      const { prepareOutputDir, writeOutputFile } = await import('../output.js')
      const { basename, join } = await import('node:path')
      const analysis = await loadOrReport(file)
      if (!analysis) return
      prepareOutputDir(opts.out, '-o')
      const stem = basename(file).replace(/\.ya?ml$/i, '')
      const md = join(opts.out, `${stem}.threat.md`)
      const html = join(opts.out, `${stem}.threat.html`)
      writeOutputFile(md, renderMarkdown(analysis), { flag: '-o' })
      writeOutputFile(html, renderHtml(analysis), { flag: '-o' })
      if (opts.json) process.stdout.write(JSON.stringify({ counts: analysis.counts, cases: analysis.cases, files: { markdown: md, html } }, null, 2) + '\n')
      else if (!opts.quiet) process.stdout.write(`${analysis.model.name}\n\n${renderCountsTable(analysis)}\nwrote ${md}\nwrote ${html}\n`)
    })

  threat
    .command('diff')
    .description('show what a design change did to the threat space')
    .argument('<old>', 'old model YAML')
    .argument('<new>', 'new model YAML')
    .option('--json', 'print the diff as JSON')
    .option('--fail-on-open', 'exit 1 when the change opens a case (a new open case, or a case whose status became open)')
    .action(async (a: string, b: string, raw: unknown) => {
      const opts = DiffOptions.parse(raw)
      const { diffAnalyses, renderDiffMarkdown } = await import('../../threat/index.js')
      const before = await loadOrReport(a)
      const after = before && (await loadOrReport(b))
      if (!before || !after) return
      const d = diffAnalyses(before, after)
      if (opts.json) process.stdout.write(JSON.stringify(d, null, 2) + '\n')
      else process.stdout.write(renderDiffMarkdown(d, { before: a, after: b }))
      if (opts.failOnOpen && d.opened.length > 0) {
        process.stderr.write(`${b}: the change opens ${d.opened.length} case${d.opened.length === 1 ? '' : 's'}: ${d.opened.join(', ')}\n`)
        process.exitCode = CHECK_EXIT.open
      }
    })

  threat
    .command('check')
    .description('exit 1 while any case is open (or, with --run, a demonstration fails; with --max-risk, an accepted case is riskier); exit 2 if the model is invalid')
    .argument('<model>', 'threat model YAML file')
    .option('--run', 'run the test named by each mitigation used in a mitigated case; a failing test fails the case')
    .option('--json', 'print the result as JSON')
    .option('--cwd <dir>', 'directory demonstration paths are relative to (default: current directory)')
    .option('--max-risk <level>', 'also fail on accepted cases whose risk is above this level (low | medium | high)')
    .option('--demo-timeout <seconds>', 'with --run, fail a demonstration that takes longer (default 600)')
    .option('--sim-runs <n>', "with --run, simulate each case's scenario this many times beside its honest twin (default: the scenario's runs)")
    .addHelpText('after', `
With --run, a case that names a simulator scenario (\`scenario: scenarios/x.yaml\`) is also simulated: the attack and
its honest twin run on the same seeds, and the security-economics table gives the attacker's expected profit with its
95% interval, how often it was caught and the victims' loss. A mitigated case whose attack shows a positive expected
profit fails the check.`)
    .action(async (file: string, raw: unknown) => {
      const opts = CheckOptions.parse(raw)
      const { checkAnalysis, economicsText } = await import('../../threat/index.js')
      const { nodeTestRunner } = await import('../../threat/run.js')
      const analysis = await loadOrReport(file)
      if (!analysis) return
      const ac = new AbortController()
      const onSig = () => ac.abort()
      process.once('SIGINT', onSig)
      const rows: import('../../sim/economics.js').CaseEconomics[] = []
      const simulate = opts.run
        ? async (scenario: string) => {
          const { scenarioEconomics } = await import('../../sim/economics.js')
          const row = await scenarioEconomics(scenario, { cwd: opts.cwd, runs: opts.simRuns, onProgress: (d, t) => { if (process.stderr.isTTY) process.stderr.write(`\r  simulating ${scenario}: ${d}/${t} runs`) } })
          if (process.stderr.isTTY) process.stderr.write('\n')
          for (const c of analysis.cases.filter((x) => x.scenario === scenario)) rows.push({ case: c.id, status: c.status ?? 'open', row })
          return { profitable: row.profitable, runs: row.runs, summary: `profit ${row.profit.mean.toFixed(3)} [${row.profit.ci95.map((x) => x.toFixed(3)).join(', ')}], caught ${(row.caughtRate * 100).toFixed(0)}%` }
        }
        : undefined
      const r = await checkAnalysis(analysis, { run: opts.run ? nodeTestRunner({ cwd: opts.cwd ?? process.cwd(), timeoutMs: opts.demoTimeout && opts.demoTimeout * 1000 }) : undefined, simulate, signal: ac.signal, maxRisk: opts.maxRisk })
      process.off('SIGINT', onSig)
      if (opts.json) process.stdout.write(JSON.stringify({ ok: r.ok, open: r.open.map((c) => c.id), overRisk: r.overRisk.map((c) => ({ id: c.id, risk: c.risk, cost: c.cost, gain: c.gain })), failed: r.failed, ran: r.ran, profitable: r.profitable.map((c) => c.id), economics: rows, counts: analysis.counts }, null, 2) + '\n')
      else {
        const c = analysis.counts
        process.stdout.write(`${file}: ${c.cases} cases — ${c.open} open, ${c.mitigated} mitigated, ${c.notApplicable} not applicable, ${c.accepted} accepted\n`)
        for (const x of r.ran) process.stdout.write(`  demonstration ${x.ok ? 'passed' : 'FAILED'}: ${x.mitigation} (${x.test})\n`)
        for (const x of r.open) process.stdout.write(`  OPEN ${x.id}\n`)
        for (const x of r.overRisk) process.stdout.write(`  RISK ${x.id}: accepted at ${x.risk} risk, above --max-risk ${opts.maxRisk} (${economicsText(x) ?? 'no cost or gain stated'})\n`)
        for (const x of r.failed) process.stdout.write(`  FAILED ${x.case}: demonstration of ${x.mitigation} failed (${x.test})\n`)
        for (const x of r.profitable) process.stdout.write(`  OPEN ${x.id}: mitigated, but its scenario ${x.scenario} shows the attack paying\n`)
        if (rows.length > 0) {
          const { economicsMarkdown } = await import('../../sim/economics.js')
          process.stdout.write('\n' + economicsMarkdown(rows) + '\n')
        }
        process.stdout.write(r.ok ? 'ok\n' : 'not ok\n')
      }
      process.exitCode = r.ok ? CHECK_EXIT.ok : CHECK_EXIT.open
    })

  threat
    .command('schema')
    .description('print the JSON Schema of the model format')
    .action(async () => {
      const { threatModelJsonSchema } = await import('../../threat/schema.js')
      process.stdout.write(JSON.stringify(threatModelJsonSchema(), null, 2) + '\n')
    })
}
