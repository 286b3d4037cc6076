import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  assessCompute, computeVerdict, computeSensitivity, simulateCompute, parseComputeInputs, withComputeInput, checkComputeDeterrence, batchDetection,
  compareComputeWithBaselines, COMPUTE_PRESETS, COMPUTE_BASELINES, MEDIACONVERT_BASIC_LADDER_PER_MINUTE, ComputeDeterrenceError,
  type ComputeInputs, type ComputeTargets, type ComputeVerdictFigures,
} from './compute.js'
import { buildComputeReport, renderComputeTable, renderComputeHtml } from './compute-report.js'
import { VIABILITY_PRESETS } from './presets.js'
import { ViabilityInputError } from './schema.js'

const preset = COMPUTE_PRESETS.compute!.inputs
const close = (a: number, b: number, rel = 1e-9, msg = '') => assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${msg} ${a} vs ${b}`)
const set = (i: ComputeInputs, ...kv: [string, number][]) => kv.reduce((x, [p, v]) => withComputeInput(x, p, v), i)

/** A case worked out by hand (docs/viability.md § The compute model). */
const hand: ComputeInputs = {
  job: { inputHours: 2, profiles: 2, segmentSeconds: 4, lockDays: 36.5 },
  baseline: { perOutputMinute: 0.02 },
  worker: { cpuSecondsPerOutputSecond: 0.5, cpuHourUsd: 0.02, wattsPerCore: 20, electricityPerKWh: 0.25, margin: 0.25 },
  bandwidth: { inputMbps: 8, outputMbpsPerProfile: 4, perGB: 0.01 },
  verification: { unitsPerBatch: 1000, checksPerBatch: 10, verifiers: 2, comparisonFraction: 0.5 },
  gas: { claimGas: 75_000, settleGas: 40_000, faultGas: 50_000, faultsPerBatch: 0.5, openGas: 200_000, finalizeGas: 100_000, gasPriceGwei: 0.1, ethPriceUsd: 2000 },
  stake: { slashUnits: 200, slashesCovered: 5, annualCostOfCapital: 0.1 },
  supply: { cores: 4, machineUsdPerMonth: 20, utilization: 0.5 },
  targets: { maxVerificationOverhead: 0.05 },
}

test('the arithmetic, by hand: 2 input hours, 2 renditions, 3,600 units in 3 full batches and one of 600', () => {
  const r = assessCompute(parseComputeInputs(hand))
  // 2 profiles x 0.5 CPU-s per output second = 1 core-hour an input hour at $0.02 + 20 W x $0.25/kWh = $0.025.
  close(r.coreHoursPerInputHour, 1)
  close(r.usdPerCoreHour, 0.025)
  close(r.breakdown.compute, 0.025)
  // 8 Mbit/s in = 3.6 GB, 2 x 4 Mbit/s out = 3.6 GB; x $0.01.
  close(r.gbPerInputHour, 7.2)
  close(r.breakdown.bandwidth, 0.072)
  // 2 x 3600 x 2 / 4 = 3,600 units: batches of 1000, 1000, 1000, 600, each checked at 10: q = 40 / 3600.
  assert.equal(r.unitsPerJob, 3600)
  assert.equal(r.batchesPerJob, 4)
  close(r.checkRate, 1 / 90)
  // 2 verifiers x q x 1.5 = 1/30 of the worker's CPU; they fetch 2 x q x (2 x 3.6 + 3.6) = 0.24 GB.
  close(r.verificationOverhead, 1 / 30)
  close(r.verifierComputeUsd, 0.025 / 30)
  close(r.breakdown.verification, 0.025 / 30 + 0.0024)
  // 2 batches an input hour x (75k + 40k + 0.5 x 50k) + (200k + 100k) / 2 = 430,000 gas at 0.1 gwei x $2000.
  close(r.gasPerInputHour, 430_000)
  close(r.breakdown.gas, 0.086)
  // c = 200 x 5 x 10% x 0.1 year / 3600 units; price = 1.25 x direct / (1 - 1.25 c).
  const c = 10 / 3600, direct = 0.025 + 0.072 + 0.025 / 30 + 0.0024 + 0.086
  close(r.stakeLoad, 1.25 * c)
  const price = (1.25 * direct) / (1 - 1.25 * c)
  close(r.pricePerInputHour, price)
  close(r.pricePerInputHour, 0.23360279, 1e-7)
  close(r.breakdown.stake, c * price)
  close(r.breakdown.margin, 0.25 * (direct + c * price))
  const b = r.breakdown
  close(b.compute + b.bandwidth + b.verification + b.gas + b.stake + b.margin, price)
  close(r.pricePerOutputMinute, price / 120)
  close(r.baselinePerInputHour, 2.4) // $0.02 x 60 x 2 renditions
  close(r.priceToBaseline, price / 2.4)
  close(r.jobCostUsd, 2 * price)
  // Terms: a unit is price / 1800; the slash 200 of them; the stake 5 slashes; the minimum slash n / k = 100 units.
  close(r.terms.pricePerUnit, price / 1800)
  close(r.terms.slash, (200 * price) / 1800)
  close(r.terms.stake, (1000 * price) / 1800)
  assert.equal(r.terms.minSlashUnits, 100)
  close(r.detection.onePercentWrong, 1 - 0.99 ** 10)
  // The worker: paid the price less the verifiers' (with margin); electricity, bandwidth, gas and stake vary with the
  // work; 4 cores x 730 h / 1 core-hour = 2,920 input hours a month at full use, half of it used.
  const pay = price - 1.25 * (0.025 / 30 + 0.0024), variable = 0.005 + 0.072 + 0.086 + c * price
  close(r.worker.payPerInputHour, pay)
  close(r.worker.variableCostPerInputHour, variable)
  close(r.worker.capacityInputHoursPerMonth, 2920)
  close(r.worker.revenuePerMonth, 1460 * pay)
  close(r.worker.profitPerMonth, 1460 * (pay - variable) - 20)
  close(r.worker.breakEvenUtilization, 20 / (2920 * (pay - variable)))
  assert.equal(r.verdict.viable, true, r.verdict.text)
})

test('sensitivity the model must show: dearer CPU -> higher price; more checks -> more overhead; gas, bandwidth and batching move the price', () => {
  const cpu = [0, 0.005, 0.01, 0.02, 0.05, 0.2].map((x) => assessCompute(set(preset, ['worker.cpuHourUsd', x])))
  for (let i = 1; i < cpu.length; i++) {
    assert.ok(cpu[i]!.pricePerInputHour > cpu[i - 1]!.pricePerInputHour, `cpu ${i}: ${cpu[i]!.pricePerInputHour} !> ${cpu[i - 1]!.pricePerInputHour}`)
    assert.ok(cpu[i]!.breakdown.compute > cpu[i - 1]!.breakdown.compute)
  }
  const slow = assessCompute(set(preset, ['worker.cpuSecondsPerOutputSecond', 2]))
  assert.ok(slow.pricePerInputHour > assessCompute(preset).pricePerInputHour)
  // More checks per batch (the slash raised with them so the rule holds): more overhead, more verification cost.
  const k = [1, 4, 16, 64, 256].map((c) => assessCompute(set(preset, ['verification.checksPerBatch', c], ['stake.slashUnits', 1024])))
  for (let i = 1; i < k.length; i++) {
    assert.ok(k[i]!.checkRate > k[i - 1]!.checkRate)
    assert.ok(k[i]!.verificationOverhead > k[i - 1]!.verificationOverhead, `k ${i}`)
    assert.ok(k[i]!.breakdown.verification > k[i - 1]!.breakdown.verification)
    assert.ok(k[i]!.detection.onePercentWrong > k[i - 1]!.detection.onePercentWrong)
  }
  assert.ok(assessCompute(set(preset, ['verification.verifiers', 3])).verificationOverhead > assessCompute(preset).verificationOverhead)
  let prev = assessCompute(set(preset, ['gas.gasPriceGwei', 0]))
  assert.equal(prev.breakdown.gas, 0)
  for (const g of [0.001, 0.01, 0.1, 1, 10]) {
    const cur = assessCompute(set(preset, ['gas.gasPriceGwei', g]))
    assert.ok(cur.pricePerInputHour > prev.pricePerInputHour && cur.gasShare > prev.gasShare, `gas ${g}`)
    prev = cur
  }
  assert.ok(assessCompute(set(preset, ['bandwidth.perGB', 0.05])).pricePerInputHour > assessCompute(preset).pricePerInputHour)
  // Bigger batches amortize the claim (n = 2^20 covers a whole 1-hour job in one claim) but check a smaller share.
  const big = assessCompute(set(preset, ['verification.unitsPerBatch', 2 ** 20], ['stake.slashUnits', 2 ** 16]))
  assert.equal(big.batchesPerJob, 1)
  assert.ok(big.breakdown.gas < assessCompute(preset).breakdown.gas)
  assert.ok(big.checkRate < assessCompute(preset).checkRate)
  // A fault per batch only costs gas when someone cheats.
  assert.ok(assessCompute(set(preset, ['gas.faultsPerBatch', 1])).breakdown.gas > assessCompute(preset).breakdown.gas)
})

test('the deterrence rule: slash x checksPerBatch >= pricePerUnit x unitsPerBatch, or the setting is refused by name', () => {
  const broken = set(preset, ['stake.slashUnits', 63]) // n / k = 1024 / 16 = 64
  for (const f of [() => parseComputeInputs(broken), () => assessCompute(broken), () => checkComputeDeterrence(broken)]) {
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof ComputeDeterrenceError && e instanceof ViabilityInputError)
      assert.equal(e.name, 'ComputeDeterrenceError')
      assert.match(e.message, /Deterrence rule broken \(slash x checksPerBatch >= pricePerUnit x unitsPerBatch\): stake\.slashUnits 63 x verification\.checksPerBatch 16 = 1,008 unit prices < verification\.unitsPerBatch 1024/)
      assert.match(e.message, /WorkMarketInsufficientDeterrence/)
      assert.match(JSON.stringify((e as { hints?: string[] }).hints), /at least n \/ k = 64/)
      return true
    })
  }
  // Exactly at the rule is allowed; fewer checks or a bigger batch with the same slash is not.
  assert.doesNotThrow(() => assessCompute(set(preset, ['stake.slashUnits', 64])))
  assert.throws(() => assessCompute(set(preset, ['stake.slashUnits', 64], ['verification.checksPerBatch', 15])), ComputeDeterrenceError)
  assert.throws(() => assessCompute(set(preset, ['stake.slashUnits', 64], ['verification.unitsPerBatch', 1025])), ComputeDeterrenceError)
  assert.throws(() => assessCompute(set(preset, ['stake.slashUnits', 0])), ComputeDeterrenceError)
  // A batch cannot be checked more often than it has units.
  assert.throws(() => assessCompute(set(preset, ['verification.unitsPerBatch', 8], ['verification.checksPerBatch', 9])), /Check rate above 1/)
  // Sensitivity keeps going and reports a side that breaks the rule as refused.
  const edge = set(preset, ['stake.slashUnits', 64])
  const row = computeSensitivity(edge).find((r) => r.input === 'stake.slashUnits')!
  assert.match(row.verdict.low.refused!, /Deterrence rule broken/)
  assert.equal(row.verdict.low.viable, false)
  assert.equal(row.verdict.high.refused, undefined)
  assert.equal(row.flips, true)
})

const targets: ComputeTargets = { maxVerificationOverhead: 0.05 }
const good: ComputeVerdictFigures = { pricePerInputHour: 0.5, baselinePerInputHour: 1.8, verificationOverhead: 0.02, breakEvenUtilization: 0.1, utilization: 0.5 }

test('verdict: viable only when all three tests pass; each failure is named with how far it missed', () => {
  const ok = computeVerdict(good, targets)
  assert.equal(ok.viable, true)
  assert.deepEqual(ok.tests.map((t) => [t.name, t.passed]), [['price', true], ['earnings', true], ['verification', true]])
  assert.match(ok.text, /^VIABLE: price \$0\.500 per input hour is 0\.28x the baseline's \$1\.80 \(saves 72\.2%\)/)
  const price = computeVerdict({ ...good, pricePerInputHour: 2.7 }, targets)
  assert.deepEqual(price.failed, ['price'])
  assert.match(price.text, /^NOT VIABLE \(price failed\): price \$2\.70 per input hour is 1\.50x the baseline's \$1\.80: \$0\.900 \(50\.0%\) above it$/)
  assert.deepEqual(computeVerdict({ ...good, pricePerInputHour: 1.8 }, targets).failed, ['price']) // strictly below
  const earn = computeVerdict({ ...good, breakEvenUtilization: 0.75 }, targets)
  assert.deepEqual(earn.failed, ['earnings'])
  assert.match(earn.text, /breaks even only at 75\.0% utilization, 1\.50x the 50\.0% expected/)
  assert.equal(computeVerdict({ ...good, breakEvenUtilization: 0.5 }, targets).viable, true) // "covers its costs": at break-even
  assert.match(computeVerdict({ ...good, breakEvenUtilization: Infinity }, targets).text, /loses money on every hour it works/)
  const ver = computeVerdict({ ...good, verificationOverhead: 0.1 }, targets)
  assert.deepEqual(ver.failed, ['verification'])
  assert.match(ver.text, /verification costs 10\.0% of the worker's compute, 2\.00x the 5\.0% limit/)
  close(ver.tests[2]!.ratio, 2)
  const all = computeVerdict({ pricePerInputHour: 5, baselinePerInputHour: 1.8, verificationOverhead: 0.5, breakEvenUtilization: 2, utilization: 0.5 }, targets)
  assert.deepEqual(all.failed, ['price', 'earnings', 'verification'])
  const inf = computeVerdict({ ...good, pricePerInputHour: Infinity, infeasibleReason: 'no price covers the stake' }, targets)
  assert.deepEqual(inf.failed, ['price', 'earnings'])
})

test('verdict from the model: the preset passes; it flips when the baseline is cheaper than the price, on L1, with a dear idle machine, or with heavy checking', () => {
  const base = assessCompute(preset)
  assert.equal(base.verdict.viable, true, base.verdict.text)
  close(base.baselinePerInputHour, 1.8)
  close(MEDIACONVERT_BASIC_LADDER_PER_MINUTE, 0.01)
  assert.ok(base.pricePerInputHour > 0.05 && base.pricePerInputHour < 0.15, String(base.pricePerInputHour))
  // A baseline just below the market's price per output minute: the verdict flips on price alone, by that much.
  const cheap = assessCompute(set(preset, ['baseline.perOutputMinute', base.pricePerOutputMinute * 0.8]))
  assert.deepEqual(cheap.verdict.failed, ['price'])
  close(cheap.verdict.tests[0]!.ratio, 1.25)
  assert.match(cheap.verdict.text, /1\.25x the baseline's/)
  assert.equal(assessCompute(set(preset, ['baseline.perOutputMinute', base.pricePerOutputMinute * 1.01])).verdict.viable, true)
  const l1 = assessCompute(COMPUTE_PRESETS['compute-l1']!.inputs)
  assert.deepEqual(l1.verdict.failed, ['price'])
  assert.ok(l1.gasShare > 0.5)
  const dear = assessCompute(set(preset, ['supply.machineUsdPerMonth', 150]))
  assert.deepEqual(dear.verdict.failed, ['earnings'])
  const heavy = assessCompute(set(preset, ['verification.checksPerBatch', 64]))
  assert.deepEqual(heavy.verdict.failed, ['verification'])
  // Every baseline in the table: MediaConvert SD is the cheapest, Elastic Transcoder HD the dearest.
  const cmp = compareComputeWithBaselines(preset)
  assert.equal(cmp.length, Object.keys(COMPUTE_BASELINES).length)
  assert.ok(cmp.every((c) => c.priceToBaseline < 1))
  close(cmp.find((c) => c.name === 'elastic-transcoder-hd')!.perOutputMinute, 0.03)
  close(batchDetection(0.01, 16), 1 - 0.99 ** 16)
})

test('Monte Carlo over uncertain inputs: seeded and repeatable; no uncertainty gives the base; a cheap baseline is never beaten', () => {
  const a = simulateCompute(preset, { draws: 2000, seed: 7 }), b = simulateCompute(preset, { draws: 2000, seed: 7 })
  assert.deepEqual(a, b)
  assert.ok(a.price.p05 <= a.price.p50 && a.price.p50 <= a.price.p95)
  assert.ok(a.viable.ci95[0] <= a.viable.estimate && a.viable.estimate <= a.viable.ci95[1])
  assert.equal(a.viable.trials, 2000)
  const none = simulateCompute(preset, { draws: 50, seed: 1, uncertainty: [{ input: 'worker.cpuHourUsd', low: 1, high: 1, why: 'none' }] })
  close(none.price.p50, assessCompute(preset).pricePerInputHour)
  assert.equal(none.viable.hits, 50)
  const lost = simulateCompute(set(preset, ['baseline.perOutputMinute', 0.0001]), { draws: 500, seed: 2 })
  assert.equal(lost.viable.hits, 0)
  assert.equal(lost.failedBy.price, 500)
  // Wide gas uncertainty makes some draws fail.
  const gas = simulateCompute(preset, { draws: 1000, seed: 3, uncertainty: [{ input: 'gas.gasPriceGwei', low: 1, high: 1000, why: 'L1' }] })
  assert.ok(gas.failedBy.price > 0 && gas.viable.hits > 0, JSON.stringify(gas.failedBy))
  assert.throws(() => simulateCompute(preset, { draws: 1, seed: 1, uncertainty: [{ input: 'worker.nope', low: 1, high: 2, why: '' }] }), /Unknown compute viability input "worker\.nope"/)
})

test('inputs out of range are refused by name; presets run on the compute model; the table and HTML carry the verdict', () => {
  const bad = structuredClone(preset) as unknown as Record<string, Record<string, unknown>>
  bad.job.profiles = 1.5
  bad.supply.utilization = 1.2
  bad.worker.cpuHourUsd = -1
  assert.throws(() => parseComputeInputs(bad), (e: unknown) => {
    assert.ok(e instanceof ViabilityInputError && !(e instanceof ComputeDeterrenceError))
    assert.match(e.message, /job\.profiles = 1\.5/)
    assert.match(e.message, /supply\.utilization = 1\.2/)
    assert.match(e.message, /worker\.cpuHourUsd = -1/)
    return true
  })
  assert.throws(() => withComputeInput(preset, 'job.nope', 1), /Unknown compute viability input "job.nope"/)
  assert.equal(VIABILITY_PRESETS.compute!.model, 'compute')
  assert.equal(VIABILITY_PRESETS['compute-l1']!.model, 'compute')
  assert.equal(VIABILITY_PRESETS.transcoding!.model, 'swarm')
  for (const p of Object.values(COMPUTE_PRESETS)) parseComputeInputs(p.inputs)
  const rep = buildComputeReport(preset, { title: 'T', baselineTitle: 'MC', monteCarlo: simulateCompute(preset, { draws: 200, seed: 1 }) })
  const table = renderComputeTable(rep)
  assert.match(table, /verdict\s+VIABLE/)
  assert.match(table, /price per input hour, decentralized \(3 renditions\)\s+\$0\.0\d+/)
  assert.match(table, /Monte Carlo over uncertain inputs/)
  const html = renderComputeHtml(rep, { d3: '/*d3*/', plot: '/*plot*/' })
  for (const id of ['plot-breakdown', 'plot-worker', 'tornado-verdict', 'tornado-price']) assert.ok(html.includes(`id="${id}"`), id)
  assert.ok(html.includes('VIABLE: price'))
})

const root = new URL('../..', import.meta.url).pathname
/**
 * Runs `souk viability ...args` as its own process, through the viability command's own `register` and the CLI's
 * `reportError` (as src/cli/main.ts does), so that a broken module of another command does not stop this test.
 */
const HARNESS = "import { Command } from 'commander'; import { register } from './src/cli/commands/viability.ts'; import { reportError } from './src/cli/main.ts'; const p = new Command().name('souk').exitOverride(); register(p); p.configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) }); try { await p.parseAsync(process.argv.slice(1), { from: 'user' }) } catch (e) { process.exitCode = e?.code === 'commander.helpDisplayed' ? 0 : reportError(e) }"
function souk(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', HARNESS, 'viability', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = '', stderr = ''
  p.stdout.on('data', (b) => (stdout += b))
  p.stderr.on('data', (b) => (stderr += b))
  return new Promise((resolve) => p.on('close', (status) => resolve({ status, stdout, stderr })))
}

test('CLI: souk viability --preset compute (--json, HTML, --help, --list, custom inputs, the deterrence rule refused)', { timeout: 180_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'souk-viability-compute-'))
  const [r, c, text, refused, help, list] = await Promise.all([
    souk(['--preset', 'compute', '--json', '--out', out]),
    souk(['--set', 'worker.cpuHourUsd=0.04', '--set', 'baseline.perOutputMinute=0.0002', '--json', '--no-html', '--monte-carlo', '1']),
    souk(['--preset', 'compute-l1', '--no-html']),
    souk(['--preset', 'compute', '--set', 'stake.slashUnits=10', '--no-html']),
    souk(['--help']),
    souk(['--list']),
  ])
  assert.equal(r.status, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  assert.equal(j.model, 'compute')
  assert.equal(j.preset, 'compute')
  assert.equal(j.custom, false)
  assert.equal(j.title, COMPUTE_PRESETS.compute!.title)
  close(j.result.pricePerInputHour, assessCompute(preset).pricePerInputHour)
  for (const k of ['compute', 'bandwidth', 'verification', 'gas', 'stake', 'margin']) assert.equal(typeof j.result.breakdown[k], 'number', k)
  for (const k of ['baselinePerInputHour', 'priceToBaseline', 'verificationOverhead', 'checkRate', 'pricePerOutputMinute']) assert.equal(typeof j.result[k], 'number', k)
  assert.equal(typeof j.result.worker.profitPerMonth, 'number')
  assert.equal(typeof j.result.worker.breakEvenUtilization, 'number')
  assert.equal(j.verdict.viable, true)
  assert.deepEqual(j.verdict.tests.map((t: { name: string }) => t.name), ['price', 'earnings', 'verification'])
  assert.equal(j.comparisons.length, 4)
  assert.equal(j.monteCarlo, null)
  assert.ok(existsSync(j.html) && readFileSync(j.html, 'utf8').includes('plot-worker'))

  // Compute inputs without --preset select the compute model, labelled as a custom run; the verdict names the price.
  assert.equal(c.status, 0, c.stderr)
  const cj = JSON.parse(c.stdout)
  assert.equal(cj.model, 'compute')
  assert.equal(cj.preset, null)
  assert.equal(cj.basedOn, 'compute')
  assert.match(cj.title, /^Custom inputs \(based on the compute preset/)
  assert.deepEqual(cj.verdict.failed, ['price'])
  assert.ok(cj.result.pricePerInputHour > j.result.pricePerInputHour)
  assert.equal(cj.monteCarlo.draws, 1000)

  assert.equal(text.status, 0, text.stderr)
  assert.match(text.stdout, /verdict\s+NOT VIABLE: price failed/)
  assert.match(text.stdout, /Sensitivity \(each input ±20%\)/)

  assert.notEqual(refused.status, 0)
  assert.match(refused.stderr, /error: Deterrence rule broken .*stake\.slashUnits 10 x verification\.checksPerBatch 16 = 160 unit prices < verification\.unitsPerBatch 1024/)

  assert.equal(help.status, 0, help.stderr)
  assert.match(help.stdout, /compute, compute-l1\s+compute model, per hour of input video/)
  assert.match(help.stdout, /terms that break slash x checksPerBatch >= pricePerUnit x unitsPerBatch are refused/)

  assert.equal(list.status, 0, list.stderr)
  assert.match(list.stdout, /^compute\s+\[compute\]\s+Verified transcoding/m)
  assert.match(list.stdout, /^compute-l1\s+\[compute\]/m)
  assert.match(list.stdout, /^storage\s+\[storage\]/m)
})
