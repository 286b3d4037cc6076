import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ThreatModelSchema } from './schema.js'
import { analyzeThreatModel, coalitionsOf, cellId } from './analyze.js'
import { ThreatModelError } from './errors.js'

const base = () => ({
  souk: 'threat-model/1', name: 'toy', settings: { maxCoalitionSize: 2 },
  roles: [{ id: 'client', many: true }, { id: 'server' }],
  assets: [{ id: 'service', kind: 'service', owner: 'server', categories: [{ id: 'dos', name: 'DoS', kind: 'denial-of-service' }] }],
}) as Record<string, unknown>
const analyze = (m: Record<string, unknown>) => analyzeThreatModel(ThreatModelSchema.parse(m))

test('coalitions: non-empty subsets up to the bound, smallest first, sorted', () => {
  assert.deepEqual(coalitionsOf(['b', 'a', 'c'], 2), [['a'], ['b'], ['c'], ['a', 'b'], ['a', 'c'], ['b', 'c']])
  assert.equal(coalitionsOf(['a', 'b', 'c', 'd'], 4).length, 15) // 2^4 - 1
  assert.equal(coalitionsOf(['a', 'b', 'c', 'd'], 2).length, 10) // 4 + 6
  assert.equal(cellId('x', ['b', 'a'], 't'), 'x:a+b->t')
})

/** The base model with the dos category's effect stated, so that cells may merge. */
const withEffect = (effect = 'the service is unavailable') => {
  const m = base()
  ;(m.assets as { categories: Record<string, unknown>[] }[])[0].categories[0].effect = effect
  return m
}
const econ = { cost: { amount: 1, unit: 'requests', basis: 'b' }, gain: { amount: 0, unit: 'requests', basis: 'b' } }

test('hand-counted: 3 coalitions x 2 targets, 2 self-target prunings, 1 merge (same stated effect), 3 open cases', () => {
  const a = analyze(withEffect())
  assert.deepEqual(a.counts, { enumerated: 6, pruned: 2, merged: 1, cases: 3, open: 3, notApplicable: 0, mitigated: 0, accepted: 0 })
  assert.deepEqual(a.cases.map((c) => c.id), ['dos:client->client', 'dos:client->server', 'dos:server->client'])
  const cells = new Map(a.matrices[0].cells.map((c) => [c.id, c]))
  assert.equal(cells.get('dos:server->server')!.pruned!.rule, 'builtin:self-target')
  assert.match(cells.get('dos:client+server->server')!.pruned!.reason, /single-instance role \(server\)/)
  assert.equal(cells.get('dos:client+server->client')!.mergedInto, 'dos:client->client')
})

test('a many-instance role attacks its peers: client -> client is kept', () => {
  const a = analyze(base())
  assert.ok(a.cases.some((c) => c.id === 'dos:client->client'))
})

test('owner-no-gain prunes the owner attacking its own asset', () => {
  const m = base()
  ;(m.assets as unknown[]).push({ id: 'coin', kind: 'currency', owner: 'server', categories: [{ id: 'theft', name: 'Theft', kind: 'theft', targets: ['coin'] }] })
  const mx = analyze(m).matrices[1]
  assert.deepEqual(mx.counts, { enumerated: 3, pruned: 2, merged: 0, cases: 1, open: 1, notApplicable: 0, mitigated: 0, accepted: 0 })
  assert.ok(mx.cells.filter((c) => c.fate === 'pruned').every((c) => c.pruned!.rule === 'builtin:owner-no-gain'))
})

test('model prune rules apply with their written reason, before merging', () => {
  const m = { ...base(), prune: [{ id: 'server-honest', reason: 'the server is audited', when: { categories: ['dos'], coalitionIncludes: ['server'] } }] }
  const a = analyze(m)
  assert.deepEqual([a.counts.pruned, a.counts.merged, a.counts.cases], [4, 0, 2])
  const c = a.matrices[0].cells.find((x) => x.id === 'dos:server->client')!
  assert.deepEqual(c.pruned, { rule: 'server-honest', reason: 'the server is audited' })
})

test('requiresAnyOf prunes coalitions lacking the capability', () => {
  const m = withEffect()
  ;(m.assets as { categories: Record<string, unknown>[] }[])[0].categories[0].requiresAnyOf = ['server']
  const a = analyze(m)
  const lacks = a.matrices[0].cells.filter((c) => c.pruned?.rule === 'builtin:lacks-capability').map((c) => c.id)
  assert.deepEqual(lacks, ['dos:client->client', 'dos:client->server'])
  // {client} was pruned, so client+server -> client now merges into the other kept subset, {server}
  assert.deepEqual(a.cases.map((c) => c.id), ['dos:server->client'])
  assert.equal(a.matrices[0].cells.find((c) => c.id === 'dos:client+server->client')!.mergedInto, 'dos:server->client')
})

