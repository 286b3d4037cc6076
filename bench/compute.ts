/**
 * The compute market's benchmark (issue 13; `npm run bench -- compute`, bench/results/compute.json):
 *  - claimWorkGas2p20Units, spotCheckGas (and the rest of bench/compute-gas.ts): receipts on the embedded EVM at Osaka;
 *  - verificationOverhead: the checkers' CPU over the worker's at the default check rate (`checksPerBatch` re-executed
 *    and compared, PSNR included, per `batchUnits` transcoded), on the same units, measured in this run;
 *  - honestFalseSlashRate: 10^4 simulated jobs by honest workers whose encoder setting varies within what the checks
 *    allow (JPEG quality 70..90 against the profile's 80: another encoder build or preset), each challenged unit
 *    checked for real by `checkOutput` against a re-execution (verdicts of identical (unit, quality) pairs reused):
 *    the share of jobs with a bad verdict, i.e. that an honest quorum would slash (goal 0);
 *  - unitsPerSecondPaidToSharpAlone: units a second through the whole market (worker, checker and client roles over
 *    the memory transport, claims and settlement on the embedded chain) over `transcodeSegment` alone on the same
 *    units, both in this run.
 */
import { createChain } from '../src/chain/index.js'
import { deploySouk } from '../src/payments/deploy.js'
import { deployWorkMarketContract } from '../src/services/compute/chain.js'
import { computeWorld } from '../src/services/compute/fixtures.js'
import { ComputeConfigSchema, profileByName } from '../src/services/compute/market.js'
import { checkOutput, configureSharp, measureSharpAlone, transcodeSegment, unitInput } from '../src/services/compute/transcode.js'
import { measureComputeGas } from './compute-gas.js'

const DEFAULTS = ComputeConfigSchema.parse({ workMarket: `0x${'00'.repeat(20)}` })

export async function benchCompute(o: { log?: (s: string) => void; jobs?: number } = {}): Promise<Record<string, number>> {
  const log = o.log ?? (() => {})
  configureSharp({ threads: 1 })
  const gas = await measureComputeGas()
  log(`claim ${gas.claimWorkGas2p20Units} gas at 2^20 units, spot check ${gas.spotCheckGas} gas at depth 20`)

  // --- Verification overhead at the default check rate, on units of the default job (640x360 sources, 180p JPEG).
  const profile = profileByName(DEFAULTS.profile)
  const n = DEFAULTS.batchUnits, k = DEFAULTS.checksPerBatch
  const inputs = Array.from({ length: n }, (_, u) => unitInput({ width: DEFAULTS.width, height: DEFAULTS.height, framesPerUnit: DEFAULTS.framesPerUnit, unit: u, seed: 'bench' }))
  await transcodeSegment(inputs[0], profile)
  let t0 = performance.now()
  const outputs: Uint8Array[] = []
  for (const x of inputs) outputs.push(await transcodeSegment(x, profile))
  const workerMs = performance.now() - t0
  t0 = performance.now()
  for (let i = 0; i < k; i++) { const v = await checkOutput(inputs[i * 7 % n], outputs[i * 7 % n], profile); if (!v.ok) throw new Error('an honest output failed its check') }
  const verifierMs = performance.now() - t0
  const verificationOverhead = verifierMs / workerMs
  log(`verification: ${verifierMs.toFixed(0)} ms of checks for ${workerMs.toFixed(0)} ms of work (${k} of ${n} units): ${verificationOverhead.toFixed(4)}`)

  // --- Honest false slashes over simulated jobs.
  const jobs = o.jobs ?? 10_000
  const small = profile
  const pool = 32
  const smallInputs = Array.from({ length: pool }, (_, u) => unitInput({ width: DEFAULTS.width, height: DEFAULTS.height, framesPerUnit: DEFAULTS.framesPerUnit, unit: u, seed: 'false-slash' }))
  const refs = await Promise.all(smallInputs.map((x) => transcodeSegment(x, small)))
  const verdicts = new Map<string, boolean>()
  let rng = 0x9e3779b9
  const next = () => { rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5; return (rng >>> 0) / 2 ** 32 }
  let falseSlashes = 0, checks = 0, minPsnr = Infinity
  for (let j = 0; j < jobs; j++) {
    const quality = 70 + Math.floor(next() * 21)
    let bad = false
    for (let i = 0; i < k; i++) {
      const u = Math.floor(next() * pool)
      const key = `${u}/${quality}`
      let ok = verdicts.get(key)
      if (ok === undefined) {
        const out = await transcodeSegment(smallInputs[u], small, { quality })
        const v = await checkOutput(smallInputs[u], out, small, { reference: refs[u] })
        ok = v.ok
        if (v.ok) minPsnr = Math.min(minPsnr, v.minPsnrDb)
        verdicts.set(key, ok)
      }
      checks++
      if (!ok) bad = true
    }
    if (bad) falseSlashes++
    if (j % 2000 === 1999) log(`${j + 1} simulated honest jobs, ${falseSlashes} would be slashed`)
  }
  const honestFalseSlashRate = falseSlashes / jobs

  // --- The paid market against sharp alone, same units.
  const units = 32
  // The client's video exists before the job (its generation is not the market's cost): segments made up front.
  const segments = Array.from({ length: units }, (_, u) => unitInput({ width: DEFAULTS.width, height: DEFAULTS.height, framesPerUnit: DEFAULTS.framesPerUnit, unit: u, seed: 'paid' }))
  const alone = await measureSharpAlone({ frames: DEFAULTS.framesPerUnit, width: DEFAULTS.width, height: DEFAULTS.height, profile, units, seed: 'paid', now: () => performance.now() })
  const chain = await createChain({ kind: 'embedded', accounts: 8 })
  let paidUps = 0
  try {
    const dep = await deploySouk(chain, chain.devKeys[0])
    const workMarket = await deployWorkMarketContract(chain, chain.devKeys[0], dep.token)
    let kb = 1
    const w = await computeWorld({ chain, deployment: dep, workMarket, nextKey: () => chain.devKeys[kb++], seed: 'bench' }, {
      client: { units, width: DEFAULTS.width, height: DEFAULTS.height, framesPerUnit: DEFAULTS.framesPerUnit, profile: DEFAULTS.profile, segments, batchUnits: 8, checksPerBatch: 1 },
      worker: {}, verifiers: [{}],
    })
    try {
      const t1 = performance.now()
      await w.client.client.worked
      paidUps = (units * 1000) / (performance.now() - t1)
      await w.blocks(() => w.client.result().ended, 200)
      if (w.client.result().faults !== 0 || !w.client.result().ended) throw new Error('the paid run did not end cleanly')
    } finally { await w.close() }
  } finally { await chain.close() }
  const unitsPerSecondPaidToSharpAlone = paidUps / alone.unitsPerSecond
  log(`paid ${paidUps.toFixed(1)} units/s, sharp alone ${alone.unitsPerSecond.toFixed(1)} units/s`)

  return {
    ...gas,
    verificationOverhead: Number(verificationOverhead.toFixed(4)),
    verifierMsPerBatch: Math.round(verifierMs), workerMsPerBatch: Math.round(workerMs), batchUnits: n, checksPerBatch: k,
    honestFalseSlashRate, simulatedJobs: jobs, simulatedChecks: checks, honestMinPsnrDb: Number(minPsnr.toFixed(2)),
    unitsPerSecondPaid: Number(paidUps.toFixed(2)), unitsPerSecondSharpAlone: Number(alone.unitsPerSecond.toFixed(2)),
    unitsPerSecondPaidToSharpAlone: Number(unitsPerSecondPaidToSharpAlone.toFixed(3)),
  }
}
