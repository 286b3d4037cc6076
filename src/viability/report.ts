/**
 * Terminal table and self-contained HTML report (Observable Plot + d3 inlined, data embedded as JSON) for a
 * viability assessment: offload vs swarm size, offload per rank, cost vs price per chunk, tornado charts.
 *
 * @example
 * ```ts
 * import { buildViabilityReport, renderViabilityHtml, renderViabilityTable } from './report.js'
 * import { PRESETS } from './presets.js'
 * const rep = buildViabilityReport(PRESETS['bbc-iplayer'].inputs, { title: 'BBC', reportedOffload: 0.88 })
 * renderViabilityTable(rep).includes('offload') // true
 * // writeFileSync('v.html', renderViabilityHtml(rep, { d3: readFileSync(D3_PATH, 'utf8'), plot: readFileSync(PLOT_PATH, 'utf8') }))
 * ```
 */
import { plotLibraryScripts } from './html.js'
import type { ViabilityInputs } from './schema.js'
import { assessViability, sensitivity, offloadCurve, costCurve, SENSITIVITY_OUTPUTS, type ViabilityResult, type SensitivityRow } from './model.js'
import type { SwarmSimulation } from './montecarlo.js'

export interface ViabilityReport {
  title: string
  inputs: ViabilityInputs
  result: ViabilityResult
  sensitivity: SensitivityRow[]
  delta: number
  reportedOffload?: number
  source?: string
  assumptions: string[]
  curves: { offload: ReturnType<typeof offloadCurve>; cost: ReturnType<typeof costCurve> }
  monteCarlo?: (SwarmSimulation & { rank: number })[]
}

