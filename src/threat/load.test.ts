import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parseThreatModel, loadThreatModel } from './load.js'
import { ThreatModelError } from './errors.js'
import { threatModelJsonSchema } from './schema.js'

const TOY = readFileSync(new URL('./fixtures/toy.yaml', import.meta.url), 'utf8')
const issuesOf = (text: string) => {
  try { parseThreatModel(text, 'm.yaml') } catch (e) {
    assert.ok(e instanceof ThreatModelError, String(e))
    return e.issues
  }
  assert.fail('expected the model to be rejected')
}
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1

test('the fixture model loads and has hand-countable cases', () => {
  const { analysis } = parseThreatModel(TOY, 'toy.yaml')
  assert.deepEqual(analysis.cases.map((c) => `${c.id}=${c.status}`), ['dos:client->client=mitigated', 'dos:client->server=mitigated', 'dos:server->client=accepted', 'theft:client->coin=mitigated'])
})

test('unknown role: rejected with file, line and a fix', () => {
  const bad = TOY.replace('coalition: [client]', 'coalition: [clinet]')
  const [i] = issuesOf(bad)
  assert.equal(i.line, lineOf(bad, '[clinet]'))
  assert.match(i.message, /unknown role "clinet"/)
  assert.match(i.hint!, /client, server/)
})

test('dangling mitigation reference: rejected at its line', () => {
  const bad = TOY.replace('mitigations: [sigs]', 'mitigations: [signatures]')
  const [i] = issuesOf(bad)
  assert.equal(i.line, lineOf(bad, '[signatures]'))
  assert.match(i.message, /unknown mitigation "signatures"/)
})

test('dependency cycle: rejected with the cycle spelled out', () => {
  const bad = TOY.replace('    class: systems\n', '    class: systems\n    dependsOn: [sigs]\n').replace('    class: cryptographic\n', '    class: cryptographic\n    dependsOn: [limits]\n')
  const is = issuesOf(bad)
  assert.equal(is.length, 1)
  assert.match(is[0].message, /dependency cycle: (limits -> sigs -> limits|sigs -> limits -> sigs)/)
  assert.ok(is[0].line! > 0)
})

test('bad value, unknown key and YAML syntax: each with its line', () => {
  const v = TOY.replace('maxCoalitionSize: 2', 'maxCoalitionSize: 9')
  assert.equal(issuesOf(v)[0].line, lineOf(v, 'maxCoalitionSize'))
  const k = TOY.replace('    many: true', '    many: true\n    mnay: true')
  const ki = issuesOf(k)[0]
  assert.equal(ki.line, lineOf(k, 'mnay'))
  assert.match(ki.message, /unknown key "mnay"/)
  const s = TOY.replace('name: toy', 'name: toy\nname: again')
  assert.match(issuesOf(s)[0].message, /YAML/)
  const st = TOY.replace('status: accepted', 'status: fixed')
  assert.equal(issuesOf(st)[0].line, lineOf(st, 'status: fixed'))
})

test('an empty, non-mapping or foreign file says what it is, not what a field lacks', () => {
  assert.match(issuesOf('')[0].message, /the file is empty/)
  assert.match(issuesOf('# only a comment\n')[0].message, /the file is empty/)
  assert.match(issuesOf('- a\n- b\n')[0].message, /the top level is a list, not a mapping/)
  assert.match(issuesOf('hello\n')[0].message, /the top level is a string \("hello"\)/)
  assert.match(issuesOf('name: x\nroles: []\n')[0].message, /not a Souk threat model: the `souk:` marker is missing/)
  const v = issuesOf(TOY.replace('threat-model/1', 'threat-model/2'))
  assert.equal(v.length, 1)
  assert.match(v[0].message, /unsupported format "threat-model\/2"/)
  for (const text of ['', '- a\n']) assert.match(issuesOf(text)[0].hint!, /souk: threat-model\/1/)
})