test('a distinct effect keeps a larger coalition from merging; statuses come from the most specific case', () => {
  const m = {
    ...base(),
    mitigations: [{ id: 'limits', name: 'Rate limits', class: 'systems' }],
    cases: [
      { category: 'dos', status: 'mitigated', mitigations: ['limits'] },
      { category: 'dos', coalition: ['client', 'server'], target: 'client', status: 'accepted', risk: 'low', reason: 'r', effect: 'server helps a client flood another', ...econ },
      { category: 'dos', coalition: ['server'], status: 'not-applicable', reason: 'server is the service' },
    ],
  }
  const a = analyze(m)
  assert.deepEqual([a.counts.merged, a.counts.cases, a.counts.mitigated, a.counts.accepted, a.counts.notApplicable, a.counts.open], [0, 4, 2, 1, 1, 0])
  assert.equal(a.cases.find((c) => c.id === 'dos:client+server->client')!.status, 'accepted')
  assert.equal(a.cases.find((c) => c.id === 'dos:server->client')!.reason, 'server is the service')
})

test('a case that matches only pruned or merged cells is rejected, not ignored', () => {
  const m = { ...base(), cases: [{ category: 'dos', coalition: ['server'], target: 'server', status: 'not-applicable', reason: 'x' }] }
  assert.throws(() => analyze(m), (e: unknown) => e instanceof ThreatModelError && /pruned by builtin:self-target/.test(e.message))
  const m2 = { ...withEffect(), cases: [{ category: 'dos', coalition: ['client', 'server'], target: 'client', status: 'not-applicable', reason: 'x' }] }
  assert.throws(() => analyze(m2), /merged into dos:client->client/)
})

test('merging needs an effect stated by both cells: with none stated, no cell merges', () => {
  const a = analyze(base())
  assert.equal(a.counts.merged, 0)
  assert.deepEqual(a.cases.map((c) => c.id), ['dos:client->client', 'dos:client->server', 'dos:server->client', 'dos:client+server->client'])
  assert.equal(a.cases.find((c) => c.id === 'dos:client+server->client')!.effect, undefined)
})

test('an effect stated for the larger coalition only keeps it apart; the same effect stated on both merges it', () => {
  const only = analyze({ ...base(), cases: [{ category: 'dos', coalition: ['client', 'server'], target: 'client', status: 'accepted', risk: 'low', reason: 'r', effect: 'flood', ...econ }] })
  assert.equal(only.counts.merged, 0)
  const both = analyze({ ...base(), cases: [{ category: 'dos', coalitionIncludes: ['client'], target: 'client', status: 'accepted', risk: 'low', reason: 'r', effect: 'flood', ...econ }] })
  const cell = both.matrices[0].cells.find((c) => c.id === 'dos:client+server->client')!
  assert.deepEqual([cell.fate, cell.mergedInto, cell.effect], ['merged', 'dos:client->client', 'flood'])
  const differ = analyze({ ...withEffect('down'), cases: [{ category: 'dos', coalition: ['client', 'server'], target: 'client', status: 'accepted', risk: 'low', reason: 'r', effect: 'flood', ...econ }] })
  assert.equal(differ.cases.find((c) => c.id === 'dos:client+server->client')!.status, 'accepted')
})

test('regression: a publisher + cache double-spend cell is not merged into the publisher\'s when no effect is stated', () => {
  // The shape of models/cdn.yaml before issue 8: a case for the publisher alone, none for publisher + cache. The
  // category's name used to stand in for the effect, so the pair's cell (a sponsor proving a duplicate between its
  // own servers) merged away and was never looked at.
  const a = analyze({
    souk: 'threat-model/1', name: 'ds', roles: [{ id: 'publisher' }, { id: 'cache', many: true }],
    assets: [{ id: 'tickets', kind: 'currency', owner: 'publisher', categories: [{ id: 'double-spend', name: 'Double spending', kind: 'double-spending', targets: ['cache'], requiresAnyOf: ['publisher'], ownerMayAttack: true }] }],
    mitigations: [{ id: 'penalty', name: 'Penalty', class: 'financial' }],
    cases: [{ category: 'double-spend', coalition: ['publisher'], status: 'mitigated', mitigations: ['penalty'] }],
  })
  const pair = a.cases.find((c) => c.id === 'double-spend:cache+publisher->cache')
  assert.ok(pair, 'the publisher + cache cell must be a case')
  assert.equal(pair.status, 'open')
  assert.equal(a.counts.merged, 0)
})

