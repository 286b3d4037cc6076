// The storage and compute markets on the simulator: one run of each shipped scenario ends without error and with
// the outcome its threat model claims (the dropping provider faulted and slashed, and poorer than its honest twin;
// the lazy worker slashed), a storage run repeats to the same event log, and a model-chain run fails saying why.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { honestTwin } from '../economics.js'
import { runScenarioPoint } from '../run.js'
import { loadScenario, type Scenario } from '../scenario.js'
import { runSeed, type RunResult } from '../types.js'
import { externalWork } from '../external.js'
import { createEngine } from '../engine.js'

const run = (s: Scenario, i = 0): Promise<RunResult> => runScenarioPoint(s, { point: 0, params: {}, run: i, seed: runSeed(s.seed, 0, i) })
const ok = (r: RunResult) => { assert.equal(r.error, undefined, r.error?.message); return r.metrics }

test('storage-honest: every period proven, every file retrieved, nothing faulted', async () => {
  const m = ok(await run(loadScenario('scenarios/storage-honest.yaml')))
  assert.equal(m.clientsOk, 4)
  assert.equal(m.dealsActive, 4)
  assert.equal(m.periodsProven, 12)
  assert.equal(m.periodsFaulted, 0)
  assert.equal(m.retrievalsOk, 4)
  assert.equal(m.caught, 0)
})

test('storage-drop: the dropping provider is faulted and slashed, and loses against its honest twin; a rerun gives the same event log', async () => {
  const s = loadScenario('scenarios/storage-drop.yaml')
  const a = await run(s)
  const m = ok(a)
  assert.equal(m.clientsOk, 4)
  assert.equal(m.caught, 1)
  assert.ok(m.periodsFaulted >= 1 && m.attackerSlashed > 0, `faulted ${m.periodsFaulted}, slashed ${m.attackerSlashed}`)
  assert.ok(m.periodsSkipped >= m.periodsFaulted - m.faultsCalled)
  const t = ok(await run(honestTwin(s)))
  assert.equal(t.periodsFaulted, 0)
  assert.equal(t.caught, 0)
  assert.ok(m.attackerValue - t.attackerValue < 0, `attacker profit ${m.attackerValue - t.attackerValue}`)
  const again = await run(s)
  assert.equal(again.eventLogHash, a.eventLogHash)
  assert.deepEqual(again.metrics, a.metrics)
})

test('compute-lazy: the lazy worker is slashed on every batch its clients check, and loses against its honest twin', async () => {
  const s = loadScenario('scenarios/compute-lazy.yaml')
  const m = ok(await run(s))
  assert.equal(m.clientsOk, 4)
  assert.equal(m.cheatersSlashed, 1)
  assert.equal(m.honestWorkersSlashed, 0)
  assert.equal(m.batchesFaulted, 4) // 2 jobs of 2 batches, one check a batch, every unit faked
  assert.equal(m.caught, 1)
  const t = ok(await run(honestTwin(s)))
  assert.equal(t.batchesFaulted, 0)
  assert.ok(m.attackerValue - t.attackerValue < 0, `attacker profit ${m.attackerValue - t.attackerValue}`)
})

// Sharp transcodes on libuv's threads, which the engine cannot see: until run.ts hands roles
// `external: externalWork(engine)` (src/sim/external.ts), simulated time runs on while a unit is transcoded.
test('compute-lazy: a rerun gives the same event log', async () => {
  const s = loadScenario('scenarios/compute-lazy.yaml')
  const [a, b] = [await run(s), await run(s)]
  assert.equal(a.eventLogHash, b.eventLogHash)
})

test('compute-honest: every batch checked and settled, nothing faulted', async () => {
  const m = ok(await run(loadScenario('scenarios/compute-honest.yaml')))
  assert.equal(m.clientsOk, 4)
  assert.equal(m.batchesSettled, 8)
  assert.equal(m.batchesFaulted, 0)
  assert.equal(m.verdictsBad, 0)
})

test('storage and compute refuse the model-backed chain with a clear error', async () => {
  for (const file of ['scenarios/storage-drop.yaml', 'scenarios/compute-lazy.yaml']) {
    const s = loadScenario(file)
    const r = await run({ ...s, chain: { ...s.chain, kind: 'model' } })
    assert.equal(r.error?.code, 'SIM_CHAIN')
    assert.match(r.error!.message, /does not run on the model-backed chain/)
  }
})

test('externalWork: time stands still while the work runs, results come back in the order the works began', async () => {
  const engine = createEngine()
  const external = externalWork(engine)
  const seen: string[] = []
  void external(() => new Promise((r) => setTimeout(r, 20))).then(() => seen.push(`slow@${engine.now()}`))
  void external(async () => {}).then(() => seen.push(`fast@${engine.now()}`))
  void external(() => Promise.reject(new Error('bad'))).catch((e: Error) => seen.push(e.message))
  engine.after(5, () => seen.push(`t5@${engine.now()}`))
  await engine.run()
  assert.deepEqual(seen, ['slow@0', 'fast@0', 'bad', 't5@5'])
})
