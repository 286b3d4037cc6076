import { test } from 'node:test'
import assert from 'node:assert/strict'
import { eventLine, fmtBytes, fmtSouk } from './event-lines.js'

test('amounts are exact SOUK, sizes B/KiB/MiB', () => {
  assert.equal(fmtSouk('165714260000000'), '0.00016571426 SOUK')
  assert.equal(fmtSouk(10n ** 18n * 3n), '3 SOUK')
  assert.equal(fmtSouk('0'), '0 SOUK')
  assert.equal(fmtSouk('-1500000000000000000'), '-1.5 SOUK')
  assert.equal(fmtSouk('not a number'), 'not a number units')
  assert.equal(fmtBytes(512), '512 B')
  assert.equal(fmtBytes(131072), '128 KiB')
  assert.equal(fmtBytes(4 << 20), '4 MiB')
})

test('one line per event: who, what, to whom, amounts with units', () => {
  assert.equal(eventLine({ kind: 'hired', pricePerChunk: '165714260000000', role: 'cache', name: 'cache-1' }), 'cache-1: hired by the publisher at 0.00016571426 SOUK per chunk; fetching the content')
  assert.equal(eventLine({ kind: 'paid', credited: '20000000000000000', winning: true, role: 'cache', name: 'peer' }), 'cache: paid for a chunk: 0.02 SOUK credited, a winning ticket')
  assert.equal(eventLine({ kind: 'cache-hired', cache: '12D3KooWMWaS3x5FAiyGRAUpA3Jq2EjQ6RaioAPrn2ddbtRTuDv1', payee: '0xabc', pricePerChunk: '1000000000000000', role: 'publisher', name: 'publisher' }),
    'publisher: hired cache 12D3Koo…TuDv1 (payee 0xabc) at 0.001 SOUK per chunk')
  assert.equal(eventLine({ kind: 'content', round: 0, bytes: 262144, sha256: 'ab'.repeat(32), role: 'client', name: 'client-0' }), `client-0: round 1: got the content, 256 KiB (sha256 ${'ab'.repeat(6)}…), verified`)
  assert.equal(eventLine({ kind: 'recovered', settle: { settled: 3, transactions: 1, received: '60000000000000000', pending: 0 }, role: 'cache', name: 'cache' }),
    'cache: from an earlier run: settled 3 payments in 1 transaction, received 0.06 SOUK')
  assert.equal(eventLine({ kind: 'stats', stats: { cachesHired: 2, bundlesIssued: 5, bundlesProven: 5, claimsPaid: 10, paymentsRefused: 0, paidTo: { '0x1': '1000000000000000000', '0x2': '500000000000000000' } }, role: 'publisher', name: 'peer' }),
    'publisher: stopped: 2 caches hired, 5 bundles issued (5 proven), 10 claims paid, 1.5 SOUK paid to caches')
})

test('an event no line knows still gets one, amounts in SOUK; a malformed known one falls back instead of throwing', () => {
  assert.equal(eventLine({ kind: 'escrow-topped-up', amount: '2000000000000000000', round: 4, role: 'publisher', name: 'pub' }), 'pub: escrow topped up: amount 2 SOUK, round 4')
  assert.equal(eventLine({ kind: 'listening', role: 'cache', name: 'peer' }), 'cache: listening on (no address)')
  assert.doesNotThrow(() => eventLine({ kind: 'stats', stats: null, role: 'cache' }))
})
