// The dashboard's state: real runs' events replayed (recorded from `souk testnet` of each market, fixtures/), the
// lottery's payout band, chain facts, bounds, and any input taken without throwing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { createDashboardState, isqrt, SERIES_SECONDS } from './state.js'
import { renderMetrics, METRIC_NAMES } from './metrics.js'

const replay = (market: string) => {
  const s = createDashboardState()
  const lines = readFileSync(new URL(`./fixtures/${market}-run.jsonl`, import.meta.url), 'utf8').trim().split('\n')
  for (const l of lines) { const e = JSON.parse(l) as { at: number }; s.apply(e, e.at) }
  return s.snapshot()
}

test('a cdn run: peers and roles, deals, tickets per cache, bytes, caught cheaters', () => {
  const s = replay('cdn')
  assert.equal(s.status, 'running')
  assert.deepEqual(s.roles, { cache: 2, client: 2, publisher: 1 })
  assert.ok(s.peers.every((p) => p.state === 'stopped'), 'every peer said its last word')
  assert.equal(s.peers.find((p) => p.name === 'cache-1')?.address, '0xadce77ec54e8dfb9dd2addbef27de768d152fa79', 'the payee address from the publisher\'s deal')
  assert.deepEqual(s.deals.byState, { serving: 2 })
  assert.equal(s.payments.ticketsIssued, 16)
  assert.deepEqual(s.payments.servers.map((r) => [r.name, r.tickets]), [['cache-0', 8], ['cache-1', 8]])
  assert.equal(s.payments.servers[1].expected, '1325714080000000', 'Σ credited = what the cache reported')
  assert.equal(s.payments.servers[1].faceValue, '7428390912000000', 'the face value from its stats')
  assert.equal(s.traffic.bytesServed, 2 * 1048576)
  assert.equal(s.traffic.bytesVerified, 2 * 1048576)
  assert.deepEqual(s.proofs.providers.map((p) => [p.name, p.due, p.proven]), [['cache-0', 8, 8], ['cache-1', 8, 8]])
  assert.deepEqual(s.cheaters.map((c) => [c.name, c.how, c.count]), [['client-0', 'tried to solve without the honest caches', 2], ['cache-1', 'forged claims refused', 8]])
  assert.equal(s.chain.rpcUrl, 'http://127.0.0.1:41347/')
  assert.equal(s.chain.contracts.TicketBroker, '0xbbc2aded382bddd17d8aea4ef7946a5dc8ce2417')
  assert.equal(s.series.t.length, s.series.bytes.length)
  assert.equal(s.series.bytes.reduce((a, b) => a + b, 0), 2 * 1048576, 'every served byte in the series')
  assert.equal(s.series.payments.reduce((a, b) => a + b, 0), 16)
  assert.doesNotThrow(() => JSON.stringify(s))
})

test('a storage run: deals by state, proofs due, proven and faulted per provider, one slash per faulted period', () => {
  const s = replay('storage')
  assert.equal(s.market, 'storage')
  assert.deepEqual(s.roles, { client: 2, provider: 2 })
  assert.deepEqual(s.deals.byState, { ended: 2 })
  assert.deepEqual(s.proofs.providers.map((p) => [p.name, p.due, p.proven, p.faulted, p.skipped]), [['provider-0', 4, 4, 0, 0], ['provider-1', 4, 0, 4, 4]])
  assert.equal(s.proofs.slashes, 4)
  assert.deepEqual(s.cheaters.map((c) => [c.name, c.count]), [['provider-1', 4]])
  assert.equal(s.peers.find((p) => p.name === 'provider-1')?.behaviour, 'drop')
})

test('a compute run: jobs, batches claimed, settled and faulted per worker, the stake slashed', () => {
  const s = replay('compute')
  assert.equal(s.market, 'compute')
  assert.deepEqual(s.roles, { client: 2, verifier: 1, worker: 2 })
  assert.deepEqual(s.proofs.providers.map((p) => [p.name, p.due, p.proven, p.faulted]), [['worker-0', 4, 4, 0], ['worker-1', 4, 0, 4]])
  assert.equal(s.proofs.slashes, 4)
  assert.equal(s.proofs.slashed, (4n * 4_000_000_000_000_000n).toString())
  assert.equal(s.deals.byState.ended, 2)
})

test('the lottery band: expected ± 2σ with σ² = Σ c(F − c); a face value learnt late still counts earlier tickets', () => {
  const s = createDashboardState()
  const c = 10n ** 15n, F = 10n ** 17n // win probability 1/100
  for (let i = 0; i < 100; i++) s.apply({ kind: 'paid', role: 'cache', name: 'cache-0', credited: c.toString(), winning: i === 3 }, 1000 + i)
  const before = s.snapshot().payments.servers[0]
  assert.equal(before.sigma, null, 'no face value yet: no band')
  s.apply({ kind: 'stats', role: 'cache', name: 'cache-0', payee: '0x' + '11'.repeat(20), payments: { faceValue: F.toString() } }, 2000)
  const r = s.snapshot().payments.servers[0]
  const sigma = isqrt(100n * c * (F - c))
  assert.equal(r.expected, (100n * c).toString())
  assert.equal(r.sigma, sigma.toString())
  assert.equal(r.low, (100n * c - 2n * sigma > 0n ? 100n * c - 2n * sigma : 0n).toString())
  assert.equal(r.high, (100n * c + 2n * sigma).toString())
  assert.equal(r.awarded, F.toString())
  assert.equal(r.inBand, true)
  assert.equal(r.address, '0x' + '11'.repeat(20))
})

