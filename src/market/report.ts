/**
 * What `souk market` shows: a terminal summary with a text chart of the price per round against the competitive
 * price, and a self-contained HTML report (Observable Plot, inlined) with the price convergence, the time to a deal
 * per round, and who got hired at what price.
 *
 * @example
 * ```ts
 * import { renderMarketSummary, renderMarketHtml } from './report.js'
 * const text = renderMarketSummary(result)                  // the CLI prints it
 * const html = renderMarketHtml(result, plotLibraries)      // the CLI writes it to reports/market.html
 * ```
 */
import type { MarketScenarioResult } from './scenario.js'

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
const inlineScript = (js: string) => js.replace(/<\/script/gi, '<\\/script')

/** A text chart of `series` (one row per value band, one column per round), `marks` drawn as horizontal lines. */
export function textChart(series: readonly number[], marks: { value: number; char: string }[] = [], height = 10): string {
  const vals = [...series, ...marks.map((m) => m.value)].filter((x) => Number.isFinite(x))
  if (vals.length === 0) return ''
  let lo = Math.min(...vals), hi = Math.max(...vals)
  if (hi === lo) { hi += 1; lo -= 1 }
  const row = (v: number) => Math.round(((hi - v) / (hi - lo)) * (height - 1))
  const grid = Array.from({ length: height }, () => Array.from({ length: series.length }, () => ' '))
  for (const m of marks) { const r = row(m.value); for (let c = 0; c < series.length; c++) grid[r][c] = m.char }
  series.forEach((v, c) => { if (Number.isFinite(v)) grid[row(v)][c] = '●' })
  const label = (r: number) => (hi - (r / (height - 1)) * (hi - lo)).toFixed(0).padStart(7)
  return grid.map((cells, r) => `${r % 3 === 0 || r === height - 1 ? label(r) : '       '} │${cells.join('')}`).join('\n') + `\n        └${'─'.repeat(series.length)}\n         round 1${' '.repeat(Math.max(1, series.length - 8))}${series.length}\n`
}

export function renderMarketSummary(r: MarketScenarioResult): string {
  const last = r.rounds.at(-1)
  const hired = r.servers.filter((s) => s.deals > 0).sort((a, b) => b.deals - a.deals)
  const idle = r.servers.length - hired.length
  const lines = [
    '',
    `market: ${r.servers.length} servers, ${r.rounds.length} rounds, ${r.deals} deals`,
    `competitive price   ${r.competitive.low}–${r.competitive.high} per chunk (clears ${r.competitive.quantity} units a round)`,
    `market price        ${last?.marketPrice ?? 0n} per chunk in the last round (the median posted price of the servers that sold)`,
    `median deal price   ${last?.medianPrice ?? 0n} per chunk (negotiated down from the posted price, never below a server's cost)`,
    `converged           ${r.convergedAtRound !== undefined ? `from round ${r.convergedAtRound}: the market price stays within 2 % of the competitive price to the end` : 'the market price is not within 2 % of the competitive price by the last round (try more --rounds)'}`,
    `time to deal        median ${r.medianTimeToDealMs} ms from the first dial to the first signed deal`,
    '',
    'market price per round (● ; ─ competitive price):',
    textChart(r.rounds.map((x) => Number(x.marketPrice)), [{ value: Number(r.competitive.price), char: '─' }]),
    `hired: ${hired.length} servers (${idle} never hired: priced above the market or out-competed)`,
    ...hired.slice(0, 10).map((s) => `  ${s.peer.padEnd(12)} cost ${String(s.cost).padStart(4)}  price now ${String(s.price).padStart(4)}  ${String(s.deals).padStart(4)} deals  revenue ${s.revenue}`),
    ...(hired.length > 10 ? [`  … and ${hired.length - 10} more (see --json)`] : []),
    '',
  ]
  return lines.join('\n')
}

const PAGE_SCRIPT = String.raw`
const d = JSON.parse(document.getElementById('data').textContent)
const rounds = d.rounds.map((r) => ({ ...r, medianPrice: Number(r.medianPrice), marketPrice: Number(r.marketPrice), medianAsk: Number(r.medianAsk) }))
const put = (id, el) => document.getElementById(id).append(el)
put('plot-price', Plot.plot({ width: 900, height: 320, y: { label: 'price per chunk', grid: true }, x: { label: 'round' }, color: { legend: true },
  marks: [
    Plot.rectY([d.competitive], { x1: 0.5, x2: rounds.length + 0.5, y1: (c) => Number(c.low), y2: (c) => Number(c.high), fill: '#2a9d8f', fillOpacity: 0.15 }),
    Plot.ruleY([Number(d.competitive.price)], { stroke: '#2a9d8f', strokeDasharray: '4 3' }),
    Plot.lineY(rounds, { x: 'round', y: 'marketPrice', stroke: () => 'market price (posted, servers that sold)', marker: 'dot' }),
    Plot.lineY(rounds, { x: 'round', y: 'medianPrice', stroke: () => 'median negotiated deal price' }),
    Plot.lineY(rounds, { x: 'round', y: 'medianAsk', stroke: () => 'median posted price, all servers' }),
  ] }))
put('plot-time', Plot.plot({ width: 900, height: 240, y: { label: 'ms to first deal (median)', grid: true }, x: { label: 'round' },
  marks: [Plot.barY(rounds, { x: 'round', y: 'medianTimeToDealMs', fill: '#457b9d' }), Plot.ruleY([0])] }))
const servers = d.servers.map((s) => ({ ...s, cost: Number(s.cost), price: Number(s.price) })).sort((a, b) => a.cost - b.cost)
put('plot-hired', Plot.plot({ width: 900, height: 280, x: { label: 'server cost per chunk', grid: true }, y: { label: 'deals over the run' }, color: { legend: true, label: 'last price' },
  marks: [Plot.dot(servers, { x: 'cost', y: 'deals', fill: 'price', r: 5, tip: true, title: (s) => s.peer + ': cost ' + s.cost + ', price ' + s.price + ', ' + s.deals + ' deals' })] }))
document.body.dataset.rendered = 'true'
`

export function renderMarketHtml(r: MarketScenarioResult, libs: { d3: string; plot: string }): string {
  const json = JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)).replace(/</g, '\\u003c')
  const summary = esc(renderMarketSummary(r).split('market price per round')[0])
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Souk market: ${r.servers.length} servers</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;padding:0 1rem;color:#222}pre{background:#f6f6f6;padding:.5rem}.plot{margin:1rem 0}</style>
</head><body>
<h1>Souk market run</h1>
<pre>${summary}</pre>
<h2>Price convergence</h2><p>The market price (the median posted price of the servers that sold), the negotiated deal prices and every server's posted price; the band is the competitive (market-clearing) interval of the same supply and demand, the dashed line its midpoint.</p><div class="plot" id="plot-price"></div>
<h2>Time to a deal</h2><p>Median time from a buyer's first dial to its first signed deal, per round (negotiation over the transport, with its latency and loss).</p><div class="plot" id="plot-time"></div>
<h2>Who got hired</h2><p>Each server by its cost and the deals it signed; colour: its price at the end.</p><div class="plot" id="plot-hired"></div>
<script id="data" type="application/json">${json}</script>
<script>${inlineScript(libs.d3)}</script>
<script>${inlineScript(libs.plot)}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>`
}
