import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runTestnet } from '../../src/node/testnet.js'

test('testnet: 1 publisher, 2 caches, 2 clients as processes over libp2p — byte-exact, redeemed amounts match chain events', { timeout: 120_000 }, async () => {
  const t0 = performance.now()
  const s = await runTestnet({ caches: 2, clients: 2, contentBytes: 1 << 20 })
  assert.deepEqual(s.crashed, [])
  assert.ok(s.contentOk, 'every client got the content byte-exact')
  for (const c of s.clients) assert.ok(c.ok, `${c.name}: ${c.error ?? ''}`)
  assert.equal(s.chunksPaid, 2 * 8)
  for (const c of s.caches) {
    assert.ok(c.claimsPaid > 0)
    assert.equal(c.redeemed, c.redeemedOnChain, `${c.name}: redeemed amount equals the sum of its WinningTicketRedeemed events`)
  }
  assert.equal(s.colluders?.forgedClaimsPaid, 0)
  assert.equal(s.colluders?.shortcutFailures, s.colluders?.shortcutAttempts)
  assert.ok(s.ok)
  assert.ok(performance.now() - t0 < 120_000)
})
