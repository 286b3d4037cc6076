/**
 * `npm run bench` — runs every benchmark, one after the other (they must not share the 2 cores), prints each
 * figure with its in-run baseline ratio, and writes bench/results/<name>.json (file and field names are an
 * interface: keep them stable). Benchmarks are not tests: nothing here asserts a speed.
 *
 * Usage: npm run bench [-- payments microcash cdn storage compute capnet net soak market sim]
 */
import { writeResult, benchPayments } from './payments.js'

type Bench = { name: string; run: () => Promise<Record<string, number>>; targets: [string, string][] }

const all: Bench[] = [
  {
    name: 'payments',
    run: () => benchPayments({ log: (s) => process.stderr.write(`  ${s}\n`) }),
    targets: [
      ['redeemGasSingle', '≤ 55,000 (one ticket kept as credit; Orchid lottery1 68,455)'],
      ['redeemGasSingleTransfer', 'one ticket paid out at once (the struct format: redeemGasSingleTicketStruct)'],
      ['redeemGasPerTicketBatch100', '≤ 8,000 (run format; the struct format: redeemGasPerTicketBatch100TicketStruct; Orchid 32,042)'],
      ['batch100VsSingle', '≤ 0.25'],
      ['verifyRatio', 'ticketsVerifiedPerSecond / bareSignatureVerifiesPerSecond ≥ 0.8'],
      ['onChainTxsPer1MChunks', '≤ 10 at default parameters'],
      ['workers2ToInline', 'validation with 64 streams on 2 worker threads / inline'],
    ],
  },
  {
    name: 'microcash',
    run: async () => (await import('./microcash.js')).benchMicrocash({ log: (s) => process.stderr.write(`  ${s}\n`) }),
    targets: [
      ['ratio', 'microcash / sequential lottery ≥ 4 (paper: 1.7-4.2)'],
      ['lifecycleGasRatio', '> 1: per-stream TicketBroker reserves / MicroCash, whole lifecycle, K=20 × S=10'],
      ['lifecycleBytesRatio', '> 1: the same for calldata bytes'],
    ],
  },
  {
    name: 'cdn',
    run: async () => (await import('./cdn.js')).benchCdn(),
    targets: [['paidToUnpaidRatio', '≥ 0.95'], ['paidToRawTcp', '≥ 0.25 (paid delivery over libp2p / raw TCP, same bytes, same run)'], ['viewers1080p', 'CAPnet reports ~870,000 per core']],
  },
  {
    name: 'storage',
    run: async () => (await import('./storage.js')).benchStorage({ log: (s) => process.stderr.write(`  ${s}\n`) }),
    targets: [
      ['proofGasK5Depth30', '<= 200,000 (PDP-style, 32-byte nodes: 225,650)'],
      ['gasPerChallengedLeafDepth30', '<= 30,000 (40.9k)'],
      ['detectionProbability1pctLoss30Periods', '>= 0.99 (PDP default: 0.779)'],
      ['retrievalPaidToUnpaid', '>= 0.95'],
    ],
  },
  {
    name: 'compute',
    run: async () => (await import('./compute.js')).benchCompute({ log: (s) => process.stderr.write(`  ${s}\n`) }),
    targets: [
      ['claimWorkGas2p20Units', '<= 80,000 (Livepeer legacy claim 231,280)'],
      ['spotCheckGas', '<= 60,000 with the signature check'],
      ['verificationOverhead', '<= 0.05 at the default check rate'],
      ['honestFalseSlashRate', '0 over 10^4 simulated jobs'],
      ['unitsPerSecondPaidToSharpAlone', '>= 0.9'],
    ],
  },
  {
    name: 'capnet',
    run: async () => (await import('./capnet.js')).benchCapnet(),
    targets: [
      ['puzzlesGeneratedPerSecondPerCore', '>= 100,000 with both layers (CAPnet native: ~870,000 1080p viewers a core)'],
      ['viewers1080p', '>= 100,000 a core'],
      ['puzzleSolveMBpsPerCore', '>= 20 MB/s a core (node:crypto SHA-256: sha256NodeMBps)'],
    ],
  },
  { name: 'net', run: async () => (await import('./net.js')).benchNet(), targets: [['libp2pVsMemory', 'libp2p throughput vs in-memory transport'], ['libp2pToRawTcp', 'libp2p / raw TCP on loopback, same bytes, same run']] },
  {
    name: 'soak',
    run: async () => (await import('./soak.js')).benchSoak({ log: (s) => process.stderr.write(`  ${s}\n`) }),
    targets: [['heapGrowthSecondHalfBytesPer1kChunks', 'near 0: a flat heap after GC once bounded caches are full (the first tranche: ~6,300,000 per 1,000 bundles)']],
  },
  {
    name: 'market',
    run: async () => (await import('./market.js')).benchMarket({ log: (s) => process.stderr.write(`  ${s}\n`) }),
    targets: [
      ['clearSeconds50kx50k', '≤ 1 s (50,000 asks against 50,000 offers)'],
      ['medianTimeToDealMs', '≤ 1,000 ms with 1 % loss (Golem happy path ~5,000)'],
      ['reputationObservationsToWithin5pct', '≤ 200'],
      ['priceConvergenceRounds', '≤ 50 (within 2 % of the competitive price)'],
    ],
  },
  {
    name: 'sim',
    run: async () => (await import('./sim.js')).benchSim({ log: (s) => process.stderr.write(`  ${s}\n`) }),
    targets: [
      ['engineEventsPerSecond', '>= 2,000,000 with 10^6 pending (bare binary heap: bareHeapEventsPerSecond)'],
      ['protocolMessagesPerSecond', '>= 100,000 with the real CDN roles (memory transport alone: bareTransportMessagesPerSecond)'],
      ['secondsFor10kPeers1MDeliveries', '< 600 on 2 cores'],
      ['peakRssMBFor100kPeers', '< 8,000'],
      ['sweepRunsWithoutFailure', '1,000 of 1,000'],
    ],
  },
]

const wanted = process.argv.slice(2)
const chosen = wanted.length ? all.filter((b) => wanted.includes(b.name)) : all
if (chosen.length === 0) {
  process.stderr.write(`No benchmark named ${wanted.join(', ')}. Available: ${all.map((b) => b.name).join(', ')}\n`)
  process.exit(2)
}
const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(4)).toString())
let failed = 0
for (const b of chosen) {
  process.stderr.write(`\n▶ ${b.name}\n`)
  const t0 = performance.now()
  try {
    const r = await b.run()
    writeResult(b.name, r)
    for (const [k, v] of Object.entries(r)) {
      const target = b.targets.find(([n]) => n === k)?.[1]
      process.stdout.write(`  ${k.padEnd(36)} ${fmt(v).padStart(14)}${target ? `   target: ${target}` : ''}\n`)
    }
    process.stdout.write(`  (${((performance.now() - t0) / 1000).toFixed(1)} s, written to bench/results/${b.name}.json)\n`)
  } catch (e) {
    failed++
    process.stderr.write(`  ${b.name} failed: ${(e as Error).stack ?? e}\n`)
  }
}
process.exit(failed ? 1 : 0)
