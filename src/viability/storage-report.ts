/**
 * Terminal table and self-contained HTML report (Observable Plot + d3 inlined, data embedded as JSON) for the storage
 * model: price per TB-month broken down, against the baseline and the reference prices, the supply side, durability,
 * detection, the verdict, sensitivity (which input moves the verdict most) and the Monte Carlo check.
 *
 * @example
 * ```ts
 * import { buildStorageReport, renderStorageTable } from './storage-report.js'
 * import { STORAGE_PRESETS } from './storage.js'
 * const p = STORAGE_PRESETS.storage
 * renderStorageTable(buildStorageReport(p.inputs, { title: p.title, baselineTitle: p.baselineTitle })).includes('VIABLE') // true
 * ```
 */
import { plotLibraryScripts } from './html.js'
import { assessStorage, storageSensitivity, compareWithBaselines, type StorageInputs, type StorageResult, type StorageSensitivityRow, type StorageSimulation } from './storage.js'

export interface StorageReport {
  model: 'storage'
  title: string
  baselineTitle: string
  inputs: StorageInputs
  result: StorageResult
  comparisons: ReturnType<typeof compareWithBaselines>
  sensitivity: StorageSensitivityRow[]
  delta: number
  source?: string
  assumptions: string[]
  monteCarlo?: StorageSimulation
}

export function buildStorageReport(inputs: StorageInputs, opts: { title: string; baselineTitle?: string; delta?: number; source?: string; assumptions?: string[]; monteCarlo?: StorageSimulation }): StorageReport {
  const result = assessStorage(inputs)
  const delta = opts.delta ?? 0.2
  return {
    model: 'storage', title: opts.title, baselineTitle: opts.baselineTitle ?? 'the baseline', inputs, result, comparisons: compareWithBaselines(inputs, result),
    sensitivity: storageSensitivity(inputs, delta), delta, source: opts.source, assumptions: opts.assumptions ?? [], monteCarlo: opts.monteCarlo,
  }
}

