/**
 * The CDN adversaries the simulator runs (issue 11), each a behaviour of the real roles wired by `cdnMarket.wire`,
 * performing its attack against honest roles and showing the outcome models/cdn.yaml claims: Sybil caches (accepted:
 * the measured capture rate and gain match the stated bound), a whitewashing free rider (mitigated: one unpaid chunk
 * per cache per identity), a sponsor duplicating microcash numbers (mitigated: caught, the harmed cache compensated
 * V per winner from the pool, half the penalty burned) and a sender voiding lottery tickets (mitigated: every cache's
 * winners still pay). The garbage, stingy and colluding behaviours are in cdn.test.ts. docs/cdn.md#adversaries.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Address } from 'viem'
import { createChain, type Chain } from '../../chain/index.js'
import { manualClock, systemClock } from '../../core/clock.js'
import { seededRng, systemRng } from '../../crypto/rng.js'
import { createMemoryNetwork } from '../../net/index.js'
import { deploySouk, type SoukDeployment } from '../../payments/deploy.js'
import { BURN_ADDRESS, minePastCurrentDraw, planEscrow } from '../../payments/microcash/index.js'
import type { MicrocashSettleReport } from '../../payments/microcash/index.js'
import { SoukTokenAbi } from '../../../artifacts/contracts.js'
import type { ServiceEvent } from '../market.js'
import { cdnMarket, CDN_DEFAULT_PRICE_PER_CHUNK } from './market.js'
import { runCdnScenario, type CdnScenarioOptions } from './scenario.js'

let chain: Chain
let dep: SoukDeployment
before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 160 }) // fresh keys for every run (20 Sybil runs of 6 keys)
  dep = await deploySouk(chain, chain.devKeys[0])
})
after(async () => { await chain.close() })

const KIB = 1024
const CHUNK = 4 * KIB
const memory = () => { const net = createMemoryNetwork(); return async (name: string) => net.createTransport({ peerId: name }) }
let keyBase = 1
/** Fresh keys per scenario: lottery lanes and reserves, microcash escrows are per payer. */
const keys = (n: number) => { const k = chain.devKeys.slice(keyBase, keyBase + n); keyBase += n; return k }
type RunOpts = Omit<CdnScenarioOptions, 'chain' | 'deployment' | 'clock' | 'rng' | 'newTransport'> & Partial<Pick<CdnScenarioOptions, 'clock' | 'rng'>>
async function run(o: RunOpts) {
  const events: ServiceEvent[] = []
  const r = await runCdnScenario({ chain, deployment: dep, clock: systemClock(), rng: systemRng, newTransport: memory(), chunkSize: CHUNK, ...o, keys: keys(1 + o.caches), onEvent: (e) => events.push(e) })
  const of = (kind: string, what?: string) => events.filter((e) => e.kind === kind && (what === undefined || e.what === what || e.why === what))
  return { ...r, events, of }
}
async function balanceOf(a: Address) {
  return chain.public.readContract({ address: dep.token, abi: SoukTokenAbi, functionName: 'balanceOf', args: [a] })
}
async function transfersTo(contract: Address, to: Address, fromBlock: bigint) {
  const logs = await chain.public.getContractEvents({ address: dep.token, abi: SoukTokenAbi, eventName: 'Transfer', args: { from: contract, to }, fromBlock })
  return logs.reduce((s, l) => s + (l.args as { value: bigint }).value, 0n)
}
const choose = (n: number, k: number): number => (k < 0 || k > n ? 0 : k === 0 ? 1 : (choose(n - 1, k - 1) * n) / k)

test('the market lists every adversary, and a behaviour another role has plays honest', () => {
  assert.deepEqual(cdnMarket.adversaries, {
    publisher: ['honest', 'duplicate-numbers', 'void-tickets'], cache: ['honest', 'garbage', 'colluding'], client: ['honest', 'stingy', 'colluding', 'free-rider'],
  })
  const cfg = cdnMarket.configSchema.parse({ behaviour: 'colluding', partner: 'cache-1, cache-2' })
  assert.deepEqual(cfg.partner, 'cache-1, cache-2') // split by the roles (partnerList)
  assert.deepEqual(cdnMarket.configSchema.parse({ partner: ['a', 'b'] }).partner, ['a', 'b'])
})

