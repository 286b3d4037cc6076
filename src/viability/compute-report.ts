/**
 * Terminal table and self-contained HTML report (Observable Plot + d3 inlined, data embedded as JSON) for the compute
 * (transcoding) model: price per input hour broken down, against the baseline and the reference prices, the
 * worker's month, verification, the verdict, sensitivity (which input moves the verdict most) and the Monte Carlo
 * over uncertain inputs.
 *
 * @example
 * ```ts
 * import { buildComputeReport, renderComputeTable } from './compute-report.js'
 * import { COMPUTE_PRESETS } from './compute.js'
 * const p = COMPUTE_PRESETS.compute
 * renderComputeTable(buildComputeReport(p.inputs, { title: p.title, baselineTitle: p.baselineTitle })).includes('VIABLE') // true
 * ```
 */
import { plotLibraryScripts } from './html.js'
import { assessCompute, computeSensitivity, compareComputeWithBaselines, type ComputeInputs, type ComputeResult, type ComputeSensitivityRow, type ComputeSimulation } from './compute.js'

export interface ComputeReport {
  model: 'compute'
  title: string
  baselineTitle: string
  inputs: ComputeInputs
  result: ComputeResult
  comparisons: ReturnType<typeof compareComputeWithBaselines>
  sensitivity: ComputeSensitivityRow[]
  delta: number
  source?: string
  assumptions: string[]
  monteCarlo?: ComputeSimulation
}

export function buildComputeReport(inputs: ComputeInputs, opts: { title: string; baselineTitle?: string; delta?: number; source?: string; assumptions?: string[]; monteCarlo?: ComputeSimulation }): ComputeReport {
  const result = assessCompute(inputs)
  const delta = opts.delta ?? 0.2
  return {
    model: 'compute', title: opts.title, baselineTitle: opts.baselineTitle ?? 'the baseline', inputs, result, comparisons: compareComputeWithBaselines(inputs, result),
    sensitivity: computeSensitivity(inputs, delta), delta, source: opts.source, assumptions: opts.assumptions ?? [], monteCarlo: opts.monteCarlo,
  }
}

const usd = (x: number) => (!Number.isFinite(x) ? 'infeasible' : Math.abs(x) >= 100 ? `$${x.toFixed(0)}` : Math.abs(x) >= 1 || x === 0 ? `$${x.toFixed(2)}` : `$${x.toPrecision(3)}`)
const pct = (x: number) => (!Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`)
const share = (part: number, whole: number) => (Number.isFinite(whole) && whole > 0 ? ` (${pct(part / whole)})` : '')
const ratio = (x: number) => (!Number.isFinite(x) ? 'n/a' : `${x.toFixed(x < 0.1 ? 3 : 2)}x`)
const int = (x: number) => Math.round(x).toLocaleString('en-US')

export function computeSummaryRows(r: ComputeReport): [string, string][] {
  const v = r.result, b = v.breakdown, P = v.pricePerInputHour, i = r.inputs, w = v.worker
  return [
    [`price per input hour, decentralized (${i.job.profiles} renditions)`, usd(P)],
    ['  worker compute', `${usd(b.compute)}${share(b.compute, P)}`],
    ['  bandwidth (input + outputs)', `${usd(b.bandwidth)}${share(b.bandwidth, P)}`],
    ['  verification (re-execution, comparison, fetch)', `${usd(b.verification)}${share(b.verification, P)}`],
    ['  gas (claims, settles, open/finalize)', `${usd(b.gas)}${share(b.gas, P)}`],
    ['  stake capital cost', `${usd(b.stake)}${share(b.stake, P)}`],
    ['  margin', `${usd(b.margin)}${share(b.margin, P)}`],
    ['price per output minute', usd(v.pricePerOutputMinute)],
    [`baseline per input hour (${r.baselineTitle})`, `${usd(v.baselinePerInputHour)} (${usd(v.baselinePerOutputMinute)} per output minute)`],
    ['price / baseline', `${ratio(v.priceToBaseline)} (saving ${pct(v.saving)})`],
    ...r.comparisons.map((c) => [`  vs ${c.title}`, `${usd(c.perOutputMinute)}/min -> ${ratio(c.priceToBaseline)}`] as [string, string]),
    [`work per input hour`, `${v.coreHoursPerInputHour.toFixed(2)} core-hours at ${usd(v.usdPerCoreHour)}, ${v.gbPerInputHour.toFixed(2)} GB`],
    [`units and batches per job (${i.job.inputHours} input h)`, `${int(v.unitsPerJob)} units in ${int(v.batchesPerJob)} batches; ${int(v.gasPerInputHour)} gas an input hour`],
    ['check rate q, verification overhead', `${pct(v.checkRate)} of units, ${pct(v.verificationOverhead)} of the worker's CPU`],
    ['a batch 1% wrong / all wrong is caught with', `${pct(v.detection.onePercentWrong)} / ${pct(v.detection.allWrong)}`],
    ['per unit: price, slash, stake', `${usd(v.terms.pricePerUnit)}, ${usd(v.terms.slash)} (min ${v.terms.minSlashUnits.toPrecision(3)} unit prices), ${usd(v.terms.stake)}`],
    [`worker month (${i.supply.cores} cores, ${pct(i.supply.utilization)} busy)`, `revenue ${usd(w.revenuePerMonth)}, cost ${usd(w.costPerMonth)}, profit ${usd(w.profitPerMonth)}`],
    ['worker break-even utilization', pct(w.breakEvenUtilization)],
    ['verdict', v.verdict.viable ? 'VIABLE' : `NOT VIABLE: ${v.verdict.failed.join(', ')} failed`],
  ]
}