const usd = (x: number) => (!Number.isFinite(x) ? 'infeasible' : Math.abs(x) >= 100 ? `$${x.toFixed(0)}` : Math.abs(x) >= 1 || x === 0 ? `$${x.toFixed(2)}` : `$${x.toPrecision(3)}`)
const pct = (x: number) => (!Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`)
const prob = (x: number) => (x === 0 ? '0' : x >= 0.01 ? `${(100 * x).toFixed(2)}%` : x.toExponential(2))
const share = (part: number, whole: number) => (Number.isFinite(whole) && whole > 0 ? ` (${pct(part / whole)})` : '')
const ratio = (x: number) => (!Number.isFinite(x) ? 'n/a' : `${x.toFixed(2)}x`)

export function storageSummaryRows(r: StorageReport): [string, string][] {
  const v = r.result, b = v.breakdown, P = v.pricePerTBMonth, i = r.inputs
  return [
    ['price per TB-month, decentralized', usd(P)],
    ['  storage (replicas x disk)', `${usd(b.storage)}${share(b.storage, P)}`],
    ['  bandwidth (retrievals)', `${usd(b.bandwidth)}${share(b.bandwidth, P)}`],
    ['  proving gas', `${usd(b.provingGas)}${share(b.provingGas, P)}`],
    ['  collateral capital cost', `${usd(b.collateral)}${share(b.collateral, P)}`],
    ['  provider margin', `${usd(b.margin)}${share(b.margin, P)}`],
    [`baseline per TB-month (${r.baselineTitle}, with egress)`, usd(v.baselinePerTBMonth)],
    ['price / baseline', `${ratio(v.priceToBaseline)} (saving ${pct(v.saving)})`],
    ...r.comparisons.map((c) => [`  vs ${c.title}`, `${usd(c.perTBMonth)} -> ${ratio(c.priceToBaseline)}`] as [string, string]),
    [`client pays for the deal (${i.deal.dataTB} TB, ${i.deal.dealMonths} months)`, usd(v.dealCostUsd)],
    [`proof gas per deal and period (depth ${v.treeDepth})`, `${Math.round(v.gasPerDealProof).toLocaleString('en-US')} gas = ${usd(v.usdPerDealProof)}`],
    ['provider revenue / profit per raw TB-month', `${usd(v.provider.revenuePerTBMonth)} / ${usd(v.provider.profitPerTBMonth)}`],
    [`provider revenue / profit per month (${i.supply.capacityTB} TB)`, `${usd(v.provider.revenuePerMonth)} / ${usd(v.provider.profitPerMonth)}`],
    ['provider collateral locked for that capacity', usd(v.provider.collateralLockedUsd)],
    [`file-loss probability over the deal (${i.deal.replicas} copies)`, `${prob(v.lossProbability)}${v.downMonths === null ? ' (no repair)' : ` (without repair ${prob(v.lossProbabilityNoRepair)})`}`],
    [`detection of ${pct(i.detection.lostFraction)} lost within a month`, prob(v.monthlyDetectionProbability)],
    ['verdict', v.verdict.viable ? 'VIABLE' : `NOT VIABLE: ${v.verdict.failed.join(', ')} failed`],
  ]
}

const verdictAt = (x: { viable: boolean; failed: string[] }) => (x.viable ? 'viable' : `fails ${x.failed.join('+')}`)

/** The sentence naming the input that moves the verdict most. */
export function storageMostSensitive(r: StorageReport): string {
  const top = r.sensitivity[0]
  if (!top) return 'no input to vary'
  const d = Math.round(r.delta * 100)
  if (top.flips) return `${top.input} moves the verdict most: at -${d}% (${fmtNum(top.low)}) ${verdictAt(top.verdict.low)}, at +${d}% (${fmtNum(top.high)}) ${verdictAt(top.verdict.high)}`
  return `no input flips the verdict at ±${d}%; ${top.input} moves its tightest test most (ratio ${top.binding.low.toPrecision(3)} to ${top.binding.high.toPrecision(3)}, limit 1)`
}
const fmtNum = (x: number) => (Math.abs(x) >= 1000 ? x.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(Number(x.toPrecision(4))))

export function renderStorageTable(r: StorageReport): string {
  const rows = storageSummaryRows(r)
  const w = Math.max(...rows.map(([k]) => k.length))
  const d = Math.round(r.delta * 100)
  const out = [r.title, '', ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`), '', r.result.verdict.text, '']
  for (const t of r.result.verdict.tests) out.push(`  ${t.passed ? 'pass' : 'FAIL'}  ${t.name.padEnd(11)}  ${t.detail}`)
  out.push('', `Sensitivity (each input ±${d}%): price per TB-month and the verdict`, '', storageMostSensitive(r), '')
  const iw = Math.max(...r.sensitivity.map((s) => s.input.length))
  out.push(`${'input'.padEnd(iw)}  ${'low'.padStart(10)}  ${'high'.padStart(10)}  ${'price low'.padStart(10)}  ${'price high'.padStart(10)}  ${`at -${d}%`.padEnd(22)}  at +${d}%`)
  for (const s of r.sensitivity) {
    out.push(`${s.input.padEnd(iw)}  ${fmtNum(s.low).padStart(10)}  ${fmtNum(s.high).padStart(10)}  ${usd(s.outputs.pricePerTBMonth.low).padStart(10)}  ${usd(s.outputs.pricePerTBMonth.high).padStart(10)}  ${verdictAt(s.verdict.low).padEnd(22)}  ${verdictAt(s.verdict.high)}`)
  }
  if (r.monteCarlo) {
    const m = r.monteCarlo
    const line = (name: string, p: StorageSimulation['loss'], unit: string) => `${name.padEnd(10)} closed form ${prob(p.closedForm).padStart(9)}  simulated ${p.hits}/${p.trials} ${unit} = ${prob(p.estimate)}  95% CI [${prob(p.ci95[0])}, ${prob(p.ci95[1])}]  ${p.closedForm >= p.ci95[0] && p.closedForm <= p.ci95[1] ? 'inside the CI' : 'outside the 95% CI'}`
    out.push('', 'Monte Carlo check', '', line('loss', m.loss, 'deals'), line('detection', m.detection, 'months'))
  }
  return out.join('\n') + '\n'
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)

