/**
 * Order book benchmark (`src/market/book.ts`): one clearing of 50,000 asks against 50,000 offers, and the speedup
 * over the brute-force clearing (`naiveClear`, O(n·m)) measured in the same run on a 2,000 × 2,000 book.
 *
 * Run: `node --import tsx bench/market-book.ts` (prints the figures as JSON).
 *
 * The book is a CDN market drawn from a seeded rng (`bench/market-book`): 5 regions (weighted), 3 payment schemes,
 * 4 capabilities; offers priced per chunk from 50 to 500 (uniform), collateral log-uniform up to 10^6, latency
 * 5-200 ms, capacity log-uniform (bytes 10^9-10^11, bandwidth 10^8-10^9.5 bps); asks for 1,000-100,000 chunks with a
 * cap of 100-600 per chunk, 1-8 servers (mostly 1-3), 70 % in one or two regions, 25 % needing a capability, 30 % a
 * collateral floor, 50 % a latency bound, each consuming bandwidth 10^6.5-10^8 bps and bytes 10^7-10^9.
 *
 * Figures:
 * - clearSeconds50kx50k: `clear()` on a fresh book (index build and ask sort included), wall time, median of 3 runs.
 *   clearCpuSeconds50kx50k: the same runs' process CPU time (every thread: GC helpers included), which a shared
 *   machine disturbs less than wall time.
 * - matchesPerSecond: matches of that clearing / its time. fillRate50k: matches / servers wanted.
 * - addSeconds50kx50k: adding the 100,000 offers and asks (not part of the clearing).
 * - clearSeconds2kx2k, naiveClearSeconds2kx2k: both clearings on the same 2,000 × 2,000 book (same matches).
 * - bruteForceRatio: naiveClearSeconds2kx2k / clearSeconds2kx2k (the speedup), and
 *   naiveExtrapolatedSeconds50kx50k = naiveClearSeconds2kx2k × 625 (its O(n·m) growth to 50k × 50k).
 */
import { pathToFileURL } from 'node:url'
import type { Address } from 'viem'
import { manualClock } from '../src/core/clock.js'
import { randomBelow, seededRng, type Rng } from '../src/crypto/rng.js'
import { createOrderBook, naiveClear, type OrderBook } from '../src/market/book.js'
import { perChunk, type Ask, type Offer } from '../src/market/schema.js'

const NOW = 1_000_000
const SIG = `0x${'00'.repeat(65)}` as const
const REGIONS = ['eu-west', 'eu-west', 'us-east', 'us-east', 'us-west', 'ap-south', 'sa-east']
const SCHEMES = ['lottery', 'channel', 'microcash']
const CAPS = ['h3', 'ipv6', 'tls13', 'gpu']

const uniform = (r: Rng) => randomBelow(r, 2 ** 32) / 2 ** 32
const between = (r: Rng, lo: number, hi: number) => Math.floor(lo + uniform(r) * (hi - lo))
const logBetween = (r: Rng, lo: number, hi: number) => Math.floor(10 ** (lo + uniform(r) * (hi - lo)))
const pick = <T>(r: Rng, xs: readonly T[]) => xs[randomBelow(r, xs.length)]
const address = (prefix: number, i: number) => `0x${prefix.toString(16).padStart(2, '0')}${i.toString(16).padStart(38, '0')}` as Address

