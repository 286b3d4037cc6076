import { test } from 'node:test'
import assert from 'node:assert/strict'
import { swarmOffload, zipfShares, assessViability, sensitivity, capacityFactor, effectivePresenceSec } from './model.js'
import { parseViabilityInputs, withInput, ViabilityInputError } from './schema.js'
import { PRESETS } from './presets.js'

const bbc = PRESETS['bbc-iplayer'].inputs
const close = (a: number, b: number, eps: number, msg?: string) => assert.ok(Math.abs(a - b) <= eps, `${msg ?? ''} ${a} vs ${b}`)

test('closed form at known points: L=10 -> 0.90, L=1 -> 0.37, L->0 -> 0, L->inf -> 1', () => {
  close(swarmOffload(10), 0.9, 5e-5)
  close(swarmOffload(1), 1 / Math.E, 1e-12) // 1 - (1 - e^-1) = e^-1
  close(swarmOffload(1e-9), 0, 1e-9)
  close(swarmOffload(0.001), 0.0005, 1e-6) // G(L) ~ L/2 for small L
  close(swarmOffload(1e6), 1, 1e-5)
  close(swarmOffload(10, 0.5), 0.45, 5e-5) // below capacity: scaled by k
})

test('capacity factor: (participation x upload) / bitrate, capped at 1; churn shortens presence', () => {
  const i = withInput(withInput(bbc, 'supply.uploadMbps', 0.75), 'supply.participation', 0.5)
  close(capacityFactor(i), 0.25, 1e-12)
  assert.equal(capacityFactor(bbc), 1)
  assert.equal(effectivePresenceSec(bbc), 1800)
  close(effectivePresenceSec(withInput(bbc, 'supply.sessionLengthSec', 1800)), 900, 1e-9)
})

test('Zipf shares sum to 1 and fall as i^-s', () => {
  const p = zipfShares(1000, 1)
  close(p.reduce((a, x) => a + x, 0), 1, 1e-12)
  close(p[0] / p[9], 10, 1e-9)
  const u = zipfShares(4, 0)
  assert.deepEqual([...u], [0.25, 0.25, 0.25, 0.25])
})

test('one item: overall offload equals the closed form at L = rate x watch time', () => {
  const one = { ...bbc, demand: { ...bbc.demand, catalogSize: 1, arrivalRatePerSec: 1, watchTimeSec: 10 }, supply: { ...bbc.supply, swarmPartitions: 1 } }
  close(assessViability(one).offload, 0.9, 5e-5)
  // Four ISP partitions: each swarm has a quarter of the viewers.
  close(assessViability({ ...one, supply: { ...one.supply, swarmPartitions: 4 } }).offload, swarmOffload(2.5), 1e-12)
})

test('costs: sponsor = (1-off) x provider + off x (price + fee) per GB; break-even = peer cost per chunk', () => {
  const r = assessViability(bbc)
  assert.equal(r.chunksPerGB, 1000)
  close(r.feePerTxUsd, 1.6e6 * 0.01e-9 * 3000, 1e-12)
  close(r.feePerChunkUsd, r.feePerTxUsd / (1000 * 100), 1e-15)
  close(r.sponsorCostPerGB, (1 - r.offload) * 0.02 + r.offload * (0.00001 + r.feePerChunkUsd) * 1000, 1e-12)
  close(r.peerBreakEvenPricePerChunk, 0.002 / 1000, 1e-15)
  close(r.sponsorMaxPricePerChunk, 0.02 / 1000 - r.feePerChunkUsd, 1e-15)
  assert.equal(r.viable, true)
  assert.equal(assessViability(withInput(bbc, 'costs.pricePerChunk', 0.001)).viable, false)
})

test('BBC preset lands within 10 points of the reported 88% and below it', () => {
  const r = assessViability(bbc)
  assert.ok(r.offload > 0.78 && r.offload < 0.88, String(r.offload))
  assert.ok(r.byRank[0].offload > r.byRank[r.byRank.length - 1].offload)
})

test('sensitivity: each input moves its outputs the right way; shares are clamped at 1', () => {
  const s = new Map(sensitivity(bbc, 0.2).map((x) => [x.input, x]))
  const arr = s.get('demand.arrivalRatePerSec')!.outputs.offload
  assert.ok(arr.low < arr.base && arr.base < arr.high)
  const part = s.get('supply.participation')!
  assert.equal(part.high, 1)
  const price = s.get('costs.pricePerChunk')!.outputs.sponsorCostPerGB
  assert.ok(price.low < price.base && price.base < price.high)
  assert.equal(s.get('demand.catalogSize')!.low, 2400)
  assert.ok(!s.has('supply.sessionLengthSec')) // null (no churn) has nothing to perturb
})

test('inputs out of range are refused by name', () => {
  const bad = structuredClone(bbc) as unknown as Record<string, Record<string, unknown>>
  bad.demand.arrivalRatePerSec = -3
  bad.supply.participation = 1.2
  bad.demand.catalogSize = 2.5
  assert.throws(() => parseViabilityInputs(bad), (e: unknown) => {
    assert.ok(e instanceof ViabilityInputError)
    assert.match(e.message, /demand\.arrivalRatePerSec = -3/)
    assert.match(e.message, /supply\.participation = 1\.2/)
    assert.match(e.message, /demand\.catalogSize = 2\.5/)
    return true
  })
  assert.throws(() => withInput(bbc, 'demand.nope', 1), /Unknown viability input "demand.nope"/)
  for (const p of Object.values(PRESETS)) parseViabilityInputs(p.inputs)
})