test('a field of the wrong type is named as such, not as missing', () => {
  const bad = TOY.replace('roles:\n  - id: client\n    many: true\n  - id: server\n', 'roles: 5\n')
  const [i] = issuesOf(bad)
  assert.deepEqual(i.path, ['roles'])
  assert.equal(i.message, 'expected array, got a number (5)')
  const missing = issuesOf(TOY.replace('name: toy\n', ''))
  assert.match(missing[0].message, /missing required field "name"/)
})

test('the error message names the file and line for a person', () => {
  const bad = TOY.replace('owner: server\n    categories:\n      - id: dos', 'owner: svr\n    categories:\n      - id: dos')
  assert.throws(() => parseThreatModel(bad, 'models/x.yaml'), (e: Error) => e.message.includes(`models/x.yaml:${lineOf(bad, 'owner: svr')}:`) && e.message.includes('fix: declare it under `roles:`'))
})

test('the published JSON Schema is the one generated from the zod schema', () => {
  const published = JSON.parse(readFileSync(new URL('../../schemas/threat-model.schema.json', import.meta.url), 'utf8'))
  assert.deepEqual(published, JSON.parse(JSON.stringify(threatModelJsonSchema())), 'regenerate: npm run souk -- threat schema > schemas/threat-model.schema.json')
})

test('shipped models load with no open case; cdn covers the required threats and links each to a mechanism', () => {
  for (const m of ['cdn', 'storage', 'compute']) {
    const { analysis } = loadThreatModel(new URL(`../../models/${m}.yaml`, import.meta.url).pathname)
    assert.equal(analysis.counts.open, 0, m)
    assert.ok(analysis.counts.pruned > 0, m)
    // Every merge joins two cells that state the same effect.
    for (const mx of analysis.matrices) for (const c of mx.cells.filter((x) => x.fate === 'merged')) {
      const into = mx.cells.find((x) => x.id === c.mergedInto)!
      assert.ok(c.effect && c.effect === into.effect, `${m}: ${c.id} merged into ${into.id} without the same stated effect`)
    }
  }
  const { analysis } = loadThreatModel(new URL('../../models/cdn.yaml', import.meta.url).pathname)
  const byId = new Map(analysis.cases.map((c) => [c.id, c]))
  const mech = new Map(analysis.model.mitigations.map((m) => [m.id, m]))
  const required = ['accounting:cache->publisher', 'non-payment:publisher->cache', 'non-payment:client->cache', 'slacking:cache->publisher',
    'double-spend:publisher->cache', 'double-spend:client->cache', 'double-spend:cache+publisher->cache', 'front-run:publisher->cache',
    'front-run:miner->cache', 'front-run:stranger->cache']
  for (const id of required) {
    const c = byId.get(id)
    assert.ok(c, `missing case ${id}`)
    assert.equal(c.status, 'mitigated', id)
    for (const m of c.mitigations!) assert.ok(mech.get(m)?.mechanism, `${id}: mitigation ${m} names no Souk mechanism`)
  }
  assert.ok(byId.get('accounting:cache->publisher')!.mitigations!.includes('capnet-puzzle'))
  // The colluding cache + client pair is a bound, not zero (CAPnet residual): accepted, with its cost and gain.
  const pair = byId.get('accounting:cache+client->publisher')!
  assert.equal(pair.status, 'accepted')
  assert.ok(pair.cost && pair.gain && /m × price > \(n − m\) × d/.test(pair.reason!), 'the pair case states when the attack pays')
  // Sybil caches: cache collateral is not built yet, so the case is accepted with its risk stated, not mitigated.
  const sybil = byId.get('sybil:cache->publisher')
  assert.ok(sybil && sybil.status !== 'open', 'missing case sybil:cache->publisher')
  if (sybil.status === 'accepted') assert.ok(sybil.risk && /not built yet/.test(sybil.reason ?? ''), 'an accepted Sybil case says what is missing')
  const classes = new Set(analysis.model.mitigations.map((m) => m.class))
  assert.deepEqual([...classes].sort(), ['algorithmic', 'cryptographic', 'economic', 'financial', 'systems'])
})
