/**
 * Terminal table and self-contained HTML report (Observable Plot + d3 inlined, data embedded as JSON) for a
 * viability assessment: the verdict and its three tests, a participating peer's month, offload vs swarm size,
 * offload per rank, cost vs price per chunk, tornado charts, and the Monte Carlo (the closed form checked per item,
 * and the verdict over draws of the uncertain inputs) with plots and a verdict sentence. A published figure is shown
 * only for the preset it belongs to: `reportedOffload` is the caller's, and the CLI passes none for a custom run.
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
import { participationOffloadCurve } from './model.js'
import { summarizeCheck, type SwarmSimulation, type ViabilitySimulation, type CheckSummary } from './montecarlo.js'

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
  /** Per-item check of the closed form against a simulation of each swarm. */
  monteCarlo?: (SwarmSimulation & { rank: number })[]
  /** The per-item check as one result. */
  check?: CheckSummary
  /** The model over draws of its uncertain inputs: how often it is viable. */
  uncertainty?: ViabilitySimulation
}

export function buildViabilityReport(inputs: ViabilityInputs, opts: { title: string; delta?: number; reportedOffload?: number; source?: string; assumptions?: string[]; monteCarlo?: (SwarmSimulation & { rank: number })[]; uncertainty?: ViabilitySimulation }): ViabilityReport {
  const result = assessViability(inputs)
  const delta = opts.delta ?? 0.2
  return {
    title: opts.title, inputs, result, delta, sensitivity: sensitivity(inputs, delta),
    reportedOffload: opts.reportedOffload, source: opts.source, assumptions: opts.assumptions ?? [], monteCarlo: opts.monteCarlo,
    check: opts.monteCarlo?.length ? summarizeCheck(opts.monteCarlo) : undefined, uncertainty: opts.uncertainty,
    curves: { offload: participationOffloadCurve(inputs.supply.participation, result.uploadRatio), cost: costCurve(inputs) },
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`
const pct2 = (x: number) => `${(100 * x).toFixed(2)}%`
const usd = (x: number) => (Math.abs(x) >= 0.01 ? `$${x.toFixed(4)}` : `$${x.toExponential(3)}`)
/** A month's money: cents and below as $0.0040, not in exponent form. */
const money = (x: number): string => (x < 0 ? `-${money(-x)}` : x === 0 ? '$0' : x >= 1 ? `$${x.toFixed(2)}` : x >= 0.0001 ? `$${x.toFixed(4)}` : `$${x.toExponential(2)}`)

export function summaryRows(r: ViabilityReport): [string, string][] {
  const v = r.result
  const rows: [string, string][] = [
    ['offloaded share of traffic', pct(v.offload)],
    ...(r.reportedOffload !== undefined ? [['reported (published)', `${pct(r.reportedOffload)} (the model is ${Math.abs((v.offload - r.reportedOffload) * 100).toFixed(1)} points ${v.offload >= r.reportedOffload ? 'above' : 'below'})`] as [string, string]] : []),
    ['offload of the most popular item', pct(v.byRank[0]?.offload ?? 0)],
    ['demand-weighted mean swarm size', v.meanSwarmSize.toFixed(2)],
    ['participation (each viewer runs the peer client)', pct(r.inputs.supply.participation)],
    ['upload / bitrate r', v.uploadRatio.toFixed(3)],
    ['cost per GB, provider only', usd(v.baselineCostPerGB)],
    ['cost per GB, sponsor with peers', usd(v.sponsorCostPerGB)],
    ['sponsor savings', pct(v.savings)],
    ['on-chain fee per chunk (amortized)', usd(v.feePerChunkUsd)],
    ['peer break-even price per chunk', usd(v.peerBreakEvenPricePerChunk)],
    ['price per chunk paid', usd(r.inputs.costs.pricePerChunk)],
    ['sponsor maximum price per chunk', usd(v.sponsorMaxPricePerChunk)],
    ['price within break-even and maximum', v.priceInBounds ? 'yes' : 'NO'],
    ['viable (offload, savings, peer earnings)', v.viable ? 'yes' : `NO: ${v.verdict.failed.join(', ')} fail${v.verdict.failed.length === 1 ? 's' : ''}`],
  ]
  return rows
}

/** A participating peer's month: what it uploads, earns and spends. */
export function supplyRows(r: ViabilityReport): [string, string][] {
  const s = r.result.supply, p = r.inputs.peer
  return [
    ['participating peers online (modelled hour)', Math.round(s.participantsOnline).toLocaleString('en-US')],
    ['upload needed per peer while watching', `${s.uploadMbps.toFixed(2)} Mbit/s (${pct(s.uploadShare)} of the ${r.inputs.supply.uploadMbps} Mbit/s offered)`],
    ['hours watched, and served, a month', `${p.viewingHoursPerMonth}`],
    ['uploaded a month', `${s.gbPerMonth.toFixed(2)} GB`],
    ['earnings a month', money(s.earningsPerMonth)],
    ['costs a month: bandwidth', `${money(s.costsPerMonth.bandwidth)} (${money(r.inputs.costs.peerCostPerGB)}/GB)`],
    ['costs a month: electricity', `${money(s.costsPerMonth.electricity)} (${p.extraWatts} W x ${p.viewingHoursPerMonth} h at $${p.electricityPerKWh}/kWh)`],
    ['costs a month: hardware', money(s.costsPerMonth.hardware)],
    ['profit a month', money(s.profitPerMonth)],
  ]
}

const q3s = (x: { p05: number; p50: number; p95: number }, f: (v: number) => string) => `${f(x.p05)} / ${f(x.p50)} / ${f(x.p95)}`

/** The uncertainty Monte Carlo in lines: the verdict sentence, failures by test, quantiles. */
export function uncertaintyLines(m: ViabilitySimulation): string[] {
  return [
    m.text,
    `failed: offload ${m.failedBy.offload}, savings ${m.failedBy.savings}, peer-earnings ${m.failedBy['peer-earnings']} draws`,
    `5/50/95%: offload ${q3s(m.offload, pct)}; savings ${q3s(m.savings, pct)}; a peer's profit a month ${q3s(m.peerProfitPerMonth, money)}`,
  ]
}

