import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runPaymentDemo } from './pay-demo.js'

test('souk pay: every scheme settles, and what the payee received equals its on-chain balance change', { timeout: 180_000 }, async () => {
  const progress: number[] = []
  const { results } = await runPaymentDemo({ chunks: 1500, schemes: ['lottery', 'channel', 'microcash'], onProgress: (p) => progress.push(p.done) })
  assert.equal(results.length, 3)
  for (const r of results) {
    assert.equal(r.payments > 0, true)
    assert.equal(r.onChainDelta, r.received, `${r.scheme}: chain delta ${r.onChainDelta} vs reported ${r.received}`)
    assert.equal(r.redeemed >= (r.scheme === 'channel' ? 1 : r.winning), true, `${r.scheme}: every winner redeemed`)
  }
  const channel = results.find((r) => r.scheme === 'channel')!
  assert.equal(channel.received, channel.expected) // deterministic scheme: exact
  assert.ok(progress.includes(1500))
})
