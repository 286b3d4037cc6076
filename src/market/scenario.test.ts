/**
 * The market scenario on the real parts (signed offers and asks, the order book, negotiation over the memory
 * transport, demand-responsive prices), and `souk market` as a user runs it: the summary, the JSON, the HTML
 * report, and a clear error for a bad option.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { systemClock } from '../core/clock.js'
import { silentLogger } from '../core/logger.js'
import { seededRng } from '../crypto/rng.js'
import { createMemoryNetwork } from '../net/index.js'
import { renderMarketSummary, textChart } from './report.js'
import { runMarketScenario } from './scenario.js'

test('a market of 8 servers and 20 buyers: deals within every side\'s limits, capacity respected, prices move with demand', async () => {
  const net = createMemoryNetwork({ latencyMs: 1 })
  const rounds: { round: number; deals: number; marketPrice: bigint }[] = []
  const r = await runMarketScenario({
    servers: 8, buyers: 20, rounds: 8, capacity: 4, demand: 2, newTransport: (id) => net.createTransport({ peerId: id }),
    clock: systemClock(), rng: seededRng('scenario-test'), logger: silentLogger(), onRound: (x) => rounds.push(x),
  })
  assert.equal(r.rounds.length, 8)
  assert.deepEqual(rounds.map((x) => x.round), [1, 2, 3, 4, 5, 6, 7, 8])
  assert.ok(r.deals > 0)
  assert.equal(r.deals, r.servers.reduce((n, s) => n + s.deals, 0))
  for (const s of r.servers) {
    assert.ok(s.deals <= s.capacity * 8, `${s.peer} sold ${s.deals} with capacity ${s.capacity} a round`)
    assert.ok(s.price >= s.cost, `${s.peer} priced below its cost`)
    // Never paid below its cost: revenue per deal >= cost × 100 chunks.
    if (s.deals > 0) assert.ok(s.revenue >= s.cost * 100n * BigInt(s.deals))
  }
  // An idle server lowers its price toward its cost; one that sold out raises it.
  assert.ok(r.competitive.low <= r.competitive.high)
  assert.ok(r.rounds.every((x) => x.deals === 0 || x.marketPrice > 0n))
  const summary = renderMarketSummary(r)
  assert.match(summary, /market: 8 servers, 8 rounds, \d+ deals/)
  assert.match(summary, /competitive price {3}\d+–\d+ per chunk/)
})

test('the same seed gives the same market: costs, valuations and capacities', async () => {
  const run = async () => {
    const net = createMemoryNetwork()
    const r = await runMarketScenario({ servers: 4, buyers: 6, rounds: 1, newTransport: (id) => net.createTransport({ peerId: id }), clock: systemClock(), rng: seededRng('same'), logger: silentLogger() })
    return { competitive: r.competitive, servers: r.servers.map((s) => [s.server, s.cost, s.capacity]) }
  }
  assert.deepEqual(await run(), await run())
})

test('textChart: one column per value, the mark drawn across, labels on the left', () => {
  const c = textChart([1, 5, 10], [{ value: 5, char: '─' }], 5)
  const rows = c.split('\n')
  assert.equal(rows[0].trim().startsWith('10'), true)
  assert.match(rows[0], /│ {2}●$/)
  assert.match(rows[2], /│─●─$/)
  assert.match(rows[4], /│● {2}$/)
  assert.equal(textChart([]), '')
})

const root = new URL('../..', import.meta.url).pathname
const souk = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8' })

test('souk market: a summary and an HTML report; --json for scripts; a bad option is one clear line, no stack trace', () => {
  const out = mkdtempSync(join(tmpdir(), 'souk-market-'))
  const r = souk('market', '--servers', '4', '--buyers', '8', '--rounds', '3', '--latency', '1', '-o', out)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /market: 4 servers, 3 rounds/)
  assert.match(r.stdout, /time to deal {8}median \d+ ms/)
  assert.match(r.stdout, new RegExp(`wrote ${join(out, 'market.html')}`))
  const html = readFileSync(join(out, 'market.html'), 'utf8')
  assert.match(html, /<div class="plot" id="plot-price">/)
  const j = souk('market', '--servers', '3', '--buyers', '5', '--rounds', '2', '--latency', '1', '--json', '--no-html')
  assert.equal(j.status, 0, j.stderr)
  const parsed = JSON.parse(j.stdout)
  assert.equal(parsed.rounds.length, 2)
  assert.equal(parsed.html, null)
  assert.equal(typeof parsed.competitive.price, 'string')
  const bad = souk('market', '--servers', '0')
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /^error: Invalid option --servers: .*\n\nFix: run souk market --help for the ranges\n$/)
  assert.doesNotMatch(bad.stderr, /    at /)
  const help = souk('market', '--help')
  assert.match(help.stdout, /price convergence,\s+time to deal, who got hired/)
})
