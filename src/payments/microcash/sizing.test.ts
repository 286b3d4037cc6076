import { test } from 'node:test'
import { deploySouk } from '../deploy.js'
import assert from 'node:assert/strict'
import { keccak256, parseAbiItem, toHex } from 'viem'
import { createChain } from '../../chain/chain.js'
import { faucet } from '../../chain/deploy.js'
import { openDatabase } from '../../core/db.js'
import { ValidationError } from '../../core/errors.js'
import { createEscrow, deployConcurrentLottery, getEscrow, redeemWinners } from './contract.js'
import { bytesToHex, hexToBytes, signDigest } from '../../crypto/index.js'
import { createIssuer, createSequenceAllocator } from './issuer.js'
import { toWire } from './scheme.js'
import { createMicrocashServer, REDEEM_MAX_DELAY_BLOCKS } from './server.js'
import { sizeMicrocash } from './sizing.js'
import { drawBlockOf, microcashDomain, roundAt, ticketDigest, winnerRank, winnersOf } from './ticket.js'
import { testComponents } from '../testing.js'
import { openSqliteMicrocashServerStore, openSqliteSequenceStore } from './store.js'

test('sizing: a draw pays at least the target per round, schedule covers the issue rate, balance covers every round', () => {
  const s = sizeMicrocash({ paymentRatePerSecond: 10n ** 15n, ticketsPerSecond: 2000, roundSeconds: 12, blockSeconds: 2, rounds: 300, redeemCostPerTicket: 10n ** 13n, cheaterGainBound: 0n })
  assert.equal(s.roundLengthBlocks, 6)
  assert.equal(s.ticketValue, 10n ** 15n) // 100 x redemption cost
  assert.equal(s.winnersPerRound, 12) // 12 s x 1e15/s = 1.2e16 = 12 winners of 1e15
  assert.ok(s.budgetPerRound >= 12n * 10n ** 15n)
  assert.ok(s.ticketsPerRound >= 2000 * 12 && s.ticketsPerRound >= 2 * s.winnersPerRound)
  assert.equal(s.balance, s.budgetPerRound * 300n)
  // The servers' policy (16 winners or 128 blocks, settle every block, proof in the next): detected 130 blocks after
  // the draw; rounds begun by then: 1 + floor((6 - 1 + 3 + 130) / 6) = 24.
  assert.equal(s.detectionDelayBlocks, 130)
  assert.equal(s.roundsInFlight, 24)
  assert.equal(s.maxGainBeforeDetection, 24n * s.budgetPerRound)
  assert.equal(s.compensationExposure, 24n * s.budgetPerRound)
  // Half burned (>= the gain: the sponsor can recover the pool through Sybils, never this), half the victims' pool.
  assert.equal(s.burnedOnDetection, s.maxGainBeforeDetection)
  assert.equal(s.victimsPool, s.compensationExposure)
  assert.equal(s.penaltyDeposit, s.burnedOnDetection + s.victimsPool)
  assert.ok(s.actualPaymentRatePerSecond >= 1e15)
})

