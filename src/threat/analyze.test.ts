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

test('hand-counted: 3 coalitions x 2 targets, 2 self-target prunings, 1 merge, 3 open cases', () => {
  const a = analyze(base())
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
  const m = base()
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
      { category: 'dos', coalition: ['client', 'server'], target: 'client', status: 'accepted', risk: 'low', reason: 'r', effect: 'server helps a client flood another' },
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
  const m2 = { ...base(), cases: [{ category: 'dos', coalition: ['client', 'server'], target: 'client', status: 'not-applicable', reason: 'x' }] }
  assert.throws(() => analyze(m2), /merged into dos:client->client/)
})