test('attack (accounting, accepted): a colluding cache + client pair is paid for the cache\'s own slots, served 0 times to its partner, by downloading every honest chunk; honest caches still paid', async () => {
  // H = n = 4: every bundle has one slot on the colluding cache (cache-1) and three on honest caches. The partner
  // client gets cache-1's slot over the collude protocol (its chunk and secret: no chunk served), downloads and proves
  // the three honest slots as anyone would, and hands cache-1 the secret, which claims its slot with it.
  const H = 4, n = 4, chunks = 16
  const clock = manualClock(0)
  const r = await run({
    caches: H, clients: 2, contentBytes: chunks * CHUNK, puzzle: { cachesPerRequest: n }, sequential: true, clock, rng: seededRng('accounting'), passTime: async (ms) => clock.advance(ms),
    cacheBehaviours: ['honest', 'colluding', 'honest', 'honest'], clientBehaviours: ['colluding', 'honest'], partnerOf: { 0: 1 },
  })
  const [a, viewer] = r.clients
  for (const c of r.clients) assert.ok(c.ok, c.error) // both got the content byte-exact
  const bad = r.caches[1]
  const honest = r.caches.filter((_, i) => i !== 1)
  // The attack was played: one partner slot a bundle, never served, paid.
  assert.equal(a.bundles, chunks / n)
  assert.equal(a.unservedSlots, a.bundles, 'cache-1 holds one slot of each of its partner\'s bundles')
  assert.equal(a.unservedSlotsPaid, a.unservedSlots)
  assert.equal(bad.unservedClaims, a.unservedSlots)
  assert.equal(bad.unservedClaimsPaid, a.unservedSlots, 'paid for every one of its own slots')
  assert.equal(r.of('attack', 'unserved-claim').filter((e) => e.paid === true && e.served === false).length, a.unservedSlots)
  assert.equal(a.bytesFrom[bad.peer] ?? 0, 0, 'served 0 times to its partner')
  // chunksServed counts only what it served: the honest viewer's slots. Paid for those and for its unserved ones.
  assert.equal(bad.chunksServed * CHUNK, viewer.bytesFrom[bad.peer] ?? 0)
  assert.equal(bad.chunksServed, viewer.bundles, 'it served the honest viewer its slot of each bundle')
  assert.equal(bad.claimsPaid, bad.chunksServed + bad.unservedClaimsPaid)
  assert.ok(bad.claimsPaid > bad.chunksServed, 'paid beyond what it served')
  // The bound: the partner downloaded every honest chunk of its bundles (the shortcut without them fails).
  for (const h of honest) assert.equal(a.bytesFrom[h.peer], a.bundles * CHUNK, `${h.peer}: every honest slot of the partner's bundles downloaded`)
  assert.ok(a.shortcutAttempts > 0)
  assert.equal(a.shortcutFailures, a.shortcutAttempts, 'the puzzle cannot be solved without the honest chunks')
  // Its forgeries (no secret, a made-up one) on its first two partner slots: all rejected, the made-up ones caught.
  assert.equal(bad.forgedClaims, 4)
  assert.equal(bad.forgedClaimsPaid, 0)
  assert.equal(r.of('caught', 'wrong puzzle secret').length, 2)
  // Honest caches: paid for every chunk they served, to both clients; every slot of every bundle paid once.
  for (const h of honest) {
    assert.equal(h.chunksServed, a.bundles + viewer.bundles)
    assert.equal(h.claimsPaid, h.chunksServed, `${h.peer} paid for every chunk it served`)
    assert.ok(h.credited > 0n)
  }
  assert.equal(r.publisher.claimsPaid, 2 * chunks)
  assert.equal(r.caches.reduce((s, c) => s + c.chunksServed, 0) + a.unservedSlots, 2 * chunks, 'the unserved slots are the only ones not served')
  console.log(`accounting: cache-1 paid ${bad.claimsPaid} claims for ${bad.chunksServed} chunks served (${bad.unservedClaimsPaid} own slots unserved); its partner downloaded ${Object.values(a.bytesFrom).reduce((x, y) => x + y, 0) / CHUNK} honest chunks`)
})