const verdictAt = (x: { viable: boolean; failed: string[]; refused?: string }) => (x.refused ? 'refused (deterrence)' : x.viable ? 'viable' : `fails ${x.failed.join('+')}`)
const fmtNum = (x: number) => (Math.abs(x) >= 1000 ? x.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(Number(x.toPrecision(4))))

/** The sentence naming the input that moves the verdict most. */
export function computeMostSensitive(r: ComputeReport): string {
  const top = r.sensitivity[0]
  if (!top) return 'no input to vary'
  const d = Math.round(r.delta * 100)
  if (top.flips) return `${top.input} moves the verdict most: at -${d}% (${fmtNum(top.low)}) ${verdictAt(top.verdict.low)}, at +${d}% (${fmtNum(top.high)}) ${verdictAt(top.verdict.high)}`
  return `no input flips the verdict at ±${d}%; ${top.input} moves its tightest test most (ratio ${top.binding.low.toPrecision(3)} to ${top.binding.high.toPrecision(3)}, limit 1)`
}

const mcLines = (m: ComputeSimulation): string[] => [
  `${m.draws.toLocaleString('en-US')} draws: viable in ${pct(m.viable.estimate)} (95% CI [${pct(m.viable.ci95[0])}, ${pct(m.viable.ci95[1])}]); failed price ${m.failedBy.price}, earnings ${m.failedBy.earnings}, verification ${m.failedBy.verification}`,
  `price per input hour 5/50/95%: ${usd(m.price.p05)} / ${usd(m.price.p50)} / ${usd(m.price.p95)}; price / baseline ${ratio(m.priceToBaseline.p05)} / ${ratio(m.priceToBaseline.p50)} / ${ratio(m.priceToBaseline.p95)}`,
]

export function renderComputeTable(r: ComputeReport): string {
  const rows = computeSummaryRows(r)
  const wk = Math.max(...rows.map(([k]) => k.length))
  const d = Math.round(r.delta * 100)
  const out = [r.title, '', ...rows.map(([k, v]) => `${k.padEnd(wk)}  ${v}`), '', r.result.verdict.text, '']
  for (const t of r.result.verdict.tests) out.push(`  ${t.passed ? 'pass' : 'FAIL'}  ${t.name.padEnd(12)}  ${t.detail}`)
  out.push('', `Sensitivity (each input ±${d}%): price per input hour and the verdict`, '', computeMostSensitive(r), '')
  const iw = Math.max(...r.sensitivity.map((s) => s.input.length))
  out.push(`${'input'.padEnd(iw)}  ${'low'.padStart(10)}  ${'high'.padStart(10)}  ${'price low'.padStart(10)}  ${'price high'.padStart(10)}  ${`at -${d}%`.padEnd(22)}  at +${d}%`)
  for (const s of r.sensitivity) {
    out.push(`${s.input.padEnd(iw)}  ${fmtNum(s.low).padStart(10)}  ${fmtNum(s.high).padStart(10)}  ${usd(s.outputs.pricePerInputHour.low).padStart(10)}  ${usd(s.outputs.pricePerInputHour.high).padStart(10)}  ${verdictAt(s.verdict.low).padEnd(22)}  ${verdictAt(s.verdict.high)}`)
  }
  if (r.monteCarlo) out.push('', 'Monte Carlo over uncertain inputs (log-uniform factors)', '', ...mcLines(r.monteCarlo))
  return out.join('\n') + '\n'
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)

