/**
 * The MicroCash lifecycle measurement (bench/microcash-lifecycle.ts) on a small case: it runs, and its accounting
 * adds up — every winner the servers hold is paid once by the contract's events, at face value, the payers lost
 * exactly what the servers gained, nothing is left in either contract, and the totals are the sums of the phases.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { measureLifecycle, type SchemeLifecycle } from './microcash-lifecycle.js'

test('lifecycle measurement, K=2 payers × S=3 servers, p = 1/4: every winner redeemed once, money conserved, totals add up', { timeout: 120_000 }, async () => {
  const r = await measureLifecycle({ K: 2, S: 3, ticketsPerStream: 24, winDenominator: 4, bundleSize: 8, unlockPeriodBlocks: 5 })
  assert.equal(r.winProbability, 0.25)
  for (const [name, x] of [['microcash', r.microcash], ['baseline', r.baseline]] as [string, SchemeLifecycle][]) {
    assert.equal(x.tickets, 2 * 3 * 24, `${name} tickets`)
    assert.ok(x.winners > 0, `${name} drew winners`)
    assert.equal(x.redeemed, x.winners, `${name}: every held winner appears in the events`)
    assert.equal(x.paid, BigInt(x.winners) * 10n ** 15n, `${name}: paid at face value`)
    assert.equal(x.imbalance, 0n, `${name}: what the payers lost is what the servers gained`)
    assert.equal(x.leftInContract, 0n, `${name}: nothing left in the contract`)
    assert.equal(x.gas, x.phases.open.gas + x.phases.redeem.gas + x.phases.close.gas)
    assert.equal(x.bytes, x.phases.open.bytes + x.phases.redeem.bytes + x.phases.close.bytes)
    assert.equal(x.txs, x.phases.open.txs + x.phases.redeem.txs + x.phases.close.txs)
    assert.ok(x.ticketsPerSecond > 0)
  }
  // MicroCash: every number of the round is issued, so exactly W = p·N winners per escrow.
  assert.equal(r.microcash.winners, 2 * (3 * 24) / 4)
  // Transactions: MicroCash approve + create + withdraw per payer and ≤ 1 redemption per server; the baseline
  // approve + S reserves + unlock + withdraw per payer and ≤ 1 redemption per server.
  assert.equal(r.microcash.phases.open.txs, 2 * 2)
  assert.equal(r.microcash.phases.close.txs, 2)
  assert.ok(r.microcash.phases.redeem.txs <= 3)
  assert.equal(r.baseline.phases.open.txs, 2 * (1 + 3))
  assert.equal(r.baseline.phases.close.txs, 2 * 2)
  assert.ok(r.baseline.phases.redeem.txs <= 3)
  assert.equal(r.gasRatio, r.baseline.gas / r.microcash.gas)
  assert.equal(r.bytesRatio, r.baseline.bytes / r.microcash.bytes)
})