export function renderViabilityTable(r: ViabilityReport): string {
  const rows = summaryRows(r)
  const w = Math.max(...rows.map(([k]) => k.length))
  const sup = supplyRows(r)
  const sw = Math.max(...sup.map(([k]) => k.length))
  const out = [r.title, '', ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), '', r.result.verdict.text, '']
  for (const t of r.result.verdict.tests) out.push(`  ${t.passed ? 'pass' : 'FAIL'}  ${t.name.padEnd(13)}  ${t.detail}`)
  out.push('', 'A participating peer (supply side)', '', ...sup.map(([k, v]) => `${k.padEnd(sw)}  ${v}`))
  out.push('', `Sensitivity (each input ±${Math.round(r.delta * 100)}%): change in offload and in sponsor cost per GB`, '')
  const sens = [...r.sensitivity].sort((a, b) => Math.abs(b.outputs.offload.high - b.outputs.offload.low) - Math.abs(a.outputs.offload.high - a.outputs.offload.low) || Math.abs(b.outputs.sponsorCostPerGB.high - b.outputs.sponsorCostPerGB.low) - Math.abs(a.outputs.sponsorCostPerGB.high - a.outputs.sponsorCostPerGB.low))
  const iw = Math.max(...sens.map((s) => s.input.length))
  out.push(`${'input'.padEnd(iw)}  ${'offload low'.padStart(11)}  ${'offload high'.padStart(12)}  ${'cost/GB low'.padStart(12)}  ${'cost/GB high'.padStart(12)}`)
  for (const s of sens) out.push(`${s.input.padEnd(iw)}  ${pct(s.outputs.offload.low).padStart(11)}  ${pct(s.outputs.offload.high).padStart(12)}  ${usd(s.outputs.sponsorCostPerGB.low).padStart(12)}  ${usd(s.outputs.sponsorCostPerGB.high).padStart(12)}`)
  if (r.uncertainty) out.push('', `Monte Carlo over uncertain inputs (${r.uncertainty.draws.toLocaleString('en-US')} draws, log-uniform factors)`, '', ...uncertaintyLines(r.uncertainty))
  if (r.monteCarlo?.length) {
    out.push('', 'Monte Carlo check of the closed form (top items, 95% CI)', '', r.check!.text, '')
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
if (data.uncertainty) {
  const pts = data.uncertainty.points.map((d) => ({ ...d, outcome: d.viable ? 'viable' : 'fails: ' + d.failed.join(', ') }));
  put('plot-mc', Plot.plot({
    width: 640, height: 340, x: { label: 'offloaded share', tickFormat: pct, grid: true, domain: [0, 1] }, y: { label: 'sponsor savings', tickFormat: pct, grid: true },
    color: { legend: true, domain: ['viable', ...new Set(pts.filter((d) => !d.viable).map((d) => d.outcome))], range: ['#59a14f', '#e15759', '#f28e2b', '#b07aa1', '#9c755f', '#76b7b2', '#edc948'] },
    marks: [
      Plot.dot(pts, { x: 'offload', y: 'savings', r: 2, fill: 'outcome', fillOpacity: 0.6 }),
      Plot.ruleX([data.inputs.targets.minOffload], { stroke: 'gray', strokeDasharray: '4,3' }),
      Plot.ruleY([data.inputs.targets.minSavings], { stroke: 'gray', strokeDasharray: '4,3' }),
      Plot.dot([{ offload: r.offload, savings: r.savings }], { x: 'offload', y: 'savings', r: 6, stroke: 'black', strokeWidth: 2 }),
    ],
  }));
  put('plot-mc-hist', Plot.plot({
    width: 640, height: 220, x: { label: 'offloaded share', tickFormat: pct, domain: [0, 1] }, y: { label: 'draws', grid: true },
    color: { domain: ['viable', 'not viable'], range: ['#59a14f', '#e15759'], legend: true },
    marks: [Plot.rectY(pts.map((d) => ({ offload: d.offload, v: d.viable ? 'viable' : 'not viable' })), Plot.binX({ y: 'count' }, { x: 'offload', fill: 'v', thresholds: 40 })), Plot.ruleX([data.inputs.targets.minOffload], { stroke: 'gray', strokeDasharray: '4,3' }), Plot.ruleY([0])],
  }));
}
if (data.monteCarlo) {
  const mc = data.monteCarlo.map((m) => ({ ...m, lo: m.ci95[0], hi: m.ci95[1] }));
  const lo = Math.max(0.01, Math.min(...mc.map((m) => m.meanSwarmSize)) / 2), hi = Math.max(...mc.map((m) => m.meanSwarmSize)) * 2;
  put('plot-check', Plot.plot({
    width: 640, height: 300, x: { type: 'log', label: 'mean swarm size L', grid: true }, y: { label: 'offloaded share', tickFormat: pct, grid: true },
    marks: [
      Plot.line(data.curves.offload.filter((d) => d.meanSwarmSize >= lo && d.meanSwarmSize <= hi), { x: 'meanSwarmSize', y: 'offload', stroke: 'steelblue' }),
      Plot.ruleX(mc, { x: 'meanSwarmSize', y1: 'lo', y2: 'hi', stroke: 'orange', strokeWidth: 2 }),
      Plot.dot(mc, { x: 'meanSwarmSize', y: 'offload', r: 2.5, fill: 'orange', title: (d) => 'rank ' + d.rank }),
    ],
  }));
}
document.body.dataset.rendered = 'true';
`

export function renderViabilityHtml(r: ViabilityReport, libs: { d3: string; plot: string }): string {
  const outputs = [
    { key: 'offload', label: 'offloaded share', pct: true },
    { key: 'sponsorCostPerGB', label: 'sponsor cost per GB (USD)', pct: false },
    { key: 'savings', label: 'sponsor savings vs provider only', pct: true },
    { key: 'peerProfitPerMonth', label: "a participating peer's profit a month (USD)", pct: false },
  ].filter((o) => (SENSITIVITY_OUTPUTS as readonly string[]).includes(o.key))
  const uncertainty = r.uncertainty ? { ...r.uncertainty, points: r.uncertainty.points.slice(0, 5000) } : null
  const data = { result: r.result, inputs: r.inputs, curves: r.curves, sensitivity: r.sensitivity, reportedOffload: r.reportedOffload ?? null, deltaPct: Math.round(r.delta * 100), outputs, uncertainty, monteCarlo: r.monteCarlo?.length ? r.monteCarlo : null }
  const json = JSON.stringify(data).replace(/</g, '\\u003c')
  const rows = summaryRows(r).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')
  const inputsTable = Object.entries(r.inputs).flatMap(([g, o]) => Object.entries(o).map(([k, v]) => `<tr><th>${g}.${k}</th><td>${v === null ? 'none' : esc(String(v))}</td></tr>`)).join('')
  const v = r.result.verdict
  const verdictHtml = `<div id="verdict" class="${v.viable ? 'ok' : 'bad'}"><b>${v.viable ? 'VIABLE' : `NOT VIABLE: ${esc(v.failed.join(', '))} ${v.failed.length === 1 ? 'fails' : 'fail'}`}</b><ul>${v.tests.map((t) => `<li class="${t.passed ? 'pass' : 'fail'}" data-test="${t.name}">${t.passed ? 'pass' : 'FAIL'} <b>${t.name}</b>: ${esc(t.detail)}</li>`).join('')}</ul></div>`
  const supplyTable = `<h2>A participating peer (supply side)</h2><table id="supply">${supplyRows(r).map(([k, x]) => `<tr><th>${esc(k)}</th><td>${esc(x)}</td></tr>`).join('')}</table>`
  const unc = r.uncertainty
  const uncHtml = unc
    ? `<h2>Monte Carlo over uncertain inputs</h2><p id="mc-verdict" class="${unc.viable.estimate >= 0.5 ? 'ok' : 'bad'}"><b>${esc(unc.text)}</b></p>${uncertaintyLines(unc).slice(1).map((l) => `<p>${esc(l)}</p>`).join('')}
<p>Each dot is one draw: offload against sponsor savings, coloured by the verdict (grey dashes: the offload and savings targets; black ring: the base inputs).</p><div class="plot" id="plot-mc"></div><div class="plot" id="plot-mc-hist"></div>
<table><tr><th>input</th><th>factor</th><th>why</th></tr>${unc.uncertainty.map((u) => `<tr><th>${esc(u.input)}</th><td>x${u.low} to x${u.high}</td><td>${esc(u.why)}</td></tr>`).join('')}</table>`
    : ''
  const mc = r.monteCarlo?.length
    ? `<h2>Monte Carlo check of the closed form</h2><p id="check-verdict"><b>${esc(r.check!.text)}</b></p><p>Curve: the closed form; dots and bars: each simulated item with its 95% interval.</p><div class="plot" id="plot-check"></div><details><summary>Per item (${r.monteCarlo.length})</summary><table><tr><th>rank</th><th>mean swarm</th><th>closed form</th><th>simulated</th><th>95% CI</th></tr>${r.monteCarlo.map((m) => `<tr><td>${m.rank}</td><td>${m.meanSwarmSize.toFixed(2)}</td><td>${pct(m.closedForm)}</td><td>${pct(m.offload)}</td><td>[${pct2(m.ci95[0])}, ${pct2(m.ci95[1])}]</td></tr>`).join('')}</table></details>`
    : ''
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Viability: ${esc(r.title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;padding:0 1rem;color:#222}.ok{background:#e6f4e6;border-left:4px solid #3a3}.bad{background:#fde8e8;border-left:4px solid #c33}#verdict,#mc-verdict{padding:.4rem .8rem}li.fail{color:#900}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}th{background:#f6f6f6;font-weight:500}.plot{margin:1rem 0}figure{margin:0}</style>
</head><body>
<h1>Viability: ${esc(r.title)}</h1>
${r.source ? `<p><small>Source: ${esc(r.source)}</small></p>` : ''}
${verdictHtml}
<table>${rows}</table>
${supplyTable}
${r.assumptions.length ? `<h2>Assumptions</h2><ul>${r.assumptions.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>` : ''}
<h2>Offload vs swarm size</h2><p>Curve: E[min((M − 1)<sup>+</sup>, r·M)] / L with M ~ Poisson(${esc(String(r.inputs.supply.participation))}·L) participants (G(L) = 1 − (1 − e<sup>−L</sup>)/L at full participation). Dots: items of the catalog. Green: overall offload${r.reportedOffload !== undefined ? '; red dashes: the published figure' : ''}.</p><div class="plot" id="plot-swarm"></div>
<h2>Offload per popularity rank</h2><div class="plot" id="plot-rank"></div>
<h2>Cost per GB vs price per chunk</h2><p>Peers are worth paying while the sponsor line stays under the provider line; peers take part above their break-even.</p><div class="plot" id="plot-cost"></div>
<h2>Sensitivity (each input ±${Math.round(r.delta * 100)}%)</h2>
${outputs.map((o) => `<h3>${esc(o.label)}</h3><div class="plot" id="tornado-${o.key}"></div>`).join('\n')}
${uncHtml}
${mc}
<h2>Inputs</h2><table>${inputsTable}</table>
<script id="data" type="application/json">${json}</script>
${plotLibraryScripts(libs)}
<script>${PAGE_SCRIPT}</script>
</body></html>`
}
