/**
 * `souk viability`: is a peer-assisted market worth building? Offload, costs, break-even, sensitivity (docs/viability.md).
 */
import type { Command } from 'commander'
import { z } from 'zod'

const Options = z.object({
  preset: z.string().default('bbc-iplayer'),
  config: z.string().optional(),
  set: z.array(z.string().regex(/^[a-zA-Z]+\.[a-zA-Z]+=.+$/, 'use --set group.input=value, e.g. --set supply.participation=0.5')).default([]),
  delta: z.coerce.number().gt(0).lt(1).default(0.2),
  monteCarlo: z.coerce.number().int().min(0).max(50).default(0),
  json: z.boolean().default(false),
  out: z.string().min(1).default('reports'),
  html: z.boolean().default(true),
  list: z.boolean().default(false),
})

export function register(program: Command): void {
  program
    .command('viability')
    .description('viability assessment of a peer-assisted service: offload, cost per GB, break-even price, sensitivity')
    .option('-p, --preset <name>', 'start from a preset (bbc-iplayer, storage, transcoding)', 'bbc-iplayer')
    .option('-c, --config <file>', 'YAML/JSON file with inputs overriding the preset ({demand, supply, costs})')
    .option('--set <group.input=value>', 'override one input (repeatable), e.g. supply.participation=0.5', (v: string, acc: string[] = []) => [...acc, v], [])
    .option('--delta <fraction>', 'sensitivity: perturb each input by ± this fraction', '0.2')
    .option('--monte-carlo <items>', 'also simulate the N most popular items and compare with the closed form', '0')
    .option('--json', 'print the result as JSON')
    .option('-o, --out <dir>', 'directory for the HTML report', 'reports')
    .option('--no-html', 'do not write the HTML report')
    .option('--list', 'list the presets and exit')
    .action(async (raw: unknown) => {
      const opts = Options.parse(raw)
      const v = await import('../../viability/index.js')
      const { ValidationError } = await import('../../core/errors.js')
      if (opts.list) {
        for (const [k, p] of Object.entries(v.PRESETS)) process.stdout.write(`${k.padEnd(14)} ${p.title}\n`)
        return
      }
      const preset = v.PRESETS[opts.preset]
      if (!preset) throw new ValidationError(`Unknown preset "${opts.preset}"`, { hints: [`use one of: ${Object.keys(v.PRESETS).join(', ')}`] })
      let raw2: Record<string, Record<string, unknown>> = structuredClone(preset.inputs) as never
      if (opts.config) {
        const { readFileSync } = await import('node:fs')
        const { parse } = await import('yaml')
        let cfg: unknown
        try { cfg = parse(readFileSync(opts.config, 'utf8')) } catch (e) { throw new ValidationError(`Cannot read viability config ${opts.config}`, { cause: e, hints: ['give a YAML or JSON file with demand/supply/costs sections'] }) }
        if (!cfg || typeof cfg !== 'object') throw new ValidationError(`Viability config ${opts.config} is not a mapping`, { hints: ['give a YAML mapping with demand/supply/costs sections'] })
        for (const [g, o] of Object.entries(cfg as Record<string, unknown>)) raw2[g] = o && typeof o === 'object' ? { ...(raw2[g] ?? {}), ...(o as object) } : (o as never)
      }
      for (const s of opts.set) {
        const [path, value] = [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]
        const [g, k] = path.split('.')
        if (!raw2[g] || !(k in raw2[g])) throw new ValidationError(`Unknown viability input "${path}"`, { hints: [`use one of: ${v.inputPaths(preset.inputs).join(', ')}, supply.sessionLengthSec`] })
        raw2[g][k] = value === 'null' ? null : Number(value)
      }
      const inputs = v.parseViabilityInputs(raw2)
      const changed = opts.config || opts.set.length > 0
      const monteCarlo = opts.monteCarlo > 0
        ? v.simulateCatalog({ catalogSize: inputs.demand.catalogSize, zipfExponent: inputs.demand.zipfExponent, arrivalRatePerSec: inputs.demand.arrivalRatePerSec / inputs.supply.swarmPartitions, watchTimeSec: v.effectivePresenceSec(inputs), items: opts.monteCarlo, horizonSec: 200 * v.effectivePresenceSec(inputs), seed: 1 })
        : undefined
      const report = v.buildViabilityReport(inputs, {
        title: changed ? `${preset.title} (modified)` : preset.title, delta: opts.delta, reportedOffload: preset.reportedOffload,
        source: preset.source, assumptions: changed ? [...preset.assumptions, 'inputs changed by --config/--set'] : preset.assumptions, monteCarlo,
      })
      let file: string | undefined
      if (opts.html) {
        const { mkdirSync, writeFileSync } = await import('node:fs')
        const { join } = await import('node:path')
        const { readPlotLibraries } = await import('../../viability/libs.js')
        mkdirSync(opts.out, { recursive: true })
        file = join(opts.out, `viability-${opts.preset}${changed ? '-custom' : ''}.html`)
        writeFileSync(file, v.renderViabilityHtml(report, readPlotLibraries()))
      }
      if (opts.json) {
        const { byRank, ...rest } = report.result
        process.stdout.write(JSON.stringify({ preset: opts.preset, inputs, result: { ...rest, byRank }, reportedOffload: preset.reportedOffload ?? null, sensitivity: report.sensitivity, monteCarlo: monteCarlo ?? null, html: file ?? null }, null, 2) + '\n')
      } else {
        process.stdout.write(v.renderViabilityTable(report))
        if (file) process.stdout.write(`\nwrote ${file}\n`)
      }
    })
}
