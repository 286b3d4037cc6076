import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parseScenario, loadScenario, expandSweep, scenarioJsonSchema, ScenarioError, type Scenario } from './scenario.js'
import type { SourceIssue } from '../core/yaml.js'
import { SoukError } from '../core/errors.js'

const root = new URL('../../', import.meta.url).pathname
const ATTACK = readFileSync(`${root}scenarios/cdn-attack.yaml`, 'utf8')

const issuesOf = (text: string): SourceIssue[] => {
  try { parseScenario(text, 'bad.yaml') } catch (e) {
    assert.ok(e instanceof ScenarioError, String(e))
    assert.ok(e instanceof SoukError)
    return e.issues
  }
  assert.fail('expected the scenario to be refused')
}
const messageOf = (text: string): string => {
  try { parseScenario(text, 'scenarios/bad.yaml') } catch (e) { return (e as Error).message }
  assert.fail('expected the scenario to be refused')
}
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1

const MIN = `souk: scenario/1
name: tiny
market: cdn
seed: 1
runs: 2
durationMs: 60000
peers:
  - { name: publisher, role: publisher }
  - { name: cache, role: cache, count: 2 }
  - { name: client, role: client, count: 4 }
`

test('the shipped scenarios load; defaults are filled', () => {
  for (const f of ['cdn-honest', 'cdn-attack', 'cdn-sweep']) {
    const s = loadScenario(`${root}scenarios/${f}.yaml`)
    assert.equal(s.name, f)
    assert.equal(s.market, 'cdn')
    assert.equal(s.chain.kind, 'evm')
  }
  const s = parseScenario(MIN, 'tiny.yaml')
  assert.deepEqual(s.chain, { kind: 'evm', blockTimeMs: 2000 })
  assert.equal(s.scheme, 'lottery')
  assert.deepEqual(s.network.regions, { world: 1 })
  assert.equal(s.peers[0]!.count, 1)
  assert.equal(s.peers[1]!.behaviour, 'honest')
  const attack = loadScenario(`${root}scenarios/cdn-attack.yaml`)
  assert.deepEqual(attack.peers.filter((g) => g.attacker).map((g) => [g.name, g.behaviour, g.partner]), [['cache-attack', 'colluding', 'client-attack'], ['client-attack', 'colluding', 'cache-attack']])
})

