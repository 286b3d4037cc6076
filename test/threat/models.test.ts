// The shipped threat models (models/*.yaml): each loads and analyses, `souk threat check` passes (no open case),
// and every demonstration names an existing test file and a title in it. Static and fast: the demonstrations are
// tests of the regular suite already; `souk threat check <model> --run` runs them (docs/threat.md).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadThreatModel } from '../../src/threat/load.js'
import { checkAnalysis } from '../../src/threat/check.js'

const root = new URL('../..', import.meta.url).pathname
const models = readdirSync(join(root, 'models')).filter((f) => f.endsWith('.yaml')).sort().map((f) => `models/${f}`)

/** Titles of `test(...)`, `it(...)` and `describe(...)` calls in a test file (string literals and template heads). */
export function testTitles(source: string): string[] {
  const out: string[] = []
  const re = /\b(?:test|it|describe)(?:\.(?:only|skip|todo))?\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g
  for (const m of source.matchAll(re)) out.push(m[2].replace(/\\(['"`\\])/g, '$1'))
  return out
}

test('the shipped models are cdn, compute and storage', () => {
  assert.deepEqual(models, ['models/cdn.yaml', 'models/compute.yaml', 'models/storage.yaml'])
})

for (const file of models) {
  test(`${file}: loads, analyses, and check passes with no open case`, async () => {
    const { analysis } = loadThreatModel(join(root, file))
    assert.ok(analysis.cases.length > 0)
    const r = await checkAnalysis(analysis)
    assert.deepEqual(r.open.map((c) => c.id), [], 'open cases')
    assert.equal(r.ok, true)
    for (const c of analysis.cases) {
      if (c.status === 'mitigated') assert.ok((c.mitigations ?? []).length > 0, `${c.id}: mitigated by nothing`)
    }
  })

  test(`${file}: every demonstration names an existing test file and a test title in it`, () => {
    const { model, analysis } = loadThreatModel(join(root, file))
    const used = new Set(analysis.cases.filter((c) => c.status === 'mitigated').flatMap((c) => c.mitigations ?? []))
    for (const m of model.mitigations) {
      const d = m.demonstration
      if (!d) continue
      const path = join(root, d.test)
      assert.ok(existsSync(path), `${m.id}: ${d.test} does not exist`)
      assert.match(d.test, /\.test\.ts$/, `${m.id}: ${d.test} is not part of the test suite`)
      assert.ok(d.name, `${m.id}: name the test, not the whole file`)
      const titles = testTitles(readFileSync(path, 'utf8'))
      const hits = titles.filter((t) => t.includes(d.name!))
      assert.ok(hits.length > 0, `${m.id}: no test title in ${d.test} contains ${JSON.stringify(d.name)}`)
    }
    // A mitigation relied on by a mitigated case either has a demonstration or says why not.
    for (const m of model.mitigations) {
      if (!used.has(m.id) || m.demonstration) continue
      assert.ok(m.description, `${m.id} is used by a mitigated case without a demonstration or a description saying why`)
    }
  })

  test(`${file}: a mitigation marked planned is not what a mitigated case relies on`, () => {
    const { model, analysis } = loadThreatModel(join(root, file))
    const planned = new Set(model.mitigations.filter((m) => /\bplanned\b/i.test(`${m.mechanism ?? ''}`)).map((m) => m.id))
    for (const c of analysis.cases) {
      if (c.status !== 'mitigated') continue
      const bad = (c.mitigations ?? []).filter((id) => planned.has(id))
      assert.deepEqual(bad, [], `${c.id} is mitigated by planned (unbuilt) mechanisms`)
    }
  })
}

for (const file of models) {
  test(`${file}: has an external attacker role and an assumptions section; accepted cases state cost and gain`, () => {
    const { model, analysis } = loadThreatModel(join(root, file))
    assert.ok(model.roles.some((r) => r.external && r.attacker), 'no external attacker role')
    assert.ok(model.assumptions.length > 0, 'no assumptions')
    for (const c of analysis.cases.filter((x) => x.status === 'accepted')) {
      assert.ok(c.cost && c.gain && Number.isFinite(c.cost.amount) && Number.isFinite(c.gain.amount), `${c.id}: accepted without cost and gain`)
    }
  })
}

test('models/cdn.yaml: every mitigated case relies on a mitigation with a demonstration', () => {
  const { model, analysis } = loadThreatModel(join(root, 'models/cdn.yaml'))
  const demo = new Set(model.mitigations.filter((m) => m.demonstration).map((m) => m.id))
  for (const c of analysis.cases.filter((x) => x.status === 'mitigated')) {
    assert.ok((c.mitigations ?? []).some((m) => demo.has(m)), `${c.id}: no mitigation with a demonstration`)
  }
})

test('models/cdn.yaml: the threats of issue 8 are cases with the stated status', () => {
  const { analysis } = loadThreatModel(join(root, 'models/cdn.yaml'))
  const byId = new Map(analysis.cases.map((c) => [c.id, c]))
  const expect: [string, string, string?][] = [
    ['draw-bias:miner->cache', 'accepted'],
    ['draw-bias:miner->publisher', 'not-applicable'],
    ['reorg:miner->cache', 'accepted'],
    ['reorg:miner+publisher->cache', 'accepted'],
    ['key-theft:stranger->cache', 'accepted'],
    ['key-theft:stranger->publisher', 'accepted'],
    ['viewing-privacy:cache->client', 'accepted'],
    ['viewing-privacy:publisher->client', 'accepted'],
    ['viewing-privacy:stranger->client', 'accepted'],
    // publisher + cache against honest caches
    ['double-spend:cache+publisher->cache', 'mitigated', 'victims-only-penalty'],
    ['non-payment:cache+publisher->cache', 'mitigated'],
    ['pool-drain:cache+publisher->cache', 'accepted'],
    // the external attacker replaying or front-running revealed calldata
    ['front-run:stranger->cache', 'mitigated', 'recipient-only-redeem'],
    ['ticket-theft:stranger->cache', 'mitigated', 'recipient-only-redeem'],
    // a sender voiding winners (attack 1) and a sponsor's own servers (attack 3)
    ['front-run:publisher->cache', 'mitigated', 'replay-protection'],
    ['non-payment:client->cache', 'mitigated', 'replay-protection'],
    ['accounting:cache+client->publisher', 'accepted'],
  ]
  for (const [id, status, mitigation] of expect) {
    const c = byId.get(id)
    assert.ok(c, `missing case ${id}`)
    assert.equal(c.status, status, id)
    if (mitigation) assert.ok(c.mitigations!.includes(mitigation), `${id} is not mitigated by ${mitigation}`)
  }
  // The CAPnet residual: at the figures of its scenario (scenarios/cdn-attack.yaml: m = 1 of n = 4, d = servePerChunk
  // = price / 4) it pays, by m × price − (n − m) × d = 0.25 price per request, as the simulator measures (the
  // economics table: profit above zero); the reason says when it pays.
  const pair = byId.get('accounting:cache+client->publisher')!
  assert.equal(pair.gain!.unit, pair.cost!.unit)
  assert.equal(pair.gain!.amount - pair.cost!.amount, 0.25)
  assert.equal(pair.scenario, 'scenarios/cdn-attack.yaml')
  assert.match(pair.reason!, /m × price > \(n − m\) × d/)
})

test('testTitles reads quoted and template titles', () => {
  assert.deepEqual(testTitles("test('a (b)', () => {})\ndescribe(\"c\", () => { it(`d ${x}`, () => {}) })\ntest('e\\'s', fn)"), ['a (b)', 'c', 'd ${x}', "e's"])
})
