import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parseThreatModel } from './load.js'
import { checkAnalysis, riskAbove, type Demonstration } from './check.js'

const TOY = readFileSync(new URL('./fixtures/toy.yaml', import.meta.url), 'utf8')

test('riskAbove orders low < medium < high', () => {
  assert.deepEqual((['low', 'medium', 'high'] as const).map((r) => riskAbove(r, 'medium')), [false, false, true])
  assert.deepEqual((['low', 'medium', 'high'] as const).map((r) => riskAbove(r, 'low')), [false, true, true])
  assert.equal(riskAbove('high', 'high'), false)
})

test('checkAnalysis: maxRisk fails accepted cases above it, and mitigations naming the same test share one run', async () => {
  const high = TOY.replace('    risk: low\n', '    risk: high\n')
  const a = parseThreatModel(high, 'high.yaml').analysis
  assert.equal((await checkAnalysis(a)).ok, true)
  const r = await checkAnalysis(a, { maxRisk: 'medium' })
  assert.equal(r.ok, false)
  assert.deepEqual(r.overRisk.map((c) => c.id), ['dos:server->client'])
  assert.deepEqual((await checkAnalysis(a, { maxRisk: 'high' })).overRisk, [])
  // Both of the toy's mitigations pointed at one test: it runs once, and both record its result.
  const same = parseThreatModel(TOY.replace('fail.demo.ts', 'pass.demo.ts'), 'same.yaml').analysis
  const calls: Demonstration[] = []
  const res = await checkAnalysis(same, { run: async (d) => { calls.push(d); return { ok: true, output: '' } } })
  assert.equal(calls.length, 1)
  assert.deepEqual(res.ran.map((x) => x.mitigation).sort(), ['limits', 'sigs'])
})

test('checkAnalysis: a mitigated case whose scenario shows the attack paying is open; each scenario is simulated once', async () => {
  const withScenario = TOY.replace('    status: mitigated\n    mitigations: [limits]\n', '    status: mitigated\n    mitigations: [limits]\n    scenario: scenarios/flood.yaml\n')
    .replace('    status: mitigated\n    mitigations: [sigs]\n', '    status: mitigated\n    mitigations: [sigs]\n    scenario: scenarios/flood.yaml\n')
  const a = parseThreatModel(withScenario, 'sim.yaml').analysis
  const asked: string[] = []
  const pays = await checkAnalysis(a, { simulate: async (s) => { asked.push(s); return { profitable: true, runs: 5, summary: 'profit 3 [1, 5]' } } })
  assert.deepEqual(asked, ['scenarios/flood.yaml'])
  assert.equal(pays.ok, false)
  assert.ok(pays.profitable.length >= 2 && pays.profitable.every((c) => c.scenario === 'scenarios/flood.yaml'))
  assert.equal(pays.simulated[0].cases.length, pays.profitable.length)
  const holds = await checkAnalysis(a, { simulate: async () => ({ profitable: false, runs: 5, summary: 'profit 0 [0, 0]' }) })
  assert.equal(holds.ok, true)
  assert.deepEqual(holds.profitable, [])
})
