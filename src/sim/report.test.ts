import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseScenario } from './scenario.js'
import { runSweep } from './sweep.js'
import { writeSimReport, renderSimReport, errorBarSvg, plotLayout } from './report.js'
import { runScenarioPoint as fixtureRunner } from './fixtures/runner.js'
import { runSeed } from './types.js'

const text = (sweep: string, runs = 3) => `souk: scenario/1
name: report-test
description: a <b>test</b> & more
market: cdn
seed: 9
runs: ${runs}
durationMs: 60000
peers:
  - { name: publisher, role: publisher }
  - { name: cache, role: cache, count: 2 }
  - { name: client, role: client, count: 4 }
${sweep}`

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length

test('a sweep report: one error-bar plot per metric against the swept parameter, the summary, seeds and failures; self-contained', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-report-'))
  const scenario = parseScenario(text('sweep:\n  cartesian: { "network.jitterMs": [0, 5, 10], "peers.cache.count": [1, 2] }\n'), 'scenarios/report-test.yaml')
  await runSweep({ scenario, file: 'scenarios/report-test.yaml', outDir: dir, workers: 0, runner: async (s, j) => (j.point === 4 && j.run === 0 ? (() => { throw new Error('boom') })() : fixtureRunner(s, j)) })
  const file = writeSimReport(dir)
  assert.equal(file, join(dir, 'report.html'))
  const html = readFileSync(file, 'utf8')
  for (const m of ['delivered', 'late', 'profit']) assert.ok(html.includes(`<figure data-metric="${m}">`), m)
  const profit = html.slice(html.indexOf('<figure data-metric="profit">'), html.indexOf('</figure>', html.indexOf('<figure data-metric="profit">')))
  assert.equal(count(profit, /class="mean-dot"/g), 6, 'one mean per point')
  assert.equal(count(profit, /class="errorbar"/g), 6, 'one 95% CI bar per point')
  assert.ok(profit.includes('network.jitterMs'), 'x axis: the numeric parameter')
  assert.ok(profit.includes('peers.cache.count=1') && profit.includes('peers.cache.count=2'), 'one series per value of the other parameter')
  assert.ok(html.includes('<table id="summary">'))
  assert.equal(count(html.slice(html.indexOf('<table id="summary">')), /<th>point \d/g), 6)
  const failed = html.slice(html.indexOf('<table id="failed">'), html.indexOf('</table>', html.indexOf('<table id="failed">')))
  assert.ok(failed.includes(`<code>${runSeed(9, 4, 0)}</code>`), 'the failed run with its seed')
  assert.ok(failed.includes('boom (rerun: souk sim run FILE --point 4 --seed'))
  assert.ok(failed.includes(`souk sim run scenarios/report-test.yaml --point 4 --seed ${runSeed(9, 4, 0)}`))
  assert.equal(count(html.slice(html.indexOf('<table id="runs">')), /<tr[ >]/g) - 1, 18, 'every run with its seed')
  assert.ok(html.includes('a &lt;b&gt;test&lt;/b&gt; &amp; more'), 'escaped')
  assert.ok(html.includes('<pre id="scenario">') && html.includes('name: report-test'))
  // Offline: nothing fetched, no script at all.
  assert.doesNotMatch(html, /<script|<link|src="|href="http|url\(/i)
})

test('without a sweep: every run plotted with the mean and its interval', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-report-'))
  await runSweep({ scenario: parseScenario(text('', 5)), outDir: dir, workers: 0, runner: fixtureRunner as never })
  const html = readFileSync(writeSimReport(dir), 'utf8')
  const profit = html.slice(html.indexOf('<figure data-metric="profit">'))
  assert.equal(count(profit.slice(0, profit.indexOf('</figure>')), /class="mean-dot"/g), 5, 'one dot per run')
  assert.match(profit, /class="band"/)
  assert.match(profit, /class="mean"/)
  assert.ok(html.includes('1 sweep point · 5 runs recorded · 0 failed'))
})

test('a directory without results is a clear error', () => {
  assert.throws(() => writeSimReport(mkdtempSync(join(tmpdir(), 'souk-report-'))), /holds no sweep results/)
})

test('plot layout: a categorical axis when no parameter is numeric; error bars scale', () => {
  const p = (point: number, params: Record<string, string | number>) => ({ point, params, n: 1, failed: 0, metrics: {} })
  const cat = plotLayout([p(0, { scheme: 'lottery' }), p(1, { scheme: 'channel' })])
  assert.deepEqual(cat.xLabels, ['scheme=lottery', 'scheme=channel'])
  const num = plotLayout([p(0, { a: 1, b: 'x' }), p(1, { a: 2, b: 'x' }), p(2, { a: 1, b: 'y' }), p(3, { a: 2, b: 'y' })])
  assert.equal(num.xKey, 'a')
  assert.deepEqual(num.series.map((s) => s.name), ['b=x', 'b=y'])
  const svg = errorBarSvg({ title: 't', xLabel: 'x', series: [{ name: 's', points: [{ x: 0, mean: 1, lo: 0, hi: 2 }, { x: 1, mean: null, lo: null, hi: null }] }] })
  assert.equal(count(svg, /class="errorbar"/g), 1)
  assert.ok(svg.startsWith('<svg') && svg.endsWith('</svg>'))
  assert.ok(renderSimReport({ scenario: { name: 'empty' }, results: [] }).includes('0 runs recorded'))
})
