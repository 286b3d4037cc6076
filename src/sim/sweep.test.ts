import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseScenario, type Scenario } from './scenario.js'
import { runSweep, readResults, CSV_BASE_COLUMNS, SweepError } from './sweep.js'
import { runSeed, type RunResult } from './types.js'
import { runScenarioPoint as fixtureRunner } from './fixtures/runner.js'

const FIXTURE = new URL('./fixtures/runner.ts', import.meta.url).href
const tmp = () => mkdtempSync(join(tmpdir(), 'souk-sweep-'))

const scenario = (directives: object = {}, runs = 3): Scenario => parseScenario(`souk: scenario/1
name: sweep-test
description: '${JSON.stringify(directives)}'
market: cdn
seed: 42
runs: ${runs}
durationMs: 60000
peers:
  - { name: publisher, role: publisher }
  - { name: cache, role: cache, count: 2 }
  - { name: client, role: client, count: 4 }
sweep:
  cartesian: { "network.jitterMs": [0, 10], "peers.cache.count": [1, 3] }
`, 'sweep-test.yaml')

const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean)
const pairs = (rs: RunResult[]) => rs.map((r) => `${r.point}:${r.run}`).sort()
const allPairs = (points: number, runs: number) => Array.from({ length: points * runs }, (_, i) => `${Math.floor(i / runs)}:${i % runs}`).sort()