export function buildViabilityReport(inputs: ViabilityInputs, opts: { title: string; delta?: number; reportedOffload?: number; source?: string; assumptions?: string[]; monteCarlo?: (SwarmSimulation & { rank: number })[] }): ViabilityReport {
  const result = assessViability(inputs)
  const delta = opts.delta ?? 0.2
  return {
    title: opts.title, inputs, result, delta, sensitivity: sensitivity(inputs, delta),
    reportedOffload: opts.reportedOffload, source: opts.source, assumptions: opts.assumptions ?? [], monteCarlo: opts.monteCarlo,
    curves: { offload: offloadCurve(result.capacityFactor), cost: costCurve(inputs) },
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`
const pct2 = (x: number) => `${(100 * x).toFixed(2)}%`
const usd = (x: number) => (Math.abs(x) >= 0.01 ? `$${x.toFixed(4)}` : `$${x.toExponential(3)}`)

export function summaryRows(r: ViabilityReport): [string, string][] {
  const v = r.result
  const rows: [string, string][] = [
    ['offloaded share of traffic', pct(v.offload)],
    ...(r.reportedOffload !== undefined ? [['reported (published)', `${pct(r.reportedOffload)} (the model is ${Math.abs((v.offload - r.reportedOffload) * 100).toFixed(1)} points ${v.offload >= r.reportedOffload ? 'above' : 'below'})`] as [string, string]] : []),
    ['offload of the most popular item', pct(v.byRank[0]?.offload ?? 0)],
    ['demand-weighted mean swarm size', v.meanSwarmSize.toFixed(2)],
    ['capacity factor k', v.capacityFactor.toFixed(3)],
    ['cost per GB, provider only', usd(v.baselineCostPerGB)],
    ['cost per GB, sponsor with peers', usd(v.sponsorCostPerGB)],
    ['sponsor savings', pct(v.savings)],
    ['on-chain fee per chunk (amortized)', usd(v.feePerChunkUsd)],
    ['peer break-even price per chunk', usd(v.peerBreakEvenPricePerChunk)],
    ['price per chunk paid', usd(r.inputs.costs.pricePerChunk)],
    ['sponsor maximum price per chunk', usd(v.sponsorMaxPricePerChunk)],
    ['viable (break-even <= price <= maximum)', v.viable ? 'yes' : 'NO'],
  ]
  return rows
}

export function renderViabilityTable(r: ViabilityReport): string {
  const rows = summaryRows(r)
  const w = Math.max(...rows.map(([k]) => k.length))
  const out = [r.title, '', ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), '', `Sensitivity (each input ±${Math.round(r.delta * 100)}%): change in offload and in sponsor cost per GB`, '']
  const sens = [...r.sensitivity].sort((a, b) => Math.abs(b.outputs.offload.high - b.outputs.offload.low) - Math.abs(a.outputs.offload.high - a.outputs.offload.low) || Math.abs(b.outputs.sponsorCostPerGB.high - b.outputs.sponsorCostPerGB.low) - Math.abs(a.outputs.sponsorCostPerGB.high - a.outputs.sponsorCostPerGB.low))
  const iw = Math.max(...sens.map((s) => s.input.length))
  out.push(`${'input'.padEnd(iw)}  ${'offload low'.padStart(11)}  ${'offload high'.padStart(12)}  ${'cost/GB low'.padStart(12)}  ${'cost/GB high'.padStart(12)}`)
  for (const s of sens) out.push(`${s.input.padEnd(iw)}  ${pct(s.outputs.offload.low).padStart(11)}  ${pct(s.outputs.offload.high).padStart(12)}  ${usd(s.outputs.sponsorCostPerGB.low).padStart(12)}  ${usd(s.outputs.sponsorCostPerGB.high).padStart(12)}`)
  if (r.monteCarlo?.length) {
    out.push('', 'Monte Carlo check (top items, 95% CI)', '')
    for (const m of r.monteCarlo) out.push(`rank ${String(m.rank).padStart(3)}  L=${m.meanSwarmSize.toFixed(2).padStart(8)}  closed form ${pct(m.closedForm).padStart(6)}  simulated ${pct(m.offload).padStart(6)}  [${pct2(m.ci95[0])}, ${pct2(m.ci95[1])}]  ${m.closedForm >= m.ci95[0] && m.closedForm <= m.ci95[1] ? 'inside the CI' : 'outside the 95% CI (expected for 1 in 20)'}`)
  }
  return out.join('\n') + '\n'
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)
/** Keeps inlined scripts from closing their own <script> element. */

/** The page script: draws every plot from the embedded JSON with Observable Plot. */
const PAGE_SCRIPT = String.raw`
const data = JSON.parse(document.getElementById('data').textContent);
const r = data.result;
const put = (id, node) => document.getElementById(id).append(node);
const pct = d3.format('.0%');
put('plot-swarm', Plot.plot({
  width: 640, height: 340, x: { type: 'log', label: 'mean swarm size L (viewers present)', grid: true }, y: { label: 'offloaded share', domain: [0, 1], tickFormat: pct, grid: true },
  marks: [
    Plot.line(data.curves.offload, { x: 'meanSwarmSize', y: 'offload', stroke: 'steelblue' }),
    Plot.dot(r.byRank.filter((d) => d.meanSwarmSize > 0.01), { x: 'meanSwarmSize', y: 'offload', r: 2, fill: 'orange', title: (d) => 'rank ' + d.rank }),
    data.reportedOffload != null ? Plot.ruleY([data.reportedOffload], { stroke: 'crimson', strokeDasharray: '4,3' }) : null,
    Plot.ruleY([r.offload], { stroke: 'green' }),
  ],
}));
put('plot-rank', Plot.plot({
  width: 640, height: 300, x: { type: 'log', label: 'popularity rank', grid: true }, y: { label: 'offloaded share', domain: [0, 1], tickFormat: pct, grid: true },
  marks: [Plot.line(r.byRank, { x: 'rank', y: 'offload', stroke: 'steelblue' }), Plot.dot(r.byRank, { x: 'rank', y: 'offload', r: 1.5, fill: 'steelblue' })],
}));
put('plot-cost', Plot.plot({
  width: 640, height: 320, x: { label: 'price per chunk paid to peers (USD)', grid: true }, y: { label: 'cost per GB (USD)', grid: true, zero: true },
  color: { legend: true },
  marks: [
    Plot.line(data.curves.cost.flatMap((d) => [{ p: d.pricePerChunk, c: d.sponsorCostPerGB, s: 'sponsor with peers' }, { p: d.pricePerChunk, c: d.baselineCostPerGB, s: 'provider only' }]), { x: 'p', y: 'c', stroke: 's' }),
    Plot.ruleX([r.peerBreakEvenPricePerChunk], { stroke: 'gray', strokeDasharray: '4,3' }),
    Plot.ruleX([data.inputs.costs.pricePerChunk], { stroke: 'black' }),
    Plot.text([{ x: r.peerBreakEvenPricePerChunk, t: 'peer break-even' }, { x: data.inputs.costs.pricePerChunk, t: 'price paid' }], { x: 'x', y: () => r.baselineCostPerGB * 1.05, text: 't', dy: -6, fontSize: 10 }),
  ],
}));
for (const out of data.outputs) {
  const rows = data.sensitivity.map((s) => ({ input: s.input, low: s.outputs[out.key].low, high: s.outputs[out.key].high, base: s.outputs[out.key].base }))
    .sort((a, b) => Math.abs(b.high - b.low) - Math.abs(a.high - a.low));
  const bars = rows.flatMap((d) => [{ input: d.input, x1: d.base, x2: d.low, side: '-' + data.deltaPct + '%' }, { input: d.input, x1: d.base, x2: d.high, side: '+' + data.deltaPct + '%' }]);
  put('tornado-' + out.key, Plot.plot({
    width: 640, height: 40 + 18 * rows.length, marginLeft: 210, x: { label: out.label, grid: true, tickFormat: out.pct ? pct : undefined }, y: { label: null, domain: rows.map((d) => d.input) },
    color: { legend: true, domain: ['-' + data.deltaPct + '%', '+' + data.deltaPct + '%'], range: ['#e15759', '#4e79a7'] },
    marks: [Plot.barX(bars, { y: 'input', x1: 'x1', x2: 'x2', fill: 'side' }), Plot.ruleX([rows[0] ? rows[0].base : 0])],
  }));
}
document.body.dataset.rendered = 'true';
`

export function renderViabilityHtml(r: ViabilityReport, libs: { d3: string; plot: string }): string {
  const outputs = [
    { key: 'offload', label: 'offloaded share', pct: true },
    { key: 'sponsorCostPerGB', label: 'sponsor cost per GB (USD)', pct: false },
    { key: 'savings', label: 'sponsor savings vs provider only', pct: true },
  ].filter((o) => (SENSITIVITY_OUTPUTS as readonly string[]).includes(o.key))
  const data = { result: r.result, inputs: r.inputs, curves: r.curves, sensitivity: r.sensitivity, reportedOffload: r.reportedOffload ?? null, deltaPct: Math.round(r.delta * 100), outputs }
  const json = JSON.stringify(data).replace(/</g, '\\u003c')
  const rows = summaryRows(r).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')
  const inputsTable = Object.entries(r.inputs).flatMap(([g, o]) => Object.entries(o).map(([k, v]) => `<tr><th>${g}.${k}</th><td>${v === null ? 'none' : esc(String(v))}</td></tr>`)).join('')
  const mc = r.monteCarlo?.length
    ? `<h2>Monte Carlo check</h2><table><tr><th>rank</th><th>mean swarm</th><th>closed form</th><th>simulated</th><th>95% CI</th></tr>${r.monteCarlo.map((m) => `<tr><td>${m.rank}</td><td>${m.meanSwarmSize.toFixed(2)}</td><td>${pct(m.closedForm)}</td><td>${pct(m.offload)}</td><td>[${pct2(m.ci95[0])}, ${pct2(m.ci95[1])}]</td></tr>`).join('')}</table>`
    : ''
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Viability: ${esc(r.title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}th{background:#f6f6f6;font-weight:500}.plot{margin:1rem 0}figure{margin:0}</style>
</head><body>
<h1>Viability: ${esc(r.title)}</h1>
${r.source ? `<p><small>Source: ${esc(r.source)}</small></p>` : ''}
<table>${rows}</table>
${r.assumptions.length ? `<h2>Assumptions</h2><ul>${r.assumptions.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>` : ''}
<h2>Offload vs swarm size</h2><p>Curve: G(L) = k·(1 − (1 − e<sup>−L</sup>)/L). Dots: items of the catalog. Green: overall offload${r.reportedOffload !== undefined ? '; red dashes: the published figure' : ''}.</p><div class="plot" id="plot-swarm"></div>
<h2>Offload per popularity rank</h2><div class="plot" id="plot-rank"></div>
<h2>Cost per GB vs price per chunk</h2><p>Peers are worth paying while the sponsor line stays under the provider line; peers take part above their break-even.</p><div class="plot" id="plot-cost"></div>
<h2>Sensitivity (each input ±${Math.round(r.delta * 100)}%)</h2>
${outputs.map((o) => `<h3>${esc(o.label)}</h3><div class="plot" id="tornado-${o.key}"></div>`).join('\n')}
${mc}
<h2>Inputs</h2><table>${inputsTable}</table>
<script id="data" type="application/json">${json}</script>
${plotLibraryScripts(libs)}
<script>${PAGE_SCRIPT}</script>
</body></html>`
}