test('sizing: the redemption policy sets the detection delay; a tolerated gain lowers only the burned half; bad input is refused', () => {
  const base = { paymentRatePerSecond: 1000n, ticketsPerSecond: 100, roundSeconds: 10, blockSeconds: 1, rounds: 10, cheaterGainBound: 0n }
  const a = sizeMicrocash(base)
  assert.equal(a.detectionDelayBlocks, 130)
  assert.equal(a.roundsInFlight, 1 + Math.floor((10 - 1 + 3 + 130) / 10))
  // A faster timer, a slower settle loop, a slow proof.
  assert.equal(sizeMicrocash({ ...base, redeemMaxDelayBlocks: 32 }).detectionDelayBlocks, 34)
  assert.equal(sizeMicrocash({ ...base, settleIntervalBlocks: 10, proofInclusionBlocks: 3 }).detectionDelayBlocks, 129 + 9 + 3)
  // A victim known to win 8 per round fills a batch of 16 at the second draw: it redeems 10 blocks after the first.
  assert.equal(sizeMicrocash({ ...base, serverWinnersPerRound: 8 }).detectionDelayBlocks, 10 + 1)
  assert.equal(sizeMicrocash({ ...base, serverWinnersPerRound: 32 }).detectionDelayBlocks, 1)
  assert.equal(sizeMicrocash({ ...base, redeemBatch: 1, serverWinnersPerRound: 1 }).detectionDelayBlocks, 1)
  assert.equal(sizeMicrocash({ ...base, redeemBatch: 1, serverWinnersPerRound: 0.01 }).detectionDelayBlocks, 130) // the timer comes first
  // A tolerated gain lowers the burn needed, but the pool still covers the victims: the penalty stays 2E.
  const b = sizeMicrocash({ ...base, cheaterGainBound: 5000n })
  assert.equal(b.penaltyDeposit, a.penaltyDeposit)
  const c = sizeMicrocash({ ...base, cheaterGainBound: 5000n, victimCoverage: 0 })
  assert.equal(c.burnedOnDetection, a.maxGainBeforeDetection - 5000n)
  assert.equal(sizeMicrocash({ ...base, cheaterGainBound: 10n ** 30n, victimCoverage: 0 }).penaltyDeposit, 0n)
  assert.equal(sizeMicrocash({ ...base, victimCoverage: 0.5 }).victimsPool, a.maxGainBeforeDetection) // burn still needs G
  const d = sizeMicrocash({ ...base, ticketValue: 2500n })
  assert.equal(d.ticketValue, 2500n)
  assert.equal(d.winnersPerRound, 4) // ceil(10000 / 2500)
  assert.equal(sizeMicrocash({ ...base, maxDuplicates: 3 }).maxGainBeforeDetection, 3n * a.maxGainBeforeDetection)
  assert.throws(() => sizeMicrocash({ ...base, paymentRatePerSecond: 0n }), ValidationError)
  assert.throws(() => sizeMicrocash({ ...base, rounds: 0 }), ValidationError)
  assert.throws(() => sizeMicrocash({ ...base, redeemMaxDelayBlocks: -1 }), ValidationError)
  assert.throws(() => sizeMicrocash({ ...base, settleIntervalBlocks: 0 }), ValidationError)
  assert.throws(() => sizeMicrocash({ ...base, victimCoverage: 2 }), ValidationError)
  assert.throws(() => sizeMicrocash({ ...base, serverWinnersPerRound: 0 }), ValidationError)
})

test('sizing: simulated duplicating sponsors are caught before they gain more than maxGainBeforeDetection', () => {
  // Small schedule so the simulation is fast: a cheater duplicates x numbers per round (to one extra server) and
  // is caught D blocks after the first draw in which one of them wins; gain = extra tickets issued x EV, over the
  // rounds begun by then.
  const s = sizeMicrocash({ paymentRatePerSecond: 100n, ticketsPerSecond: 4, roundSeconds: 8, blockSeconds: 1, rounds: 100, ticketValue: 200n, drawDelayBlocks: 3, cheaterGainBound: 0n })
  const N = s.ticketsPerRound, W = s.winnersPerRound
  const ev = Number(s.ticketValue) * W / N
  for (const x of [1, 2, Math.ceil(N / 4), N]) {
    let worst = 0
    let total = 0
    for (let trial = 0; trial < 40; trial++) {
      let gain = 0
      for (let r = 0; ; r++) {
        gain += x * ev
        const won = winnersOf(keccak256(toHex(`dup:${x}:${trial}:${r}`)), 1n, r, N, W)
        if (won.some((w) => w < x)) { gain += (s.roundsInFlight - 1) * x * ev; break } // duplicated numbers are 0..x-1
        if (r > 10_000) break
      }
      worst = Math.max(worst, gain)
      total += gain
    }
    if (x === N) assert.ok(worst <= Number(s.maxGainBeforeDetection) + 1e-9, `x=${x}: ${worst} > ${s.maxGainBeforeDetection}`)
    // Small x: the duplicate wins after ~N/(xW) rounds on average (a gain of about V), then k - 1 more rounds run
    // before the proof lands.
    if (x === 1) assert.ok(total / 40 < 2 * Number(s.ticketValue) + (s.roundsInFlight - 1) * ev, `mean gain ${total / 40}`)
  }
})