test('inline sweep: every (point, run) with its seed, streamed to CSV and JSON lines, and a summary', async () => {
  const dir = tmp()
  const progress: number[] = []
  const out = await runSweep({ scenario: scenario(), outDir: dir, workers: 0, runner: fixtureRunner as never, onProgress: (p) => progress.push(p.done) })
  assert.equal(out.total, 12)
  assert.equal(out.ran, 12)
  assert.equal(out.aborted, false)
  assert.deepEqual(progress, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  const rs = readResults(out.files.jsonl)
  assert.deepEqual(pairs(rs), allPairs(4, 3))
  for (const r of rs) assert.equal(r.seed, runSeed(42, r.point, r.run))
  assert.deepEqual(rs[4]!.params, { 'network.jitterMs': 0, 'peers.cache.count': 3 })
  const csv = lines(out.files.csv)
  assert.equal(csv.length, 13)
  assert.equal(csv[0], [...CSV_BASE_COLUMNS, 'params.network.jitterMs', 'params.peers.cache.count', 'metrics.delivered', 'metrics.late', 'metrics.profit'].join(','))
  const summary = JSON.parse(readFileSync(out.files.summary, 'utf8'))
  assert.equal(summary.points.length, 4)
  assert.equal(summary.points[3].n, 3)
  assert.deepEqual(summary.points[3].params, { 'network.jitterMs': 10, 'peers.cache.count': 3 })
  assert.ok(summary.points[3].metrics.profit.ci95[0] < summary.points[3].metrics.profit.mean)
  assert.equal(summary.sweepHash, out.summary.sweepHash)
})

test('a killed sweep resumes: the runs already recorded are skipped, a half-written line is dropped, none is duplicated', async () => {
  const dir = tmp()
  const ac = new AbortController()
  const first = await runSweep({ scenario: scenario(), outDir: dir, workers: 0, runner: fixtureRunner as never, signal: ac.signal, onProgress: (p) => { if (p.done >= 5) ac.abort() } })
  assert.equal(first.aborted, true)
  assert.equal(first.ran, 5)
  assert.equal(lines(first.files.jsonl).length, 5)
  // A kill in the middle of a write leaves half a line.
  appendFileSync(first.files.jsonl, '{"scenario":"sweep-test","point":3,"run":')
  const seen: RunResult[] = []
  const second = await runSweep({ scenario: scenario(), outDir: dir, workers: 0, runner: async (s, j) => { const r = await fixtureRunner(s, j); seen.push(r); return r } })
  assert.equal(second.skipped, 5)
  assert.equal(second.ran, 7)
  assert.equal(second.aborted, false)
  assert.equal(seen.length, 7)
  const rs = readResults(second.files.jsonl)
  assert.deepEqual(pairs(rs), allPairs(4, 3), 'every run once')
  assert.equal(lines(second.files.csv).length, 13)
  // The same summary as an uninterrupted sweep.
  const straight = await runSweep({ scenario: scenario(), outDir: tmp(), workers: 0, runner: fixtureRunner as never })
  assert.deepEqual(second.summary, straight.summary)
  // Nothing left to do: a third start runs nothing.
  const third = await runSweep({ scenario: scenario(), outDir: dir, workers: 0, runner: () => assert.fail('nothing to run') })
  assert.equal(third.ran, 0)
  assert.equal(third.skipped, 12)
  // More replications later: only the new runs run.
  const more = await runSweep({ scenario: { ...scenario(), runs: 4 }, outDir: dir, workers: 0, runner: fixtureRunner as never })
  assert.equal(more.ran, 4)
  assert.deepEqual(pairs(readResults(more.files.jsonl)), allPairs(4, 4))
})

test('a crashing run is recorded with its seed and the sweep goes on', async () => {
  const dir = tmp()
  const out = await runSweep({
    scenario: scenario(), outDir: dir, workers: 0,
    runner: async (s, j) => {
      if (j.point === 1 && j.run === 2) throw new Error('engine exploded\nwith a second line')
      const r = await fixtureRunner(s, j)
      return j.point === 2 && j.run === 0 ? { ...r, metrics: {}, error: { message: 'run returned an error' } } : r
    },
  })
  assert.equal(out.ran, 12)
  assert.equal(out.failed, 2)
  const rs = readResults(out.files.jsonl)
  const crash = rs.find((r) => r.point === 1 && r.run === 2)!
  assert.equal(crash.seed, runSeed(42, 1, 2))
  assert.equal(crash.error!.message, `engine exploded (rerun: souk sim run FILE --point 1 --seed ${crash.seed})`)
  assert.deepEqual(out.summary.failed.map((f) => [f.point, f.run, f.seed]), [[1, 2, runSeed(42, 1, 2)], [2, 0, runSeed(42, 2, 0)]])
  assert.equal(out.summary.points[1]!.failed, 1)
  assert.equal(out.summary.points[1]!.metrics.profit!.n, 2, 'failed runs are not in the statistics')
  const csv = lines(out.files.csv)
  assert.ok(csv.some((l) => l.includes('engine exploded (rerun: souk sim run FILE --point 1 --seed')))
})

test('retryFailed: a resumed sweep runs the failed runs again, once', async () => {
  const dir = tmp()
  const flaky = async (s: Scenario, j: Parameters<typeof fixtureRunner>[1]) => { if (j.run === 1) throw new Error('transient'); return fixtureRunner(s, j) }
  const first = await runSweep({ scenario: scenario(), outDir: dir, workers: 0, runner: flaky })
  assert.equal(first.failed, 4)
  const kept = await runSweep({ scenario: scenario(), outDir: dir, workers: 0, runner: fixtureRunner as never })
  assert.equal(kept.ran, 0, 'without retryFailed a failed run is done')
  const retried = await runSweep({ scenario: scenario(), outDir: dir, workers: 0, runner: fixtureRunner as never, retryFailed: true })
  assert.equal(retried.ran, 4)
  assert.equal(retried.failed, 0)
  assert.deepEqual(pairs(readResults(retried.files.jsonl)), allPairs(4, 3))
  assert.deepEqual(retried.summary, (await runSweep({ scenario: scenario(), outDir: tmp(), workers: 0, runner: fixtureRunner as never })).summary)
})

test('the summary is the same on 0 and 2 worker threads (real tinypool workers, injected runner module)', async () => {
  const inline = await runSweep({ scenario: scenario({ delayMs: 5 }), outDir: tmp(), workers: 0, runnerModule: FIXTURE })
  const pooled = await runSweep({ scenario: scenario({ delayMs: 5 }), outDir: tmp(), workers: 2, runnerModule: FIXTURE })
  assert.equal(pooled.ran, 12)
  assert.deepEqual(JSON.parse(readFileSync(pooled.files.summary, 'utf8')), JSON.parse(readFileSync(inline.files.summary, 'utf8')))
  assert.equal(pooled.summary.sweepHash, inline.summary.sweepHash)
  assert.deepEqual(pairs(readResults(pooled.files.jsonl)), allPairs(4, 3))
})

test('on worker threads: a run that throws and a worker that dies are recorded, the dead worker replaced, the rest run', async () => {
  const out = await runSweep({ scenario: scenario({ throwAt: [[0, 1]], exitAt: [[1, 0]], delayMs: 2 }), outDir: tmp(), workers: 2, runnerModule: FIXTURE })
  assert.equal(out.ran, 12)
  assert.equal(out.failed, 2)
  const rs = readResults(out.files.jsonl)
  assert.deepEqual(pairs(rs), allPairs(4, 3))
  const dead = rs.find((r) => r.point === 1 && r.run === 0)!
  assert.match(dead.error!.message, /worker thread exited \(code 7\).*--seed \d+/)
  assert.equal(dead.seed, runSeed(42, 1, 0))
  assert.match(rs.find((r) => r.point === 0 && r.run === 1)!.error!.message, /fixture crash at point 0 run 1/)
  assert.equal(rs.filter((r) => !r.error).length, 10)
})

test('on worker threads: an aborted sweep records only finished runs and resumes to completion', async () => {
  const dir = tmp()
  const ac = new AbortController()
  const first = await runSweep({ scenario: scenario({ delayMs: 20 }), outDir: dir, workers: 2, runnerModule: FIXTURE, signal: ac.signal, onProgress: (p) => { if (p.done >= 3) ac.abort() } })
  assert.equal(first.aborted, true)
  const done = readResults(first.files.jsonl)
  assert.ok(done.length >= 3 && done.length < 12, `${done.length} recorded`)
  assert.ok(done.every((r) => !r.error), 'an interrupted run is not a failure')
  const second = await runSweep({ scenario: scenario({ delayMs: 20 }), outDir: dir, workers: 2, runnerModule: FIXTURE })
  assert.equal(second.skipped, done.length)
  assert.deepEqual(pairs(readResults(second.files.jsonl)), allPairs(4, 3))
})

test("another scenario's results directory is refused", async () => {
  const dir = tmp()
  await runSweep({ scenario: scenario(), outDir: dir, workers: 0, runner: fixtureRunner as never })
  const other = { ...scenario(), seed: 43 }
  await assert.rejects(runSweep({ scenario: other, outDir: dir, workers: 0, runner: fixtureRunner as never }), (e: unknown) => e instanceof SweepError && /holds the results of another scenario/.test(e.message) && /--out/.test(e.message))
})

test('with the real runner (run.ts, the EVM): the same sweep hash on this thread and on 2 worker threads', async () => {
  const s = parseScenario(`souk: scenario/1
name: sweep-real
market: cdn
seed: 21
runs: 1
durationMs: 60000
content: { bytes: 16384, chunkSize: 4096 }
peers:
  - { name: publisher, role: publisher }
  - { name: cache, role: cache, count: 1 }
  - { name: client, role: client, count: 2 }
sweep:
  cartesian: { "network.jitterMs": [0, 5] }
`, 'sweep-real.yaml')
  const inline = await runSweep({ scenario: s, outDir: tmp(), workers: 0 })
  const pooled = await runSweep({ scenario: s, outDir: tmp(), workers: 2 })
  assert.equal(inline.failed, 0, JSON.stringify(inline.summary.failed))
  assert.equal(pooled.failed, 0, JSON.stringify(pooled.summary.failed))
  assert.equal(pooled.summary.sweepHash, inline.summary.sweepHash)
  assert.deepEqual(pooled.summary, inline.summary)
  assert.ok(inline.summary.points.every((p) => p.metrics.clientsOk?.mean === 2))
})

test('on worker threads: a run over its time limit is stopped, recorded with its seed, and the sweep goes on', async () => {
  const out = await runSweep({ scenario: scenario({ spinAt: [[0, 0]], delayMs: 2 }), outDir: tmp(), workers: 2, runnerModule: FIXTURE, runTimeoutMs: 4000 })
  assert.equal(out.ran, 12)
  assert.equal(out.failed, 1)
  const rs = readResults(out.files.jsonl)
  assert.deepEqual(pairs(rs), allPairs(4, 3))
  const stuck = rs.find((r) => r.point === 0 && r.run === 0)!
  assert.match(stuck.error!.message, /took longer than 4 s of wall time and was stopped \(rerun: souk sim run FILE --seed \d+\)/)
  await assert.rejects(runSweep({ scenario: scenario(), outDir: tmp(), workers: 0, runTimeoutMs: 1000 }), /needs worker threads/)
})
