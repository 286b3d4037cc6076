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

test('testTitles reads quoted and template titles', () => {
  assert.deepEqual(testTitles("test('a (b)', () => {})\ndescribe(\"c\", () => { it(`d ${x}`, () => {}) })\ntest('e\\'s', fn)"), ['a (b)', 'c', 'd ${x}', "e's"])
})
