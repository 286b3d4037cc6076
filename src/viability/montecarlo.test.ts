import { test } from 'node:test'
import assert from 'node:assert/strict'
import { simulateSwarm, simulateCatalog } from './montecarlo.js'
import { mulberry32, poisson } from './prng.js'

test('prng: deterministic per seed, uniform mean, Poisson mean', () => {
  const a = mulberry32(1), b = mulberry32(1)
  assert.deepEqual([a(), a(), a()], [b(), b(), b()])
  const r = mulberry32(9)
  let s = 0
  for (let i = 0; i < 20000; i++) s += r()
  assert.ok(Math.abs(s / 20000 - 0.5) < 0.01)
  let ps = 0
  for (let i = 0; i < 5000; i++) ps += poisson(r, 3)
  assert.ok(Math.abs(ps / 5000 - 3) < 0.1)
})

// Four checks at once: each uses its 99% interval so the family misses with probability ~4%, not ~19%.
test('Monte Carlo agrees with the closed form within its confidence interval at L = 0.5, 1, 3, 10', () => {
  for (const [L, seed] of [[0.5, 11], [1, 12], [3, 13], [10, 14]]) {
    const r = simulateSwarm({ arrivalRatePerSec: L / 20, watchTimeSec: 20, horizonSec: 40_000 * 20 / Math.max(1, L), seed })
    assert.ok(r.ci99[0] <= r.closedForm && r.closedForm <= r.ci99[1], `L=${L}: closed form ${r.closedForm} outside [${r.ci99}] (sim ${r.offload})`)
    assert.ok(r.ci99[1] - r.ci99[0] < 0.03, `L=${L}: CI too wide to mean anything: ${r.ci99}`)
  }
})

test('Monte Carlo detects a wrong model: the CI excludes a 5% error', () => {
  const r = simulateSwarm({ arrivalRatePerSec: 0.1, watchTimeSec: 10, horizonSec: 400_000, seed: 3 })
  assert.ok(!(r.ci99[0] <= r.closedForm * 1.05 && r.closedForm * 1.05 <= r.ci99[1]))
})

test('catalog simulation: per-item offload falls with rank, as the closed form says', () => {
  const rows = simulateCatalog({ catalogSize: 100, zipfExponent: 1, arrivalRatePerSec: 2, watchTimeSec: 30, items: 3, horizonSec: 30_000, seed: 5 })
  assert.equal(rows.length, 3)
  assert.ok(rows[0].offload > rows[2].offload)
  for (const r of rows) assert.ok(Math.abs(r.offload - r.closedForm) < 0.02)
})
