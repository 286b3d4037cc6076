import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { manualClock } from '../core/clock.js'
import { ValidationError } from '../core/errors.js'
import { createReputation, parseFact, ReputationRefusedError, REPUTATION_DEFAULTS, type Fact } from './reputation.js'

const A = '0x' + 'aa'.repeat(20)
const B = '0x' + 'bb'.repeat(20)
const addr = (i: number) => '0x' + i.toString(16).padStart(40, '0')
const pass: Fact = { kind: 'proof-passed', source: 'self' }
const miss: Fact = { kind: 'proof-missed', source: 'self' }
const paid: Fact = { kind: 'chunk-delivered-paid', source: 'self', ref: 'chunk-7' }
const undelivered: Fact = { kind: 'chunk-undelivered', source: 'self' }
const slash = (i: number, logIndex = 0): Fact => ({ kind: 'slashed', source: 'chain', txHash: '0x' + i.toString(16).padStart(64, '0'), logIndex })
const close = (actual: number, expected: number, what = '') => assert.ok(Math.abs(actual - expected) < 1e-12, `${what} ${actual} != ${expected}`)

test('the update formula, step by step by hand (l = 0.9, w = 1, prior (1, 1))', () => {
  const rep = createReputation({ clock: manualClock(0), forgetting: 0.9 })
  assert.equal(rep.score(A), 0.5)
  rep.observe(A, pass) // alpha = 0.9 + 1 = 1.9, beta = 0.9
  close(rep.get(A)!.alpha, 1.9, 'alpha'); close(rep.get(A)!.beta, 0.9, 'beta')
  close(rep.score(A), 1.9 / 2.8)
  rep.observe(A, miss) // alpha = 1.71, beta = 0.81 + 1 = 1.81
  close(rep.get(A)!.alpha, 1.71); close(rep.get(A)!.beta, 1.81)
  close(rep.score(A), 1.71 / 3.52)
  rep.observe(A, paid) // alpha = 1.539 + 1 = 2.539, beta = 1.629
  close(rep.get(A)!.alpha, 2.539); close(rep.get(A)!.beta, 1.629)
  rep.observe(A, undelivered) // alpha = 2.2851, beta = 1.4661 + 1 = 2.4661
  close(rep.get(A)!.alpha, 2.2851); close(rep.get(A)!.beta, 2.4661)
  assert.equal(rep.get(A)!.observations, 4)
})

test('weight, slash weight and prior are applied as given', () => {
  const rep = createReputation({ clock: manualClock(0), forgetting: 0.5, weight: 2, slashWeight: 7, initialAlpha: 4, initialBeta: 0 })
  assert.equal(rep.score(A), 1)
  rep.observe(A, pass) // alpha = 2 + 2 = 4, beta = 0
  assert.deepEqual([rep.get(A)!.alpha, rep.get(A)!.beta], [4, 0])
  rep.observe(A, miss) // alpha = 2, beta = 0 + 2 = 2
  assert.deepEqual([rep.get(A)!.alpha, rep.get(A)!.beta], [2, 2])
  rep.observe(A, slash(1)) // alpha = 1, beta = 1 + 7 = 8
  assert.deepEqual([rep.get(A)!.alpha, rep.get(A)!.beta], [1, 8])
  assert.equal(rep.score(A), 1 / 9)
})

test('defaults are Storj-like: l = 0.999, w = 1, vetting 100, threshold 0.96, slash 20, prior (1, 1)', () => {
  assert.deepEqual({ ...REPUTATION_DEFAULTS }, { forgetting: 0.999, weight: 1, slashWeight: 20, disqualifyBelow: 0.96, disqualifyConfidence: 2, vettingObservations: 100, initialAlpha: 1, initialBeta: 1, maxServers: 100_000, maxSlashesPerServer: 1024 })
  const rep = createReputation({ clock: manualClock(0) })
  rep.observe(A, slash(1))
  close(rep.get(A)!.alpha, 0.999); close(rep.get(A)!.beta, 0.999 + 20)
})

test('forgetting: old failures fade (their weight is l^k), and without forgetting they do not', () => {
  const forgetful = createReputation({ clock: manualClock(0), forgetting: 0.99 })
  const never = createReputation({ clock: manualClock(0), forgetting: 1 })
  for (const rep of [forgetful, never]) {
    for (let i = 0; i < 10; i++) rep.observe(A, miss)
    for (let i = 0; i < 500; i++) rep.observe(A, pass)
  }
  // beta after the failures: 0.99^10 * 1 + sum_{k<10} 0.99^k; then multiplied by 0.99^500.
  let beta = 1
  for (let i = 0; i < 10; i++) beta = 0.99 * beta + 1
  assert.ok(Math.abs(forgetful.get(A)!.beta - beta * 0.99 ** 500) < 1e-9)
  assert.equal(never.get(A)!.beta, 11)
  assert.equal(never.get(A)!.alpha, 501)
  assert.ok(forgetful.score(A) > 0.999, `forgetful score ${forgetful.score(A)}`)
  assert.ok(never.score(A) < 0.98, `never-forgetting score ${never.score(A)}`)
  // alpha + beta is bounded by w / (1 - l) once the prior has faded.
  assert.ok(forgetful.get(A)!.alpha + forgetful.get(A)!.beta <= 1 / (1 - 0.99) + 1e-9)
})

