/**
 * `souk viability`: is a peer-assisted market worth building? Offload, costs, break-even, sensitivity (docs/viability.md).
 * `--preset storage` runs the storage market's own cost model instead: $/TB-month against a centralized baseline,
 * proving gas, collateral, durability, detection and a verdict. `--preset compute` (and `compute-l1`) runs the
 * transcoding market's own cost model: $ per input hour against MediaConvert, verification overhead, gas, the
 * worker's stake and month, a Monte Carlo over uncertain inputs and a verdict.
 */
import type { Command } from 'commander'
import { z } from 'zod'

const Options = z.object({
  preset: z.string().optional(),
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
    .description('viability assessment: offload and cost per GB of a peer-assisted service; (--preset storage) cost per TB-month, durability and a verdict for the storage market; (--preset compute) cost per input hour of verified transcoding against MediaConvert, verification overhead, the worker\'s month and a verdict')
    .option('-p, --preset <name>', 'start from a preset (bbc-iplayer, transcoding, storage-retrieval: video-swarm model; storage: storage model; compute, compute-l1: the transcoding market\'s own model, per hour of input video); default bbc-iplayer, or storage/compute when the inputs given are that model\'s')
    .option('-c, --config <file>', 'YAML/JSON file with inputs overriding the preset (swarm: {demand, supply, costs}; storage: {deal, baseline, provider, proving, collateral, durability, detection, supply, targets}; compute: {job, baseline, worker, bandwidth, verification, gas, stake, supply, targets})')
    .option('--set <group.input=value>', 'override one input (repeatable), e.g. supply.participation=0.5, proving.gasPriceGwei=10 or worker.cpuHourUsd=0.03', (v: string, acc: string[] = []) => [...acc, v], [])
    .option('--delta <fraction>', 'sensitivity: perturb each input by ± this fraction', '0.2')
    .option('--monte-carlo <n>', 'also simulate: the N most popular items against the closed form and N x 100 draws of the uncertain inputs (swarm: how often it is viable), or N x 10,000 deals and months (storage), against the closed form; or N x 1,000 draws of the uncertain inputs (compute)', '0')
    .option('--json', 'print the result as JSON')
    .option('-o, --out <dir>', 'directory for the HTML report', 'reports')
    .option('--no-html', 'do not write the HTML report')
    .option('--list', 'list the presets and exit')
    .addHelpText('after', `
Models and presets (--list shows every preset):
  bbc-iplayer, transcoding, storage-retrieval
                            video-swarm model: offload, sponsor cost per GB, a peer's month; viable only if
                            offload, sponsor savings and the peer's profit meet their targets (it names the one that fails)
  storage                   storage model: $ per TB-month, durability, proving gas, collateral (docs/viability.md)
  compute, compute-l1       compute model, per hour of input video: worker CPU, bandwidth, verification overhead,
                            gas (on an L2; compute-l1 on L1), the worker's stake and month, against MediaConvert
                            Basic; terms that break slash x checksPerBatch >= pricePerUnit x unitsPerBatch are refused

Examples:
  souk viability --set supply.participation=0.75             each viewer runs the peer client with probability 0.75
  souk viability --preset storage-retrieval                   NOT VIABLE: offload too low
  souk viability --monte-carlo 5                              500 draws of the uncertain inputs: the share viable
  souk viability --preset compute                              table + reports/viability-compute.html
  souk viability --preset compute --set worker.cpuHourUsd=0.04 dearer CPU: the price and the verdict move
  souk viability --preset compute --monte-carlo 5 --json       5,000 draws of the uncertain inputs`)
    .action(async (raw: unknown) => {
      const opts = Options.parse(raw)
      const v = await import('../../viability/index.js')
      const { ValidationError } = await import('../../core/errors.js')
      if (opts.list) {
        for (const [k, p] of Object.entries(v.VIABILITY_PRESETS)) process.stdout.write(`${k.padEnd(14)} ${`[${p.model}]`.padEnd(9)} ${p.preset.title}\n`)
        return
      }
      let cfg: Record<string, unknown> | undefined
      if (opts.config) {
        const { readFileSync } = await import('node:fs')
        const { parse } = await import('yaml')
        let c: unknown
        try { c = parse(readFileSync(opts.config, 'utf8')) } catch (e) { throw new ValidationError(`Cannot read viability config ${opts.config}`, { cause: e, hints: ['give a YAML or JSON file with the input groups of the preset (demand/supply/costs, or deal/proving/... for storage)'] }) }
        if (!c || typeof c !== 'object' || Array.isArray(c)) throw new ValidationError(`Viability config ${opts.config} is not a mapping`, { hints: ['give a YAML mapping with the input groups of the preset'] })
        cfg = c as Record<string, unknown>
      }
      const setPaths = opts.set.map((s) => s.slice(0, s.indexOf('=')))
      const swarmInputs = v.PRESETS['bbc-iplayer']!.inputs as never, storageInputs = v.STORAGE_PRESETS.storage!.inputs as never, computeInputs = v.COMPUTE_PRESETS.compute!.inputs as never
      const name = opts.preset ?? (looksLike(storageInputs, [swarmInputs, computeInputs], cfg, setPaths) ? 'storage' : looksLike(computeInputs, [swarmInputs, storageInputs], cfg, setPaths) ? 'compute' : 'bbc-iplayer')
      const chosen = v.VIABILITY_PRESETS[name]
      if (!chosen) throw new ValidationError(`Unknown preset "${name}"`, { hints: [`use one of: ${Object.keys(v.VIABILITY_PRESETS).join(', ')}`] })
      const raw2: Record<string, Record<string, unknown>> = structuredClone(chosen.preset.inputs) as never
      if (cfg) for (const [g, o] of Object.entries(cfg)) raw2[g] = o && typeof o === 'object' ? { ...(raw2[g] ?? {}), ...(o as object) } : (o as never)
      const known = Object.entries(chosen.preset.inputs).flatMap(([g, o]) => Object.keys(o as object).map((k) => `${g}.${k}`))
      for (const s of opts.set) {
        const [path, value] = [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]
        const [g, k] = path.split('.')
        if (!raw2[g] || !(k in raw2[g])) throw new ValidationError(`Unknown viability input "${path}" for the ${chosen.model} model (preset ${name})`, { hints: [`use one of: ${known.join(', ')}`] })
        if (value !== 'null' && (value.trim() === '' || !Number.isFinite(Number(value)))) throw new ValidationError(`--set ${path}=${value}: "${value}" is not a number`, { hints: [`give a number (or null where the input allows none), e.g. --set ${path}=${JSON.stringify(getDefault(raw2, g, k))}`] })
        raw2[g][k] = value === 'null' ? null : Number(value)
      }
      const changed = Boolean(opts.config) || opts.set.length > 0
      // A run with changed inputs is not the preset: it is labelled custom, never with the preset's own title.
      const title = (t: string) => (changed ? `Custom inputs (based on the ${name} preset: ${t})` : t)
      const assumptions = (a: string[]) => (changed ? [...a, `inputs changed by --config/--set: ${[...(opts.config ? [`--config ${opts.config}`] : []), ...opts.set.map((x) => `--set ${x}`)].join(' ')}`] : a)
      const label = { preset: changed ? null : name, basedOn: name, custom: changed, model: chosen.model }
      const libs = async () => (await import('../../viability/libs.js')).readPlotLibraries()
      const writeHtml = async (html: () => Promise<string>): Promise<string | undefined> => {
        if (!opts.html) return undefined
        const { prepareOutputDir, writeOutputFile } = await import('../output.js')
        const { join } = await import('node:path')
        prepareOutputDir(opts.out, '-o')
        const file = join(opts.out, changed ? `viability-custom-${name}.html` : `viability-${name}.html`)
        return writeOutputFile(file, await html(), { flag: '-o' })
      }
      if (chosen.model === 'compute') {
        const preset = chosen.preset
        const inputs = v.parseComputeInputs(raw2)
        const monteCarlo = opts.monteCarlo > 0 ? v.simulateCompute(inputs, { draws: opts.monteCarlo * 1000, seed: 1 }) : undefined
        const report = v.buildComputeReport(inputs, { title: title(preset.title), baselineTitle: JSON.stringify(inputs.baseline) === JSON.stringify(preset.inputs.baseline) ? preset.baselineTitle : 'the baseline given', delta: opts.delta, source: preset.source, assumptions: assumptions(preset.assumptions), monteCarlo })
        const file = await writeHtml(async () => v.renderComputeHtml(report, await libs()))
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ...label, title: report.title, inputs, result: report.result, verdict: report.result.verdict, comparisons: report.comparisons, sensitivity: report.sensitivity, mostSensitive: report.sensitivity[0]?.input ?? null, monteCarlo: monteCarlo ?? null, html: file ?? null }, null, 2) + '\n')
        } else {
          process.stdout.write(v.renderComputeTable(report))
          if (file) process.stdout.write(`\nwrote ${file}\n`)
        }
        return
      }
      if (chosen.model === 'storage') {
        const preset = chosen.preset
        const inputs = v.parseStorageInputs(raw2)
        const monteCarlo = opts.monteCarlo > 0 ? v.simulateStorage(inputs, { deals: opts.monteCarlo * 10_000, seed: 1 }) : undefined
        const report = v.buildStorageReport(inputs, { title: title(preset.title), baselineTitle: JSON.stringify(inputs.baseline) === JSON.stringify(preset.inputs.baseline) ? preset.baselineTitle : 'the baseline given', delta: opts.delta, source: preset.source, assumptions: assumptions(preset.assumptions), monteCarlo })
        const file = await writeHtml(async () => v.renderStorageHtml(report, await libs()))
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ...label, title: report.title, inputs, result: report.result, verdict: report.result.verdict, comparisons: report.comparisons, sensitivity: report.sensitivity, mostSensitive: report.sensitivity[0]?.input ?? null, monteCarlo: monteCarlo ?? null, html: file ?? null }, null, 2) + '\n')
        } else {
          process.stdout.write(v.renderStorageTable(report))
          if (file) process.stdout.write(`\nwrote ${file}\n`)
        }
        return
      }
      const preset = chosen.preset
      const inputs = v.parseViabilityInputs(raw2)
      const presence = v.effectivePresenceSec(inputs)
      const monteCarlo = opts.monteCarlo > 0
        ? v.simulateCatalog({ catalogSize: inputs.demand.catalogSize, zipfExponent: inputs.demand.zipfExponent, arrivalRatePerSec: inputs.demand.arrivalRatePerSec / inputs.supply.swarmPartitions, watchTimeSec: presence, items: opts.monteCarlo, horizonSec: 200 * presence, seed: 1, participation: inputs.supply.participation, uploadRatio: v.uploadRatio(inputs) })
        : undefined
      const uncertainty = opts.monteCarlo > 0 ? v.simulateViability(inputs, { draws: opts.monteCarlo * 100, seed: 1 }) : undefined
      // A published figure belongs to its preset's own inputs: a custom run shows none (and no source to read it against).
      const reportedOffload = changed ? undefined : preset.reportedOffload
      const report = v.buildViabilityReport(inputs, {
        title: title(preset.title), delta: opts.delta, reportedOffload,
        source: changed ? undefined : preset.source, assumptions: assumptions(preset.assumptions), monteCarlo, uncertainty,
      })
      const file = await writeHtml(async () => v.renderViabilityHtml(report, await libs()))
      if (opts.json) {
        const { byRank, ...rest } = report.result
        process.stdout.write(JSON.stringify({
          ...label, title: report.title, inputs, result: { ...rest, byRank }, verdict: report.result.verdict, supply: report.result.supply,
          reportedOffload: reportedOffload ?? null, sensitivity: report.sensitivity, monteCarlo: monteCarlo ?? null,
          check: report.check ?? null, uncertainty: uncertainty ? { ...uncertainty, points: undefined } : null, html: file ?? null,
        }, null, 2) + '\n')
      } else {
        process.stdout.write(v.renderViabilityTable(report))
        if (file) process.stdout.write(`\nwrote ${file}\n`)
      }
    })
}

const getDefault = (o: Record<string, Record<string, unknown>>, g: string, k: string): unknown => o[g]?.[k] ?? 1

/** True when the inputs given (config groups and keys, --set paths) name an input of `model` that none of `others` has. */
function looksLike(model: Record<string, Record<string, unknown>>, others: Record<string, Record<string, unknown>>[], cfg: Record<string, unknown> | undefined, setPaths: string[]): boolean {
  const has = (m: Record<string, Record<string, unknown>>, g: string, k?: string) => Boolean(m[g]) && (k === undefined || k in m[g]!)
  const paths: [string, string | undefined][] = [
    ...setPaths.map((p) => p.split('.') as [string, string]),
    ...Object.entries(cfg ?? {}).flatMap(([g, o]): [string, string | undefined][] => (o && typeof o === 'object' ? Object.keys(o).map((k) => [g, k]) : [[g, undefined]])),
  ]
  return paths.some(([g, k]) => has(model, g, k) && !others.some((o) => has(o, g, k)))
}