test('attack: Sybil caches capture every slot of a request and are paid without serving; the capture rate is C(k,n)/C(H,n) and the gain n × price per captured request', async () => {
  // One operator runs k = 4 of the H = 5 caches (distinct peers and keys) and a colluding client of its own; one
  // cache and one client are honest. n = 4 slots a request: all four land on the operator's caches with probability
  // C(4,4)/C(5,4) = 1/5 (slots are distinct caches: hypergeometric; the binomial (k/H)^n is its many-cache limit).
  // The publisher's reputation assignment gives equally proving caches equal shares (src/market/assign.ts), so the
  // honest cache is in 4/5 of the requests and 1/5 are captured, request after request: no longer a run captured
  // whole or not at all. The Sybils play it rationally: no forged claims (each made-up secret is a missed proof,
  // which would cost them share and lower the capture rate).
  const H = 5, k = 4, n = 4, chunks = 32, runs = 20
  const expected = choose(k, n) / choose(H, n)
  let requests = 0, captured = 0, allRequests = 0, allCaptured = 0
  const shares: number[] = []
  for (let i = 0; i < runs; i++) {
    const clock = manualClock(0)
    const r = await run({
      caches: H, clients: 2, contentBytes: chunks * CHUNK, puzzle: { cachesPerRequest: n }, sequential: true, clock, rng: seededRng(`sybil-${i}`), passTime: async (ms) => clock.advance(ms),
      cacheBehaviours: ['honest', 'colluding', 'colluding', 'colluding', 'colluding'], clientBehaviours: ['colluding', 'honest'], partnerOf: { 0: [1, 2, 3, 4] }, forgeTries: 0,
    })
    for (const c of r.clients) assert.ok(c.ok, c.error) // captured or not, every client got the content byte-exact
    const [a, honest] = r.clients
    requests += a.bundles
    captured += a.captured
    shares.push(a.captured / a.bundles)
    allCaptured += r.of('bundle').filter((e) => !(e.caches as string[]).includes(r.caches[0].peer)).length
    allRequests += r.publisher.bundlesIssued
    assert.equal(honest.captured, 0)
    // The gain: every slot of a captured request is paid, none of it served (the puzzle binds only honest slots).
    assert.equal(a.capturedSlotsPaid, a.captured * n, 'n × price per captured request')
    const sybils = r.caches.slice(1)
    assert.equal(sybils.reduce((s, c) => s + c.sybilClaimsPaid, 0), a.captured * n)
    assert.equal(r.caches[0].sybilClaims, 0)
    assert.equal(r.of('attack', 'sybil-capture').length, a.captured)
    assert.equal(r.of('attack', 'sybil-claim').filter((e) => e.paid).length, a.captured * n)
    // A request not captured has one honest slot: there the operator plays the accounting attack (its n − 1 slots
    // handed over the collude protocol, unserved, and paid once the colluder solved it with the honest chunk).
    assert.equal(a.unservedSlots, (a.bundles - a.captured) * (n - 1))
    assert.equal(sybils.reduce((s, c) => s + c.unservedClaimsPaid, 0), a.unservedSlots)
    assert.equal(a.unservedSlotsPaid, a.unservedSlots)
    // Every slot is paid exactly once; what the operator was paid beyond what it served is exactly its slots in the
    // colluder's requests: all n of a captured one, n − 1 of the others.
    assert.equal(r.publisher.claimsPaid, 2 * chunks)
    assert.equal(r.caches.reduce((s, c) => s + c.chunksServed, 0) + a.captured * n + a.unservedSlots, 2 * chunks, 'captured and partner slots were never served')
    const paidUnserved = sybils.reduce((s, c) => s + c.claimsPaid - c.chunksServed, 0)
    assert.equal(paidUnserved, a.captured * n + a.unservedSlots, 'the operator is paid for every slot of its colluder beyond what it served')
    // And the colluder downloaded nothing but the honest slot of the requests not captured.
    assert.equal(Object.values(a.bytesFrom).reduce((s, x) => s + x, 0), (a.bundles - a.captured) * CHUNK)
    assert.equal(a.bytesFrom[r.caches[0].peer] ?? 0, (a.bundles - a.captured) * CHUNK)
  }
  // Every run is captured in part (no run left out, none captured whole), and over all requests of all runs (both
  // clients' requests: the publisher cannot tell them apart) the share without the honest cache is 1/5 within a
  // tenth of it; the colluder's own requests, the first 8 of each run, within a third (seeded: these cannot flake).
  for (const x of shares) assert.ok(x > 0 && x < 1, `every run captured in part: ${shares.join(' ')}`)
  assert.ok(Math.abs(allCaptured / allRequests - expected) <= 0.1 * expected, `${allCaptured}/${allRequests} requests without the honest cache, expected ${expected}`)
  assert.ok(Math.abs(captured / requests - expected) <= expected / 3, `${captured}/${requests} of the colluder's requests captured, expected ${expected}`)
  console.log(`sybil: ${captured}/${requests} of the colluder's requests captured over ${runs} runs (${allCaptured}/${allRequests} of all requests without the honest cache; expected ${expected}), shares ${shares.map((x) => x.toFixed(2)).join(' ')}; gain ${n} prices per captured request`)
})