/** A realistic CDN book of `nAsks` asks and `nOffers` offers, the same for the same seed (see the header). */
export function generateBook(seed: string, nAsks: number, nOffers: number): { asks: Ask[]; offers: Offer[] } {
  const r = seededRng(seed)
  const offers: Offer[] = []
  for (let i = 0; i < nOffers; i++) {
    const schemes = SCHEMES.filter((_s, j) => j === 0 ? uniform(r) < 0.9 : uniform(r) < 0.5)
    offers.push({
      type: 'offer', service: 'cdn', server: address(1, i), peer: `s${i}`,
      resources: { bytes: logBetween(r, 9, 11), bandwidthBps: logBetween(r, 8, 9.5), durationSec: between(r, 86_400, 30 * 86_400), computeUnits: 0 },
      price: perChunk(BigInt(between(r, 50, 501))), collateral: BigInt(uniform(r) < 0.2 ? 0 : logBetween(r, 2, 6)),
      schemes: schemes.length > 0 ? schemes : ['channel'], region: pick(r, REGIONS), latencyMs: between(r, 5, 201), addresses: [],
      capabilities: CAPS.filter((c) => uniform(r) < (c === 'gpu' ? 0.1 : 0.6)), expiresAt: NOW + 3_600_000, seq: 1n, sig: SIG,
    })
  }
  const asks: Ask[] = []
  for (let i = 0; i < nAsks; i++) {
    const chunks = between(r, 1000, 100_001)
    const where = uniform(r)
    const regions = where < 0.5 ? [pick(r, REGIONS)] : where < 0.7 ? [pick(r, REGIONS), pick(r, REGIONS)] : []
    const c = uniform(r)
    asks.push({
      type: 'ask', service: 'cdn', buyer: address(2, i), peer: `b${i}`,
      resources: { bytes: logBetween(r, 7, 9), bandwidthBps: logBetween(r, 6.5, 8), durationSec: between(r, 3600, 7 * 86_400), computeUnits: 0 },
      usage: { chunks: BigInt(chunks) }, maxPrice: BigInt(chunks) * BigInt(between(r, 100, 601)),
      minCollateral: BigInt(uniform(r) < 0.7 ? 0 : logBetween(r, 2, 5)), schemes: uniform(r) < 0.7 ? ['lottery'] : ['lottery', 'channel'],
      regions, maxLatencyMs: uniform(r) < 0.5 ? 0 : between(r, 50, 251),
      capabilities: c < 0.05 ? ['h3', 'ipv6'] : c < 0.25 ? [pick(r, CAPS)] : [], servers: pick(r, [1, 1, 2, 2, 3, 3, 4, 8]),
      expiresAt: NOW + 3_600_000, seq: 1n, sig: SIG,
    })
  }
  return { asks, offers }
}

function fill(asks: Ask[], offers: Offer[]): OrderBook {
  const b = createOrderBook({ service: 'cdn', clock: manualClock(NOW) })
  for (const o of offers) b.addOffer(o)
  for (const a of asks) b.addAsk(a)
  return b
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const r4 = (x: number) => Number(x.toPrecision(4))

export async function benchBook(): Promise<Record<string, number>> {
  const now = () => performance.now()
  const big = generateBook('bench/market-book', 50_000, 50_000)
  const wanted = big.asks.reduce((s, a) => s + a.servers, 0)
  const times: number[] = [], cpu: number[] = []
  let matches = 0, addMs = 0
  for (let run = 0; run < 3; run++) {
    const t0 = now()
    const b = fill(big.asks, big.offers)
    const t1 = now()
    const c0 = process.cpuUsage()
    matches = b.clear().length
    const c = process.cpuUsage(c0)
    times.push(now() - t1)
    cpu.push((c.user + c.system) / 1000)
    addMs = t1 - t0
  }
  const clearSeconds = median(times) / 1000

  const small = generateBook('bench/market-book/small', 2000, 2000)
  const fastTimes: number[] = []
  let fastMatches = 0
  for (let run = 0; run < 5; run++) {
    const b = fill(small.asks, small.offers)
    const t = now()
    fastMatches = b.clear().length
    fastTimes.push(now() - t)
  }
  const ref = fill(small.asks, small.offers)
  const snapshot = { asks: ref.asks(), offers: ref.offers() }
  const t = now()
  const naiveMatches = naiveClear(snapshot.asks, snapshot.offers).matches.length
  const naiveSeconds = (now() - t) / 1000
  const fastSeconds = median(fastTimes) / 1000
  if (naiveMatches !== fastMatches) throw new Error(`the clearings differ: ${fastMatches} matches vs ${naiveMatches} brute force`)

  return {
    clearSeconds50kx50k: r4(clearSeconds),
    clearCpuSeconds50kx50k: r4(median(cpu) / 1000),
    matchesPerSecond: Math.round(matches / clearSeconds),
    matches50k: matches,
    fillRate50k: r4(matches / wanted),
    addSeconds50kx50k: r4(addMs / 1000),
    clearSeconds2kx2k: r4(fastSeconds),
    naiveClearSeconds2kx2k: r4(naiveSeconds),
    bruteForceRatio: r4(naiveSeconds / fastSeconds),
    naiveExtrapolatedSeconds50kx50k: r4(naiveSeconds * 625),
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchBook(), null, 2))
}
