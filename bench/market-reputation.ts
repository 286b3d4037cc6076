/**
 * Market reputation and selection benchmark: how fast the reputation learns a server's fault rate, what its prior
 * costs in false disqualifications, how well each selection strategy hires the best server, and how fast they run.
 *
 * Run: `node --import tsx bench/market-reputation.ts` (prints the figures as JSON).
 *
 * Figures (all from seeded streams: the same on every run but the speeds):
 * - reputationObservationsToWithin5pct: the worst, over true fault rates f in {1, 5, 10, 20}%, of the median over
 *   RUNS seeded runs of N(run) = min { N >= 0 : |score_t - (1 - f)| <= 0.05 for every t in [N, HORIZON] }, where
 *   score_t is the score after t observations (score_0 the prior), each a proof passed with probability 1 - f.
 *   Per rate: reputationObservationsToWithin5pct_f01 ... _f20. Goal <= 200.
 *   storjPrior*: the same with Storj's prior (alpha, beta) = (1000, 0); reputationLearnVsStorjPrior the ratio of
 *   the worst medians (ours / Storj's).
 * - falseDisqualified_fNN: the fraction of runs in which a server of fault rate f <= 3% (better than the 4% the
 *   0.96 threshold allows) is disqualified within HORIZON observations; storjPriorFalseDisqualified_fNN the same with
 *   Storj's prior. observationsToDisqualify_fNN: the median observation at which a worse server is disqualified.
 * - reconvergeAfterChangeObservations: a server behaves (f = 1%) for 3,000 observations, then fails 20%: the median
 *   N (as above, counted from the change, horizon 5,000) until its score stays within 5 points of 0.80; with
 *   forgetting 0.999 and, as the baseline, without forgetting (censored at 5,000).
 * - hiresBest_<strategy>: in MARKETS seeded markets of 50 servers (70% with a fault rate in [0, 3%], 30% in
 *   [5, 30%]; 90% observed 100 to 300 times before, 10% new, 20 to 99 times; price, collateral and latency
 *   independent of the fault rate),
 *   the fraction of selections of 4 servers (SELECTIONS per market) that include the best server (the lowest true
 *   fault rate); meanFaultHired_<strategy> the mean true fault rate of the servers hired. hiresBestVsUniform_<s> is
 *   the ratio to the uniform draw measured in the same run.
 * - selectsPerSecond_<strategy>: selections of 8 among 1,000 candidates per second (one core).
 */
import { pathToFileURL } from 'node:url'
import type { Address, Hex } from 'viem'
import { manualClock } from '../src/core/clock.js'
import { forkRng, seededRng, type Rng } from '../src/crypto/rng.js'
import { marketFixtures } from '../src/market/fixtures.js'
import { createReputation, type Reputation, type ReputationOptions } from '../src/market/reputation.js'
import { perChunk, type Offer } from '../src/market/schema.js'
import { latencyAware, powerOfTwo, sybilResistant, unitFloat, weightedDraw, withNewServerShare, type SelectionStrategy } from '../src/market/select.js'

const RUNS = 101
const HORIZON = 2000
const MARKETS = 200
const SELECTIONS = 10
const BAND = 0.05

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
const addr = (i: number) => ('0x' + (i + 1).toString(16).padStart(40, '0')) as Address
const PASS = { kind: 'proof-passed', source: 'self' } as const
const MISS = { kind: 'proof-missed', source: 'self' } as const

/** One run: N (first N after which the score stays in the band up to `horizon`) and when it was disqualified. */
function learn(rng: Rng, f: number, opts: Partial<ReputationOptions>, horizon = HORIZON): { n: number; dqAt: number | null } {
  const rep = createReputation({ clock: manualClock(0), ...opts })
  const s = addr(0)
  let lastOut = Math.abs(rep.score(s) - (1 - f)) > BAND ? 0 : -1
  let dqAt: number | null = null
  for (let t = 1; t <= horizon; t++) {
    rep.observe(s, unitFloat(rng) < f ? MISS : PASS)
    if (Math.abs(rep.score(s) - (1 - f)) > BAND) lastOut = t
    if (dqAt === null && rep.status(s) === 'disqualified') dqAt = t
  }
  return { n: lastOut + 1, dqAt }
}

