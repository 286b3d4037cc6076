// The swarm model's participation, supply side and verdict (issue 14).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { participantOffload, swarmOffload, assessViability, peerSupply, swarmVerdict } from './model.js'
import { parseViabilityInputs, withInput } from './schema.js'
import { PRESETS } from './presets.js'
import { simulateSwarm, simulateViability, summarizeCheck, monteCarloVerdictText } from './montecarlo.js'
import { buildViabilityReport, renderViabilityTable, renderViabilityHtml } from './report.js'

const bbc = parseViabilityInputs(PRESETS['bbc-iplayer'].inputs)
const close = (a: number, b: number, eps: number, msg?: string) => assert.ok(Math.abs(a - b) <= eps, `${msg ?? ''} ${a} vs ${b}`)

test('participantOffload: G(L) at full participation and r >= 1; E[min((M-1)+, rM)]/L by hand for r = 1/2', () => {
  for (const L of [0.01, 0.5, 1, 3, 10, 300]) close(participantOffload(L, 1, 1.5), swarmOffload(L), 1e-12, `L=${L}`)
  // r = 1/2: min((M-1)+, M/2) is 0 at M = 1 and M/2 from M = 2 on: E = μ/2 − P(M=1)/2 = μ(1 − e^−μ)/2.
  const mu = 2 * 0.6
  close(participantOffload(2, 0.6, 0.5), (mu * (1 - Math.exp(-mu))) / 2 / 2, 1e-12)
  assert.equal(participantOffload(5, 0, 2), 0)
  assert.equal(participantOffload(5, 0.5, 0), 0)
  assert.equal(participantOffload(0, 1, 1), 0)
})

test('property: offload falls as participation falls below 1, strictly (no threshold), for any swarm and upload', () => {
  fc.assert(fc.property(
    fc.double({ min: 0.05, max: 2000, noNaN: true }), fc.double({ min: 0.1, max: 4, noNaN: true }),
    fc.double({ min: 0.02, max: 0.99, noNaN: true }), fc.double({ min: 0.001, max: 0.2, noNaN: true }),
    (L, r, q, dq) => {
      const hi = Math.min(1, q + dq)
      const a = participantOffload(L, q, r), b = participantOffload(L, hi, r)
      return a < b // strictly: every step down in participation costs offload
    }), { numRuns: 500 })
})

test('BBC at participation 0.75 loses offload against 1, and the loss grows smoothly as participation falls', () => {
  const at = (q: number) => assessViability(withInput(bbc, 'supply.participation', q), { byRank: false }).offload
  const full = at(1), three = at(0.75)
  close(full, 0.795, 0.001)
  assert.ok(three < full - 0.15, `0.75 gives ${three}, 1 gives ${full}`) // 57.4% vs 79.5%: not the old flat 79.5%
  // Not a step function: equal steps in q give steps of similar size, all of them non-zero.
  const qs = [1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7]
  const steps = qs.slice(1).map((q, i) => at(qs[i]) - at(q))
  for (const s of steps) assert.ok(s > 0.02 && s < 0.06, `step ${s}`)
})

test('Monte Carlo agrees with the participation closed form (q = 0.6, r = 0.5 and q = 0.75, r = 4/3)', () => {
  for (const [q, r, seed] of [[0.6, 0.5, 21], [0.75, 4 / 3, 22]]) {
    const s = simulateSwarm({ arrivalRatePerSec: 0.25, watchTimeSec: 20, horizonSec: 400_000, seed, participation: q, uploadRatio: r })
    close(s.closedForm, participantOffload(5, q, r), 1e-12)
    assert.ok(s.ci99[0] <= s.closedForm && s.closedForm <= s.ci99[1], `q=${q}: ${s.closedForm} outside [${s.ci99}]`)
  }
})

test('supply side by hand: offload 0.5 at bitrate 2, q = 0.5, 10 h a month, 1 MB chunks at $0.0001', () => {
  const i = parseViabilityInputs({
    ...bbc,
    demand: { ...bbc.demand, bitrateMbps: 2, arrivalRatePerSec: 1, watchTimeSec: 100 },
    supply: { ...bbc.supply, participation: 0.5, uploadMbps: 4 },
    costs: { ...bbc.costs, chunkSizeMB: 1, pricePerChunk: 0.0001, peerCostPerGB: 0.01 },
    peer: { viewingHoursPerMonth: 10, extraWatts: 10, electricityPerKWh: 0.2, hardwareUsdPerMonth: 0.05 },
  })
  const s = peerSupply(i, 0.5)
  close(s.uploadMbps, 2, 1e-12) // 0.5 x 2 Mbit/s / 0.5
  close(s.uploadShare, 0.5, 1e-12) // of 4 offered
  close(s.gbPerMonth, 9, 1e-12) // 2 Mbit/s x 36,000 s / 8,000
  close(s.earningsPerMonth, 0.9, 1e-12) // 9 GB x 1000 chunks x $0.0001
  close(s.costsPerMonth.bandwidth, 0.09, 1e-12)
  close(s.costsPerMonth.electricity, 0.02, 1e-12) // 10 W x 10 h = 0.1 kWh x $0.2
  close(s.costsPerMonth.total, 0.16, 1e-12)
  close(s.profitPerMonth, 0.74, 1e-12)
  close(s.participantsOnline, 50, 1e-12) // 0.5 x 1/s x 100 s
})