test('unknown field: refused at its line, named, with the fix', () => {
  const bad = ATTACK.replace('  jitterMs: 3\n', '  jitterMs: 3\n  jiterMs: 4\n')
  const [i] = issuesOf(bad)
  assert.equal(i!.line, lineOf(bad, 'jiterMs'))
  assert.deepEqual(i!.path, ['network', 'jiterMs'])
  assert.match(i!.message, /unknown key "jiterMs"/)
  assert.match(i!.hint!, /remove it or fix its spelling \(see schemas\/scenario\.schema\.json\)/)
  const top = issuesOf(MIN + 'colour: blue\n')[0]!
  assert.equal(top.line, lineOf(MIN + 'colour: blue\n', 'colour'))
  // Inside a flow mapping of a peer group, and in the market's own config.
  const g = MIN.replace('count: 2 }', 'count: 2, cuont: 3 }')
  const gi = issuesOf(g)[0]!
  assert.equal(gi.line, lineOf(g, 'cuont'))
  assert.match(gi.message, /unknown key "cuont"/)
  const c = MIN + 'config: { pricePerChnk: 5 }\n'
  const ci = issuesOf(c)[0]!
  assert.equal(ci.line, lineOf(c, 'pricePerChnk'))
  assert.match(ci.message, /unknown key "pricePerChnk" in the cdn market's config/)
  assert.match(ci.hint!, /pricePerChunk/)
  // The message a person sees: file:line:col, the path, the fix.
  assert.match(messageOf(bad), new RegExp(`scenarios/bad\\.yaml:${i!.line}:\\d+  network\\.jiterMs: unknown key "jiterMs"\\n      fix: remove it`))
})

test('a role no market has, a role of another market, a behaviour the role lacks', () => {
  const bad = MIN.replace('role: cache, count: 2', 'role: cashe, count: 2')
  const [i] = issuesOf(bad)
  assert.equal(i!.line, lineOf(bad, 'cashe'))
  assert.deepEqual(i!.path, ['peers', 1, 'role'])
  assert.match(i!.message, /unknown role "cashe": the cdn market has roles publisher, cache, client/)
  assert.equal(i!.hint, 'use one of: publisher, cache, client')
  const other = issuesOf(MIN.replace('role: cache, count: 2', 'role: provider, count: 2'))[0]!
  assert.match(other.message, /"provider" is a role of the storage market/)
  const beh = MIN.replace('role: cache, count: 2', 'role: cache, count: 2, behaviour: stingy')
  const bi = issuesOf(beh)[0]!
  assert.equal(bi.line, lineOf(beh, 'stingy'))
  assert.match(bi.message, /unknown behaviour "stingy" for a cdn cache/)
  assert.equal(bi.hint, 'use one of: honest, garbage, colluding')
  const mk = issuesOf(MIN.replace('market: cdn', 'market: video'))[0]!
  assert.equal(mk.line, 3)
  assert.match(mk.hint!, /cdn/)
})

test('negative counts, rates and latencies; loss rate of 1; zero duration', () => {
  const cases: [string, string, RegExp, RegExp][] = [
    [MIN.replace('count: 2', 'count: -2'), 'count: -2', /a count cannot be negative/, /give a number >= 0/],
    [MIN.replace('count: 2', 'count: 2.5'), 'count: 2.5', /whole number/, /integer/],
    [ATTACK.replace('jitterMs: 3', 'jitterMs: -3'), 'jitterMs: -3', /jitterMs cannot be negative/, />= 0/],
    [ATTACK.replace('bandwidthBytesPerSec: 12500000', 'bandwidthBytesPerSec: -1'), 'bandwidthBytesPerSec: -1', /must be greater than 0/, /> 0/],
    [ATTACK.replace('lossRate: 0', 'lossRate: 1'), 'lossRate: 1', /lossRate must be below 1/, /< 1/],
    [ATTACK.replace('lossRate: 0', 'lossRate: -0.1'), 'lossRate: -0.1', /lossRate cannot be negative/, />= 0/],
    [ATTACK.replace('us: 90', 'us: -90'), 'us: -90', /a latency cannot be negative/, />= 0/],
    [MIN.replace('durationMs: 60000', 'durationMs: 0'), 'durationMs: 0', /durationMs must be greater than 0/, /> 0/],
  ]
  for (const [text, needle, msg, hint] of cases) {
    const is = issuesOf(text)
    assert.equal(is.length, 1, `${needle}: ${JSON.stringify(is)}`)
    assert.equal(is[0]!.line, lineOf(text, needle), needle)
    assert.match(is[0]!.message, msg, needle)
    assert.match(is[0]!.hint ?? '', hint, needle)
  }
})

test('region shares that do not add up to 1', () => {
  const bad = ATTACK.replace('{ eu: 0.6, us: 0.4 }', '{ eu: 0.6, us: 0.3 }')
  const [i] = issuesOf(bad)
  assert.equal(i!.line, lineOf(bad, 'regions:'))
  assert.match(i!.message, /region shares add up to 0\.9, not 1/)
  assert.match(i!.hint!, /eu: 0\.6, us: 0\.3\) add up to 1/)
})

test('impossible topology: a pair of regions without latency, an unknown region, asymmetric latencies', () => {
  const bad = ATTACK.replace('latencyMs: { eu: { eu: 15, us: 90 }, us: { us: 20 } }', 'latencyMs: { eu: { eu: 15 }, us: { us: 20 } }')
  const [i] = issuesOf(bad)
  assert.equal(i!.line, lineOf(bad, 'latencyMs'))
  assert.match(i!.message, /impossible topology: no latency between regions "eu" and "us"/)
  assert.match(i!.hint!, /add `us: <ms>` under latencyMs\.eu/)
  assert.match(messageOf(bad), /scenarios\/bad\.yaml:\d+:\d+  network\.latencyMs\.eu: impossible topology/)
  const unk = issuesOf(ATTACK.replace('us: { us: 20 }', 'us: { us: 20, asia: 150 }'))
  assert.match(unk[0]!.message, /unknown region "asia" in latencyMs\.us/)
  const asym = issuesOf(ATTACK.replace('us: { us: 20 }', 'us: { us: 20, eu: 80 }'))
  assert.match(asym[0]!.message, /latency eu→us is 90 ms but us→eu is 80 ms/)
})