const PAGE_SCRIPT = String.raw`
const data = JSON.parse(document.getElementById('data').textContent);
const put = (id, node) => document.getElementById(id).append(node);
const parts = ['compute', 'bandwidth', 'verification', 'gas', 'stake', 'margin'].map((k) => ({ part: k, usd: data.result.breakdown[k] ?? 0, what: 'decentralized' }));
put('plot-breakdown', Plot.plot({
  width: 640, height: 150, marginLeft: 100, x: { label: 'USD per input hour', grid: true }, y: { label: null }, color: { legend: true },
  marks: [Plot.barX(parts, Plot.stackX({ y: 'what', x: 'usd', fill: 'part', title: (d) => d.part + ': $' + d.usd.toPrecision(3) })),
    Plot.barX([{ what: 'baseline', usd: data.result.baselinePerInputHour }], { y: 'what', x: 'usd', fill: '#999' })],
}));
const months = Array.from({ length: 21 }, (_, i) => i / 20).map((u) => ({ u, profit: u * data.result.worker.capacityInputHoursPerMonth * (data.result.worker.payPerInputHour - data.result.worker.variableCostPerInputHour) - data.inputs.supply.machineUsdPerMonth }));
put('plot-worker', Plot.plot({
  width: 640, height: 220, x: { label: 'utilization', percent: true }, y: { label: 'worker profit per month (USD)', grid: true },
  marks: [Plot.line(months, { x: 'u', y: 'profit' }), Plot.ruleY([0]), Plot.ruleX([data.inputs.supply.utilization], { stroke: 'seagreen' }),
    Number.isFinite(data.result.worker.breakEvenUtilization ?? Infinity) && data.result.worker.breakEvenUtilization <= 1 ? Plot.ruleX([data.result.worker.breakEvenUtilization], { stroke: 'crimson', strokeDasharray: '4,3' }) : null],
}));
const bars = (key) => data.sensitivity.flatMap((s) => [
  { input: s.input, x1: key(s, 'base'), x2: key(s, 'low'), side: '-' + data.deltaPct + '%' },
  { input: s.input, x1: key(s, 'base'), x2: key(s, 'high'), side: '+' + data.deltaPct + '%' }]);
const tornado = (id, key, label, type, rule) => put(id, Plot.plot({
  width: 640, height: 40 + 18 * data.sensitivity.length, marginLeft: 250, x: { label, grid: true, type }, y: { label: null, domain: data.sensitivity.map((s) => s.input) },
  color: { legend: true, domain: ['-' + data.deltaPct + '%', '+' + data.deltaPct + '%'], range: ['#e15759', '#4e79a7'] },
  marks: [Plot.barX(bars(key), { y: 'input', x1: 'x1', x2: 'x2', fill: 'side' }), rule != null ? Plot.ruleX([rule], { stroke: 'crimson', strokeDasharray: '4,3' }) : null],
}));
tornado('tornado-verdict', (s, w) => Math.max(1e-6, s.binding[w] ?? 1e6), "the verdict's tightest test (value / limit; above 1 fails)", 'log', 1);
tornado('tornado-price', (s, w) => s.outputs.pricePerInputHour[w] ?? 0, 'price per input hour (USD)', 'linear', null);
document.body.dataset.rendered = 'true';
`

export function renderComputeHtml(r: ComputeReport, libs: { d3: string; plot: string }): string {
  const data = { result: r.result, inputs: r.inputs, sensitivity: r.sensitivity, deltaPct: Math.round(r.delta * 100) }
  const json = JSON.stringify(data).replace(/</g, '\\u003c')
  const rows = computeSummaryRows(r).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')
  const tests = r.result.verdict.tests.map((t) => `<tr><th>${t.passed ? 'pass' : '<b>FAIL</b>'}</th><td>${esc(t.name)}</td><td>${esc(t.detail)}</td></tr>`).join('')
  const inputsTable = Object.entries(r.inputs).flatMap(([g, o]) => Object.entries(o).map(([k, v]) => `<tr><th>${g}.${k}</th><td>${esc(String(v))}</td></tr>`)).join('')
  const m = r.monteCarlo
  const mc = m
    ? `<h2>Monte Carlo over uncertain inputs</h2>${mcLines(m).map((l) => `<p>${esc(l)}</p>`).join('')}<table><tr><th>input</th><th>factor</th><th>why</th></tr>${m.uncertainty.map((u) => `<tr><th>${esc(u.input)}</th><td>x${u.low} to x${u.high}</td><td>${esc(u.why)}</td></tr>`).join('')}</table>`
    : ''
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Viability: ${esc(r.title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}th{background:#f6f6f6;font-weight:500}.plot{margin:1rem 0}</style>
</head><body>
<h1>Viability: ${esc(r.title)}</h1>
${r.source ? `<p><small>Source: ${esc(r.source)}</small></p>` : ''}
<p><b>${esc(r.result.verdict.text)}</b></p>
<table>${tests}</table>
<table>${rows}</table>
${r.assumptions.length ? `<h2>Assumptions</h2><ul>${r.assumptions.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>` : ''}
<h2>Price per input hour against the baseline</h2><div class="plot" id="plot-breakdown"></div>
<h2>The worker's month against its utilization (green: expected, red dashes: break-even)</h2><div class="plot" id="plot-worker"></div>
<h2>Sensitivity (each input ±${Math.round(r.delta * 100)}%)</h2><p>${esc(computeMostSensitive(r))}</p>
<h3>The verdict's tightest test</h3><div class="plot" id="tornado-verdict"></div>
<h3>Price per input hour</h3><div class="plot" id="tornado-price"></div>
${mc}
<h2>Inputs</h2><table>${inputsTable}</table>
<script id="data" type="application/json">${json}</script>
${plotLibraryScripts(libs)}
<script>${PAGE_SCRIPT}</script>
</body></html>`
}