test('verdict: storage retrieval fails on offload (too low), and names it', () => {
  const r = assessViability(parseViabilityInputs(PRESETS['storage-retrieval'].inputs))
  assert.equal(r.viable, false)
  assert.ok(r.verdict.failed.includes('offload'))
  assert.ok(r.priceInBounds) // the old price-bounds test alone would have called it viable
  assert.match(r.verdict.text, /^NOT VIABLE \(offload.*offload too low: peers carry 5\.\d% of the traffic, below the 20\.0% target/)
})

test('verdict: peers that earn less than their costs fail peer-earnings, with the costs itemized', () => {
  const r = assessViability(withInput(bbc, 'peer.hardwareUsdPerMonth', 0.5))
  assert.deepEqual(r.verdict.failed, ['peer-earnings'])
  assert.match(r.verdict.text, /peers earn less than their costs: \$0\.0201 a month for 2\.01 GB uploaded against \$0\.5096 \(bandwidth \$0\.0040, electricity \$0\.0056, hardware \$0\.5000\)/)
  const v = swarmVerdict({ offload: 0.5, savings: 0.2, supply: { ...r.supply, earningsPerMonth: 1, costsPerMonth: { bandwidth: 0, electricity: 0, hardware: 0.9, total: 0.9 }, profitPerMonth: 0.1 } }, { ...bbc.targets, minPeerProfitPerMonth: 0.5 })
  assert.deepEqual(v.failed, ['peer-earnings']) // earns more than its costs, but less profit than the target
  assert.equal(assessViability(bbc).verdict.viable, true)
  assert.deepEqual(assessViability(withInput(bbc, 'costs.pricePerChunk', 0.001)).verdict.failed, ['savings'])
})

test('labels: a report without a published figure shows none, in the table and the page', () => {
  const custom = buildViabilityReport(withInput(bbc, 'supply.participation', 0.5), { title: 'Custom inputs (based on the bbc-iplayer preset)' })
  assert.doesNotMatch(renderViabilityTable(custom), /reported|published|88/)
  const html = renderViabilityHtml(custom, { d3: '', plot: '' })
  assert.doesNotMatch(html, /reported \(published\)|the published figure/)
  assert.match(html, /"reportedOffload":null/)
  const preset = buildViabilityReport(bbc, { title: 'BBC', reportedOffload: 0.88 })
  assert.match(renderViabilityTable(preset), /reported \(published\)\s+88\.0%/)
})

test('Monte Carlo over uncertain inputs: seeded, a share viable with its interval, failures by test, a verdict sentence', () => {
  const a = simulateViability(bbc, { draws: 200, seed: 3 }), b = simulateViability(bbc, { draws: 200, seed: 3 })
  assert.deepEqual(a.viable, b.viable)
  assert.equal(a.points.length, 200)
  assert.equal(a.viable.hits, a.points.filter((p) => p.viable).length)
  assert.ok(a.viable.ci95[0] <= a.viable.estimate && a.viable.estimate <= a.viable.ci95[1])
  assert.ok(a.offload.p05 <= a.offload.p50 && a.offload.p50 <= a.offload.p95)
  assert.match(a.text, /^Viable in \d+\.\d% of 200 draws \(95% CI [\d.]+%-[\d.]+%\): /)
  const sr = simulateViability(parseViabilityInputs(PRESETS['storage-retrieval'].inputs), { draws: 20, seed: 1 })
  assert.equal(sr.viable.hits, 0)
  assert.match(sr.text, /not viable in almost any plausible world; when it fails, offload fails most \(20 draws\)/)
  assert.match(monteCarloVerdictText({ draws: 100, viable: { hits: 95, trials: 100, estimate: 0.95, ci95: [0.89, 0.98] }, failedBy: { offload: 5, savings: 0, 'peer-earnings': 0 } }), /robust/)
  assert.throws(() => simulateViability(bbc, { draws: 1, seed: 1, uncertainty: [{ input: 'demand.nope', low: 1, high: 2, why: '' }] }), /Unknown viability input "demand.nope"/)
})

test('check summary: the closed form inside the intervals reads as agreement; a model 5% off does not', () => {
  const rows = [0.5, 1, 3].map((L, i) => simulateSwarm({ arrivalRatePerSec: L / 20, watchTimeSec: 20, horizonSec: 400_000, seed: 40 + i }))
  const ok = summarizeCheck(rows)
  assert.equal(ok.items, 3)
  assert.ok(ok.agrees, ok.text)
  assert.match(ok.text, /^The simulation agrees with the closed form/)
  const off = summarizeCheck(rows.map((r) => ({ ...r, closedForm: r.closedForm * 1.05 })))
  assert.equal(off.agrees, false)
  assert.match(off.text, /DISAGREES/)
})

test('old inputs without peer and targets still parse, with the stated defaults', () => {
  const { peer: _p, targets: _t, ...old } = bbc
  const i = parseViabilityInputs(old)
  assert.deepEqual(i.targets, { minOffload: 0.2, minSavings: 0.1, minPeerProfitPerMonth: 0 })
  assert.equal(i.peer.viewingHoursPerMonth, 20)
  assert.throws(() => parseViabilityInputs({ ...bbc, targets: { ...bbc.targets, minOffload: 2 } }), /targets\.minOffload = 2/)
})