function reconverge(rng: Rng, forgetting: number, after = 5000): number {
  const rep = createReputation({ clock: manualClock(0), forgetting })
  const s = addr(0)
  for (let t = 0; t < 3000; t++) rep.observe(s, unitFloat(rng) < 0.01 ? MISS : PASS)
  let lastOut = Math.abs(rep.score(s) - 0.8) > BAND ? 0 : -1
  for (let t = 1; t <= after; t++) {
    rep.observe(s, unitFloat(rng) < 0.2 ? MISS : PASS)
    if (Math.abs(rep.score(s) - 0.8) > BAND) lastOut = t
  }
  return Math.min(after, lastOut + 1)
}

const fx = marketFixtures({ seed: 'bench-market-reputation', now: 1_000 })
const SIG = ('0x' + '11'.repeat(65)) as Hex
const party = (i: number) => ({ name: `s${i}`, key: '0x' as Hex, address: addr(i), peer: `s${i}` })
const buyer = { name: 'b', key: '0x' as Hex, address: ('0x' + 'b'.repeat(40)) as Address, peer: 'b' }
const ASK = { ...fx.askBody(buyer, { seq: 1n, maxPrice: 1_000_000n }), sig: SIG }

interface Market { offers: Offer[]; fault: Map<string, number>; best: string; reputation: Reputation }

function market(rng: Rng): Market {
  const below = (k: number) => Math.floor(unitFloat(rng) * k)
  const offers: Offer[] = []
  const fault = new Map<string, number>()
  const reputation = createReputation({ clock: manualClock(0) })
  for (let i = 0; i < 50; i++) {
    const f = unitFloat(rng) < 0.7 ? unitFloat(rng) * 0.03 : 0.05 + unitFloat(rng) * 0.25
    const o: Offer = {
      ...fx.offerBody(party(i), {
        seq: 1n, price: perChunk(BigInt(50 + below(51))), collateral: BigInt(below(1001)), latencyMs: 10 + below(191),
        addresses: [`/ip4/10.${i}.${below(256)}.1/tcp/4001`],
      }),
      sig: SIG,
    }
    offers.push(o)
    fault.set(o.server, f)
    const h = unitFloat(rng) < 0.1 ? 20 + below(80) : 100 + below(201)
    for (let t = 0; t < h; t++) reputation.observe(o.server, unitFloat(rng) < f ? MISS : PASS)
  }
  const best = [...fault.entries()].sort((a, b) => a[1] - b[1])[0][0]
  return { offers, fault, best, reputation }
}

function strategies(): Record<string, SelectionStrategy> {
  return {
    uniform: weightedDraw({ stakeWeight: 0, randWeight: 1 }),
    livepeer: weightedDraw(),
    livepeerReputation: weightedDraw({ stakeWeight: 0.35, randWeight: 0.15, reputationWeight: 0.5 }),
    livepeerReputationK25: weightedDraw({ stakeWeight: 0.35, randWeight: 0.15, reputationWeight: 0.5, reputationExponent: 25 }),
    reputationOnly: weightedDraw({ stakeWeight: 0, randWeight: 0, reputationWeight: 1 }),
    powerOfTwo: powerOfTwo(),
    latencyAware: latencyAware(),
    newShare5pctPowerOfTwo: withNewServerShare(powerOfTwo(), 0.05),
    sybilPowerOfTwo: sybilResistant(powerOfTwo(), { perSubnet: 1 }),
  }
}

