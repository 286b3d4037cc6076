import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runTestnet, type TestnetSummary } from '../../src/node/testnet.js'

/** What every scheme must give: byte-exact content, every chunk paid, each cache's settlement equal to the chain's. */
function assertCommon(s: TestnetSummary) {
  try {
    common(s)
  } catch (e) {
    console.error(JSON.stringify(s, null, 1)) // the whole summary, to see what went wrong
    throw e
  }
}
function common(s: TestnetSummary) {
  assert.deepEqual(s.crashed, [])
  assert.ok(s.contentOk, 'every client got the content byte-exact')
  for (const c of s.clients) assert.ok(c.ok, `${c.name}: ${c.error ?? ''}`)
  assert.equal(s.paymentsRefused, 0, 'no cache refused a payment')
  assert.equal(s.chunksPaid, 2 * 8, 'every chunk of both clients paid')
  for (const c of s.caches) {
    // Both caches, the colluding one included: it is paid for the chunks of bundles its partner really solved.
    assert.ok(c.claimsPaid > 0, `${c.name} was paid`)
    assert.equal(c.received, c.receivedOnChain, `${c.name}: settled amount equals the token transfers from the scheme's contract`)
    assert.equal(c.receivedOnChain, c.schemeEventsOnChain, `${c.name}: token transfers equal the scheme's own events`)
  }
  // A forged claim (no secret, or a made-up one) is paid only as a valid late claim: for a chunk the cache served in a
  // bundle its client really proved, when it lands before the honest claim of that slot (which is then refused as
  // already paid). So no honest cache is paid for more chunks than it served, and every chunk is paid once (above).
  // The colluding cache also plays the accepted accounting attack (models/cdn.yaml): it hands its partner its own
  // slot out of band and is paid for it unserved, at most one slot a chunk of its partner's content.
  const perClient = s.chunksPaid / s.clients.length
  for (const c of s.caches) {
    const bound = c.chunksServed + (c.behaviour === 'colluding' ? perClient : 0)
    assert.ok(c.claimsPaid <= bound, `${c.name} (${c.behaviour}): paid ${c.claimsPaid} claims for ${c.chunksServed} chunks served`)
  }
  assert.ok((s.colluders?.forgedClaimsPaid ?? 0) <= (s.colluders?.earnedChunks ?? 0))
  assert.equal(s.colluders?.shortcutFailures, s.colluders?.shortcutAttempts)
  assert.ok(s.ok)
}

const small = { caches: 2, clients: 2, contentBytes: 1 << 20 }

test('testnet (lottery): 1 publisher, 2 caches, 2 clients as processes over libp2p — byte-exact, redeemed amounts match chain events', { timeout: 120_000 }, async () => {
  const s = await runTestnet(small)
  assertCommon(s)
  assert.equal(s.payments.scheme, 'lottery')
  if (s.payments.scheme === 'lottery') assert.equal(s.payments.ticketsIssued, 16)
})

test('testnet (channel): both caches paid through their own channel, closed and collected on chain', { timeout: 120_000 }, async () => {
  const s = await runTestnet({ ...small, scheme: 'channel' })
  assertCommon(s)
  assert.equal(s.payments.scheme, 'channel')
  if (s.payments.scheme === 'channel') {
    assert.equal(s.payments.vouchersSigned, 16)
    assert.equal(s.payments.channelsOpened, 2)
    assert.equal(s.payments.channelsClosed, 2)
    assert.equal(BigInt(s.payments.collectedOnChain), s.caches.reduce((a, c) => a + BigInt(c.credited), 0n), 'every voucher collected')
  }
})

test('testnet (microcash): draws mined past on the embedded chain, winners redeemed, amounts match chain events', { timeout: 120_000 }, async () => {
  const s = await runTestnet({ ...small, scheme: 'microcash' })
  assertCommon(s)
  assert.equal(s.payments.scheme, 'microcash')
  if (s.payments.scheme === 'microcash') {
    assert.equal(s.payments.ticketsIssued, 16, 'one ticket per chunk (expected value = price)')
    assert.ok(s.payments.minedBlocks > 0 && s.payments.draws >= 1)
    assert.equal(s.payments.pending, 0, 'every ticket was drawn before the caches settled')
    assert.equal(s.payments.redeemed, s.payments.winners, 'every winner redeemed')
    // 16 tickets out of N = 64 with W = 32 winners: P(no winner) ~ 1e-6.
    assert.ok(s.payments.winners > 0, 'the testnet escrow schedule gives a handful of winners')
  }
})
