import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { manualClock } from '../core/clock.js'
import { seededRng } from '../crypto/rng.js'
import { loadSpreadingAssignment, reputationAssignment } from './assign.js'
import { createReputation } from './reputation.js'
import { unitFloat } from './select.js'

const addr = (i: number) => `0x${i.toString(16).padStart(40, '0')}`
const cands = (n: number) => Array.from({ length: n }, (_, i) => ({ peer: `c${i}`, payee: addr(i + 1) }))

test('load-spreading assignment: distinct, at most n, the least loaded first', () => {
  const a = loadSpreadingAssignment()
  const rng = seededRng('assign')
  const r = () => unitFloat(rng)
  const cs = cands(4)
  const first = a.assign(cs, 2, r)
  assert.equal(new Set(first.map((c) => c.peer)).size, 2)
  const second = a.assign(cs, 2, r)
  assert.deepEqual(new Set([...first, ...second].map((c) => c.peer)).size, 4, 'the two unused ones come next')
  assert.deepEqual(a.assign(cs, 9, r).length, 4)
  assert.deepEqual(a.assign([], 2, r), [])
})

test('reputation assignment: distinct, at most n, never a disqualified server, the better server more often', () => {
  const rep = createReputation({ clock: manualClock(0) })
  const cs = cands(6)
  for (let i = 0; i < 200; i++) rep.observe(cs[0].payee, { kind: 'proof-missed', source: 'self' }) // disqualified
  for (let i = 0; i < 50; i++) rep.observe(cs[1].payee, { kind: 'proof-passed', source: 'self' }) // the best
  for (let i = 0; i < 50; i++) rep.observe(cs[2].payee, { kind: i % 2 ? 'proof-passed' : 'proof-missed', source: 'self' }) // middling
  assert.equal(rep.status(cs[0].payee), 'disqualified')
  const a = reputationAssignment<(typeof cs)[number]>(rep, (c) => c.payee)
  fc.assert(fc.property(fc.integer({ min: 0, max: 8 }), fc.string(), (n, seed) => {
    const rng = seededRng(seed)
    const out = a.assign(cs, n, () => unitFloat(rng))
    assert.equal(out.length, Math.min(n, 5))
    assert.equal(new Set(out.map((c) => c.peer)).size, out.length)
    assert.ok(!out.some((c) => c.peer === 'c0'))
  }), { numRuns: 100 })
  // A fresh assignment (no load yet) between the best (c1) and the middling (c2): the tie goes to the higher weight.
  const rng = seededRng('two')
  let best = 0
  for (let i = 0; i < 400; i++) if (reputationAssignment<(typeof cs)[number]>(rep, (c) => c.payee).assign([cs[1], cs[2]], 1, () => unitFloat(rng))[0].peer === 'c1') best++
  assert.equal(best, 400)
  // Over many requests of one assignment the middling server still gets a share, in proportion to its weight (~0.64
  // of the best's: its score 0.5 plus two standard deviations), not none.
  const one = reputationAssignment<(typeof cs)[number]>(rep, (c) => c.payee)
  const got = { c1: 0, c2: 0 }
  for (let i = 0; i < 1000; i++) got[one.assign([cs[1], cs[2]], 1, () => unitFloat(rng))[0].peer as 'c1' | 'c2']++
  assert.ok(got.c1 > got.c2 && got.c2 > 0.5 * got.c1, `best ${got.c1}, middling ${got.c2}`)
})

/**
 * Runs `requests` assignments of `n` of `cs` with one reputation assignment, observing each assigned server's proof
 * (`fails(peer)`: a missed one) as the publisher does; returns the assignments per server.
 */
function simulate(cs: { peer: string; payee: string }[], n: number, requests: number, seed: string, fails: (peer: string, draw: number) => boolean = () => false, pool: (req: number) => typeof cs = () => cs) {
  const rep = createReputation({ clock: manualClock(0) })
  const a = reputationAssignment<(typeof cs)[number]>(rep, (c) => c.payee)
  const rng = seededRng(seed)
  const r = () => unitFloat(rng)
  const count: Record<string, number> = Object.fromEntries(cs.map((c) => [c.peer, 0]))
  const perRequest: string[][] = []
  for (let q = 0; q < requests; q++) {
    const out = a.assign(pool(q), n, r)
    perRequest.push(out.map((c) => c.peer))
    for (const c of out) {
      count[c.peer]++
      rep.observe(c.payee, { kind: fails(c.peer, r()) ? 'proof-missed' : 'proof-passed', source: 'self' })
    }
  }
  return { count, perRequest, rep }
}