test('impossible topology: caches and clients without a publisher, two publishers, a publisher group of 3', () => {
  const none = MIN.replace('  - { name: publisher, role: publisher }\n', '')
  const [i] = issuesOf(none)
  assert.match(i!.message, /impossible topology: "cache" \(cache\), "client" \(client\) need a publisher, and no peer group has role publisher/)
  assert.match(i!.hint!, /add a group `- \{ name: publisher, role: publisher \}`/)
  assert.equal(i!.line, lineOf(none, 'name: cache'))
  const two = issuesOf(MIN.replace('  - { name: publisher, role: publisher }\n', '  - { name: publisher, role: publisher }\n  - { name: p2, role: publisher }\n'))
  assert.match(two[0]!.message, /2 publisher groups \(publisher, p2\)/)
  const three = MIN.replace('{ name: publisher, role: publisher }', '{ name: publisher, role: publisher, count: 3 }')
  const ti = issuesOf(three)[0]!
  assert.equal(ti.line, lineOf(three, 'count: 3'))
  assert.match(ti.message, /the publisher group has count 3/)
  assert.equal(ti.hint, 'set `count: 1` (or leave it out)')
  const noCache = issuesOf(MIN.replace('count: 2', 'count: 0'))
  assert.match(noCache[0]!.message, /clients \("client"\) need at least one cache/)
})

test('partner must name another existing group; group names are unique', () => {
  const bad = ATTACK.replace('partner: client-attack', 'partner: client-atack')
  const [i] = issuesOf(bad)
  assert.equal(i!.line, lineOf(bad, 'client-atack'))
  assert.match(i!.message, /partner "client-atack" is not a peer group/)
  assert.match(i!.hint!, /client-attack/)
  const self = issuesOf(ATTACK.replace('partner: client-attack', 'partner: cache-attack'))
  assert.match(self[0]!.message, /its own partner/)
  const dup = issuesOf(MIN.replace('name: client,', 'name: cache,'))
  assert.match(dup[0]!.message, /duplicate group name "cache"/)
})

test('YAML syntax, empty and foreign files, another format version', () => {
  assert.match(issuesOf(MIN + 'name: again\n')[0]!.message, /^YAML: /)
  assert.match(issuesOf('')[0]!.message, /the file is empty/)
  assert.match(issuesOf('- a\n')[0]!.message, /the top level is a list/)
  assert.match(issuesOf('name: x\n')[0]!.message, /the `souk:` marker is missing/)
  const v = issuesOf(MIN.replace('scenario/1', 'scenario/2'))
  assert.equal(v[0]!.line, 1)
  assert.match(v[0]!.message, /unsupported format "scenario\/2"/)
  assert.match(issuesOf(MIN.replace('seed: 1\n', ''))[0]!.message, /missing required field "seed"/)
})

test('loadScenario: a missing file is a ScenarioError naming it', () => {
  assert.throws(() => loadScenario('/nonexistent/x.yaml'), (e: unknown) => e instanceof ScenarioError && /\/nonexistent\/x\.yaml/.test(e.message) && /ENOENT/.test(e.message))
})

test('the market config is checked by the market schema; fields the scenario owns are refused there', () => {
  const bad = MIN + 'config: { cachesPerRequest: 0 }\n'
  const [i] = issuesOf(bad)
  assert.deepEqual(i!.path, ['config', 'cachesPerRequest'])
  assert.equal(i!.line, lineOf(bad, 'cachesPerRequest'))
  const own = issuesOf(MIN + 'config: { contentBytes: 10 }\n')[0]!
  assert.match(own.hint!, /content\.bytes/)
  const beh = issuesOf(MIN.replace('count: 4 }', 'count: 4, config: { behaviour: stingy } }'))[0]!
  assert.deepEqual(beh.path, ['peers', 2, 'config', 'behaviour'])
  assert.match(beh.hint!, /behaviour:/)
})

const sweepOf = (sweep: string) => parseScenario(`${MIN}sweep:\n${sweep}`, 'sw.yaml')

