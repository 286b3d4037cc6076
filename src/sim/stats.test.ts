import { test } from 'node:test'
import assert from 'node:assert/strict'
import { describe, tQuantile975, summarize, summarizeResults } from './stats.js'
import type { RunResult } from './types.js'

const close = (a: number, b: number, eps: number, what: string) => assert.ok(Math.abs(a - b) <= eps, `${what}: ${a} vs ${b}`)

test("Student's t quantiles: the table, the expansion beyond it, the normal limit", () => {
  close(tQuantile975(1), 12.7062, 1e-4, 'df 1')
  close(tQuantile975(4), 2.7764, 1e-4, 'df 4')
  close(tQuantile975(9), 2.2622, 1e-4, 'df 9')
  close(tQuantile975(30), 2.0423, 1e-4, 'df 30')
  // Published values (e.g. NIST/SEMATECH e-Handbook table 1.3.6.7.2).
  close(tQuantile975(31), 2.0395, 5e-4, 'df 31')
  close(tQuantile975(40), 2.0211, 5e-4, 'df 40')
  close(tQuantile975(60), 2.0003, 5e-4, 'df 60')
  close(tQuantile975(100), 1.9840, 5e-4, 'df 100')
  close(tQuantile975(1e9), 1.96, 1e-3, 'normal limit')
  assert.ok(Number.isNaN(tQuantile975(0)))
  for (let df = 1; df < 200; df++) assert.ok(tQuantile975(df + 1) < tQuantile975(df), `decreasing at ${df}`)
})

test('mean, sample sd and the 95% CI against worked values', () => {
  const d = describe([2, 4, 4, 4, 5, 5, 7, 9])
  assert.equal(d.n, 8)
  assert.equal(d.mean, 5)
  close(d.sd, Math.sqrt(32 / 7), 1e-12, 'sd')
  // mean ± t(7) · s / √8 = 5 ± 2.3646 · 2.13809 / 2.82843
  close(d.ci95[0], 3.21252, 1e-4, 'low')
  close(d.ci95[1], 6.78748, 1e-4, 'high')
  // Five runs: 10, 12, 9, 11, 13 → mean 11, s = √2.5, half-width 2.7764 · 1.58114 / √5 = 1.96324.
  const f = describe([10, 12, 9, 11, 13])
  close(f.ci95[1] - f.mean, 1.96324, 1e-4, 'half-width n=5')
  // Large n: the half-width tends to 1.96 σ/√n.
  const big = describe(Array.from({ length: 10_000 }, (_, i) => (i % 2 ? 1 : -1)))
  close(big.ci95[1], 1.96 * big.sd / 100, 1e-4, 'normal CI')
})

test('degenerate columns: none, one value, constant, non-finite values ignored', () => {
  assert.deepEqual(summarize([]), { n: 0, mean: null, sd: null, ci95: [null, null] })
  assert.deepEqual(summarize([3]), { n: 1, mean: 3, sd: null, ci95: [3, 3] })
  assert.deepEqual(summarize([2, 2, 2]), { n: 3, mean: 2, sd: 0, ci95: [2, 2] })
  assert.deepEqual(summarize([1, NaN, 3, Infinity]), summarize([1, 3]))
})

const result = (point: number, run: number, m: Record<string, number>, error?: string): RunResult => ({
  scenario: 's', point, params: { x: point }, run, seed: point * 100 + run, eventLogHash: `h${point}.${run}`, events: 1, messages: 1, virtualMs: 1, wallMs: Math.random() * 100, metrics: m,
  ...(error ? { error: { message: error } } : {}),
})

test('summary per point and metric, failures apart, independent of completion order', () => {
  const rs = [result(0, 0, { a: 1, b: 10 }), result(0, 1, { a: 3 }), result(1, 0, { a: 5 }), result(1, 1, {}, 'boom'), result(1, 2, { a: 7 })]
  const s = summarizeResults('s', rs)
  assert.equal(s.runs, 5)
  assert.deepEqual(s.points.map((p) => [p.point, p.n, p.failed]), [[0, 2, 0], [1, 3, 1]])
  assert.equal(s.points[0]!.metrics.a!.mean, 2)
  assert.equal(s.points[0]!.metrics.b!.n, 1)
  assert.equal(s.points[1]!.metrics.a!.mean, 6)
  assert.deepEqual(s.failed, [{ point: 1, run: 1, seed: 101, error: 'boom' }])
  const shuffled = summarizeResults('s', [rs[3]!, rs[0]!, rs[4]!, rs[2]!, rs[1]!])
  assert.deepEqual(shuffled, s)
  assert.match(s.sweepHash, /^[0-9a-f]{64}$/)
  assert.notEqual(summarizeResults('s', rs.slice(1)).sweepHash, s.sweepHash)
})
