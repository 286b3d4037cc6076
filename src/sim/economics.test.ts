import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadScenario } from './scenario.js'
import { honestTwin, scenarioEconomics, economicsMarkdown, type PairRunner } from './economics.js'
import type { RunResult } from './types.js'

const root = new URL('../../', import.meta.url).pathname

test('the honest twin plays every attacker group honest and leaves the rest as written', () => {
  const s = loadScenario(join(root, 'scenarios/cdn-attack.yaml'))
  const t = honestTwin(s)
  for (const [g, h] of s.peers.map((g, i) => [g, t.peers[i]] as const)) {
    if (g.attacker) { assert.equal(h.behaviour, 'honest'); assert.equal(h.partner, undefined); assert.equal(h.attacker, true) }
    else assert.deepEqual(h, g)
  }
  assert.equal(t.seed, s.seed)
})

test('profit and loss are paired differences with a Student-t interval; an interval above zero is profitable', async () => {
  // A runner standing in for the simulator: the attack earns 2 + run/10 more than its twin, and costs others 1.
  const fake: PairRunner = async (s, seed, run) => ({
    scenario: s.name, point: 0, params: {}, run, seed, eventLogHash: '', events: 0, messages: 0, virtualMs: 0, wallMs: 0,
    metrics: s.name.endsWith('-twin') ? { attackerValue: 10, victimValue: 5, caught: 0 } : { attackerValue: 12 + run / 10, victimValue: 4, caught: run % 2 },
  } satisfies RunResult)
  const row = await scenarioEconomics('scenarios/cdn-attack.yaml', { runs: 4, cwd: root, runner: fake })
  assert.equal(row.runs, 4)
  assert.ok(Math.abs(row.profit.mean - 2.15) < 1e-9)
  // sd of [2, 2.1, 2.2, 2.3] = 0.1291; t(3) = 3.1824; half-width 0.2054
  assert.ok(Math.abs(row.profit.ci95[0] - (2.15 - 0.20543)) < 1e-4 && Math.abs(row.profit.ci95[1] - (2.15 + 0.20543)) < 1e-4, JSON.stringify(row.profit.ci95))
  assert.equal(row.victimsLoss.mean, 1)
  assert.equal(row.caughtRate, 0.5)
  assert.equal(row.profitable, true)
  const md = economicsMarkdown([{ case: 'accounting:x', status: 'mitigated', row }])
  assert.match(md, /OPEN: the attack pays/)
  // A crashing run is left out and reported with its seed.
  const crashing: PairRunner = async (s, seed, run) => ({ ...(await fake(s, seed, run)), ...(run === 1 ? { error: { message: 'boom' } } : {}) })
  const r2 = await scenarioEconomics('scenarios/cdn-attack.yaml', { runs: 3, cwd: root, runner: crashing })
  assert.equal(r2.runs, 2)
  assert.equal(r2.failures.length, 2)
  assert.ok(r2.failures.every((f) => f.message === 'boom' && typeof f.seed === 'number'))
})

test('a garbage cache does not pay, and is caught in every run (the real simulator)', { timeout: 300_000 }, async () => {
  const row = await scenarioEconomics('scenarios/cdn-garbage.yaml', { runs: 2, cwd: root })
  assert.deepEqual(row.failures, [])
  assert.equal(row.runs, 2)
  assert.ok(row.profit.mean < 0, `the garbage cache loses what it would have earned honestly (${row.profit.mean})`)
  assert.equal(row.profitable, false)
  assert.equal(row.caughtRate, 1)
})

test('souk sim economics prints the table of a threat model and writes it with --out', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-econ-'))
  try {
    const out = join(dir, 'table.md')
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'sim', 'economics', 'models/cdn.yaml', '--runs', '2', '--out', out], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })
    assert.equal(r.status, 0, r.stderr.slice(-2000))
    assert.match(r.stdout, /\| scenarios\/cdn-attack\.yaml \| accounting:cache\+client->publisher \(accepted\)/)
    for (const line of r.stdout.split('\n').filter((l) => l.includes('(mitigated)'))) assert.match(line, /does not pay/, line)
    assert.equal(readFileSync(out, 'utf8').split('\n').filter((l) => l.startsWith('| scenarios/')).length, 7)
    const bad = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'sim', 'economics', 'models/cdn.yaml', '--runs', '1'], { cwd: root, encoding: 'utf8' })
    assert.notEqual(bad.status, 0)
    assert.match(bad.stderr, /--runs must be at least 2/)
    assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