test('status: new until vetted, then vetted or disqualified (permanently), at the clock time', () => {
  const clock = manualClock(5_000)
  const rep = createReputation({ clock, vettingObservations: 10, disqualifyBelow: 0.8, disqualifyConfidence: 0, forgetting: 1 })
  assert.equal(rep.status(A), 'new')
  for (let i = 0; i < 9; i++) rep.observe(A, pass)
  assert.equal(rep.status(A), 'new')
  rep.observe(A, pass)
  assert.equal(rep.status(A), 'vetted')
  // B: 7 passes, 3 misses: (1 + 7) / 12 = 0.667 < 0.8 at the 10th observation.
  for (let i = 0; i < 7; i++) rep.observe(B, pass)
  for (let i = 0; i < 2; i++) rep.observe(B, miss)
  assert.equal(rep.status(B), 'new') // below the threshold, but not vetted yet
  clock.advance(1_000)
  rep.observe(B, miss)
  assert.equal(rep.status(B), 'disqualified')
  assert.equal(rep.get(B)!.disqualifiedAtMs, 6_000)
  for (let i = 0; i < 100; i++) rep.observe(B, pass)
  assert.ok(rep.score(B) > 0.8)
  assert.equal(rep.status(B), 'disqualified', 'disqualification is permanent')
  assert.equal(rep.get(B)!.disqualifiedAtMs, 6_000)
})

test('disqualification with confidence: score + z * sd below the threshold (sd of the Beta posterior)', () => {
  // forgetting 1, prior (1, 1), vetting 10: 8 passes and 2 misses give Beta(9, 3): mean 0.75, sd sqrt(0.75 * 0.25 / 13).
  const sd = Math.sqrt((0.75 * 0.25) / 13)
  const at = (z: number, threshold: number) => {
    const rep = createReputation({ clock: manualClock(0), forgetting: 1, vettingObservations: 10, disqualifyBelow: threshold, disqualifyConfidence: z })
    for (let i = 0; i < 8; i++) rep.observe(A, pass)
    for (let i = 0; i < 2; i++) rep.observe(A, miss)
    close(rep.score(A), 0.75)
    return rep.status(A)
  }
  assert.equal(at(0, 0.7500001), 'disqualified')
  assert.equal(at(0, 0.75), 'vetted', 'strictly below')
  assert.equal(at(2, 0.75 + 2 * sd + 1e-9), 'disqualified')
  assert.equal(at(2, 0.75 + 2 * sd - 1e-9), 'vetted')
  assert.equal(at(1, 0.75 + 2 * sd - 1e-9), 'disqualified')
})

test('a long-lived perfect server survives two slashes back to back, not three (defaults)', () => {
  const rep = createReputation({ clock: manualClock(0) })
  for (let i = 0; i < 3000; i++) rep.observe(A, pass)
  rep.observe(A, slash(1))
  rep.observe(A, slash(2))
  assert.equal(rep.status(A), 'vetted')
  assert.ok(Math.abs(rep.score(A) - 0.9595) < 0.0001, String(rep.score(A))) // below 0.96, but not by 2 sd
  rep.observe(A, slash(3))
  assert.equal(rep.status(A), 'disqualified')
})

test('a slash on chain: a heavy failure, counted once per (txHash, logIndex), ranks a server below an equal one', () => {
  const rep = createReputation({ clock: manualClock(0) })
  for (const s of [A, B]) for (let i = 0; i < 300; i++) rep.observe(s, pass)
  assert.equal(rep.score(A), rep.score(B))
  const tx = '0x' + '0'.repeat(62) + 'a9'
  assert.equal(rep.observe(B, { kind: 'slashed', source: 'chain', txHash: tx, logIndex: 3 }), true)
  assert.ok(rep.score(B) < rep.score(A))
  const once = rep.get(B)!
  assert.equal(rep.observe(B, { kind: 'slashed', source: 'chain', txHash: tx.toUpperCase().replace('0X', '0x'), logIndex: 3 }), false, 'the same event in upper case')
  assert.equal(rep.observe(B, { kind: 'slashed', source: 'chain', txHash: tx, logIndex: 3 }), false)
  assert.deepEqual(rep.get(B), once, 'a repeated slash changes nothing')
  assert.equal(rep.observe(B, { kind: 'slashed', source: 'chain', txHash: tx, logIndex: 4 }), true, 'another log in the same transaction is another slash')
  assert.deepEqual(rep.get(B)!.slashes, [`${tx}:3`, `${tx}:4`])
  // A young server is disqualified by one slash once vetted.
  const young = createReputation({ clock: manualClock(0) })
  for (let i = 0; i < 99; i++) young.observe(A, pass)
  young.observe(A, slash(1))
  assert.equal(young.status(A), 'disqualified')
})