test('sweep expansion: cartesian product in order, zipped lists together, paths set fields', () => {
  const s = sweepOf('  cartesian: { "network.jitterMs": [0, 10], "peers.cache.count": [1, 3] }\n  zip: { "content.bytes": [65536, 262144], "content.chunkSize": [4096, 16384] }\n')
  const pts = expandSweep(s)
  assert.equal(pts.length, 8)
  assert.deepEqual(pts.map((p) => p.point), [0, 1, 2, 3, 4, 5, 6, 7])
  assert.deepEqual(pts[0]!.params, { 'network.jitterMs': 0, 'peers.cache.count': 1, 'content.bytes': 65536, 'content.chunkSize': 4096 })
  assert.deepEqual(pts[1]!.params, { 'network.jitterMs': 0, 'peers.cache.count': 1, 'content.bytes': 262144, 'content.chunkSize': 16384 })
  assert.deepEqual(pts[7]!.params, { 'network.jitterMs': 10, 'peers.cache.count': 3, 'content.bytes': 262144, 'content.chunkSize': 16384 })
  const p5 = pts[5]!.scenario
  assert.equal(p5.network.jitterMs, 10)
  assert.equal(p5.peers.find((g) => g.name === 'cache')!.count, 1)
  assert.deepEqual(p5.content, { bytes: 262144, chunkSize: 16384 })
  assert.equal(p5.sweep, undefined)
  assert.equal(s.network.jitterMs, 0, 'the scenario itself is not changed')
  const cfg = expandSweep(sweepOf('  cartesian: { "config.cachesPerRequest": [2, 3], "peers.client.config.rounds": [1, 2] }\n'))
  assert.equal(cfg.length, 4)
  assert.equal(cfg[3]!.scenario.config.cachesPerRequest, 3)
  assert.deepEqual(cfg[3]!.scenario.peers.find((g) => g.name === 'client')!.config, { rounds: 2 })
  assert.deepEqual(expandSweep(parseScenario(MIN)), [{ point: 0, params: {}, scenario: parseScenario(MIN) }])
  const zipOnly = expandSweep(sweepOf('  zip: { "network.jitterMs": [1, 2, 3], "durationMs": [1000, 2000, 3000] }\n'))
  assert.deepEqual(zipOnly.map((p) => p.scenario.durationMs), [1000, 2000, 3000])
})

test('sweep errors: unequal zip lists, unknown paths, a point that is not valid, each at its line', () => {
  const text = `${MIN}sweep:\n  zip: { "content.bytes": [65536, 262144], "content.chunkSize": [4096, 8192, 16384] }\n`
  const [z] = issuesOf(text)
  assert.match(z!.message, /zip lists must have the same length: "content\.bytes" has 2 values, "content\.chunkSize" has 3/)
  assert.match(z!.hint!, /give "content\.chunkSize" 2 values/)
  assert.equal(z!.line, lineOf(text, 'zip:'))
  const unk = issuesOf(`${MIN}sweep:\n  cartesian: { "network.jiterMs": [0, 1] }\n`)[0]!
  assert.match(unk.message, /no field "jiterMs" in network/)
  assert.match(unk.hint!, /network\.jitterMs/)
  const grp = issuesOf(`${MIN}sweep:\n  cartesian: { "peers.cashe.count": [0, 1] }\n`)[0]!
  assert.match(grp.message, /no peer group "cashe"/)
  assert.match(grp.hint!, /peers\.cache\.count/)
  assert.match(issuesOf(`${MIN}sweep:\n  cartesian: { "seed": [1, 2] }\n`)[0]!.message, /a sweep cannot set "seed"/)
  const neg = `${MIN}sweep:\n  cartesian:\n    "network.jitterMs": [0, 10]\n    "peers.cache.count": [2, -1]\n`
  const n = issuesOf(neg)
  assert.equal(n.length, 2, 'one problem for each point with the bad value')
  assert.match(n[0]!.message, /^sweep point 1 \(network\.jitterMs=0, peers\.cache\.count=-1\): peers\[1\]\.count: a count cannot be negative/)
  assert.equal(n[0]!.line, lineOf(neg, '"peers.cache.count"'))
  // A point with an impossible topology (no caches for the clients).
  const topo = issuesOf(`${MIN}sweep:\n  cartesian: { "peers.cache.count": [0, 2] }\n`)[0]!
  assert.match(topo.message, /sweep point 0 .*need at least one cache/)
})

test('expandSweep re-validates a scenario changed after parsing', () => {
  const s: Scenario = sweepOf('  cartesian: { "peers.cache.count": [1, 2] }\n')
  s.sweep!.cartesian!['peers.cache.count'] = [1, -5]
  assert.throws(() => expandSweep(s, 'x.yaml'), (e: unknown) => e instanceof ScenarioError && /sweep point 1 .*a count cannot be negative/.test(e.message))
})

test('the published JSON Schema is the one generated from the zod schema', () => {
  const published = JSON.parse(readFileSync(`${root}schemas/scenario.schema.json`, 'utf8'))
  assert.deepEqual(published, JSON.parse(JSON.stringify(scenarioJsonSchema())), 'regenerate: npm run -s souk -- sim schema > schemas/scenario.schema.json')
})
