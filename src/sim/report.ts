/**
 * The sweep's HTML report (`<outDir>/report.html`): one self-contained page, no script and nothing fetched, so it
 * opens offline. Per metric a plot of the mean with its 95% confidence interval as error bars against the swept
 * parameter (one line per combination of the other parameters), or of every run with the mean and its interval when
 * there is no sweep; the summary table; the scenario; every run's seed and event-log hash; the failed runs with the
 * command that reruns each. Plots are inline SVG drawn here (`errorBarSvg`), like the viability reports' figures but
 * without their plotting library: a sweep has few points and the page must stay small.
 *
 * @example
 * ```ts
 * import { writeSimReport } from './src/sim/report.js'
 * const file = writeSimReport('sim-results/cdn-sweep')   // reads results.jsonl, scenario.json; writes report.html
 * ```
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { SoukError } from '../core/errors.js'
import { summarizeResults, type SweepSummary, type PointSummary } from './stats.js'
import { readResults, SWEEP_FILES } from './sweep.js'
import type { RunResult, SweepPoint } from './types.js'

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)
const nf = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 })
/** A number for a person: 4 significant digits, '–' for none. */
export const fmt = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : nf.format(x))

const PALETTE = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#bab0ac']

export interface ErrorBarPoint { x: number; mean: number | null; lo: number | null; hi: number | null; title?: string }
export interface ErrorBarSeries { name: string; points: ErrorBarPoint[] }

/** Round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / n
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12))
  return out
}

/**
 * An SVG plot of means with 95% CI error bars. `xLabels` makes the x axis categorical (x = index into it);
 * `band` draws a horizontal mean line with its interval shaded (the per-run plot of a scenario without a sweep).
 */
export function errorBarSvg(o: { title: string; xLabel: string; series: ErrorBarSeries[]; xLabels?: string[]; band?: { mean: number | null; lo: number | null; hi: number | null }; width?: number; height?: number }): string {
  const legend = o.series.length > 1 ? o.series.length : 0
  const W = o.width ?? 400, H = (o.height ?? 250) + legend * 13
  const m = { l: 64, r: 12, t: 26 + legend * 13, b: 44 }
  const pts = o.series.flatMap((s) => s.points)
  const ys = [...pts.flatMap((p) => [p.mean, p.lo, p.hi]), o.band?.lo, o.band?.hi, o.band?.mean].filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  const xs = pts.map((p) => p.x)
  let y0 = ys.length ? Math.min(...ys) : 0, y1 = ys.length ? Math.max(...ys) : 1
  if (y1 === y0) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d } else { const pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad }
  let x0 = xs.length ? Math.min(...xs) : 0, x1 = xs.length ? Math.max(...xs) : 1
  if (o.xLabels) { x0 = -0.5; x1 = o.xLabels.length - 0.5 } else if (x1 === x0) { x0 -= 1; x1 += 1 } else { const pad = (x1 - x0) * 0.06; x0 -= pad; x1 += pad }
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r)
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b)
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`)
  parts.push(`<text x="${m.l}" y="16" class="t">${esc(o.title)}</text>`)
  for (const t of ticks(y0, y1)) parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" class="grid"/><text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${esc(fmt(t))}</text>`)
  const xt = o.xLabels ? o.xLabels.map((_, i) => i) : [...new Set(xs)].length <= 8 ? [...new Set(xs)].sort((a, b) => a - b) : ticks(x0, x1)
  for (const t of xt) parts.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${H - m.b}" y2="${H - m.b + 4}" class="axis"/><text x="${sx(t).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle" class="tick">${esc(o.xLabels ? o.xLabels[t]! : fmt(t))}</text>`)
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" class="axis"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" class="axis"/>`)
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle" class="label">${esc(o.xLabel)}</text>`)
  const b = o.band
  if (b && b.mean !== null && Number.isFinite(b.mean)) {
    if (b.lo !== null && b.hi !== null) parts.push(`<rect class="band" x="${m.l}" width="${W - m.l - m.r}" y="${sy(b.hi).toFixed(1)}" height="${Math.max(0, sy(b.lo) - sy(b.hi)).toFixed(1)}"><title>95% CI of the mean: ${esc(fmt(b.lo))} to ${esc(fmt(b.hi))}</title></rect>`)
    parts.push(`<line class="mean" x1="${m.l}" x2="${W - m.r}" y1="${sy(b.mean).toFixed(1)}" y2="${sy(b.mean).toFixed(1)}"><title>mean ${esc(fmt(b.mean))}</title></line>`)
  }
  o.series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length]
    const ok = s.points.filter((p) => p.mean !== null && Number.isFinite(p.mean)).sort((a, z) => a.x - z.x)
    if (ok.length > 1 && !b) parts.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${ok.map((p) => `${sx(p.x).toFixed(1)},${sy(p.mean!).toFixed(1)}`).join(' ')}"/>`)
    for (const p of ok) {
      const x = sx(p.x)
      if (p.lo !== null && p.hi !== null && p.hi > p.lo) {
        parts.push(`<g class="errorbar" stroke="${c}"><line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${sy(p.lo).toFixed(1)}" y2="${sy(p.hi).toFixed(1)}"/><line x1="${(x - 4).toFixed(1)}" x2="${(x + 4).toFixed(1)}" y1="${sy(p.lo).toFixed(1)}" y2="${sy(p.lo).toFixed(1)}"/><line x1="${(x - 4).toFixed(1)}" x2="${(x + 4).toFixed(1)}" y1="${sy(p.hi).toFixed(1)}" y2="${sy(p.hi).toFixed(1)}"/></g>`)
      }
      parts.push(`<circle class="mean-dot" cx="${x.toFixed(1)}" cy="${sy(p.mean!).toFixed(1)}" r="3.2" fill="${c}"><title>${esc(p.title ?? `${s.name}: ${fmt(p.mean)}`)}</title></circle>`)
    }
  })
  if (o.series.length > 1) {
    o.series.forEach((s, i) => parts.push(`<g class="legend"><rect x="${m.l + 6}" y="${22 + i * 13}" width="9" height="9" fill="${PALETTE[i % PALETTE.length]}"/><text x="${m.l + 19}" y="${30 + i * 13}" class="tick">${esc(s.name)}</text></g>`))
  }
  parts.push('</svg>')
  return parts.join('')
}

