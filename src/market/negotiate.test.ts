/**
 * Negotiation over the memory transport: deals between the floor and the cap, the concession strategies, parallel
 * candidates, and every way a reservation ends (confirmed, withdrawn, timed out, dropped). Adversaries: a buyer that
 * forges or replays its ask, a buyer that never confirms, a server that signs a deal above the cap, for another
 * buyer, or with a key not its own, a server that goes silent.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { systemClock } from '../core/clock.js'
import { memoryLogger } from '../core/logger.js'
import { seededRng, forkRng } from '../crypto/rng.js'
import { createMemoryNetwork, readMessage, sendMessage } from '../net/index.js'
import { createMarketChecker } from './check.js'
import { marketFixtures, type Party } from './fixtures.js'
import { createNegotiator, fixedConcession, MARKET_NEGOTIATE, negotiateCodec, negotiateDeals, scalePrice, timeConcession, titForTat, type ConcessionState, type NegotiatorOptions } from './negotiate.js'
import { perChunk, priceOf, type Ask, type Offer } from './schema.js'
import { keySigner, marketHash, signAsk, signDealBody } from './sign.js'

const clock = systemClock()
const f = marketFixtures({ seed: 'negotiate-test', now: clock.now() })
const rng = seededRng('negotiate-test')

function world(o: { lossRate?: number } = {}) {
  const net = createMemoryNetwork({ lossRate: o.lossRate, seed: 7 })
  const logger = memoryLogger()
  const servers: { p: Party; offer: Offer; n: ReturnType<typeof createNegotiator> }[] = []
  async function server(name: string, over: { price?: bigint; floorShare?: number; collateral?: bigint } & Partial<NegotiatorOptions> = {}) {
    const p = f.party(name)
    const t = net.createTransport({ peerId: p.peer, logger })
    const offer = f.offer(p, { price: perChunk(over.price ?? 100n), collateral: over.collateral ?? 0n, resources: { bytes: 4 << 20, bandwidthBps: 0, durationSec: 86_400, computeUnits: 0 } })
    const share = BigInt(Math.round((over.floorShare ?? 0.8) * 100))
    const n = createNegotiator({
      transport: t, offer, signer: keySigner(p.key), floor: (_a, list) => (list * share) / 100n, checker: createMarketChecker({ domain: f.domain, clock }),
      domain: f.domain, clock, rng: forkRng(rng, name), logger, ...over,
    })
    await n.start()
    servers.push({ p, offer, n })
    return { p, offer, n, t }
  }
  function buyer(name: string) {
    const p = f.party(name)
    const t = net.createTransport({ peerId: p.peer, logger })
    const checker = createMarketChecker({ domain: f.domain, clock })
    return {
      p, t, checker,
      deals: (ask: Ask, candidates: Offer[], over: Partial<Parameters<typeof negotiateDeals>[0]> = {}) =>
        negotiateDeals({ transport: t, ask, signer: keySigner(p.key), candidates, checker, domain: f.domain, clock, rng: forkRng(rng, name), logger, ...over }),
    }
  }
  return { net, logger, server, buyer, servers }
}

const state = (s: Partial<ConcessionState>): ConcessionState => ({ round: 1, maxRounds: 5, start: 0n, limit: 1000n, mine: [], theirs: [], ...s })

test('concession strategies: fixed steps, time-based curves (Boulware holds out, Conceder gives in), tit for tat mirrors', () => {
  const fixed = fixedConcession(0.25)
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((round) => fixed(state({ round }))), [0n, 250n, 500n, 750n, 1000n, 1000n])
  const linear = timeConcession(1), boulware = timeConcession(0.3), conceder = timeConcession(3)
  assert.deepEqual([1, 3, 5].map((round) => linear(state({ round }))), [0n, 500n, 1000n])
  assert.ok(boulware(state({ round: 3 })) < 200n, 'Boulware concedes little until the end')
  assert.ok(conceder(state({ round: 3 })) > 700n, 'Conceder gives most of the gap early')
  assert.equal(boulware(state({ round: 5 })), 1000n)
  // A seller (start above limit) moves down.
  assert.equal(linear(state({ round: 3, start: 1000n, limit: 600n })), 800n)
  const tft = titForTat(0.01)
  assert.equal(tft(state({ round: 1 })), 0n)
  // The other side moved 120 last time: so do we, from our last price.
  assert.equal(tft(state({ round: 3, mine: [0n, 40n], theirs: [1000n, 880n] })), 160n)
  // It did not move: we move the minimum share (1 % of the gap).
  assert.equal(tft(state({ round: 3, mine: [0n, 40n], theirs: [900n, 900n] })), 50n)
  assert.throws(() => fixedConcession(0), /share must be in \(0, 1\]/)
  assert.throws(() => timeConcession(-1), /beta must be > 0/)
})

test('scalePrice: the offer\'s model scaled so that the usage costs exactly the agreed total, never above the list price', () => {
  const m = { kind: 'linear' as const, base: 30n, rates: [{ usage: 'chunks' as const, price: 7n, per: 1n }, { usage: 'bytes' as const, price: 3n, per: 1000n }] }
  const usage = { chunks: 10n, bytes: 5000n }
  assert.equal(priceOf(m, usage), 30n + 70n + 15n)
  const s = scalePrice(m, usage, 92n)
  assert.equal(priceOf(s, usage), 92n)
  assert.deepEqual(s.rates.map((r) => r.price), [5n, 2n]) // rates rounded down, the base makes up the rest
  assert.equal(s.base, 92n - 50n - 10n)
  assert.deepEqual(scalePrice(m, usage, 500n), m) // never above the list price
  assert.deepEqual(scalePrice(perChunk(100n), { chunks: 10n }, 800n), perChunk(80n))
  assert.deepEqual(scalePrice(perChunk(100n), { chunks: 10n }, 805n), perChunk(80n)) // one rate, no base: rounded down
})

test('a buyer and a server agree between the floor and the cap; both hold the same deal, signed by both; capacity is used', async () => {
  const w = world()
  const s = await w.server('s1', { floorShare: 0.8 })
  const b = w.buyer('b1')
  const ask = f.ask(b.p, { usage: { chunks: 100n }, maxPrice: 9_000n })
  const r = await b.deals(ask, [s.offer])
  assert.equal(r.deals.length, 1)
  const d = r.deals[0]
  const total = priceOf(d.price, d.usage)
  assert.ok(total >= 8_000n && total <= 9_000n, `agreed ${total}`)
  assert.deepEqual(r.outcomes.map((x) => x.result), ['deal'])
  assert.ok(r.outcomes[0].rounds >= 2, 'it took alternating offers')
  // The deal passes the full check on both sides (hashes, parties, both signatures).
  const full = createMarketChecker({ domain: f.domain, clock }).deal(d, { offer: s.offer, ask })
  assert.equal(full.offer, marketHash(f.domain, s.offer))
  assert.deepEqual(s.n.deals(), [d])
  assert.equal(s.n.reserved(), 0)
  assert.equal(s.n.free().bytes, (4 << 20) - (1 << 20))
  // Neither side's transport keeps the finished negotiation's stream.
  const held = (t: unknown) => (t as { streams: Set<unknown> }).streams.size
  for (let i = 0; i < 100 && (held(b.t) > 0 || held(s.t) > 0); i++) await clock.sleep(10)
  assert.deepEqual([held(b.t), held(s.t)], [0, 0])
})

test('no agreement when the server\'s floor is above the buyer\'s cap: refused at once, nothing reserved', async () => {
  const w = world()
  const s = await w.server('s2', { floorShare: 0.95 })
  const b = w.buyer('b2')
  const r = await b.deals(f.ask(b.p, { maxPrice: 9_000n }), [s.offer])
  assert.deepEqual(r.deals, [])
  assert.deepEqual(r.outcomes.map((x) => [x.result, x.reason]), [['rejected', 'price-above-cap']])
  assert.equal(s.n.reserved(), 0)
  assert.deepEqual(s.n.free(), s.offer.resources)
})

test('parallel candidates: exactly ask.servers deals; the others are withdrawn or never tried, no reservation is left', async () => {
  const w = world()
  const ss = [] as Awaited<ReturnType<typeof w.server>>[]
  for (let i = 0; i < 5; i++) ss.push(await w.server(`p${i}`, { price: 100n + BigInt(i) }))
  const b = w.buyer('bp')
  const r = await b.deals(f.ask(b.p, { servers: 2, maxPrice: 20_000n }), ss.map((s) => s.offer), { parallel: 4 })
  assert.equal(r.deals.length, 2)
  assert.equal(new Set(r.deals.map((d) => d.server)).size, 2)
  assert.equal(ss.reduce((n, s) => n + s.n.deals().length, 0), 2)
  for (let i = 0; i < 50 && ss.some((s) => s.n.reserved() > 0); i++) await clock.sleep(10)
  assert.deepEqual(ss.map((s) => s.n.reserved()), [0, 0, 0, 0, 0])
  for (const s of ss) if (s.n.deals().length === 0) assert.deepEqual(s.n.free(), s.offer.resources)
})

test('a dead or silent candidate is dropped and the next one tried', async () => {
  const w = world()
  const dead = f.offer(f.party('ghost'), { addresses: ['/memory/ghost'] })
  const silentP = f.party('silent')
  const silentT = w.net.createTransport({ peerId: silentP.peer })
  await silentT.handle(MARKET_NEGOTIATE, async (st) => { await st.read(); await new Promise(() => {}) })
  const silent = f.offer(silentP)
  const s = await w.server('alive')
  const b = w.buyer('bd')
  const r = await b.deals(f.ask(b.p), [dead, silent, s.offer], { parallel: 1, readTimeoutMs: 200 })
  assert.deepEqual(r.outcomes.map((x) => x.result), ['failed', 'failed', 'deal'])
  assert.equal(r.deals[0].server, s.p.address)
})

test('the server refuses a forged, replayed, stale or unfitting ask with its reason, and reserves nothing', async () => {
  const w = world()
  const s = await w.server('sv')
  const b = w.buyer('bv'), m = f.party('mallory')
  const tryAsk = async (ask: Ask, offer = s.offer) => (await b.deals(ask, [offer])).outcomes[0]
  // Mallory signs an ask in b's name.
  assert.deepEqual(await tryAsk(signAsk(f.askBody(b.p), m.key, f.domain)).then((x) => [x.result, x.reason]), ['rejected', 'bad-signature'])
  const ask = f.ask(b.p)
  assert.equal((await tryAsk(ask)).result, 'deal')
  // The same ask again (a replay of what the server saw): refused.
  assert.deepEqual(await tryAsk(ask).then((x) => [x.result, x.reason]), ['rejected', 'replayed'])
  // An ask answering an offer the server has since replaced.
  const old = s.offer
  s.n.setOffer(f.offer(s.p, { price: perChunk(120n), resources: s.offer.resources }))
  assert.deepEqual(await tryAsk(f.ask(b.p), old).then((x) => [x.result, x.reason]), ['rejected', 'stale-offer'])
  s.n.setOffer(old)
  assert.deepEqual(await tryAsk(f.ask(b.p, { minCollateral: 5n })).then((x) => [x.result, x.reason]), ['rejected', 'constraints'])
  assert.deepEqual(await tryAsk(f.ask(b.p, { expiresAt: f.now - 1 })).then((x) => [x.result, x.reason]), ['rejected', 'expired'])
  // Too big for what is left: refused as no-room after agreeing, nothing held.
  assert.deepEqual(await tryAsk(f.ask(b.p, { resources: { bytes: 4 << 20, bandwidthBps: 0, durationSec: 0, computeUnits: 0 } })).then((x) => [x.result, x.reason]), ['rejected', 'no-room'])
  assert.equal(s.n.reserved(), 0)
  assert.equal(s.n.deals().length, 1)
  const refusals = w.logger.entries.filter((e) => e.msg === 'negotiation refused').map((e) => e.fields!.reason)
  assert.deepEqual(refusals, ['bad-signature', 'replayed', 'stale-offer', 'constraints', 'expired', 'no-room'])
})

test('a buyer that never confirms, or drops the stream, holds the capacity only until the confirm timeout or the drop', async () => {
  const w = world()
  const s = await w.server('sr', { confirmTimeoutMs: 100 })
  const b = w.buyer('br')
  const rogue = async (then: 'silent' | 'drop') => {
    const st = await b.t.dial(s.p.peer, MARKET_NEGOTIATE)
    const ask = f.ask(b.p)
    await sendMessage(st, negotiateCodec, { type: 'open', ask, offer: marketHash(f.domain, s.offer), total: priceOf(s.offer.price, ask.usage) })
    const m = await readMessage(st, negotiateCodec)
    assert.equal(m.type, 'accept')
    assert.equal(s.n.reserved(), 1)
    assert.equal(s.n.free().bytes, (4 << 20) - (1 << 20))
    if (then === 'drop') st.abort()
    for (let i = 0; i < 100 && s.n.reserved() > 0; i++) await clock.sleep(10)
    assert.equal(s.n.reserved(), 0)
    assert.deepEqual(s.n.free(), s.offer.resources)
    st.abort()
  }
  await rogue('silent')
  await rogue('drop')
  assert.equal(w.logger.entries.filter((e) => e.msg === 'reservation released').length, 2)
  assert.deepEqual(s.n.deals(), [])
})

test('a buyer does not sign what a cheating server accepts: above the cap, for another buyer, or signed with another key', async () => {
  const w = world()
  const b = w.buyer('bc')
  const cheat = async (name: string, mutate: (body: Record<string, unknown>, key: `0x${string}`) => { body: Record<string, unknown>; key: `0x${string}` }) => {
    const p = f.party(name)
    const t = w.net.createTransport({ peerId: p.peer })
    const offer = f.offer(p)
    let confirmed = false
    await t.handle(MARKET_NEGOTIATE, async (st) => {
      const open = await readMessage(st, negotiateCodec)
      assert.equal(open.type, 'open')
      if (open.type !== 'open') return
      const now = clock.now()
      const honest = {
        type: 'deal' as const, service: 'cdn', offer: marketHash(f.domain, offer), ask: marketHash(f.domain, open.ask), server: p.address, buyer: open.ask.buyer,
        price: perChunk(open.total / 100n), usage: open.ask.usage, collateral: 0n, scheme: 'lottery', startsAt: now, endsAt: now + 60_000, nonce: 1n,
      }
      const { body, key } = mutate(honest, p.key)
      await sendMessage(st, negotiateCodec, { type: 'accept', deal: body as never, serverSig: signDealBody(body as never, key, f.domain) })
      try { const m = await readMessage(st, negotiateCodec); if (m.type === 'confirm') confirmed = true } catch { /* closed */ }
    })
    const r = await b.deals(f.ask(b.p, { maxPrice: 9_000n }), [offer])
    return { r: r.outcomes[0], deals: r.deals, confirmed: () => confirmed }
  }
  const above = await cheat('c1', (body, key) => ({ body: { ...body, price: perChunk(95n) }, key }))
  assert.deepEqual([above.r.result, above.r.reason, above.deals.length, above.confirmed()], ['failed', 'price-above-cap', 0, false])
  const other = await cheat('c2', (body, key) => ({ body: { ...body, buyer: f.party('x').address }, key }))
  assert.deepEqual([other.r.result, other.r.reason, other.deals.length], ['failed', 'terms-mismatch', 0])
  const wrongKey = await cheat('c3', (body) => ({ body, key: f.party('y').key }))
  assert.deepEqual([wrongKey.r.result, wrongKey.r.reason, wrongKey.deals.length], ['failed', 'bad-signature', 0])
  const honest = await cheat('c4', (body, key) => ({ body, key }))
  assert.equal(honest.r.result, 'failed') // it never sends `confirmed`
  assert.equal(honest.confirmed(), true)
})

test('with 1 % frame loss, a buyer negotiating with candidates in parallel still gets its deals', async () => {
  const w = world({ lossRate: 0.01 })
  const ss = [] as Awaited<ReturnType<typeof w.server>>[]
  for (let i = 0; i < 6; i++) ss.push(await w.server(`l${i}`, { readTimeoutMs: 300, confirmTimeoutMs: 300 }))
  let got = 0
  for (let k = 0; k < 10; k++) {
    const b = w.buyer(`lb${k}`)
    const r = await b.deals(f.ask(b.p, { servers: 2 }), ss.map((s) => s.offer), { readTimeoutMs: 300 })
    got += r.deals.length
  }
  assert.ok(got >= 19, `${got} of 20 deals`)
})