const PAGE_SCRIPT = String.raw`
const data = JSON.parse(document.getElementById('data').textContent);
const put = (id, node) => document.getElementById(id).append(node);
const parts = ['storage', 'bandwidth', 'provingGas', 'collateral', 'margin'].map((k) => ({ part: k, usd: data.result.breakdown[k] ?? 0, what: 'decentralized' }));
put('plot-breakdown', Plot.plot({
  width: 640, height: 150, marginLeft: 100, x: { label: 'USD per TB-month', grid: true }, y: { label: null }, color: { legend: true },
  marks: [Plot.barX(parts, Plot.stackX({ y: 'what', x: 'usd', fill: 'part', title: (d) => d.part + ': $' + d.usd.toFixed(2) })),
    Plot.barX([{ what: 'baseline', usd: data.result.baselinePerTBMonth }], { y: 'what', x: 'usd', fill: '#999' })],
}));
const bars = (key) => data.sensitivity.flatMap((s) => [
  { input: s.input, x1: key(s, 'base'), x2: key(s, 'low'), side: '-' + data.deltaPct + '%' },
  { input: s.input, x1: key(s, 'base'), x2: key(s, 'high'), side: '+' + data.deltaPct + '%' }]);
const tornado = (id, key, label, type, rule) => put(id, Plot.plot({
  width: 640, height: 40 + 18 * data.sensitivity.length, marginLeft: 230, x: { label, grid: true, type }, y: { label: null, domain: data.sensitivity.map((s) => s.input) },
  color: { legend: true, domain: ['-' + data.deltaPct + '%', '+' + data.deltaPct + '%'], range: ['#e15759', '#4e79a7'] },
  marks: [Plot.barX(bars(key), { y: 'input', x1: 'x1', x2: 'x2', fill: 'side' }), rule != null ? Plot.ruleX([rule], { stroke: 'crimson', strokeDasharray: '4,3' }) : null],
}));
tornado('tornado-verdict', (s, w) => Math.max(1e-6, s.binding[w] ?? 1e6), "the verdict's tightest test (value / limit; above 1 fails)", 'log', 1);
tornado('tornado-price', (s, w) => s.outputs.pricePerTBMonth[w] ?? 0, 'price per TB-month (USD)', 'linear', data.result.baselinePerTBMonth);
document.body.dataset.rendered = 'true';
`

export function renderStorageHtml(r: StorageReport, libs: { d3: string; plot: string }): string {
  const data = { result: r.result, inputs: r.inputs, sensitivity: r.sensitivity, deltaPct: Math.round(r.delta * 100) }
  const json = JSON.stringify(data).replace(/</g, '\\u003c')
  const rows = storageSummaryRows(r).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')
  const tests = r.result.verdict.tests.map((t) => `<tr><th>${t.passed ? 'pass' : '<b>FAIL</b>'}</th><td>${esc(t.name)}</td><td>${esc(t.detail)}</td></tr>`).join('')
  const inputsTable = Object.entries(r.inputs).flatMap(([g, o]) => Object.entries(o).map(([k, v]) => `<tr><th>${g}.${k}</th><td>${v === null ? 'none' : esc(String(v))}</td></tr>`)).join('')
  const m = r.monteCarlo
  const mc = m
    ? `<h2>Monte Carlo check</h2><table><tr><th></th><th>closed form</th><th>simulated</th><th>95% CI</th></tr>${([['file loss over the deal', m.loss], ['detection within a month', m.detection]] as const).map(([k, p]) => `<tr><th>${k}</th><td>${prob(p.closedForm)}</td><td>${p.hits}/${p.trials} = ${prob(p.estimate)}</td><td>[${prob(p.ci95[0])}, ${prob(p.ci95[1])}]</td></tr>`).join('')}</table>`
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
<h2>Price per TB-month against the baseline</h2><div class="plot" id="plot-breakdown"></div>
<h2>Sensitivity (each input ±${Math.round(r.delta * 100)}%)</h2><p>${esc(storageMostSensitive(r))}</p>
<h3>The verdict's tightest test</h3><div class="plot" id="tornado-verdict"></div>
<h3>Price per TB-month (red dashes: the baseline)</h3><div class="plot" id="tornado-price"></div>
${mc}
<h2>Inputs</h2><table>${inputsTable}</table>
<script id="data" type="application/json">${json}</script>
${plotLibraryScripts(libs)}
<script>${PAGE_SCRIPT}</script>
</body></html>`
}