/** The command that reruns one run of a sweep. */
export const rerunCommand = (file: string | null | undefined, point: number, seed: number) => `souk sim run ${file ?? 'FILE'}${point ? ` --point ${point}` : ''} --seed ${seed}`

const paramText = (p: SweepPoint) => Object.entries(p).map(([k, v]) => `${k}=${String(v)}`).join(', ')

/** How a sweep is plotted: the numeric parameter on the x axis, one series per combination of the others. */
export function plotLayout(points: readonly PointSummary[]): { xKey?: string; xLabels?: string[]; series: { name: string; points: { point: PointSummary; x: number }[] }[] } {
  const keys = Object.keys(points[0]?.params ?? {})
  const xKey = keys.find((k) => points.every((p) => typeof p.params[k] === 'number') && new Set(points.map((p) => p.params[k])).size > 1)
  if (!xKey) {
    return { xLabels: points.map((p) => paramText(p.params) || `point ${p.point}`), series: [{ name: 'mean', points: points.map((p, i) => ({ point: p, x: i })) }] }
  }
  const others = keys.filter((k) => k !== xKey)
  const groups = new Map<string, { point: PointSummary; x: number }[]>()
  for (const p of points) {
    const name = others.map((k) => `${k}=${String(p.params[k])}`).join(', ') || 'mean'
    let g = groups.get(name)
    if (!g) groups.set(name, (g = []))
    g.push({ point: p, x: p.params[xKey] as number })
  }
  return { xKey, series: [...groups.entries()].map(([name, pts]) => ({ name, points: pts })) }
}

export interface SimReportInput {
  scenario: { name: string; description?: string; market?: string; seed?: number; runs?: number; [k: string]: unknown }
  file?: string | null
  results: readonly RunResult[]
  /** Default: computed from `results`. */
  summary?: SweepSummary
}

