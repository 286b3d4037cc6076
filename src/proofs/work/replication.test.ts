/**
 * src/proofs/work replication and sizing: the replica commitment against viem's abi.encode of the spec, a copier who
 * sees another checker's commitment (or, later, its reveal) cannot open it as its own, every tampered reveal fails,
 * the round's state machine refuses each out-of-order or foreign message and tallies unanimity and mismatches, and
 * the deterrence rule at its boundaries with the cheating-gain bound.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encodeAbiParameters, encodePacked, keccak256 as viemKeccak, type Address, type Hex } from 'viem'
import { seededRng, forkRng } from '../../crypto/rng.js'
import { bytesToHex } from '../../crypto/bytes.js'
import {
  commitReplica, CommitmentReusedError, DuplicateCommitmentError, DuplicateRevealError, REPLICA_VERDICT_TAG, replicaCommitment, ReplicationError,
  ReplicationParamsError, ReplicationRound, RevealBeforeCommitmentsError, RevealMismatchError, RoundIncompleteError, UnknownCheckerError, verdictCommitment,
  verdictValue, type ReplicaReveal,
} from './replication.js'
import { cheatingGain, detectionProbability, InsufficientDeterrenceError, minSlash, sizeChecks, SizingParamsError } from './sizing.js'
import { InsufficientDeterrenceError as FolderInsufficientDeterrenceError } from './errors.js'

const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bytesToHex(b))
const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => bytesToHex(b) as Address)
const JOB = ('0x' + '11'.repeat(32)) as Hex
const CLAIM = ('0x' + 'c1'.repeat(32)) as Hex
const OTHER = ('0x' + 'c2'.repeat(32)) as Hex
const [A, B, C, D] = ['0x' + 'aa'.repeat(20), '0x' + 'bb'.repeat(20), '0x' + 'cc'.repeat(20), '0x' + 'dd'.repeat(20)] as Address[]
const root = seededRng('replication-test')

test('replicaCommitment is keccak256(abi.encode(jobId, batch, unit, outputHash, salt, checker)) as the spec fixes', () => {
  fc.assert(fc.property(hex32, fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), fc.nat(), hex32, hex32, address, (jobId, batch, unit, outputHash, salt, checker) => {
    const want = viemKeccak(encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'address' }],
      [jobId, batch, BigInt(unit), outputHash, salt, checker],
    ))
    assert.equal(replicaCommitment({ jobId, batch, unit, outputHash, salt, checker }), want)
  }), { numRuns: 200 })
  // Mixed-case addresses are the same checker.
  const p = { jobId: JOB, batch: 1, unit: 2, outputHash: CLAIM, salt: JOB }
  assert.equal(replicaCommitment({ ...p, checker: ('0x' + 'AB'.repeat(20)) as Address }), replicaCommitment({ ...p, checker: ('0x' + 'ab'.repeat(20)) as Address }))
})

test('verdictValue / verdictCommitment follow their spec and bind the claim and the verdict', () => {
  const want = viemKeccak(encodePacked(['string', 'bytes32', 'uint8'], [REPLICA_VERDICT_TAG, CLAIM, 1]))
  assert.equal(verdictValue(CLAIM, 'ok'), want)
  assert.notEqual(verdictValue(CLAIM, 'ok'), verdictValue(CLAIM, 'bad'))
  assert.notEqual(verdictValue(CLAIM, 'bad'), verdictValue(OTHER, 'bad'))
  const p = { jobId: JOB, batch: 0, unit: 3, salt: JOB, checker: A }
  assert.equal(verdictCommitment({ ...p, outputHash: CLAIM, verdict: 'bad' }), replicaCommitment({ ...p, outputHash: verdictValue(CLAIM, 'bad') }))
  assert.throws(() => verdictValue(CLAIM, 'maybe' as 'ok'), RangeError)
  assert.throws(() => replicaCommitment({ ...p, outputHash: '0x12' as Hex }), RangeError)
  assert.throws(() => replicaCommitment({ ...p, outputHash: CLAIM, checker: '0x1234' as Address }), RangeError)
  assert.throws(() => replicaCommitment({ ...p, outputHash: CLAIM, unit: -1 }), RangeError)
})

test('a copier who sees a commitment cannot open it as its own, with any salt, nor with the author\'s salt once revealed', () => {
  fc.assert(fc.property(hex32, fc.nat({ max: 1000 }), fc.nat({ max: 2 ** 32 - 1 }), hex32, hex32, address, address, hex32, (jobId, batch, unit, value, salt, author, copier, salt2) => {
    fc.pre(author.toLowerCase() !== copier.toLowerCase())
    const c = replicaCommitment({ jobId, batch, unit, outputHash: value, salt, checker: author })
    // The copier's own commitment for the same value differs (the address is inside) for every salt, its own or the author's.
    assert.notEqual(replicaCommitment({ jobId, batch, unit, outputHash: value, salt: salt2, checker: copier }), c)
    assert.notEqual(replicaCommitment({ jobId, batch, unit, outputHash: value, salt, checker: copier }), c)
    // In a round: the copy is refused at commit time, and even a round that took it could not be opened by the copier.
    const round = new ReplicationRound({ jobId, batch, unit, checkers: [author, copier], mode: 'exact' })
    round.commit(author, c)
    assert.throws(() => round.commit(copier, c), CommitmentReusedError)
  }), { numRuns: 300 })
})

test('a copier who commits to a guess before the reveal, then sees the reveal, cannot switch to the revealed value', () => {
  const rng = forkRng(root, 'copier')
  const round = new ReplicationRound({ jobId: JOB, batch: 0, unit: 7, checkers: [A, B], mode: 'exact' })
  const honest = commitReplica({ jobId: JOB, batch: 0, unit: 7, checker: A, outputHash: CLAIM }, rng)
  const guess = commitReplica({ jobId: JOB, batch: 0, unit: 7, checker: B, outputHash: OTHER }, rng)
  round.commit(A, honest.commitment)
  round.commit(B, guess.commitment)
  round.reveal(A, honest.reveal)
  const seen = honest.reveal as { outputHash: Hex; salt: Hex }
  assert.throws(() => round.reveal(B, seen), RevealMismatchError) // the author's exact reveal
  assert.throws(() => round.reveal(B, { outputHash: seen.outputHash, salt: (guess.reveal as { salt: Hex }).salt }), RevealMismatchError) // its own salt, the seen value
  round.reveal(B, guess.reveal) // it can only reveal what it committed to
  const t = round.tally()
  assert.equal(t.kind, 'escalate')
})

test('every tampered reveal fails and leaves the round unchanged', () => {
  fc.assert(fc.property(fc.constantFrom<'exact' | 'verdict'>('exact', 'verdict'), hex32, fc.nat({ max: 255 }), fc.nat({ max: 7 }), fc.string({ minLength: 1, maxLength: 8 }), (mode, value, byte, bit, seed) => {
    const rng = seededRng(seed)
    const round = new ReplicationRound({ jobId: JOB, batch: 2, unit: 9, checkers: [A, B], mode, claimedOutputHash: CLAIM })
    const mk = (checker: Address, verdict: 'ok' | 'bad') => commitReplica({ jobId: JOB, batch: 2, unit: 9, checker, outputHash: mode === 'verdict' ? CLAIM : value, ...(mode === 'verdict' ? { verdict } : {}) }, rng)
    const a = mk(A, 'ok'), b = mk(B, 'bad')
    round.commit(A, a.commitment)
    round.commit(B, b.commitment)
    const flip = (h: Hex): Hex => { const x = Buffer.from(h.slice(2), 'hex'); x[byte % 32] ^= 1 << bit; return bytesToHex(x) }
    const tampered: ReplicaReveal[] = [{ ...a.reveal, salt: flip(a.reveal.salt) }]
    if ('outputHash' in a.reveal) tampered.push({ outputHash: flip(a.reveal.outputHash), salt: a.reveal.salt }, { verdict: 'ok', salt: a.reveal.salt })
    else tampered.push({ verdict: 'bad', salt: a.reveal.salt }, { outputHash: CLAIM, salt: a.reveal.salt })
    for (const t of tampered) assert.throws(() => round.reveal(A, t), RevealMismatchError)
    assert.throws(() => round.reveal(A, b.reveal), RevealMismatchError) // another checker's reveal
    assert.deepEqual(round.revealed, [])
    round.reveal(A, a.reveal)
    assert.deepEqual(round.revealed, [A.toLowerCase()])
  }), { numRuns: 200 })
})

test('a commitment from another round (job, batch or unit) does not open in this one', () => {
  const rng = forkRng(root, 'other-round')
  for (const other of [{ jobId: OTHER, batch: 0, unit: 1 }, { jobId: JOB, batch: 1, unit: 1 }, { jobId: JOB, batch: 0, unit: 2 }]) {
    const round = new ReplicationRound({ jobId: JOB, batch: 0, unit: 1, checkers: [A], mode: 'exact' })
    const x = commitReplica({ ...other, checker: A, outputHash: CLAIM }, rng)
    round.commit(A, x.commitment)
    assert.throws(() => round.reveal(A, x.reveal), RevealMismatchError)
  }
})

test('honest unanimous rounds pass (verdict ok, exact equal to the claim) and decide a fault when all agree it is bad', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 7 }), fc.constantFrom<'ok' | 'bad'>('ok', 'bad'), fc.string({ maxLength: 6 }), (k, verdict, seed) => {
    const checkers = Array.from({ length: k }, (_, i) => bytesToHex(new Uint8Array(20).fill(i + 1)) as Address)
    const rng = seededRng('unanimous-' + seed)
    for (const mode of ['verdict', 'exact'] as const) {
      const round = new ReplicationRound({ jobId: JOB, batch: 3, unit: 4, checkers, mode, claimedOutputHash: CLAIM })
      const value = verdict === 'ok' ? CLAIM : OTHER
      const cs = checkers.map((checker) => commitReplica({ jobId: JOB, batch: 3, unit: 4, checker, outputHash: mode === 'verdict' ? CLAIM : value, ...(mode === 'verdict' ? { verdict } : {}) }, rng))
      cs.forEach((x, i) => round.commit(checkers[i], x.commitment))
      // Reveal in reverse order: order does not matter.
      for (let i = k - 1; i >= 0; i--) round.reveal(checkers[i], cs[i].reveal)
      const t = round.tally()
      assert.equal(t.kind, 'unanimous')
      if (t.kind === 'unanimous') {
        assert.equal(t.decision, verdict === 'ok' ? 'pass' : 'fault')
        assert.equal(t.checkers.length, k)
      }
    }
  }), { numRuns: 60 })
  // Exact mode without a claim: replicated workers agreeing among themselves.
  const rng = forkRng(root, 'agree')
  const round = new ReplicationRound({ jobId: JOB, batch: 0, unit: 0, checkers: [A, B], mode: 'exact' })
  const xs = [A, B].map((checker) => commitReplica({ jobId: JOB, batch: 0, unit: 0, checker, outputHash: CLAIM }, rng))
  xs.forEach((x, i) => round.commit([A, B][i], x.commitment))
  xs.forEach((x, i) => round.reveal([A, B][i], x.reveal))
  assert.deepEqual(round.tally(), { kind: 'unanimous', decision: 'agree', value: CLAIM, checkers: [A.toLowerCase(), B.toLowerCase()] })
})

test('a mismatch escalates with the disagreeing parties; ties and missing reveals escalate too', () => {
  const rng = forkRng(root, 'mismatch')
  const run = (verdicts: ('ok' | 'bad' | null)[], checkers: Address[]) => {
    const round = new ReplicationRound({ jobId: JOB, batch: 0, unit: 1, checkers, mode: 'verdict', claimedOutputHash: CLAIM })
    const xs = checkers.map((checker, i) => commitReplica({ jobId: JOB, batch: 0, unit: 1, checker, outputHash: CLAIM, verdict: verdicts[i] ?? 'ok' }, rng))
    xs.forEach((x, i) => round.commit(checkers[i], x.commitment))
    xs.forEach((x, i) => { if (verdicts[i] !== null) round.reveal(checkers[i], x.reveal) })
    return round
  }
  const t = run(['bad', 'ok', 'bad'], [A, B, C]).tally()
  assert.equal(t.kind, 'escalate')
  if (t.kind === 'escalate') {
    assert.deepEqual(t.disagreeing, [B.toLowerCase()])
    assert.equal(t.plurality, verdictValue(CLAIM, 'bad'))
    assert.deepEqual(t.groups.map((g) => [g.verdict, g.checkers.length]), [['bad', 2], ['ok', 1]])
    assert.deepEqual(t.missing, [])
  }
  const tie = run(['bad', 'ok'], [A, B]).tally()
  assert.ok(tie.kind === 'escalate' && tie.plurality === undefined && tie.disagreeing.length === 2)
  const incomplete = run(['ok', 'ok', null], [A, B, C])
  assert.throws(() => incomplete.tally(), RoundIncompleteError)
  const late = incomplete.tally({ allowMissing: true })
  assert.ok(late.kind === 'escalate' && late.missing.length === 1 && late.missing[0] === C.toLowerCase() && late.disagreeing.length === 0)
})

test('the state machine refuses reveals before all commitments, duplicates, strangers, and bad parameters', () => {
  const rng = forkRng(root, 'refusals')
  const round = new ReplicationRound({ jobId: JOB, batch: 0, unit: 1, checkers: [A, B, C], mode: 'exact' })
  const xs = [A, B, C].map((checker) => commitReplica({ jobId: JOB, batch: 0, unit: 1, checker, outputHash: CLAIM }, rng))
  assert.throws(() => round.tally(), RoundIncompleteError)
  round.commit(A, xs[0].commitment)
  assert.throws(() => round.commit(A, xs[1].commitment), DuplicateCommitmentError)
  assert.throws(() => round.commit(D, commitReplica({ jobId: JOB, batch: 0, unit: 1, checker: D, outputHash: CLAIM }, rng).commitment), UnknownCheckerError)
  assert.throws(() => round.commit('not an address' as Address, xs[1].commitment), UnknownCheckerError)
  round.commit(B, xs[1].commitment)
  assert.equal(round.phase, 'commit')
  assert.throws(() => round.reveal(A, xs[0].reveal), RevealBeforeCommitmentsError) // 2 of 3 in: nobody reveals yet
  assert.throws(() => round.commit(C, '0x1234' as Hex), ReplicationParamsError)
  round.commit(C.toUpperCase().replace('0X', '0x') as Address, xs[2].commitment) // case-insensitive
  assert.equal(round.phase, 'reveal')
  assert.throws(() => round.commit(C, xs[2].commitment), DuplicateCommitmentError)
  round.reveal(A, xs[0].reveal)
  assert.throws(() => round.reveal(A, xs[0].reveal), DuplicateRevealError)
  assert.throws(() => round.reveal(D, xs[0].reveal), UnknownCheckerError)
  assert.throws(() => round.reveal(B, { verdict: 'ok', salt: (xs[1].reveal as { salt: Hex }).salt }), RevealMismatchError) // wrong kind for the mode
  for (const e of [DuplicateRevealError, UnknownCheckerError]) assert.ok(new e(A) instanceof ReplicationError)
  // Bad rounds.
  assert.throws(() => new ReplicationRound({ jobId: JOB, batch: 0, unit: 0, checkers: [], mode: 'exact' }), ReplicationParamsError)
  assert.throws(() => new ReplicationRound({ jobId: JOB, batch: 0, unit: 0, checkers: [A, A.toUpperCase().replace('0X', '0x') as Address], mode: 'exact' }), ReplicationParamsError)
  assert.throws(() => new ReplicationRound({ jobId: JOB, batch: 0, unit: 0, checkers: [A], mode: 'verdict' }), ReplicationParamsError) // no claim
  assert.throws(() => new ReplicationRound({ jobId: '0x12' as Hex, batch: 0, unit: 0, checkers: [A], mode: 'exact' }), ReplicationParamsError)
})

// ------------------------------------------------------------------------------------------------ sizing

test('sizeChecks: the rule holds exactly at its boundary and fails one unit below', () => {
  const base = { pricePerUnit: 10n, maxBatch: 1024, checksPerBatch: 8 }
  assert.equal(minSlash(base), 1280n)
  assert.equal(minSlash({ pricePerUnit: 10n, maxBatch: 1000, checksPerBatch: 3 }), 3334n) // ceil(10000 / 3)
  const ok = sizeChecks({ ...base, slash: 1280n, stake: 1280n })
  assert.equal(ok.checkRate, 8 / 1024)
  assert.equal(ok.slashMargin, 0n)
  assert.equal(ok.batchesCovered, 1n)
  assert.throws(() => sizeChecks({ ...base, slash: 1279n, stake: 5000n }), (e: unknown) => {
    assert.ok(e instanceof InsufficientDeterrenceError && e instanceof FolderInsufficientDeterrenceError)
    assert.equal(e.required, 1280n)
    assert.equal(e.given, 1279n)
    assert.equal(e.details.problem, 'slash-too-low')
    assert.ok(e.hints.length > 0)
    return true
  })
  assert.throws(() => sizeChecks({ ...base, slash: 1280n, stake: 1279n }), (e: unknown) => e instanceof InsufficientDeterrenceError && e.details.problem === 'stake-below-slash' && e.required === 1280n)
  // A price of 0 needs no slash; one check on a one-unit batch needs slash >= price.
  sizeChecks({ pricePerUnit: 0n, maxBatch: 2 ** 20, checksPerBatch: 1, slash: 0n, stake: 0n })
  sizeChecks({ pricePerUnit: 5n, maxBatch: 1, checksPerBatch: 1, slash: 5n, stake: 5n })
  assert.throws(() => sizeChecks({ pricePerUnit: 5n, maxBatch: 1, checksPerBatch: 1, slash: 4n, stake: 5n }), InsufficientDeterrenceError)
  // 2^20 units, the contract's largest batch.
  assert.equal(minSlash({ pricePerUnit: 1n, maxBatch: 2 ** 20, checksPerBatch: 16 }), 65536n)
  for (const bad of [{ maxBatch: 0 }, { maxBatch: 2 ** 20 + 1 }, { checksPerBatch: 0 }, { checksPerBatch: 1.5 }, { pricePerUnit: -1n }]) {
    assert.throws(() => sizeChecks({ ...base, slash: 1280n, stake: 1280n, ...bad }), SizingParamsError)
  }
  assert.throws(() => sizeChecks({ ...base, slash: 1280n, stake: -1n }), SizingParamsError)
})

test('sizeChecks property: accepted iff slash·k >= price·n and stake >= slash', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.integer({ min: 1, max: 2 ** 20 }), fc.integer({ min: 1, max: 64 }), fc.bigInt({ min: 0n, max: 10n ** 26n }), fc.bigInt({ min: 0n, max: 10n ** 26n }), (price, n, k, slash, stake) => {
    const holds = slash * BigInt(k) >= price * BigInt(n) && stake >= slash
    let accepted = true
    try { sizeChecks({ pricePerUnit: price, maxBatch: n, checksPerBatch: k, slash, stake }) } catch (e) { assert.ok(e instanceof InsufficientDeterrenceError); accepted = false }
    assert.equal(accepted, holds)
    // minSlash is the least slash that passes.
    const m = minSlash({ pricePerUnit: price, maxBatch: n, checksPerBatch: k })
    assert.ok(m * BigInt(k) >= price * BigInt(n) && (m === 0n || (m - 1n) * BigInt(k) < price * BigInt(n)))
  }), { numRuns: 500 })
})

test('detectionProbability = 1 − (1 − f)^k and g(f) >= f', () => {
  assert.equal(detectionProbability(0, 8), 0)
  assert.equal(detectionProbability(1, 1), 1)
  assert.equal(detectionProbability(0.5, 0), 0)
  assert.ok(Math.abs(detectionProbability(0.1, 8) - (1 - 0.9 ** 8)) < 1e-15)
  assert.throws(() => detectionProbability(1.5, 2), SizingParamsError)
  assert.throws(() => detectionProbability(0.5, -1), SizingParamsError)
  fc.assert(fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 1000 }), (f, k) => {
    assert.ok(detectionProbability(f, k) >= f - 1e-12)
  }))
})

test('under the rule a worker who skips any fraction never gains; cost above price + S/n is refused', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 20 }), fc.integer({ min: 1, max: 64 }), fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 100 }), (n, k, price, f, costPct) => {
    const slash = minSlash({ pricePerUnit: price, maxBatch: n, checksPerBatch: k })
    const cost = (price * BigInt(costPct)) / 100n // any cost up to the price
    const g = cheatingGain({ skippedFraction: f, batchUnits: n, checksPerBatch: k, pricePerUnit: price, costPerUnit: cost, slash })
    const scale = Number(price) * n + Number(slash)
    assert.ok(g.gain <= 1e-9 * scale, `gain ${g.gain} at f=${f}`)
    assert.ok(Math.abs(g.gain - (g.cheatingProfit - g.honestProfit)) <= 1e-9 * scale)
    // The convexity bound: gain(f) <= f · gain(1).
    const g1 = cheatingGain({ skippedFraction: 1, batchUnits: n, checksPerBatch: k, pricePerUnit: price, costPerUnit: cost, slash }).gain
    assert.ok(g.gain <= f * g1 + 1e-9 * scale)
    assert.ok(sizeChecks({ pricePerUnit: price, maxBatch: n, checksPerBatch: k, slash, stake: slash, costPerUnit: cost }).maxCheatingGain! <= 0)
  }), { numRuns: 300 })
  // n = 100, p = 10, k = 4: S = 250. Skipping pays only when n·c > n·p + S, i.e. c > 12.5.
  const t = { pricePerUnit: 10n, maxBatch: 100, checksPerBatch: 4, slash: 250n, stake: 250n }
  sizeChecks({ ...t, costPerUnit: 12n })
  assert.throws(() => sizeChecks({ ...t, costPerUnit: 13n }), (e: unknown) => e instanceof InsufficientDeterrenceError && e.details.problem === 'cheating-pays' && e.required === 11n)
  assert.ok(cheatingGain({ skippedFraction: 1, batchUnits: 100, checksPerBatch: 4, pricePerUnit: 10n, costPerUnit: 13n, slash: 250n }).gain > 0)
})
