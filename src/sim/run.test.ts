import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseScenario } from './scenario.js'
import { runScenarioPoint, drawDuration, randStream, type EventLog } from './run.js'

const scenario = (extra = '', peers = `
  - { name: publisher, role: publisher }
  - { name: cache, role: cache, count: 2 }
  - { name: client, role: client, count: 3 }`) => parseScenario(`souk: scenario/1
name: run-test
market: cdn
seed: 11
runs: 1
durationMs: 60000
content: { bytes: 32768, chunkSize: 4096 }
network:
  regions: { eu: 0.5, us: 0.5 }
  latencyMs: { eu: { eu: 10, us: 70 }, us: { us: 10 } }
  jitterMs: 2
${extra}
peers:${peers}
`, 'run-test.yaml')

const job = (seed: number) => ({ point: 0, params: {}, run: 0, seed })

test('a run is a function of its seed: the same seed gives the same event log, another seed another one', async () => {
  const s = scenario()
  let log: EventLog | undefined
  const a = await runScenarioPoint(s, job(21), { keepLog: true, onLog: (l) => { log = l } })
  const b = await runScenarioPoint(s, job(21))
  const c = await runScenarioPoint(s, job(22))
  assert.equal(a.error, undefined, a.error?.message)
  assert.equal(a.metrics.clientsOk, 3, 'every client fetched the content')
  assert.ok(a.metrics.claimsPaid > 0 && a.metrics.credited > 0, 'the caches were paid')
  assert.equal(a.eventLogHash, b.eventLogHash)
  assert.deepEqual(a.metrics, b.metrics)
  assert.notEqual(a.eventLogHash, c.eventLogHash)
  // The log is stamped with simulated time, in order, and names every peer.
  const lines = log!.lines!.map((l) => JSON.parse(l) as { t: number; peer: string; kind: string })
  for (let i = 1; i < lines.length; i++) assert.ok(lines[i].t >= lines[i - 1].t)
  assert.ok(['publisher-0', 'cache-0', 'cache-1', 'client-0', 'client-2', 'sim'].every((p) => lines.some((l) => l.peer === p)))
  assert.equal(lines.at(-1)!.kind, 'run-end')
})

test('the chain follows the simulated clock: a block every blockTimeMs, and time does not run on while the EVM works', async () => {
  const r = await runScenarioPoint(scenario('chain: { kind: evm, blockTimeMs: 1000 }'), job(3))
  assert.equal(r.error, undefined, r.error?.message)
  assert.equal(r.metrics.blocks, Math.floor(r.virtualMs / 1000))
  assert.ok(r.metrics.chainRequests > 10)
})

test('churn: clients leave and come back on their session and downtime draws, and the run still ends', async () => {
  const r = await runScenarioPoint(scenario(`  churn:
    roles: [client]
    session: { dist: fixed, meanMs: 150 }
    downtime: { dist: fixed, meanMs: 50 }`.replace(/^/gm, '')), job(4), { keepLog: true, onLog: () => {} })
  assert.equal(r.error, undefined, r.error?.message)
  assert.ok(r.events > 0)
})

test('a run that crashes is reported with its seed, not thrown', async () => {
  // (a file with a bad config never gets here: the schema refuses it; a scenario built in code can still break a role)
  const s = scenario()
  const r = await runScenarioPoint({ ...s, config: { pricePerChunk: 'not a number' } }, job(99))
  assert.ok(r.error, 'the run failed')
  assert.match(r.error!.message, /--seed 99/)
  assert.equal(r.seed, 99)
})

test('session-length draws have the distribution mean', () => {
  const rand = randStream(1, 'dist')
  for (const d of [{ dist: 'exponential', meanMs: 100 }, { dist: 'weibull', meanMs: 100, shape: 0.7 }, { dist: 'lognormal', meanMs: 100, sigma: 1 }, { dist: 'fixed', meanMs: 100 }] as const) {
    let s = 0
    const n = 40_000
    for (let i = 0; i < n; i++) s += drawDuration(rand, d)
    assert.ok(Math.abs(s / n - 100) < 5, `${d.dist}: mean ${s / n}`)
  }
})

test('the model-backed chain agrees with the EVM on a common scenario: the same event log, the same metrics', async () => {
  // scenarios/cdn-attack.yaml: 128 paid chunks, a colluding pair; its lottery winners are redeemed at the end.
  const { loadScenario } = await import('./scenario.js')
  const s = loadScenario(new URL('../../scenarios/cdn-attack.yaml', import.meta.url).pathname)
  const evm = await runScenarioPoint({ ...s, chain: { kind: 'evm', blockTimeMs: 2000 } }, job(9))
  const model = await runScenarioPoint({ ...s, chain: { kind: 'model', blockTimeMs: 2000 } }, job(9))
  assert.equal(evm.error, undefined, evm.error?.message)
  assert.equal(model.error, undefined, model.error?.message)
  assert.ok(evm.metrics.claimsPaid > 0 && evm.metrics.chainRequests > 50, 'the run paid claims and used the chain')
  assert.equal(model.eventLogHash, evm.eventLogHash)
  // (chainRequests differs by the deployment's last read: the EVM's deployment is in its snapshot, the model's in the run)
  const { chainRequests: _a, ...m } = model.metrics
  const { chainRequests: _b, ...e } = evm.metrics
  assert.deepEqual(m, e)
})
