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