test('gossip and every other unverifiable claim are refused with a typed error, and change nothing', () => {
  const rep = createReputation({ clock: manualClock(0) })
  rep.observe(A, pass)
  const before = rep.snapshot()
  const unverifiable: unknown[] = [
    { kind: 'proof-missed', source: 'peer' },
    { kind: 'proof-missed', source: 'gossip', reporter: B },
    { kind: 'proof-missed' },
    { kind: 'reported-bad', source: 'self' },
    { kind: 'proof-passed', source: 'chain' },
    { kind: 'slashed', source: 'self', txHash: '0x' + '1'.repeat(64), logIndex: 0 },
    { kind: 'slashed', source: 'peer', txHash: '0x' + '1'.repeat(64), logIndex: 0 },
  ]
  for (const f of unverifiable) {
    assert.throws(() => rep.observe(A, f as Fact), (e: unknown) => e instanceof ReputationRefusedError && e.reason === 'unverifiable' && e.code === 'REPUTATION_UNVERIFIABLE', JSON.stringify(f))
  }
  const malformed: unknown[] = [
    null, 'proof-missed', 42,
    { kind: 'slashed', source: 'chain', txHash: '0x1234', logIndex: 0 },
    { kind: 'slashed', source: 'chain', txHash: '0x' + '1'.repeat(64), logIndex: -1 },
    { kind: 'slashed', source: 'chain', txHash: '0x' + '1'.repeat(64) },
    { kind: 'proof-passed', source: 'self', weight: 100 },
    { kind: 'proof-passed', source: 'self', ref: 'x'.repeat(129) },
  ]
  for (const f of malformed) {
    assert.throws(() => rep.observe(A, f as Fact), (e: unknown) => e instanceof ReputationRefusedError && e.reason === 'malformed', JSON.stringify(f))
  }
  assert.throws(() => rep.observe('not-an-address', pass), (e: unknown) => e instanceof ReputationRefusedError && e.reason === 'malformed')
  assert.throws(() => rep.score('0x12'), (e: unknown) => e instanceof ReputationRefusedError && e.reason === 'malformed')
  assert.deepEqual(rep.snapshot(), before)
  assert.deepEqual(parseFact({ kind: 'slashed', source: 'chain', txHash: '0x' + 'A'.repeat(64), logIndex: 2 }), { kind: 'slashed', source: 'chain', txHash: '0x' + 'A'.repeat(64), logIndex: 2 })
})

test('servers are keyed by lower-cased address', () => {
  const rep = createReputation({ clock: manualClock(0) })
  rep.observe('0x' + 'AB'.repeat(20), miss)
  assert.equal(rep.get('0x' + 'ab'.repeat(20))!.observations, 1)
  assert.equal(rep.get('0x' + 'ab'.repeat(20))!.server, '0x' + 'ab'.repeat(20))
})

test('snapshot / restore: a JSON round trip gives the same state; a bad snapshot is refused and changes nothing', () => {
  const clock = manualClock(100)
  const rep = createReputation({ clock, vettingObservations: 3, disqualifyBelow: 0.7 })
  for (let i = 0; i < 5; i++) rep.observe(A, pass)
  clock.advance(50)
  for (let i = 0; i < 4; i++) rep.observe(B, miss)
  rep.observe(B, slash(3, 1))
  const snap = rep.snapshot()
  const json = JSON.parse(JSON.stringify(snap))
  assert.deepEqual(json, snap, 'plain JSON-safe values')
  const copy = createReputation({ clock: manualClock(0), vettingObservations: 3, disqualifyBelow: 0.7 })
  copy.restore(json)
  assert.deepEqual(copy.snapshot(), snap)
  for (const s of [A, B]) {
    assert.equal(copy.score(s), rep.score(s))
    assert.equal(copy.status(s), rep.status(s))
  }
  assert.equal(copy.status(B), 'disqualified')
  assert.equal(copy.observe(B, slash(3, 1)), false, 'the slash memory survives the round trip')
  // Restore replaces, it does not merge.
  const other = createReputation({ clock: manualClock(0) })
  other.observe(addr(77), pass)
  other.restore(json)
  assert.equal(other.get(addr(77)), undefined)
  assert.equal(other.size(), 2)
  const bad: unknown[] = [null, {}, { version: 2, servers: [] }, { ...snap, servers: [{ ...snap.servers[0], alpha: -1 }] },
    { ...snap, servers: [{ ...snap.servers[0], alpha: Number.NaN }] }, { ...snap, servers: [{ ...snap.servers[0], server: 'x' }] },
    { ...snap, servers: [{ ...snap.servers[0], extra: 1 }] }, { ...snap, servers: [{ ...snap.servers[0], observations: 1.5 }] }]
  for (const s of bad) assert.throws(() => copy.restore(s), ValidationError, JSON.stringify(s))
  assert.deepEqual(copy.snapshot(), snap)
})