test('attack: a free rider whitewashing under fresh identities gets at most one unpaid chunk per cache per identity, and nothing is paid for them', async () => {
  const identities = 3, chunks = 16
  const r = await run({ caches: 3, clients: 2, contentBytes: chunks * CHUNK, clientBehaviours: ['free-rider', 'honest'], identities })
  const [rider, honest] = r.clients
  assert.ok(honest.ok, honest.error)
  assert.ok(!rider.ok && rider.cutOff, 'cut off once its identities ran out')
  assert.equal(rider.identities, identities, 'it came back under every fresh identity it had')
  const ids = Object.keys(rider.unpaidFrom)
  assert.equal(ids.length, identities + 1, 'it took chunks under each identity')
  for (const id of ids) for (const [cache, got] of Object.entries(rider.unpaidFrom[id])) assert.ok(got <= 1, `${id} got ${got} unpaid chunks from ${cache}`)
  assert.ok(rider.unpaidChunks <= (identities + 1) * r.caches.length)
  assert.equal(r.of('attack', 'whitewash').length, identities)
  assert.equal(r.of('attack', 'unpaid-chunk').length, rider.unpaidChunks)
  assert.ok(r.of('caught', 'unpaid').length > 0, 'the caches caught it withholding proof')
  // The publisher paid only for the honest client's chunks: the free rider's bundles were never proven.
  assert.equal(r.publisher.claimsPaid, chunks)
  console.log(`free rider: ${rider.unpaidChunks} unpaid chunks over ${identities + 1} identities and ${r.caches.length} caches (bound ${(identities + 1) * r.caches.length})`)
})

