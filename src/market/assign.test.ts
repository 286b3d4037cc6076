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
  // One pick at a time among the best (c1) and the middling (c2): power of two keeps c1 whenever both are drawn.
  const rng = seededRng('two')
  let best = 0
  for (let i = 0; i < 400; i++) if (reputationAssignment<(typeof cs)[number]>(rep, (c) => c.payee).assign([cs[1], cs[2]], 1, () => unitFloat(rng))[0].peer === 'c1') best++
  assert.equal(best, 400)
})