/** The report page (a string; `writeSimReport` writes it). */
export function renderSimReport(input: SimReportInput): string {
  const { scenario, results } = input
  const summary = input.summary ?? summarizeResults(scenario.name, results)
  const pts = summary.points
  const metrics = [...new Set(pts.flatMap((p) => Object.keys(p.metrics)))].sort()
  const swept = pts.length > 1 || Object.keys(pts[0]?.params ?? {}).length > 0
  const figures: string[] = []
  for (const k of metrics) {
    if (swept) {
      const lay = plotLayout(pts)
      const series = lay.series.map((s) => ({
        name: s.name,
        points: s.points.map(({ point, x }) => {
          const st = point.metrics[k]
          return { x, mean: st?.mean ?? null, lo: st?.ci95[0] ?? null, hi: st?.ci95[1] ?? null, title: `point ${point.point} (${paramText(point.params)}): mean ${fmt(st?.mean)}, 95% CI [${fmt(st?.ci95[0])}, ${fmt(st?.ci95[1])}], n ${st?.n ?? 0}` }
        }),
      }))
      figures.push(`<figure data-metric="${esc(k)}">${errorBarSvg({ title: k, xLabel: lay.xKey ?? 'sweep point', series, xLabels: lay.xLabels })}</figure>`)
    } else {
      const ok = results.filter((r) => !r.error && typeof r.metrics[k] === 'number').sort((a, b) => a.run - b.run)
      const st = pts[0]?.metrics[k]
      figures.push(`<figure data-metric="${esc(k)}">${errorBarSvg({
        title: k, xLabel: 'run', series: [{ name: k, points: ok.map((r) => ({ x: r.run, mean: r.metrics[k]!, lo: null, hi: null, title: `run ${r.run} (seed ${r.seed}): ${fmt(r.metrics[k])}` })) }],
        band: st ? { mean: st.mean, lo: st.ci95[0], hi: st.ci95[1] } : undefined,
      })}</figure>`)
    }
  }
  const paramKeys = Object.keys(pts[0]?.params ?? {})
  const head = `<tr><th>metric</th>${pts.map((p) => `<th>point ${p.point}${paramKeys.length ? `<br><small>${esc(paramText(p.params))}</small>` : ''}<br><small>n ${p.n - p.failed}${p.failed ? `, ${p.failed} failed` : ''}</small></th>`).join('')}</tr>`
  const rows = metrics.map((k) => `<tr><th>${esc(k)}</th>${pts.map((p) => {
    const st = p.metrics[k]
    return st ? `<td title="sd ${esc(fmt(st.sd))}, n ${st.n}">${esc(fmt(st.mean))}<br><small>[${esc(fmt(st.ci95[0]))}, ${esc(fmt(st.ci95[1]))}]</small></td>` : '<td>–</td>'
  }).join('')}</tr>`).join('')
  const runs = [...results].sort((a, b) => a.point - b.point || a.run - b.run)
  const runRows = runs.map((r) => `<tr${r.error ? ' class="bad"' : ''}><td>${r.point}</td><td>${r.run}</td><td><code>${r.seed}</code></td><td><code title="${esc(r.eventLogHash)}">${esc(r.eventLogHash.slice(0, 16))}</code></td><td>${r.events}</td><td>${r.messages}</td><td>${fmt(r.virtualMs)}</td><td>${fmt(r.wallMs)}</td><td>${r.error ? esc(r.error.message) : ''}</td></tr>`).join('')
  const failures = summary.failed.length
    ? `<h2 id="failures">Failed runs (${summary.failed.length})</h2><p>Each reruns alone with the command beside it.</p><table id="failed"><tr><th>point</th><th>params</th><th>run</th><th>seed</th><th>error</th><th>rerun</th></tr>${summary.failed.map((f) => `<tr class="bad"><td>${f.point}</td><td>${esc(paramText(pts.find((p) => p.point === f.point)?.params ?? {}))}</td><td>${f.run}</td><td><code>${f.seed}</code></td><td>${esc(f.error)}</td><td><code>${esc(rerunCommand(input.file, f.point, f.seed))}</code></td></tr>`).join('')}</table>`
    : '<h2 id="failures">Failed runs</h2><p>None.</p>'
  const scenarioYaml = stringify(scenario, { lineWidth: 0 })
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Souk simulation: ${esc(scenario.name)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1300px;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}th{background:#f6f6f6;font-weight:500}tr.bad td{background:#fde8e8}.scroll{overflow-x:auto}.plots{display:flex;flex-wrap:wrap;gap:.5rem}figure{margin:0;border:1px solid #eee}pre{background:#f6f6f6;padding:.5rem;overflow-x:auto}svg text{font:11px system-ui,sans-serif;fill:#333}svg .t{font-weight:600;font-size:12px}svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .errorbar line{stroke-width:1.5}svg .band{fill:#4e79a7;fill-opacity:.15}svg .mean{stroke:#4e79a7;stroke-dasharray:4 3}</style>
</head><body>
<h1>Simulation: ${esc(scenario.name)}</h1>
${scenario.description ? `<p>${esc(String(scenario.description))}</p>` : ''}
<p id="facts">${esc(scenario.market ?? '')} market · ${pts.length} sweep point${pts.length === 1 ? '' : 's'} · ${summary.runs} run${summary.runs === 1 ? '' : 's'} recorded · ${summary.failed.length} failed · root seed <code>${esc(String(scenario.seed ?? ''))}</code>${input.file ? ` · from <code>${esc(input.file)}</code>` : ''}<br>sweep hash <code id="sweep-hash">${summary.sweepHash}</code> (SHA-256 over every run's event-log hash in (point, run) order: the same for any number of workers)</p>
<h2>Metrics</h2><p>${swept ? 'Dots: the mean over a point\'s runs without error; bars: its 95% confidence interval (Student\'s t).' : 'Dots: each run; dashed line: the mean; band: its 95% confidence interval (Student\'s t).'}</p>
<div class="plots">${figures.join('\n')}</div>
<h2>Summary</h2><p>Mean, and [95% CI] below it, per sweep point.</p><div class="scroll"><table id="summary">${head}${rows}</table></div>
${failures}
<h2>Runs and seeds</h2><details><summary>${runs.length} runs (each reruns with its seed)</summary><table id="runs"><tr><th>point</th><th>run</th><th>seed</th><th>event-log hash</th><th>events</th><th>messages</th><th>virtual ms</th><th>wall ms</th><th>error</th></tr>${runRows}</table></details>
<h2>Scenario</h2><pre id="scenario">${esc(scenarioYaml)}</pre>
</body></html>
`
}

/** Reads a sweep's directory (results.jsonl, scenario.json) and writes `report.html` there; returns its path. */
export function writeSimReport(outDir: string): string {
  const scenarioFile = join(outDir, SWEEP_FILES.scenario)
  const resultsFile = join(outDir, SWEEP_FILES.jsonl)
  if (!existsSync(resultsFile) || !existsSync(scenarioFile)) {
    throw new SoukError(`${outDir} holds no sweep results (no ${SWEEP_FILES.jsonl} or ${SWEEP_FILES.scenario})`, { code: 'SIM_NO_RESULTS', hints: ['give the directory `souk sim sweep` wrote (default sim-results/<scenario name>)'] })
  }
  let held: { file?: string | null; scenario: SimReportInput['scenario']; points?: { point: number }[] }
  try { held = JSON.parse(readFileSync(scenarioFile, 'utf8')) } catch (e) {
    throw new SoukError(`Cannot read ${scenarioFile}`, { code: 'SIM_NO_RESULTS', cause: e, hints: ['run the sweep again into this directory'] })
  }
  const wanted = held.points ? new Set(held.points.flatMap((p) => Array.from({ length: held.scenario.runs ?? 1 }, (_, r) => `${p.point}:${r}`))) : undefined
  const results = readResults(resultsFile).filter((r) => !wanted || wanted.has(`${r.point}:${r.run}`))
  const file = join(outDir, SWEEP_FILES.report)
  writeFileSync(file, renderSimReport({ scenario: held.scenario, file: held.file, results }))
  return file
}