test('attack: a sponsor duplicating microcash numbers to two caches is caught; the harmed cache proves each duplicate and is compensated V from the pool, half the penalty burns', async () => {
  const chunks = 16, clients = 2
  // An escrow whose draws make half the numbers win (so duplicated winners are certain): V = 2 × price.
  const escrowPlan = planEscrow({ expectedPayments: clients * chunks, payees: 2, pricePerPayment: CDN_DEFAULT_PRICE_PER_CHUNK, targetWinners: 4 * clients * chunks })
  const V = escrowPlan.escrow.ticketValue
  const penalty = 2n * 64n * V // a pool of 64 V
  const plan = { deposit: escrowPlan.balance, fundOptions: { escrow: escrowPlan.escrow }, payerOptions: { bundleSize: escrowPlan.bundleSize }, facts: { escrow: escrowPlan.escrow } }
  const from = await chain.blockNumber()
  const burnedBefore = await balanceOf(BURN_ADDRESS)
  const r = await run({
    scheme: 'microcash', caches: 2, clients, contentBytes: chunks * CHUNK, puzzle: { cachesPerRequest: 2 }, plan, penalty, publisherBehaviour: 'duplicate-numbers',
    beforeSettle: async () => { await minePastCurrentDraw(chain, escrowPlan.escrow) },
  })
  for (const c of r.clients) assert.ok(c.ok, c.error)
  const attacks = r.of('attack', 'duplicate-numbers')
  assert.ok(new Set(attacks.map((e) => e.payee)).size === 2, 'the same numbers went to both caches')
  const [first, second] = r.caches.map((c) => ({ ...c, settle: c.settle as MicrocashSettleReport }))
  // The cache that settles first redeems the duplicated winners; the other finds them paid to it and proves each.
  assert.ok(second.settle.compensated > 0, 'duplicates proven')
  assert.equal(second.settle.compensation, BigInt(second.settle.compensated) * V, 'V for each, from the pool')
  for (const c of [first, second]) {
    assert.deepEqual(c.settle.lost, [], 'no winner lost')
    assert.equal(c.settle.received, BigInt(c.settle.settled + c.settle.compensated) * V, 'every winner it held paid V')
    assert.equal(await transfersTo(dep.contracts.microcash.concurrentLottery, c.payee, from), c.settle.received)
  }
  assert.equal((await balanceOf(BURN_ADDRESS)) - burnedBefore, (penalty + 1n) / 2n, '⌈penalty/2⌉ burned at the first proof')
  const caught = r.of('caught', 'duplicate-numbers')
  assert.equal(caught.length, 1)
  assert.equal(caught[0].name, 'cache-1')
  assert.equal(caught[0].proofs, second.settle.compensated)
  console.log(`duplicate numbers: ${attacks.length} duplicated bundles; cache-1 proved ${second.settle.compensated} duplicates, compensated ${second.settle.compensation} (V = ${V}); burned ${(penalty + 1n) / 2n}`)
})

test('attack: a sender voiding the caches\' winners with self-signed tickets in their lanes voids nothing: every cache\'s winners still pay', async () => {
  const from = await chain.blockNumber()
  // A price near the face value, so that many tickets win (and every win rotates the rand: one more attempt each).
  const r = await run({ scheme: 'lottery', caches: 2, clients: 2, contentBytes: 16 * CHUNK, puzzle: { cachesPerRequest: 2 }, pricePerChunk: 2n * 10n ** 15n, publisherBehaviour: 'void-tickets' })
  for (const c of r.clients) assert.ok(c.ok, c.error)
  const attempts = r.of('attack', 'void-tickets')
  const inLane = attempts.filter((e) => e.variant === 'recipient-lane')
  assert.ok(new Set(inLane.map((e) => e.payee)).size === 2, 'it attacked every cache\'s lane')
  for (const e of inLane) assert.equal(e.outcome, 'TicketBrokerNotRecipient', 'only the recipient redeems a ticket naming it')
  let winners = 0
  for (const c of r.caches) {
    assert.ok(c.winningTickets > 0, `${c.peer} won`)
    winners += c.winningTickets
    assert.equal(c.settle!.settled, c.winningTickets, 'every winner redeemed')
    assert.equal(c.settle!.lostCount ?? 0, 0, 'none voided')
    assert.equal(await transfersTo(dep.contracts.lottery.ticketBroker, c.payee, from), c.settle!.received)
  }
  assert.equal(r.of('payments-lost').length, 0)
  const self = attempts.filter((e) => e.variant === 'self')
  console.log(`void tickets: ${attempts.length} attempts (${inLane.length} in the caches' lanes, all ${inLane[0]?.outcome}; ${self.length} to itself: ${[...new Set(self.map((e) => e.outcome))].join(', ')}); ${winners} winners, all paid`)
})