/** Measures the figures named in the file header. */
export async function benchReputation(): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const root = seededRng('bench-market-reputation')
  const tag = (f: number) => `f${String(Math.round(f * 100)).padStart(2, '0')}`
  // Ours (the defaults), the plain threshold rule (z = 0), and Storj's prior with the plain rule (Storj's own).
  const CONFIGS = [['', {}], ['plainThreshold', { disqualifyConfidence: 0 }], ['storjPrior', { initialAlpha: 1000, initialBeta: 0, disqualifyConfidence: 0 }]] as const

  // Learning, false disqualification and detection, ours against Storj's prior.
  let worst = 0, worstStorj = 0
  for (const f of [0.01, 0.02, 0.03, 0.05, 0.1, 0.2]) {
    for (const [name, opts] of CONFIGS) {
      const runs = Array.from({ length: RUNS }, (_, r) => learn(forkRng(root, `learn-${f}-${r}`), f, opts))
      const m = median(runs.map((x) => x.n))
      const figure = (what: string) => (name ? `${name}${what[0].toUpperCase()}${what.slice(1)}` : what)
      // The score does not depend on the disqualification rule: learning is reported once per prior.
      if ([0.01, 0.05, 0.1, 0.2].includes(f) && name !== 'plainThreshold') {
        out[`${name ? 'storjPriorObservationsToWithin5pct' : 'reputationObservationsToWithin5pct'}_${tag(f)}`] = m
        if (name) worstStorj = Math.max(worstStorj, m)
        else worst = Math.max(worst, m)
      }
      const dq = runs.filter((x) => x.dqAt !== null)
      if (f <= 0.03) out[`${figure('falseDisqualified')}_${tag(f)}`] = dq.length / RUNS
      // -1: fewer than half the runs disqualified it within the horizon.
      else out[`${figure('observationsToDisqualify')}_${tag(f)}`] = dq.length > RUNS / 2 ? median(runs.map((x) => x.dqAt ?? Infinity)) : -1
    }
  }
  out.reputationObservationsToWithin5pct = worst
  out.storjPriorObservationsToWithin5pct = worstStorj
  out.reputationLearnVsStorjPrior = worst / worstStorj

  out.reconvergeAfterChangeObservations = median(Array.from({ length: 51 }, (_, r) => reconverge(forkRng(root, `change-${r}`), 0.999)))
  out.reconvergeAfterChangeObservationsNoForgetting = median(Array.from({ length: 51 }, (_, r) => reconverge(forkRng(root, `change-${r}`), 1)))

  // Hiring the best server.
  const names = Object.keys(strategies())
  const best = new Map(names.map((n) => [n, 0]))
  const faultSum = new Map(names.map((n) => [n, 0]))
  let hired = 0
  for (let k = 0; k < MARKETS; k++) {
    const m = market(forkRng(root, `market-${k}`))
    const ss = strategies()
    for (let j = 0; j < SELECTIONS; j++) {
      for (const n of names) {
        const picks = ss[n].select(ASK, m.offers, 4, { rng: forkRng(root, `select-${k}-${j}-${n}`), reputation: m.reputation })
        if (picks.some((o) => o.server === m.best)) best.set(n, best.get(n)! + 1)
        faultSum.set(n, faultSum.get(n)! + picks.reduce((a, o) => a + m.fault.get(o.server)!, 0) / picks.length)
      }
      hired++
    }
  }
  for (const n of names) {
    out[`hiresBest_${n}`] = best.get(n)! / hired
    out[`meanFaultHired_${n}`] = faultSum.get(n)! / hired
  }
  for (const n of names) if (n !== 'uniform') out[`hiresBestVsUniform_${n}`] = out[`hiresBest_${n}`] / out.hiresBest_uniform

  // Speed: 8 of 1,000 candidates.
  const big = market(forkRng(root, 'speed'))
  const many: Offer[] = Array.from({ length: 1000 }, (_, i) => ({ ...big.offers[i % 50], server: addr(1000 + i), addresses: [`/ip4/10.${i >> 8}.${i & 255}.1/tcp/1`] }))
  const ss = strategies()
  for (const n of ['livepeer', 'powerOfTwo', 'latencyAware', 'sybilPowerOfTwo']) {
    const rng = forkRng(root, `speed-${n}`)
    let calls = 0
    const t0 = performance.now()
    while (performance.now() - t0 < 300) { ss[n].select(ASK, many, 8, { rng, reputation: big.reputation }); calls++ }
    out[`selectsPerSecond_${n}`] = Math.round(calls / ((performance.now() - t0) / 1000))
  }
  return out
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchReputation(), null, 2))
}