test('coalitionExcludes: a prune rule applies only to coalitions without the excluded roles', () => {
  const m = { ...base(), prune: [{ id: 'needs-server', reason: 'only the server can do it', when: { coalitionExcludes: ['server'] } }] }
  const cells = new Map(analyze(m).matrices[0].cells.map((c) => [c.id, c]))
  assert.equal(cells.get('dos:client->client')!.pruned?.rule, 'needs-server')
  assert.equal(cells.get('dos:client->server')!.pruned?.rule, 'needs-server')
  assert.equal(cells.get('dos:server->client')!.fate, 'case')
  assert.equal(cells.get('dos:client+server->client')!.fate, 'case')
})

test('ownerMayAttack keeps the cells where the owner attacks its own asset; without it they are pruned', () => {
  const coin = (ownerMayAttack: boolean) => {
    const m = base()
    ;(m.assets as unknown[]).push({ id: 'coin', kind: 'deposit', owner: 'server', categories: [{ id: 'renege', name: 'Reneging', kind: 'theft', targets: ['coin'], ownerMayAttack }] })
    return new Map(analyze(m).matrices[1].cells.map((c) => [c.id, c]))
  }
  const kept = coin(true)
  assert.equal(kept.get('renege:server->coin')!.fate, 'case')
  assert.equal(kept.get('renege:client+server->coin')!.fate, 'case')
  const pruned = coin(false)
  assert.equal(pruned.get('renege:server->coin')!.pruned?.rule, 'builtin:owner-no-gain')
  assert.equal(pruned.get('renege:client->coin')!.fate, 'case')
})

test('an external role attacks but is no default target, owns nothing and cannot be trusted', () => {
  const m = { ...base(), roles: [{ id: 'client', many: true }, { id: 'server' }, { id: 'stranger', external: true }] }
  const a = analyze(m)
  assert.deepEqual(a.matrices[0].targets, ['client', 'server'])
  assert.ok(a.cases.some((c) => c.id === 'dos:stranger->server'))
  const owns = { ...m, assets: [{ id: 'service', kind: 'service', owner: 'stranger', categories: [{ id: 'dos', name: 'DoS', kind: 'denial-of-service' }] }] }
  assert.throws(() => analyze(owns), /owned by "stranger", an external role/)
  const trusted = { ...m, roles: [{ id: 'client', many: true }, { id: 'server' }, { id: 'stranger', external: true, attacker: false, trust: 'x' }] }
  assert.throws(() => analyze(trusted), /external and trusted/)
})

test('assumptions: cases and prune rules cite them by id; an unknown one is rejected', () => {
  const m = {
    ...base(),
    assumptions: [{ id: 'audited', statement: 'the server is audited daily' }],
    prune: [{ id: 'p', reason: 'r', when: { coalitionIncludes: ['server'], targets: ['server'] }, assumes: ['audited'] }],
    cases: [{ category: 'dos', coalition: ['server'], status: 'accepted', risk: 'low', reason: 'r', assumes: ['audited'], ...econ }],
  }
  assert.deepEqual(analyze(m).cases.find((c) => c.id === 'dos:server->client')!.assumes, ['audited'])
  assert.throws(() => analyze({ ...m, cases: [{ ...m.cases[0], assumes: ['audit'] }] }), /unknown assumption "audit"/)
  assert.throws(() => analyze({ ...m, prune: [{ ...m.prune[0], assumes: ['nope'] }] }), /unknown assumption "nope"/)
})

test('an accepted case states the attacker\'s cost and gain in numbers', () => {
  const accepted = { category: 'dos', status: 'accepted', risk: 'low', reason: 'r' }
  const r = ThreatModelSchema.safeParse({ ...base(), cases: [accepted] })
  assert.equal(r.success, false)
  assert.deepEqual(r.error!.issues.map((i) => i.path.join('.')).sort(), ['cases.0.cost', 'cases.0.gain'])
  assert.match(r.error!.issues[0].message, /in numbers/)
  const words = ThreatModelSchema.safeParse({ ...base(), cases: [{ ...accepted, ...econ, gain: { amount: 'a lot', unit: 'x', basis: 'b' } }] })
  assert.equal(words.success, false)
  assert.equal(ThreatModelSchema.safeParse({ ...base(), cases: [{ ...accepted, ...econ }] }).success, true)
})