test('sizing: the real server, settling every block, proves a stolen winner within detectionDelayBlocks of its draw', async () => {
  // Round length 4, draw delay 3, the default policy: the victim holds 2 winners (< 16), so only the 128-block timer
  // makes it redeem; its redemption finds both paid to a Sybil of the sponsor, and its proof ends the schedule.
  const s = sizeMicrocash({ paymentRatePerSecond: 500n, ticketsPerSecond: 2, roundSeconds: 4, blockSeconds: 1, drawDelayBlocks: 3, rounds: 100, ticketValue: 1000n, cheaterGainBound: 0n })
  assert.equal(s.roundLengthBlocks, 4)
  const chain = await createChain({ kind: 'embedded', accounts: 4, seed: 'microcash-sizing-policy' })
  try {
    const [deployer, sponsorKey, victimKey, sybilKey] = chain.devKeys
    const d = await deploySouk(chain, deployer)
    const lottery = await deployConcurrentLottery(chain, deployer, d.token)
    const sponsor = chain.wallet(sponsorKey).account.address
    const sybil = chain.wallet(sybilKey).account.address
    await faucet(chain, deployer, d.token, sponsor, 10n ** 12n)
    const params = { ticketValue: 1000n, ticketsPerRound: 8, winnersPerRound: 2, roundLengthBlocks: 4, drawDelayBlocks: 3, rounds: 100, redeemWindowBlocks: 300 }
    const id = await createEscrow(chain, sponsorKey, { lottery, token: d.token, params, balance: 1000n * 2n * 100n, penalty: s.penaltyDeposit })
    const victim = createMicrocashServer({ chain, lottery, privateKey: victimKey, store: openSqliteMicrocashServerStore(openDatabase(':memory:')), ...testComponents('sizing.test/microcashserver-1') })
    const issuer = createIssuer({ chainId: chain.chainId, lottery, escrowId: id, privateKey: sponsorKey, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: 8 }), ...testComponents('sizing.test/issuer-2') })
    const r0 = roundAt(await chain.blockNumber(), 4)
    const tickets = issuer.issueBundle(r0, [{ server: victim.address, count: 8 }])
    await victim.accept(sponsor, id, tickets.map(toWire))
    const draw = drawBlockOf(r0, 4, 3)
    await chain.dev!.mine(draw + 1 - Number(await chain.blockNumber()))
    // After the draw the sponsor knows the winners: it signs them to its Sybil, which redeems at once.
    const seed = (await chain.public.getBlock({ blockNumber: BigInt(draw) })).hash!
    const domain = microcashDomain(chain.chainId, lottery)
    const copies = tickets.filter((t) => winnerRank(seed, id, r0, t.seq, 8) < 2).map((t) => {
      const c = { escrowId: id, server: sybil, round: r0, seq: t.seq, salt: t.salt }
      return { ...c, batch: false, proof: [], sig: bytesToHex(signDigest(ticketDigest(domain, c), hexToBytes(sponsorKey))) }
    })
    await redeemWinners(chain, sybilKey, lottery, id, sybil, copies)
    let caughtAt = 0
    for (let i = 0; i < 400 && !caughtAt; i++) {
      await chain.dev!.mine(1)
      const rep = await victim.settle()
      if (rep.compensated > 0) {
        assert.equal(rep.compensated, 2)
        assert.equal(rep.compensation, 2000n)
        // The block of the first proof: it burned half the penalty and ended the schedule.
        const [caught] = await chain.public.getLogs({ address: lottery, event: parseAbiItem('event EscrowCaught(uint256 indexed escrowId, uint256 burned, uint256 pool, uint64 endRound, uint64 expiryBlock)'), fromBlock: 0n })
        caughtAt = Number(caught.blockNumber)
      }
    }
    assert.ok(caughtAt > 0, 'the duplicate was never proven')
    const delay = caughtAt - draw
    assert.ok(delay <= s.detectionDelayBlocks, `detected ${delay} blocks after the draw > sized ${s.detectionDelayBlocks}`)
    assert.ok(delay > REDEEM_MAX_DELAY_BLOCKS, `detected after ${delay} blocks: the timer is ${REDEEM_MAX_DELAY_BLOCKS}`)
    const e = await getEscrow(chain, lottery, id)
    assert.equal(e.closed, true)
    assert.ok(e.endRound - r0 <= s.roundsInFlight, `the sponsor could issue ${e.endRound - r0} rounds > sized ${s.roundsInFlight}`)
    assert.equal(e.endRound - r0, s.roundsInFlight, 'the sizing is tight for this policy')
  } finally {
    await chain.close()
  }
})
