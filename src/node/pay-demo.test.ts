import { test } from 'node:test'
import assert from 'node:assert/strict'
import { plausibleWinners, runPaymentDemo } from './pay-demo.js'

test('plausibleWinners: the smallest k with P(Binomial(n, p) > k) <= eps', () => {
  assert.equal(plausibleWinners(10, 0.5, 1e-3), 9) // P(X > 9) = 1/1024 <= 1e-3 < P(X > 8) = 11/1024
  assert.equal(plausibleWinners(10, 0.5, 0.011), 8)
  assert.equal(plausibleWinners(10, 0.5, 0.01), 9)
  assert.equal(plausibleWinners(1000, 0, 1e-9), 0)
  assert.equal(plausibleWinners(7, 1, 1e-9), 7)
  // The demo's lottery: 1500 chunks at ~943 chunks per win (λ ≈ 1.59): P(X > 4) ≈ 2.3% (the old flake), P(X > 14) < 1e-9.
  const k = plausibleWinners(1500, 1 / 943.5)
  assert.ok(k >= 12 && k <= 15, `k = ${k}`)
})

test('souk pay: every scheme settles, and what the payee received equals its on-chain balance change', { timeout: 180_000 }, async () => {
  const progress: number[] = []
  const { results } = await runPaymentDemo({ chunks: 1500, schemes: ['lottery', 'channel', 'microcash'], onProgress: (p) => progress.push(p.done) })
  assert.equal(results.length, 3)
  for (const r of results) {
    assert.equal(r.payments > 0, true)
    assert.equal(r.onChainDelta, r.received, `${r.scheme}: chain delta ${r.onChainDelta} vs reported ${r.received}`)
    assert.equal(r.redeemed >= (r.scheme === 'channel' ? 1 : r.winning), true, `${r.scheme}: every winner redeemed`)
    assert.equal(r.claims, 0, `${r.scheme}: funded for the plausible number of winners, none is left as a claim`)
    assert.equal(r.lost, 0, `${r.scheme}: nothing lost`)
  }
  const lottery = results.find((r) => r.scheme === 'lottery')!
  assert.equal(lottery.redeemed, lottery.winning, 'lottery: exactly the winners redeemed')
  const channel = results.find((r) => r.scheme === 'channel')!
  assert.equal(channel.received, channel.expected) // deterministic scheme: exact
  assert.ok(progress.includes(1500))
})
