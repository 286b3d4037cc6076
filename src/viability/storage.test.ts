import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  assessStorage, storageVerdict, storageSensitivity, simulateStorage, lossProbability, storageTreeDepth, detectionWithin, parseStorageInputs,
  withStorageInput, compareWithBaselines, STORAGE_PRESETS, type StorageInputs, type StorageTargets, type VerdictFigures,
} from './storage.js'
import { buildStorageReport, renderStorageTable } from './storage-report.js'
import { PRESETS, VIABILITY_PRESETS } from './presets.js'
import { ViabilityInputError } from './schema.js'

const preset = STORAGE_PRESETS.storage!.inputs
const close = (a: number, b: number, rel = 1e-9, msg = '') => assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${msg} ${a} vs ${b}`)
const set = (i: StorageInputs, ...kv: [string, number | null][]) => kv.reduce((x, [p, v]) => withStorageInput(x, p, v), i)

/** A case worked out by hand (docs/viability.md § The storage model). */
const hand: StorageInputs = {
  deal: { dataTB: 1, dealMonths: 12, replicas: 2 },
  baseline: { pricePerTBMonth: 20, egressPerTB: 50 },
  provider: { diskPerTBMonth: 2, egressPerTB: 10, retrievalFractionPerMonth: 0.1, margin: 0.25 },
  proving: { challengesPerPeriod: 10, periodsPerMonth: 30, gasBase: 21_000, gasPerChallenge: 27_000, gasPerExtraLevel: 800, gasPriceGwei: 0.01, ethPriceUsd: 2000, dealsPerProofTx: 7 },
  collateral: { multipleOfPayment: 1, annualCostOfCapital: 0.12 },
  durability: { annualFailureProbability: 0.1, repairIntervalMonths: null },
  detection: { lostFraction: 0.02 },
  supply: { capacityTB: 50 },
  targets: { maxProvingShare: 0.1, maxLossProbability: 0.05, minMonthlyDetection: 0.99 },
}

test('the arithmetic, by hand: 1 TB, 2 copies, 10 challenges a day, collateral 1x at 12%', () => {
  const r = assessStorage(parseStorageInputs(hand))
  // 1e12 / 32 = 3.125e10 leaves -> depth ceil(34.86) = 35: 5 levels beyond 30 at 800 gas each.
  assert.equal(r.treeDepth, 35)
  assert.equal(r.gasPerChallenge, 27_000 + 5 * 800) // 31,000
  assert.equal(r.gasPerDealProof, 21_000 / 7 + 10 * 31_000) // 313,000
  close(r.usdPerDealProof, 313_000 * 0.01e-9 * 2000) // $0.00626
  close(r.breakdown.storage, 4) // 2 copies x $2
  close(r.breakdown.bandwidth, 1) // 10% read x $10/TB
  close(r.breakdown.provingGas, 0.3756) // 2 copies x 30 proofs x $0.00626 / 1 TB
  // c = 1 x 12 months x 12% / 12 = 0.12; price = 1.25 x 5.3756 / (1 - 1.25 x 0.12) = 6.7195 / 0.85
  close(r.collateralLoad, 0.15)
  close(r.pricePerTBMonth, 7.905294117647059)
  close(r.breakdown.collateral, 0.12 * 7.905294117647059)
  close(r.breakdown.margin, 0.25 * (5.3756 + 0.12 * 7.905294117647059))
  const b = r.breakdown
  close(b.storage + b.bandwidth + b.provingGas + b.collateral + b.margin, r.pricePerTBMonth)
  close(r.baselinePerTBMonth, 25) // $20 + 10% x $50
  close(r.priceToBaseline, 7.905294117647059 / 25)
  close(r.saving, 1 - 7.905294117647059 / 25)
  close(r.provingShare, 0.3756 / 7.905294117647059)
  close(r.dealCostUsd, 7.905294117647059 * 12)
  // Supply: each provider holds one raw TB per TB of data, paid price / 2.
  close(r.provider.revenuePerTBMonth, 3.9526470588235294)
  close(r.provider.revenuePerMonth, 3.9526470588235294 * 50)
  close(r.provider.profitPerTBMonth, 0.7905294117647059)
  close(r.provider.collateralLockedUsd, 1 * 3.9526470588235294 * 12 * 50)
  // Without repair each copy is lost within the year with 10%, both with 1%.
  close(r.lossProbability, 0.01)
  close(r.lossProbabilityNoRepair, 0.01)
  // 2% lost, 300 challenges a month: 1 - 0.98^300.
  close(r.monthlyDetectionProbability, 0.9976674943320486)
  assert.equal(r.verdict.viable, true, r.verdict.text)
  // With a repair within half a month (+ a day to be caught): lambda = -ln 0.9 / 12, R = 0.5 + 1/30,
  // d = lambda R / (1 + lambda R), rate = 2 lambda (1 - d) d, P = 1 - exp(-12 rate).
  const lambda = -Math.log(0.9) / 12, R = 0.5 + 1 / 30, d = (lambda * R) / (1 + lambda * R)
  const withRepair = assessStorage(set(hand, ['durability.repairIntervalMonths', 0.5]))
  close(withRepair.downMonths!, R)
  close(withRepair.lossProbability, 1 - Math.exp(-12 * 2 * lambda * (1 - d) * d))
  close(withRepair.lossProbability, 0.000977086820489692)
})

test('helpers: tree depth, detection, loss without repair; one copy cannot be repaired', () => {
  assert.equal(storageTreeDepth(2 ** 30 * 32 / 1e12), 30)
  assert.equal(storageTreeDepth(10), 39)
  assert.equal(storageTreeDepth(1e-12), 0)
  // The PDP figure: 5 challenges a day, 1% lost: 4.9% in a day, 77.9% in 30 days.
  close(detectionWithin(0.01, 5), 0.049, 0.01)
  close(detectionWithin(0.01, 150), 0.7785482127611391)
  close(lossProbability({ replicas: 3, annualFailureProbability: 0.05, months: 12, downMonths: null }).withRepair, 0.05 ** 3)
  const one = lossProbability({ replicas: 1, annualFailureProbability: 0.2, months: 6, downMonths: 0.1 })
  close(one.withRepair, 1 - Math.sqrt(0.8))
  // Repair never makes it worse than no repair, even when the repair is slower than the deal.
  const slow = lossProbability({ replicas: 2, annualFailureProbability: 0.5, months: 1, downMonths: 100 })
  assert.ok(slow.withRepair <= slow.noRepair)
})

test('monotone: more replicas -> lower loss, higher cost; higher gas price -> higher cost and proving share', () => {
  for (const repair of [null, 0.25]) {
    let prev = assessStorage(set(preset, ['deal.replicas', 1], ['durability.repairIntervalMonths', repair]))
    for (let r = 2; r <= 6; r++) {
      const cur = assessStorage(set(preset, ['deal.replicas', r], ['durability.repairIntervalMonths', repair]))
      assert.ok(cur.lossProbability < prev.lossProbability, `replicas ${r}, repair ${repair}: loss ${cur.lossProbability} !< ${prev.lossProbability}`)
      assert.ok(cur.pricePerTBMonth > prev.pricePerTBMonth, `replicas ${r}: price ${cur.pricePerTBMonth} !> ${prev.pricePerTBMonth}`)
      assert.ok(cur.breakdown.provingGas > prev.breakdown.provingGas)
      prev = cur
    }
  }
  let prev = assessStorage(set(preset, ['proving.gasPriceGwei', 0]))
  assert.equal(prev.breakdown.provingGas, 0)
  for (const g of [0.001, 0.01, 0.1, 1, 10, 100]) {
    const cur = assessStorage(set(preset, ['proving.gasPriceGwei', g]))
    assert.ok(cur.pricePerTBMonth > prev.pricePerTBMonth && cur.provingShare > prev.provingShare, `gas ${g} gwei`)
    prev = cur
  }
  // More challenges: more gas, more detection. Faster repair: lower loss. Bigger batches: less gas.
  const k = [4, 8, 16, 32].map((c) => assessStorage(set(preset, ['proving.challengesPerPeriod', c])))
  for (let i = 1; i < k.length; i++) assert.ok(k[i]!.pricePerTBMonth > k[i - 1]!.pricePerTBMonth && k[i]!.monthlyDetectionProbability > k[i - 1]!.monthlyDetectionProbability)
  const rep = [0.05, 0.25, 1, 3].map((m) => assessStorage(set(preset, ['durability.repairIntervalMonths', m])).lossProbability)
  for (let i = 1; i < rep.length; i++) assert.ok(rep[i]! > rep[i - 1]!)
  assert.ok(assessStorage(set(preset, ['proving.dealsPerProofTx', 50])).pricePerTBMonth < assessStorage(set(preset, ['proving.dealsPerProofTx', 1])).pricePerTBMonth)
  // A longer deal locks more collateral for longer: dearer per TB-month.
  assert.ok(assessStorage(set(preset, ['deal.dealMonths', 24])).breakdown.collateral > assessStorage(preset).breakdown.collateral)
})

const targets: StorageTargets = { maxProvingShare: 0.1, maxLossProbability: 1e-6, minMonthlyDetection: 0.99 }
const good: VerdictFigures = { pricePerTBMonth: 10, baselinePerTBMonth: 25, provingShare: 0.02, lossProbability: 1e-7, monthlyDetectionProbability: 0.995 }

test('verdict: viable only when all four tests pass; each failure is named with how far it missed', () => {
  const ok = storageVerdict(good, targets)
  assert.equal(ok.viable, true)
  assert.deepEqual(ok.failed, [])
  assert.match(ok.text, /^VIABLE: price \$10\.00\/TB-month is 0\.40x the baseline's \$25\.00 \(saves 60\.0%\)/)
  assert.deepEqual(ok.tests.map((t) => [t.name, t.passed]), [['price', true], ['proving-gas', true], ['durability', true], ['detection', true]])

  const price = storageVerdict({ ...good, pricePerTBMonth: 30 }, targets)
  assert.deepEqual(price.failed, ['price'])
  assert.match(price.text, /^NOT VIABLE \(price failed\): price \$30\.00\/TB-month is 1\.20x the baseline's \$25\.00: \$5\.00 \(20\.0%\) above it$/)
  // "Below the baseline" is strict: at the baseline's price the market saves nothing.
  assert.deepEqual(storageVerdict({ ...good, pricePerTBMonth: 25 }, targets).failed, ['price'])

  const gas = storageVerdict({ ...good, provingShare: 0.25 }, targets)
  assert.deepEqual(gas.failed, ['proving-gas'])
  assert.match(gas.text, /proving gas is 25\.0% of the price, 2\.50x the 10\.0% limit/)
  close(gas.tests[1]!.ratio, 2.5)

  const loss = storageVerdict({ ...good, lossProbability: 1.25e-4 }, targets)
  assert.deepEqual(loss.failed, ['durability'])
  assert.match(loss.text, /loss probability over the deal 1\.25e-4 is 125x the target 1\.00e-6/)

  const det = storageVerdict({ ...good, monthlyDetectionProbability: 0.779 }, targets)
  assert.deepEqual(det.failed, ['detection'])
  assert.match(det.text, /caught within a month with only 77\.9%, below 99\.0%: it escapes 22\.1% of the time, 22\.10x the 1\.0% allowed/)
  assert.equal(storageVerdict({ ...good, monthlyDetectionProbability: 0.99 }, targets).viable, true) // "at least"

  const all = storageVerdict({ pricePerTBMonth: 40, baselinePerTBMonth: 25, provingShare: 0.5, lossProbability: 0.01, monthlyDetectionProbability: 0.5 }, targets)
  assert.deepEqual(all.failed, ['price', 'proving-gas', 'durability', 'detection'])
  assert.equal(all.viable, false)

  const inf = storageVerdict({ ...good, pricePerTBMonth: Infinity, provingShare: 0, infeasibleReason: 'no price covers the collateral' }, targets)
  assert.deepEqual(inf.failed, ['price'])
  assert.match(inf.text, /price: no price covers the collateral/)
  // A zero baseline cannot be undercut by a positive price.
  assert.deepEqual(storageVerdict({ ...good, baselinePerTBMonth: 0 }, targets).failed, ['price'])
})

test('verdict from the model: the preset passes; L1 gas, PDP\'s 5 challenges, one copy and heavy collateral each fail their test', () => {
  const base = assessStorage(preset)
  assert.equal(base.verdict.viable, true, base.verdict.text)
  close(base.pricePerTBMonth, 10.102596315789473)
  close(base.baselinePerTBMonth, 27.5)
  const l1 = assessStorage(set(preset, ['proving.gasPriceGwei', 10]))
  assert.deepEqual(l1.verdict.failed, ['price', 'proving-gas'])
  const pdp = assessStorage(set(preset, ['proving.challengesPerPeriod', 5]))
  assert.deepEqual(pdp.verdict.failed, ['detection'])
  close(pdp.monthlyDetectionProbability, 0.7785482127611391)
  const one = assessStorage(set(preset, ['deal.replicas', 1]))
  assert.deepEqual(one.verdict.failed, ['durability'])
  assert.ok(one.pricePerTBMonth < base.pricePerTBMonth)
  const heavy = assessStorage(set(preset, ['collateral.multipleOfPayment', 5], ['collateral.annualCostOfCapital', 0.2]))
  assert.equal(heavy.feasible, false)
  assert.equal(heavy.pricePerTBMonth, Infinity)
  assert.deepEqual(heavy.verdict.failed, ['price'])
  assert.match(heavy.verdict.text, /no price covers the collateral's capital cost: .* = 1\.200, must be below 1/)
  // Against Backblaze B2's $6 the same market is dearer.
  const b2 = compareWithBaselines(preset).find((c) => c.name === 'b2')!
  assert.ok(b2.priceToBaseline > 1)
})

test('sensitivity: targets are not varied, counts stay whole, inputs that flip the verdict come first', () => {
  const rows = storageSensitivity(preset, 0.2)
  const by = new Map(rows.map((r) => [r.input, r]))
  assert.ok(![...by.keys()].some((k) => k.startsWith('targets.')))
  const rep = by.get('deal.replicas')!
  assert.deepEqual([rep.low, rep.high], [2, 4])
  assert.equal(rep.flips, true)
  assert.deepEqual(rep.verdict.low.failed, ['durability'])
  assert.equal(rows[0]!.input, 'deal.replicas')
  const firstStill = rows.findIndex((r) => !r.flips)
  assert.ok(firstStill > 0 && rows.slice(firstStill).every((r) => !r.flips))
  assert.equal(by.get('proving.challengesPerPeriod')!.low, 13)
  assert.deepEqual(by.get('proving.challengesPerPeriod')!.verdict.low.failed, ['detection'])
  const gas = by.get('proving.gasPriceGwei')!.outputs.pricePerTBMonth
  assert.ok(gas.low < gas.base && gas.base < gas.high)
  assert.equal(by.get('detection.lostFraction')!.high <= 1, true)
  // A null input (no repair) has nothing to perturb.
  assert.ok(!storageSensitivity(set(preset, ['durability.repairIntervalMonths', null])).some((r) => r.input === 'durability.repairIntervalMonths'))
})

// Both checks at once: each uses its 99% interval.
test('Monte Carlo: simulated deals and months agree with the closed forms within their 99% intervals', () => {
  for (const [afr, replicas, repair, seed] of [[0.5, 2, 0.25, 11], [0.5, 3, 0.5, 12], [0.3, 2, null, 13]] as const) {
    const inputs = set(preset, ['durability.annualFailureProbability', afr], ['deal.replicas', replicas], ['durability.repairIntervalMonths', repair])
    const s = simulateStorage(inputs, { deals: 100_000, months: 20_000, seed })
    assert.ok(s.loss.ci99[0] <= s.loss.closedForm && s.loss.closedForm <= s.loss.ci99[1], `loss ${afr}/${replicas}/${repair}: ${s.loss.closedForm} outside [${s.loss.ci99}] (${s.loss.hits}/${s.loss.trials})`)
    assert.ok(s.loss.hits > 50, 'enough losses to mean something')
    assert.ok(s.detection.ci99[0] <= s.detection.closedForm && s.detection.closedForm <= s.detection.ci99[1], `detection ${s.detection.closedForm} outside [${s.detection.ci99}]`)
  }
  // And it would catch a wrong formula: the no-repair figure is far outside the interval of a repaired market.
  const s = simulateStorage(set(preset, ['durability.annualFailureProbability', 0.5], ['deal.replicas', 2]), { deals: 100_000, seed: 4 })
  const noRepair = assessStorage(set(preset, ['durability.annualFailureProbability', 0.5], ['deal.replicas', 2])).lossProbabilityNoRepair
  assert.ok(noRepair > s.loss.ci99[1])
})

test('inputs out of range are refused by name; presets: storage runs on its own model, the others on the swarm model', () => {
  const bad = structuredClone(preset) as unknown as Record<string, Record<string, unknown>>
  bad.deal.replicas = 2.5
  bad.durability.annualFailureProbability = 1
  bad.proving.gasPriceGwei = -1
  assert.throws(() => parseStorageInputs(bad), (e: unknown) => {
    assert.ok(e instanceof ViabilityInputError)
    assert.match(e.message, /deal\.replicas = 2\.5/)
    assert.match(e.message, /durability\.annualFailureProbability = 1/)
    assert.match(e.message, /proving\.gasPriceGwei = -1/)
    return true
  })
  assert.throws(() => withStorageInput(preset, 'deal.nope', 1), /Unknown storage viability input "deal.nope"/)
  assert.equal(VIABILITY_PRESETS.storage!.model, 'storage')
  assert.equal(VIABILITY_PRESETS['bbc-iplayer']!.model, 'swarm')
  assert.equal(VIABILITY_PRESETS.transcoding!.model, 'swarm')
  assert.ok(!('storage' in PRESETS))
  for (const p of Object.values(STORAGE_PRESETS)) parseStorageInputs(p.inputs)
  const table = renderStorageTable(buildStorageReport(preset, { title: 'T', baselineTitle: 'S3' }))
  assert.match(table, /price per TB-month, decentralized\s+\$10\.10/)
  assert.match(table, /deal\.replicas moves the verdict most: at -20% \(2\) fails durability, at \+20% \(4\) viable/)
})

const root = new URL('../..', import.meta.url).pathname
/** Runs `souk viability ...args` as its own process. */
function souk(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'viability', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = '', stderr = ''
  p.stdout.on('data', (b) => (stdout += b))
  p.stderr.on('data', (b) => (stderr += b))
  return new Promise((resolve) => p.on('close', (status) => resolve({ status, stdout, stderr })))
}

test('CLI: souk viability --preset storage --json prints the storage model; custom runs are labelled custom; --list shows it', { timeout: 180_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'souk-viability-storage-'))
  const [r, c, text, swarm, bad, list] = await Promise.all([
    souk(['--preset', 'storage', '--json', '--out', out]),
    souk(['--set', 'proving.gasPriceGwei=10', '--json', '--no-html', '--monte-carlo', '1']),
    souk(['--preset', 'storage', '--no-html']),
    souk(['--json', '--no-html']),
    souk(['--preset', 'storage', '--set', 'supply.participation=0.5', '--no-html']),
    souk(['--list']),
  ])
  assert.equal(r.status, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  assert.equal(j.model, 'storage')
  assert.equal(j.preset, 'storage')
  assert.equal(j.custom, false)
  assert.equal(j.title, STORAGE_PRESETS.storage!.title)
  close(j.result.pricePerTBMonth, 10.102596315789473)
  for (const k of ['storage', 'bandwidth', 'provingGas', 'collateral', 'margin']) assert.equal(typeof j.result.breakdown[k], 'number', k)
  for (const k of ['baselinePerTBMonth', 'priceToBaseline', 'saving', 'lossProbability', 'monthlyDetectionProbability']) assert.equal(typeof j.result[k], 'number', k)
  assert.equal(typeof j.result.provider.revenuePerMonth, 'number')
  assert.equal(j.verdict.viable, true)
  assert.deepEqual(j.verdict.tests.map((t: { name: string }) => t.name), ['price', 'proving-gas', 'durability', 'detection'])
  assert.equal(j.mostSensitive, 'deal.replicas')
  assert.equal(j.sensitivity.length, 23)
  assert.equal(j.comparisons.length, 3)
  assert.equal(j.monteCarlo, null)
  assert.ok(existsSync(j.html) && readFileSync(j.html, 'utf8').includes('tornado-verdict'))

  // Storage inputs without --preset run the storage model, labelled as a custom run, not as the preset.
  assert.equal(c.status, 0, c.stderr)
  const cj = JSON.parse(c.stdout)
  assert.equal(cj.model, 'storage')
  assert.equal(cj.preset, null)
  assert.equal(cj.basedOn, 'storage')
  assert.equal(cj.custom, true)
  assert.match(cj.title, /^Custom inputs \(based on the storage preset/)
  assert.deepEqual(cj.verdict.failed, ['price', 'proving-gas'])
  assert.equal(cj.monteCarlo.loss.trials, 10_000)

  assert.equal(text.status, 0, text.stderr)
  assert.match(text.stdout, /verdict\s+VIABLE/)
  assert.match(text.stdout, /Sensitivity \(each input ±20%\)/)

  assert.equal(swarm.status, 0, swarm.stderr)
  const sj = JSON.parse(swarm.stdout)
  assert.equal(sj.model, 'swarm')
  assert.equal(sj.preset, 'bbc-iplayer')
  assert.equal(typeof sj.result.offload, 'number')

  assert.notEqual(bad.status, 0)
  assert.match(bad.stderr, /Unknown viability input "supply\.participation" for the storage model/)

  assert.equal(list.status, 0, list.stderr)
  assert.match(list.stdout, /^storage\s+\[storage\]\s+Decentralized file storage/m)
  assert.match(list.stdout, /^bbc-iplayer\s+\[swarm\]/m)
})