test('reputation assignment: N equally honest servers each get a fair share, from the first requests on (no lock-in)', () => {
  // The lock-in this replaces: the first servers seen to prove outscored the never-assigned ones (prior score 0.5)
  // for good, so one request decided the run (a hired cache got 0 of 48 bundles). Seeded: the bounds cannot flake.
  for (const [N, n] of [[5, 4], [5, 2], [8, 3], [12, 4]] as const) {
    for (const seed of ['a', 'b', 'c']) {
      const requests = 1200
      const { count, perRequest } = simulate(cands(N), n, requests, `fair-${N}-${n}-${seed}`)
      const fair = (requests * n) / N
      for (const [peer, got] of Object.entries(count)) assert.ok(Math.abs(got - fair) <= 0.05 * fair, `N=${N} n=${n} ${seed}: ${peer} got ${got}, fair ${fair}`)
      // Every server is in use within the first few requests: nobody is left out because it was not assigned first.
      // (N / n requests would do if the draw were not random; power of two gets there within three times that.)
      const early = new Set(perRequest.slice(0, Math.ceil((3 * N) / n)).flat())
      assert.equal(early.size, N, `N=${N} n=${n} ${seed}: every server assigned in the first ${Math.ceil((3 * N) / n)} requests`)
      // And every window of 50 requests gives each server between half and 1.5 times its share (no long streaks).
      for (let w = 0; w + 50 <= requests; w += 50) {
        const inWindow = Object.fromEntries(cands(N).map((c) => [c.peer, 0]))
        for (const q of perRequest.slice(w, w + 50)) for (const p of q) inWindow[p]++
        for (const [peer, got] of Object.entries(inWindow)) assert.ok(got >= 0.5 * (50 * n) / N && got <= 1.5 * (50 * n) / N, `N=${N} n=${n} ${seed}: ${peer} got ${got} in requests ${w}..${w + 49}`)
      }
    }
  }
})

test('reputation assignment: a server hired late is explored at once, at its fair share and not in a burst', () => {
  const cs = cands(6)
  const requests = 1200, n = 2, joinAt = 600
  const { perRequest } = simulate(cs, n, requests, 'late', undefined, (q) => (q < joinAt ? cs.slice(0, 5) : cs))
  const after = perRequest.slice(joinAt)
  const late = after.filter((q) => q.includes('c5')).length
  const fair = ((requests - joinAt) * n) / cs.length
  assert.ok(Math.abs(late - fair) <= 0.05 * fair, `the late server got ${late} of ${requests - joinAt} requests, fair ${fair}`)
  assert.ok(after.slice(0, 6).some((q) => q.includes('c5')), 'assigned within its first requests')
  const first30 = after.slice(0, 30).filter((q) => q.includes('c5')).length
  assert.ok(first30 <= 15, `no burst: ${first30} of its first 30 requests (fair 10)`)
})

test('reputation assignment: a server failing proofs gets measurably less, then none once disqualified; the honest share its load', () => {
  const N = 5, n = 2, requests = 1200
  const cs = cands(N)
  // c0 fails half its proofs: disqualified once vetted (100 observations). c1 fails 1 in 50 (honest but flaky: the
  // reputation keeps a fault rate up to ~3% vetted, docs/market.md).
  const { count, rep } = simulate(cs, n, requests, 'failing', (peer, x) => (peer === 'c0' ? x < 0.5 : peer === 'c1' ? x < 0.02 : false))
  const fair = (requests * n) / N
  assert.equal(rep.status(cs[0].payee), 'disqualified')
  assert.ok(count.c0 <= 100 && count.c0 < 0.25 * fair, `the half-failing server got ${count.c0}, fair ${fair}`)
  // Before it was vetted it already got less than an honest server over the same requests.
  const early = simulate(cs, n, 150, 'failing', (peer, x) => (peer === 'c0' ? x < 0.5 : false)).count
  assert.ok(early.c0 < 0.8 * Math.min(early.c2, early.c3, early.c4), `before vetting: ${JSON.stringify(early)}`)
  // The others share its load: each honest one above its fair share of the whole run.
  for (const p of ['c2', 'c3', 'c4']) assert.ok(count[p] >= fair, `${p} got ${count[p]}, fair ${fair}`)
  assert.ok(count.c1 >= 0.9 * fair, `the flaky-but-honest server keeps most of its share: ${count.c1}`)
  assert.equal(rep.status(cs[1].payee), 'vetted')
})