test('chain facts: blocks, transactions and gas; redeemed tickets and token transfers from the payment contract', () => {
  const s = createDashboardState()
  const broker = '0x' + 'bb'.repeat(20), payee = '0x' + 'cc'.repeat(20)
  s.apply({ kind: 'deployed', contracts: { lottery: { ticketBroker: broker } } }, 0)
  s.apply({ kind: 'deal', role: 'publisher', name: 'publisher', cache: 'peerA', payee, pricePerChunk: '5' }, 1)
  s.apply({ kind: 'listening', role: 'cache', name: 'cache-0', peerId: 'peerA' }, 0)
  s.apply({ kind: 'paid', role: 'cache', name: 'cache-0', credited: '5', winning: true, faceValue: '500' }, 2)
  s.apply({ kind: 'chain-block', number: 9, transactions: 3, gasUsed: '210000' }, 1500)
  s.apply({ kind: 'chain-block', number: 10, transactions: 1, gasUsed: '50000' }, 2500)
  s.apply({ kind: 'chain-log', block: 10, tx: '0xaa', address: broker, contract: 'TicketBroker', event: 'TicketsRedeemed', args: { seqs: '0x' + '00'.repeat(32) } }, 2500)
  s.apply({ kind: 'chain-log', block: 10, tx: '0xaa', address: '0x' + 'dd'.repeat(20), contract: 'SoukToken', event: 'Transfer', args: { from: broker, to: payee, value: '500' } }, 2500)
  s.apply({ kind: 'chain-log', block: 10, tx: '0xab', address: '0x' + 'dd'.repeat(20), contract: 'SoukToken', event: 'Transfer', args: { from: payee, to: broker, value: '7' } }, 2500)
  const r = s.snapshot()
  assert.equal(r.chain.block, 10)
  assert.equal(r.chain.transactions, 4)
  assert.equal(r.chain.gasUsed, '260000')
  assert.equal(r.payments.redeemed, 2)
  assert.equal(r.payments.redeemTransactions, 1)
  assert.equal(r.payments.servers[0].onChain, '500', 'only transfers out of the payment contract count')
  assert.deepEqual(r.chain.eventsByName, { 'SoukToken.Transfer': 2, 'TicketBroker.TicketsRedeemed': 1 })
  assert.deepEqual(r.series.txs, [0, 3, 1], 'per second since the first event')
  assert.deepEqual(r.deals.list.map((d) => [d.server, d.state]), [['cache-0', 'agreed']], 'a deal named before its peer was heard of: named once it is')
  const m = renderMetrics(r)
  assert.match(m, /^souk_chain_transactions_total 4$/m)
  assert.match(m, /^souk_payout_on_chain\{server="cache-0"\} 500$/m)
})

test('metrics: every metric has one HELP and one TYPE line, names as documented, samples parse', () => {
  const m = renderMetrics(replay('cdn'), { subscribers: 2 })
  for (const n of METRIC_NAMES) {
    assert.equal(m.split('\n').filter((l) => l.startsWith(`# HELP ${n} `)).length, 1, `HELP of ${n}`)
    assert.equal(m.split('\n').filter((l) => l === `# TYPE ${n} counter` || l === `# TYPE ${n} gauge`).length, 1, `TYPE of ${n}`)
  }
  for (const l of m.trim().split('\n')) {
    if (l.startsWith('#')) continue
    assert.match(l, /^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$|NaN$/, l)
  }
  assert.match(m, /^souk_peers\{market="unknown",role="cache",state="stopped"\} 2$/m)
  assert.match(m, /^souk_dashboard_subscribers 2$/m)
})

test('bounded: the series keeps the last SERIES_SECONDS seconds, the log and recent chain events their last rows', () => {
  const s = createDashboardState()
  for (let i = 0; i < 2 * SERIES_SECONDS; i++) s.apply({ kind: 'served', role: 'cache', name: 'cache-0', bytes: 1 }, i * 1000)
  for (let i = 0; i < 500; i++) s.apply({ kind: 'chain-log', block: i, contract: 'X', event: 'Y' }, 0)
  const r = s.snapshot()
  assert.equal(r.series.t.length, SERIES_SECONDS)
  assert.equal(r.series.t[0], SERIES_SECONDS)
  assert.ok(r.log.length <= 80 && r.chain.recent.length <= 40)
})

test('any input: never throws, always a JSON snapshot; malformed events are counted as invalid', () => {
  const anyEvent = fc.oneof(
    fc.anything(),
    fc.record({ kind: fc.constantFrom('listening', 'paid', 'deal', 'served', 'chain-log', 'chain-block', 'stats', 'deal-signed', 'fault-called', 'batch-faulted', 'testnet', 'deployed', 'crashed'), name: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }) }, { requiredKeys: ['kind'] })
      .chain((base) => fc.dictionary(fc.string({ maxLength: 10 }), fc.anything(), { maxKeys: 6 }).map((extra) => ({ ...extra, ...base }))),
  )
  fc.assert(fc.property(fc.array(anyEvent, { maxLength: 40 }), (events) => {
    const s = createDashboardState()
    events.forEach((e, i) => s.apply(e, i * 137))
    const snap = s.snapshot()
    JSON.stringify(snap)
    renderMetrics(snap)
    assert.equal(snap.events, events.length)
  }), { numRuns: 300 })
  const s = createDashboardState()
  s.apply({ nope: 1 }, 0)
  s.apply(null, 0)
  assert.equal(s.snapshot().eventsByKind.invalid, 2)
})
