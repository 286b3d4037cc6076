/**
 * `souk threat report|diff|check|schema`: ABC threat modeling from a YAML model (see docs/threat.md).
 */
import type { Command } from 'commander'
import { z } from 'zod'

const ReportOptions = z.object({ out: z.string().min(1).default('reports'), json: z.boolean().default(false), quiet: z.boolean().default(false) })
const CheckOptions = z.object({ run: z.boolean().default(false), json: z.boolean().default(false), cwd: z.string().optional() })

/** Exit codes of `souk threat check`: 0 all cases closed, 1 open or failed cases, 2 the model is invalid. */
export const CHECK_EXIT = { ok: 0, open: 1, invalid: 2 } as const

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
      const { loadThreatModel, renderMarkdown, renderHtml, renderCountsTable } = await import('../../threat/index.js')
      const { mkdirSync, writeFileSync } = await import('node:fs')
      const { basename, join } = await import('node:path')
      const { analysis } = loadThreatModel(file)
      mkdirSync(opts.out, { recursive: true })
      const stem = basename(file).replace(/\.ya?ml$/i, '')
      const md = join(opts.out, `${stem}.threat.md`)
      const html = join(opts.out, `${stem}.threat.html`)
      writeFileSync(md, renderMarkdown(analysis))
      writeFileSync(html, renderHtml(analysis))
      if (opts.json) process.stdout.write(JSON.stringify({ counts: analysis.counts, cases: analysis.cases, files: { markdown: md, html } }, null, 2) + '\n')
      else if (!opts.quiet) process.stdout.write(`${analysis.model.name}\n\n${renderCountsTable(analysis)}\nwrote ${md}\nwrote ${html}\n`)
    })

  threat
    .command('diff')
    .description('show what a design change did to the threat space')
    .argument('<old>', 'old model YAML')
    .argument('<new>', 'new model YAML')
    .option('--json', 'print the diff as JSON')
    .action(async (a: string, b: string, raw: { json?: boolean }) => {
      const { loadThreatModel, diffAnalyses, renderDiffMarkdown } = await import('../../threat/index.js')
      const d = diffAnalyses(loadThreatModel(a).analysis, loadThreatModel(b).analysis)
      if (raw.json) process.stdout.write(JSON.stringify(d, null, 2) + '\n')
      else process.stdout.write(renderDiffMarkdown(d, { before: a, after: b }))
    })

  threat
    .command('check')
    .description('exit 1 while any case is open (or, with --run, a demonstration fails); exit 2 if the model is invalid')
    .argument('<model>', 'threat model YAML file')
    .option('--run', 'run the test named by each mitigation used in a mitigated case; a failing test fails the case')
    .option('--json', 'print the result as JSON')
    .option('--cwd <dir>', 'directory demonstration paths are relative to (default: current directory)')
    .action(async (file: string, raw: unknown) => {
      const opts = CheckOptions.parse(raw)
      const { loadThreatModel, checkAnalysis, ThreatModelError } = await import('../../threat/index.js')
      const { nodeTestRunner } = await import('../../threat/run.js')
      let analysis
      try {
        analysis = loadThreatModel(file).analysis
      } catch (e) {
        if (e instanceof ThreatModelError) {
          process.stderr.write(`error: ${e.message}\n`)
          process.exitCode = CHECK_EXIT.invalid
          return
        }
        throw e
      }
      const ac = new AbortController()
      const onSig = () => ac.abort()
      process.once('SIGINT', onSig)
      const r = await checkAnalysis(analysis, { run: opts.run ? nodeTestRunner({ cwd: opts.cwd ?? process.cwd() }) : undefined, signal: ac.signal })
      process.off('SIGINT', onSig)
      if (opts.json) process.stdout.write(JSON.stringify({ ok: r.ok, open: r.open.map((c) => c.id), failed: r.failed, ran: r.ran, counts: analysis.counts }, null, 2) + '\n')
      else {
        const c = analysis.counts
        process.stdout.write(`${file}: ${c.cases} cases — ${c.open} open, ${c.mitigated} mitigated, ${c.notApplicable} not applicable, ${c.accepted} accepted\n`)
        for (const x of r.ran) process.stdout.write(`  demonstration ${x.ok ? 'passed' : 'FAILED'}: ${x.mitigation} (${x.test})\n`)
        for (const x of r.open) process.stdout.write(`  OPEN ${x.id}\n`)
        for (const x of r.failed) process.stdout.write(`  FAILED ${x.case}: demonstration of ${x.mitigation} failed (${x.test})\n`)
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
