import { test } from 'node:test'
import assert from 'node:assert/strict'
import { keccak256, toHex } from 'viem'
import { sizeMicrocash } from './sizing.js'
import { winnersOf } from './ticket.js'
import { ValidationError } from '../../core/errors.js'

test('sizing: a draw pays at least the target per round, schedule covers the issue rate, balance covers every round', () => {
  const s = sizeMicrocash({ paymentRatePerSecond: 10n ** 15n, ticketsPerSecond: 2000, roundSeconds: 12, blockSeconds: 2, rounds: 300, redeemCostPerTicket: 10n ** 13n, cheaterGainBound: 0n })
  assert.equal(s.roundLengthBlocks, 6)
  assert.equal(s.ticketValue, 10n ** 15n) // 100 x redemption cost
  assert.equal(s.winnersPerRound, 12) // 12 s x 1e15/s = 1.2e16 = 12 winners of 1e15
  assert.ok(s.budgetPerRound >= 12n * 10n ** 15n)
  assert.ok(s.ticketsPerRound >= 2000 * 12 && s.ticketsPerRound >= 2 * s.winnersPerRound)
  assert.equal(s.balance, s.budgetPerRound * 300n)
  assert.equal(s.roundsInFlight, 2) // L = 6, delay 3: round r+1 begins before r's draw
  assert.equal(s.penaltyDeposit, s.maxGainBeforeDetection)
  assert.equal(s.maxGainBeforeDetection, 2n * s.budgetPerRound)
  assert.ok(s.actualPaymentRatePerSecond >= 1e15)
})

test('sizing: a tolerated gain lowers the penalty; a given ticket value is kept; bad input is refused', () => {
  const base = { paymentRatePerSecond: 1000n, ticketsPerSecond: 100, roundSeconds: 10, blockSeconds: 1, rounds: 10, cheaterGainBound: 0n }
  const a = sizeMicrocash(base)
  const b = sizeMicrocash({ ...base, cheaterGainBound: 5000n })
  assert.equal(b.penaltyDeposit, a.penaltyDeposit - 5000n)
  assert.equal(sizeMicrocash({ ...base, cheaterGainBound: 10n ** 30n }).penaltyDeposit, 0n)
  const c = sizeMicrocash({ ...base, ticketValue: 2500n })
  assert.equal(c.ticketValue, 2500n)
  assert.equal(c.winnersPerRound, 4) // ceil(10000 / 2500)
  assert.equal(sizeMicrocash({ ...base, maxDuplicates: 3 }).maxGainBeforeDetection, 3n * a.maxGainBeforeDetection)
  assert.throws(() => sizeMicrocash({ ...base, paymentRatePerSecond: 0n }), ValidationError)
  assert.throws(() => sizeMicrocash({ ...base, rounds: 0 }), ValidationError)
})

test('sizing: simulated duplicating sponsors are caught before they gain more than maxGainBeforeDetection', () => {
  // Small schedule so the simulation is fast: a cheater duplicates x numbers per round (to one extra server) and
  // is caught at the first draw in which one of them wins; gain = extra tickets issued x EV, over rounds in flight.
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
    // Small x: caught after ~N/(xW) rounds on average, so the mean gain before detection is about V.
    if (x === 1) assert.ok(total / 40 < 2 * Number(s.ticketValue), `mean gain ${total / 40}`)
  }
})