test('at most maxServers remembered: the least recently observed goes first, a disqualified one last', () => {
  const rep = createReputation({ clock: manualClock(0), maxServers: 3, vettingObservations: 1, disqualifyBelow: 0.6, disqualifyConfidence: 0 })
  rep.observe(addr(1), miss) // disqualified: (1 * 0.999) / (0.999 + 1.999) < 0.6
  assert.equal(rep.status(addr(1)), 'disqualified')
  rep.observe(addr(2), pass)
  rep.observe(addr(3), pass)
  rep.observe(addr(2), pass) // 3 is now the least recently observed that is not disqualified
  rep.observe(addr(4), pass)
  assert.equal(rep.size(), 3)
  assert.equal(rep.get(addr(3)), undefined)
  assert.equal(rep.status(addr(1)), 'disqualified', 'evicting a disqualified server would be an amnesty')
  assert.ok(rep.get(addr(2)) && rep.get(addr(4)))
})

test('options are validated', () => {
  const clock = manualClock(0)
  const bad: Record<string, unknown>[] = [{ forgetting: 0 }, { forgetting: 1.01 }, { forgetting: Number.NaN }, { weight: 0 }, { weight: Infinity }, { slashWeight: -1 },
    { disqualifyBelow: 1.5 }, { vettingObservations: 1.5 }, { initialAlpha: -1 }, { initialAlpha: 0, initialBeta: 0 }, { maxServers: 0 }, { maxSlashesPerServer: 0 }, { disqualifyConfidence: -1 }, { forgetting: '0.9' }]
  for (const o of bad) assert.throws(() => createReputation({ clock, ...o } as never), ValidationError, JSON.stringify(o))
  assert.throws(() => createReputation({} as never), ValidationError)
})

test('property: the score stays in [0, 1], alpha + beta stays bounded, observations are counted, snapshots round-trip', () => {
  const factArb = fc.oneof(
    fc.constantFrom<Fact>(pass, miss, paid, undelivered),
    fc.record({ i: fc.integer({ min: 0, max: 20 }), l: fc.integer({ min: 0, max: 3 }) }).map(({ i, l }) => slash(i, l)),
  )
  fc.assert(fc.property(
    fc.double({ min: 0.5, max: 1, noNaN: true }),
    fc.array(fc.record({ s: fc.integer({ min: 0, max: 3 }), f: factArb }), { maxLength: 200 }),
    (lambda, steps) => {
      const rep = createReputation({ clock: manualClock(0), forgetting: lambda })
      const counted = new Map<string, number>()
      const seen = new Set<string>()
      for (const { s, f } of steps) {
        const id = f.kind === 'slashed' ? `${s}|${f.txHash}:${f.logIndex}` : undefined
        const fresh = id === undefined || !seen.has(id)
        if (id) seen.add(id)
        assert.equal(rep.observe(addr(s), f), fresh)
        if (fresh) counted.set(addr(s), (counted.get(addr(s)) ?? 0) + 1)
        const r = rep.get(addr(s))!
        const sc = rep.score(addr(s))
        assert.ok(sc >= 0 && sc <= 1)
        const bound = lambda === 1 ? 2 + 20 * r.observations : Math.max(2, 20 / (1 - lambda))
        assert.ok(r.alpha + r.beta <= bound + 1e-9, `alpha + beta = ${r.alpha + r.beta} > ${bound}`)
      }
      for (const [s, c] of counted) assert.equal(rep.get(s)!.observations, c)
      const copy = createReputation({ clock: manualClock(0), forgetting: lambda })
      copy.restore(JSON.parse(JSON.stringify(rep.snapshot())))
      assert.deepEqual(copy.snapshot(), rep.snapshot())
    },
  ), { numRuns: 200 })
})
