import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parseThreatModel } from './load.js'
import { diffAnalyses, renderDiffMarkdown } from './diff.js'

const TOY = readFileSync(new URL('./fixtures/toy.yaml', import.meta.url), 'utf8')

test('diff: a new prune rule removes cases with the reason, a status change is reported', () => {
  const before = parseThreatModel(TOY, 'old.yaml').analysis
  const changed = TOY
    .replace('cases:\n', 'prune:\n  - id: server-honest\n    reason: the server is audited\n    when: { categories: [dos], coalitionIncludes: [server] }\ncases:\n')
    .replace(/  - category: dos\n    coalition: \[server\]\n    status: accepted\n    risk: low\n    reason: the server only hurts its own business\n    cost: .*\n    gain: .*\n/, '')
    .replace('status: mitigated\n    mitigations: [sigs]', 'status: accepted\n    risk: high\n    reason: no fix yet\n    cost: { amount: 0, unit: coins, basis: b }\n    gain: { amount: 5, unit: coins, basis: b }')
  const after = parseThreatModel(changed, 'new.yaml').analysis
  const d = diffAnalyses(before, after)
  assert.deepEqual(d.added, [])
  assert.deepEqual(d.removed.map((r) => r.id), ['dos:server->client'])
  assert.match(d.removed[0].why, /pruned by server-honest: the server is audited/)
  assert.deepEqual(d.changed.map((c) => [c.id, c.before.status, c.after.status]), [['theft:client->coin', 'mitigated', 'accepted']])
  assert.deepEqual(d.declarations.prune, { added: ['server-honest'], removed: [] })
  assert.equal(d.counts.after.pruned - d.counts.before.pruned, 2)
  assert.match(renderDiffMarkdown(d, { before: 'old', after: 'new' }), /Removed cases \(1\)/)
})

test('diff: a new role adds cases, removing it again reports them as no longer enumerated', () => {
  const a = parseThreatModel(TOY, 'a.yaml').analysis
  const withMiner = TOY.replace('  - id: server\n', '  - id: server\n  - id: miner\n    many: true\n')
  const b = parseThreatModel(withMiner, 'b.yaml').analysis
  const d = diffAnalyses(a, b)
  assert.ok(d.added.some((c) => c.id === 'dos:miner->client' && c.status === 'open'))
  assert.deepEqual(d.declarations.roles.added, ['miner'])
  const back = diffAnalyses(b, a)
  assert.ok(back.removed.find((r) => r.id === 'dos:miner->client')!.why.startsWith('no longer enumerated'))
})

test('diff.opened: new open cases and cases whose status became open, nothing else', () => {
  const a = parseThreatModel(TOY, 'a.yaml').analysis
  assert.deepEqual(diffAnalyses(a, a).opened, [])
  const withStranger = parseThreatModel(TOY.replace('  - id: server\n', '  - id: server\n  - id: stranger\n    external: true\n'), 'b.yaml').analysis
  assert.deepEqual(diffAnalyses(a, withStranger).opened, ['dos:stranger->client', 'dos:stranger->server'])
  assert.deepEqual(diffAnalyses(withStranger, a).opened, [], 'closing cases opens none')
  const reopened = parseThreatModel(TOY.replace(/  - category: theft\n    status: mitigated\n    mitigations: \[sigs\]\n/, ''), 'c.yaml').analysis
  const d = diffAnalyses(a, reopened)
  assert.deepEqual(d.opened, ['theft:client->coin'])
  assert.deepEqual(d.changed.map((c) => [c.id, c.after.status]), [['theft:client->coin', 'open']])
})
