/** The testnet's terminal output: colour rules, the summary's wording, the gas table, the lottery payout band. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { renderGasReport, renderSummary } from './report.js'
import { ansiStyle, colourWanted, plainStyle, stripStyle, styleFor } from './style.js'
import { gasReport, lotteryPayoutSigma, type TestnetSummary } from './testnet.js'

test('colour: NO_COLOR turns it off, FORCE_COLOR on or off, else only on a terminal that is not TERM=dumb', () => {
  const tty = { isTTY: true }, pipe = { isTTY: false }
  assert.equal(colourWanted(tty, {}), true)
  assert.equal(colourWanted(pipe, {}), false)
  assert.equal(colourWanted(tty, { NO_COLOR: '1' }), false)
  assert.equal(colourWanted(tty, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count (no-color.org)')
  assert.equal(colourWanted(tty, { TERM: 'dumb' }), false)
  assert.equal(colourWanted(pipe, { FORCE_COLOR: '1' }), true)
  assert.equal(colourWanted(tty, { FORCE_COLOR: '0' }), false)
  assert.equal(colourWanted(tty, { NO_COLOR: '1', FORCE_COLOR: '1' }), false, 'NO_COLOR wins')
  assert.equal(styleFor(pipe, {}), plainStyle)
  assert.equal(stripStyle(ansiStyle.red(ansiStyle.bold('x'))), 'x')
})

function summary(over: Partial<TestnetSummary> = {}): TestnetSummary {
  return {
    ok: true, contentOk: true, elapsedMs: 12_345, rpcUrl: 'http://127.0.0.1:1/', peers: { publisher: 1, caches: 2, clients: 2 },
    bytesDelivered: 1 << 20, bytesVerified: 1 << 20, chunksPaid: 16, paymentsRefused: 0,
    payments: { scheme: 'lottery', ticketsIssued: 16, won: 0, redeemed: 0, redeemTransactions: 0 },
    chain: { transactions: 5, gasUsed: '500000', contract: '0x01', receivedByCache: {} },
    caches: [
      { name: 'cache-0', behaviour: 'honest', payee: '0xaa', chunksServed: 8, claimsPaid: 8, credited: String(8n * 10n ** 13n), winning: 0, settled: 0, pending: 0, received: '0', receivedOnChain: '0', schemeEventsOnChain: '0', matchesChain: true, forgedClaims: 0, forgedClaimsPaid: 0, forgedClaimsLateValid: 0, lost: 0, payoutSigma: String(lotteryPayoutSigma(8n * 10n ** 13n, 8n * 10n ** 15n)) },
    ],
    clients: [{ name: 'client-0', behaviour: 'honest', bytesVerified: 1 << 20, ok: true }],
    colluders: { earned: '0', earnedChunks: 12, forgedClaims: 3936, forgedClaimsPaid: 12, forgedClaimsLateValid: 12, shortcutAttempts: 3, shortcutFailures: 3, clientDownloadedFromHonestCaches: 1 << 20 },
    crashed: [], interrupted: false,
    gasReport: [{ contract: 'TicketBroker', fn: 'redeemRuns', calls: 2, min: 60_000, mean: 700_000, median: 700_000, max: 1_340_000 }],
    ...over,
  }
}

test('summary: a received 0 is explained as lottery variance with its ±2σ band; late-but-valid claims are counted apart from forged ones', () => {
  const out = renderSummary(summary())
  assert.match(out, /received 0\.000000 SOUK \(expected 0\.000080 SOUK ± 0\.001600 SOUK\)/)
  assert.match(out, /A lottery pays a cache only for its winning tickets/)
  assert.match(out, /forged claims {8}3936 sent, none paid; 12 more were late but valid \(no secret, on bundles the client had really solved/)
  assert.doesNotMatch(out, /12 paid/)
  assert.match(out, /result {16}OK/)
  // A forged claim that is really paid is loud.
  assert.match(renderSummary(summary({ colluders: { ...summary().colluders!, forgedClaimsLateValid: 10 } })), /forged claims {8}3936 sent, 2 PAID; 10 more were late but valid/)
})

test('summary: Ctrl-C says "stopped by you", not NOT OK; a time limit says so; a failed run says NOT OK', () => {
  const byUser = renderSummary(summary({ ok: false, interrupted: true, stopReason: 'user' }))
  assert.match(byUser, /— stopped by you/)
  assert.match(byUser, /result {16}stopped by you \(the figures cover what ran before Ctrl-C\)/)
  assert.doesNotMatch(byUser, /NOT OK/)
  assert.match(renderSummary(summary({ ok: false, interrupted: true, stopReason: 'timeout' })), /— stopped at its time limit[\s\S]*result {16}NOT OK/)
  assert.match(renderSummary(summary({ ok: false, contentOk: false })), /content byte-exact: NO[\s\S]*result {16}NOT OK/)
  // Coloured, the words are the same.
  assert.equal(stripStyle(renderSummary(summary(), ansiStyle)), renderSummary(summary()))
  assert.notEqual(renderSummary(summary(), ansiStyle), renderSummary(summary()))
})

test('gas report: grouped by contract and function, min / mean / median / max; unknown targets and selectors kept visible', () => {
  const broker = '0x00000000000000000000000000000000000000b1'
  const token = '0x00000000000000000000000000000000000000a1'
  const d = { token, contracts: { lottery: { ticketBroker: broker, unlockPeriodBlocks: 100 } } } as never
  const fund = '0x1a9d4e57' + '0'.repeat(64) // fundDeposit(uint256)
  const rows = gasReport([
    { to: broker, input: fund as `0x${string}`, gas: 100n },
    { to: broker, input: fund as `0x${string}`, gas: 300n },
    { to: broker, input: fund as `0x${string}`, gas: 200n },
    { to: broker, input: '0xdeadbeef', gas: 7n },
    { to: '0x00000000000000000000000000000000000000ff', input: '0x', gas: 21_000n },
  ], d)
  const byKey = Object.fromEntries(rows.map((r) => [`${r.contract}.${r.fn}`, r]))
  assert.deepEqual(byKey['TicketBroker.fundDeposit'], { contract: 'TicketBroker', fn: 'fundDeposit', calls: 3, min: 100, mean: 200, median: 200, max: 300 })
  assert.equal(byKey['TicketBroker.0xdeadbeef']?.calls, 1)
  assert.equal(byKey['other.(transfer)']?.min, 21_000)
  const table = renderGasReport(rows)
  assert.match(table[1]!, /contract\s+function\s+calls\s+min\s+mean\s+median\s+max/)
  assert.ok(table.some((l) => /TicketBroker\s+fundDeposit\s+3\s+100\s+200\s+200\s+300/.test(l)))
})

test('lottery payout sigma: the exact integer square root of credited × face', () => {
  for (const [c, f] of [[0n, 5n], [1n, 1n], [8n * 10n ** 13n, 8n * 10n ** 15n], [(1n << 100n) + 12345n, 3n]]) {
    const x = lotteryPayoutSigma(c!, f!)
    assert.ok(x * x <= c! * f! && (x + 1n) * (x + 1n) > c! * f!, `${c} × ${f}`)
  }
})
